//! The huge path: `/dev/vmdev-huge` maps the remap device's memory on first touch, each
//! naturally aligned PMD span of the file (PUD span: `module.pud_range_entries`) that lies
//! wholly in the VMA, at an address congruent to its offset, with one entry; every other page
//! with a PTE. `vmdev_info.faults` counts the entries the faults mapped, `around_pages` their
//! pages but one, and each fault is one minor fault of the process (getrusage).
//!
//! The mappings here are placed congruent to their offsets by the test itself
//! (`map_congruent`), so the counts do not rest on the node's own placement, which
//! `placement_congruent_to_offset` tests; the counting is `huge_cost`'s. How splits, moves and
//! forks treat the entries: `huge_split` and `huge_split_matrix`.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::mman::{MRemapFlags, MapFlags, ProtFlags, mremap};
use nix::sys::signal::Signal;
use vmdev::mapping::Mapping;
use vmdev::maps::{self_maps_entry, self_smaps_entry};
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Kind, Module, Outcome, TestResult, diag, ensure, test};
use crate::huge_cost::{
    Cost, expect_cost, in_spans, pages, span_pages, spans_or_skip, touch, whole_mapped,
};

test!(huge: pmd_one_fault_per_span);
/// A mapping of the whole buffer takes one fault, one PMD entry and one minor fault per span
/// first touched, by a read or a write; then no fault for any page of it; Rss stays 0.
fn pmd_one_fault_per_span(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp) = (pmd_span(), span_pages());
    let f = d.open(true)?;
    let m = map_congruent(&f, spans * span, RW, MapFlags::MAP_SHARED, 0, span)?;
    let reads: Vec<usize> = in_spans(0..spans, 3 * ps() + 5)
        .into_iter()
        .step_by(2)
        .collect();
    let writes: Vec<usize> = in_spans(1..spans, span - 1)
        .into_iter()
        .step_by(2)
        .collect();
    let got = touch(d, &m, &reads, false)?;
    expect_cost(
        "a first read of every even span",
        got,
        Cost::of(reads.len(), sp, 0),
    )?;
    let got = touch(d, &m, &writes, true)?;
    expect_cost(
        "a first write to every odd span",
        got,
        Cost::of(writes.len(), sp, 0),
    )?;
    let got = touch(d, &m, &pages(0..spans * sp), true)?;
    expect_cost(
        "reading and writing every page after",
        got,
        Cost::of(0, sp, 0),
    )?;
    let rss = rss_pages(&m)?;
    ensure!(
        rss == 0,
        "Rss {rss} pages, expected 0 on a VM_PFNMAP mapping"
    );
    diag!("{spans} spans of {sp} pages: one fault each");
    Ok(Outcome::Pass)
}

const THP_SYSFS: &str = "/sys/kernel/mm/transparent_hugepage";

test!(remap huge fault folio: placement_congruent_to_offset);
/// A mapping that covers a whole naturally aligned PMD span of the file is placed at an address
/// congruent to its offset modulo the span (every node places mappings so); on the huge node,
/// that span then takes one fault.
fn placement_congruent_to_offset(_cx: &Context, d: &Device) -> TestResult {
    if !Path::new(THP_SYSFS).exists() {
        return Ok(Outcome::Skip(format!(
            "no {THP_SYSFS}: a kernel without CONFIG_TRANSPARENT_HUGEPAGE places mappings \
             anywhere (thp_get_unmapped_area)"
        )));
    }
    let (size, span) = (d.size()?, pmd_span());
    if size < 2 * span {
        return Ok(Outcome::Skip(format!(
            "the buffer ({size:#x} bytes) is smaller than two {span:#x}-byte PMD spans"
        )));
    }
    let p = ps();
    let cases = [
        (0, size),
        (span, size - span),
        (0, span),
        (p, size - p),
        (3 * p, 2 * span - 3 * p),
        (span - p, span + p),
    ];
    let f = d.open(true)?;
    let mut kept = Vec::new();
    for (off, len) in cases {
        let m = shared(&f, len, off)?;
        let at = m.addr() as usize % span;
        ensure!(
            at == off % span,
            "mmap({len:#x} bytes at offset {off:#x}) placed at {:#x}, {at:#x} into a \
             {span:#x}-byte span; expected {:#x}",
            m.addr(),
            off % span
        );
        kept.push(m); // the next mapping lands elsewhere
    }
    if d.kind == Kind::Huge && d.info()?.flags & uapi::FLAG_HUGE_PMD != 0 {
        let got = touch(d, &kept[3], &[span - p + 10], false)?;
        let what = "a first read of the whole span of the mapping placed at offset one page";
        expect_cost(what, got, Cost::of(1, span_pages(), 0))?;
    }
    Ok(Outcome::Pass)
}

test!(huge: coherent_with_read_write);
/// Bytes written with pwrite() are read through PMD entries, bytes written through them are
/// read with pread(), across a span boundary and at the end of the buffer.
fn coherent_with_read_write(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp, len) = (pmd_span(), span_pages(), spans * pmd_span());
    let f = d.open(true)?;
    let m = map_congruent(&f, len, RW, MapFlags::MAP_SHARED, 0, span)?;
    let a = pattern(61, 2 * ps());
    let at = span - ps();
    pwrite(&f, &a, at).map_err(|e| e.to_string())?;
    let got = touch(d, &m, &[at, span], false)?;
    expect_cost("first reads of spans 0 and 1", got, Cost::of(2, sp, 0))?;
    ensure!(
        m.read_bytes(at, a.len()) == a,
        "the mapping does not show what pwrite() wrote across the span boundary"
    );
    let b = pattern(62, 3 * ps());
    m.write_bytes(len - b.len(), &b);
    ensure!(
        pread(&f, b.len(), len - b.len())? == b,
        "pread() does not see what the mapping wrote at the end of the buffer"
    );
    // A fresh mapping of the last span, first touched by a write.
    let last = map_congruent(&f, span, RW, MapFlags::MAP_SHARED, len - span, span)?;
    let got = touch(d, &last, &[17], true)?;
    expect_cost(
        "a first write to a mapping of the last span",
        got,
        Cost::of(1, sp, 0),
    )?;
    let c = pattern(63, 100);
    last.write_bytes(ps() + 1, &c);
    ensure!(
        pread(&f, c.len(), len - span + ps() + 1)? == c,
        "pread() does not see what the mapping of the last span wrote"
    );
    Ok(Outcome::Pass)
}

test!(huge: coherent_with_remap);
/// The huge and remap nodes map the same frames: what one mapping writes the other reads, at
/// the same offsets, both ways.
fn coherent_with_remap(cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp, len) = (pmd_span(), span_pages(), spans * pmd_span());
    let remap_size = cx.remap.size()?;
    ensure!(
        remap_size == d.size()?,
        "the remap node's buffer is {remap_size:#x} bytes, the huge node's {:#x}",
        d.size()?
    );
    let h = map_congruent(&d.open(true)?, len, RW, MapFlags::MAP_SHARED, 0, span)?;
    let r = shared(&cx.remap.open(true)?, len, 0)?;
    let got = touch(d, &h, &in_spans(0..spans, 0), true)?;
    expect_cost("a first write to every span", got, Cost::of(spans, sp, 0))?;
    let a = pattern(64, 2 * ps());
    h.write_bytes(span - ps(), &a);
    ensure!(
        r.read_bytes(span - ps(), a.len()) == a,
        "the remap mapping does not show what the huge mapping wrote"
    );
    let b = pattern(65, 2 * ps());
    r.write_bytes(len - b.len(), &b);
    ensure!(
        h.read_bytes(len - b.len(), b.len()) == b,
        "the huge mapping does not show what the remap mapping wrote"
    );
    Ok(Outcome::Pass)
}

test!(huge: unaligned_head_tail_use_ptes);
/// A mapping whose ends are not span-aligned: the whole spans inside are one PMD entry each,
/// the pages before and after them one PTE fault each; the counts are exact.
fn unaligned_head_tail_use_ptes(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, size) = (pmd_span(), spans * pmd_span());
    let f = d.open(true)?;
    let data = pattern(66, size);
    pwrite(&f, &data, 0).map_err(|e| e.to_string())?;
    let p = ps();
    for (off, len) in [(p, size - p), (0, size - p), (p, size - 2 * p)] {
        let m = map_congruent(&f, len, RW, MapFlags::MAP_SHARED, off, span)?;
        let got = touch(d, &m, &pages(0..len / p), false)?;
        let want = Cost::first_touch(off, len);
        expect_cost(
            &format!("a first read of every page of {len:#x} bytes at offset {off:#x}"),
            got,
            want,
        )?;
        ensure!(
            m.read_bytes(0, len) == data[off..off + len],
            "the mapping at offset {off:#x} shows other bytes than the device"
        );
        diag!("{len:#x} bytes at offset {off:#x}: {got}");
    }
    Ok(Outcome::Pass)
}

test!(huge: fork_child_shares_spans);
/// MAP_SHARED across fork: the child sees the parent's bytes and the parent the child's. The
/// child inherits the parent's PMD entries (fork copies the page tables of VM_PFNMAP VMAs): its
/// reads of the span the parent mapped take no fault; its first touch of another span, one.
fn fork_child_shares_spans(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp) = (pmd_span(), span_pages());
    let (f, data, m) = whole_mapped(d, spans, 67)?;
    expect_cost(
        "the parent's first read of span 0",
        touch(d, &m, &[0], false)?,
        Cost::of(1, sp, 0),
    )?;
    let before = d.info()?;
    child_ok(|| {
        let got = touch(d, &m, &pages(0..sp), false)?;
        expect_cost(
            "the child's reads of the span its parent mapped",
            got,
            Cost::of(0, sp, 0),
        )?;
        let got = touch(d, &m, &in_spans(1..spans, 0), false)?;
        expect_cost(
            "the child's first read of each other span",
            got,
            Cost::of(spans - 1, sp, 0),
        )?;
        ensure!(
            m.read_bytes(0, data.len()) == data,
            "the child sees other bytes"
        );
        m.write(7, 0xc1);
        m.write(span + 9, 0xc2);
        Ok(())
    })?;
    let after = d.info()?;
    ensure!(
        after.faults - before.faults == (spans - 1) as u64,
        "the child took {} faults, expected {} (one per span its parent had not mapped)",
        after.faults - before.faults,
        spans - 1
    );
    ensure!(
        m.read(7) == 0xc1,
        "the parent does not see the child's write to span 0"
    );
    let got = touch(d, &m, &[span + 9], false)?;
    expect_cost("the parent's first read of span 1", got, Cost::of(1, sp, 0))?;
    ensure!(
        m.read(span + 9) == 0xc2,
        "the parent does not see the child's write to span 1"
    );
    ensure!(
        pread(&f, 1, span + 9)? == [0xc2],
        "the child's write did not reach the device"
    );
    Ok(Outcome::Pass)
}

test!(huge: private_readonly_maps_spans);
/// A private read-only mapping is mapped with PMD entries too (it can never be copied on
/// write), shows the device's bytes as they change, and forks.
fn private_readonly_maps_spans(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp, len) = (pmd_span(), span_pages(), spans * pmd_span());
    let f = d.open(true)?;
    let data = pattern(68, len);
    pwrite(&f, &data, 0).map_err(|e| e.to_string())?;
    let m = map_congruent(
        &f,
        len,
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE,
        0,
        span,
    )?;
    let e = self_maps_entry(m.addr())?;
    ensure!(e.perms == "r--p", "perms {}, expected r--p", e.perms);
    let got = touch(d, &m, &in_spans(0..spans, ps()), false)?;
    expect_cost("a first read of every span", got, Cost::of(spans, sp, 0))?;
    ensure!(
        m.read_bytes(0, len) == data,
        "the mapping shows other bytes than the device"
    );
    pwrite(&f, &[0x5c], span + 3).map_err(|e| e.to_string())?;
    ensure!(
        m.read(span + 3) == 0x5c,
        "the mapping does not show a later pwrite()"
    );
    child_ok(|| {
        ensure!(
            m.read(span + 3) == 0x5c,
            "the child does not see the device's byte"
        );
        Ok(())
    })?;
    Ok(Outcome::Pass)
}

test!(huge: last_span_cannot_grow);
/// The last span of the buffer maps as one entry, and its mapping cannot reach past the
/// buffer: mremap() cannot grow it (VM_DONTEXPAND, EFAULT) even with free space after it,
/// the byte past it is nobody's, and mmap() past the end is refused.
fn last_span_cannot_grow(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp, off) = (pmd_span(), span_pages(), (spans - 1) * pmd_span());
    let f = d.open(true)?;
    let m = map_congruent(&f, span, RW, MapFlags::MAP_SHARED, off, span)?;
    expect_cost(
        "a first read",
        touch(d, &m, &[span - 1], false)?,
        Cost::of(1, sp, 0),
    )?;
    let end = m.addr() + span as u64;
    ensure!(
        self_maps_entry(end).is_err(),
        "something is mapped right after the mapping, at {end:#x}"
    );
    ensure!(
        self_smaps_entry(m.addr())?.has_flag("de"),
        "no de (VM_DONTEXPAND) in VmFlags"
    );
    let ptr = std::ptr::NonNull::new(m.addr() as *mut std::ffi::c_void).ok_or("null mapping")?;
    for flags in [MRemapFlags::empty(), MRemapFlags::MREMAP_MAYMOVE] {
        // SAFETY: The kernel must refuse to grow the mapping; nothing changes.
        let res = unsafe { mremap(ptr, span, span + ps(), flags, None) };
        expect_errno(
            &format!("mremap({flags:?}) growing by a page"),
            res,
            Errno::EFAULT,
        )?;
    }
    let e = self_maps_entry(m.addr())?;
    ensure!(
        e.end == end,
        "the refused growths moved the VMA's end to {:#x}",
        e.end
    );
    // SAFETY: The child reads an address with no mapping; it dies.
    child_killed_by(Signal::SIGSEGV, || unsafe {
        (end as *const u8).read_volatile();
    })?;
    let live = d.live_vmas()?;
    for (len, at) in [(span + ps(), off), (span, off + ps())] {
        let res = mmap_errno(&f, len, RW, MapFlags::MAP_SHARED, at as u64);
        let what = format!("mmap({len:#x} bytes at offset {at:#x})");
        refused_cleanly_keeping(d, &what, res, live)?;
    }
    Ok(Outcome::Pass)
}

/// A refused mmap (EINVAL) must leave the device's VMA count as it was.
fn refused_cleanly_keeping(
    d: &Device,
    what: &str,
    res: Result<Mapping, Errno>,
    live: u64,
) -> Result<(), String> {
    expect_errno(what, res, Errno::EINVAL)?;
    let now = d.live_vmas()?;
    ensure!(now == live, "{what}: live_vmas {now}, was {live}");
    Ok(())
}

/// Whether the CPU can walk a PUD leaf (1 GiB pages: cpuinfo's `pdpe1gb` on x86_64); `None` on
/// other architectures, whose PFN maps have no PUD entries in 7.3.
fn cpu_walks_pud() -> Result<Option<bool>, String> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(None);
    }
    let cpuinfo =
        std::fs::read_to_string("/proc/cpuinfo").map_err(|e| format!("/proc/cpuinfo: {e}"))?;
    Ok(Some(
        cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .all(|l| l.split_whitespace().any(|f| f == "pdpe1gb")),
    ))
}

test!(module: pud_range_entries, Reload);
/// Served from 1 GiB reserved at boot, naturally aligned, a 1 GiB mapping at a 1 GiB-aligned
/// address takes one fault, one PUD entry, for all of it where the CPU can walk PUD leaves (x86:
/// `pdpe1gb`), and one PMD entry per span where it cannot (`VMDEV_FLAG_HUGE_PUD` clear: `make
/// check` runs this once more on QEMU's `qemu64` CPU, which lacks it); a pwrite() at its far
/// end reads back through it with no other fault. Restores the default load.
fn pud_range_entries(cx: &Context, m: &Module) -> TestResult {
    let huge = &cx.huge;
    let flags = huge.info()?.flags;
    let pud_flag = flags & uapi::FLAG_HUGE_PUD != 0;
    if let Some(walks) = cpu_walks_pud()? {
        // x86_64 kernels map PUD entries of PFNs (ARCH_SUPPORTS_PUD_PFNMAP): the CPU decides.
        ensure!(
            pud_flag == walks,
            "VMDEV_FLAG_HUGE_PUD is {pud_flag}, but the CPU {} pdpe1gb",
            if walks { "has" } else { "lacks" }
        );
    }
    let entry = if pud_flag {
        (1, pud_span())
    } else if flags & uapi::FLAG_HUGE_PMD != 0 {
        (pud_span() / pmd_span(), pmd_span())
    } else {
        return Ok(Outcome::Skip(format!(
            "this kernel maps neither PUD nor PMD entries of PFNs (vmdev_info.flags {flags:#x})"
        )));
    };
    let pud = pud_span();
    let params = match pud_reservation()? {
        Ok(range) => range.params(),
        Err(skip) => return Ok(skip),
    };
    m.reload(&params)?;
    let result = (|| {
        let info = huge.info()?;
        ensure!(
            info.size == pud as u64 && info.flags & uapi::FLAG_BOOT_RESERVED != 0,
            "info {info:?} for the 1 GiB reserved range"
        );
        let f = huge.open(true)?;
        let tail = pattern(69, 64);
        pwrite(&f, &tail, pud - tail.len()).map_err(|e| e.to_string())?;
        let map = map_congruent(&f, pud, RW, MapFlags::MAP_SHARED, 0, pud)?;
        ensure!(map.addr() % pud as u64 == 0, "mapped at {:#x}", map.addr());
        let (entries, bytes) = entry;
        let starts: Vec<usize> = (0..entries).map(|e| e * bytes + 3 * ps()).collect();
        let first = touch(huge, &map, &starts, false)?;
        expect_cost(
            "a first read of each entry's span",
            first,
            Cost::of(entries, bytes / ps(), 0),
        )?;
        let got = touch(huge, &map, &[pud / 2 + 5, pud - 1, ps() * 1000], true)?;
        expect_cost(
            "writes all over the GiB after",
            got,
            Cost::of(0, bytes / ps(), 0),
        )?;
        ensure!(
            map.read_bytes(pud - tail.len(), tail.len()) == tail,
            "the far end of the mapping does not show what pwrite() wrote"
        );
        map.write_bytes(pud / 2, b"pud");
        ensure!(
            pread(&f, 3, pud / 2)? == b"pud",
            "pread() does not see what the mapping wrote"
        );
        diag!(
            "{pud:#x} bytes at {:#x}, {entries} entries of {bytes:#x} bytes, first reads: {first}",
            map.addr()
        );
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}
