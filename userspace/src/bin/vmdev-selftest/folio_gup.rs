//! get_user_pages() on the folio node: its VMAs are neither VM_PFNMAP nor VM_MIXEDMAP and its
//! pages ordinary refcounted pages, so GUP takes them (faulting in what is not mapped yet, a
//! folio by its PMD entry where it fits): `process_vm_readv`/`process_vm_writev`, `vmsplice`,
//! `/proc/self/mem` and `O_DIRECT` I/O all reach the device's bytes, as on the fault node and
//! unlike the remap and huge nodes (`remap_path`). And when everything is unmapped and every
//! reference given back, no frame of the buffer is mapped or counted any more. The tools:
//! `gup`, `folio_path`.

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mprotect};
use vmdev::frames::{KernelView, kpagecounts, kpageflags_range, runs};
use vmdev::mapping::Mapping;

use crate::common::*;
use crate::folio_path::{
    Counts, Pmd, counted, expect_counts, fill, folio_map, folios_or_skip, marked, span_pages, touch,
};
use crate::gup::{
    DirectIo, SplicedPipe, mem_read, mem_write, process_vm_read, process_vm_write, self_mem,
};
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// What GUP's own faults cost for `pages` pages across the boundary of two untouched folios:
/// one PMD entry each, or one PTE per page.
fn across_two(pmd: &Pmd, pages: usize) -> Counts {
    if pmd.on {
        Counts::pmds(2)
    } else {
        Counts::ptes(pages)
    }
}

/// Fails unless `got` is `want`, naming the first byte that differs.
fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    ensure!(
        got.len() == want.len(),
        "{what}: {} bytes, expected {}",
        got.len(),
        want.len()
    );
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        return Err(format!(
            "{what}: byte {i:#x} is {:#x}, expected {:#x}",
            got[i], want[i]
        ));
    }
    Ok(())
}

test!(folio: gup_process_vm_rw);
/// process_vm_readv of four pages across the boundary of two untouched folios faults them in
/// (each folio by one PMD entry) and reads the device's bytes; process_vm_writev writes the
/// device; both again through the entries now mapped; process_vm_writev into a private mapping
/// breaks copy-on-write and leaves the device as it was.
fn gup_process_vm_rw(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, p) = (pmd_span(), ps());
    let f = d.open(true)?;
    let data = fill(&f, 92, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    let (at, len) = (span - 2 * p, 4 * p);
    let mut read = Ok(Vec::new());
    let cost = counted(d, || {
        read = process_vm_read(&m, at, len);
        Ok(())
    })?;
    let read = read.map_err(|e| format!("process_vm_readv: {e}"))?;
    same("process_vm_readv", &read, &data[at..at + len])?;
    expect_counts(
        "process_vm_readv of the untouched pages",
        cost,
        across_two(&pmd, 4),
    )?;
    let new = marked(93, at, len);
    let n = process_vm_write(&m, at, &new).map_err(|e| format!("process_vm_writev: {e}"))?;
    ensure!(n == len, "process_vm_writev wrote {n} of {len} bytes");
    same("read() after process_vm_writev", &pread(&f, len, at)?, &new)?;
    same(
        "the mapping after process_vm_writev",
        &m.read_bytes(at, len),
        &new,
    )?;
    let whole = process_vm_read(&m, span, span).map_err(|e| format!("process_vm_readv: {e}"))?;
    same(
        "process_vm_readv of folio 1",
        &whole,
        &pread(&f, span, span)?,
    )?;
    let private = folio_map(&f, span, RW, MapFlags::MAP_PRIVATE, 0)?;
    let n = process_vm_write(&private, 5, b"private")
        .map_err(|e| format!("process_vm_writev into a private mapping: {e}"))?;
    ensure!(n == 7, "process_vm_writev wrote {n} of 7 bytes");
    ensure!(
        private.read_bytes(5, 7) == b"private" && pread(&f, 7, 5)? == data[5..12],
        "process_vm_writev into a private mapping: it shows {:?}, the device {:?}",
        private.read_bytes(5, 7),
        pread(&f, 7, 5)?
    );
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: gup_vmsplice);
/// vmsplice() of four pages across two folios, the first mapped, the second not (GUP faults it
/// in), fills a pipe with references to the pages themselves, not copies (each page mapped
/// once still, kpagecount 1): bytes the device gets after the splice are what the pipe reads.
fn gup_vmsplice(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, p) = (pmd_span(), ps());
    let f = d.open(true)?;
    let data = fill(&f, 94, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    let got = touch(d, &m, [0], false)?;
    expect_counts("a first read of folio 0", got, pmd.span_touch())?;
    let (at, len) = (span - 2 * p, 4 * p);
    let mut pipe = None;
    let cost = counted(d, || {
        pipe = Some(SplicedPipe::splice(&m, at, len).map_err(|e| format!("vmsplice: {e}"))?);
        Ok(())
    })?;
    let pipe = pipe.ok_or("no pipe")?;
    ensure!(pipe.len == len, "vmsplice took {} of {len} bytes", pipe.len);
    // Folio 0 was mapped (all of it by its PMD entry, or page 0 alone).
    let want = if pmd.on {
        Counts::pmds(1)
    } else {
        Counts::ptes(4)
    };
    expect_counts("vmsplice's faults", cost, want)?;
    let frames = crate::folio_path::device_frames(d, at / p, 4)?;
    for (i, &pfn) in frames.iter().enumerate() {
        let c = kpagecounts(pfn, 1)?[0];
        ensure!(c == 1, "page {i} spliced: kpagecount {c}, expected 1");
    }
    let new = marked(95, span - p, 2 * p);
    pwrite(&f, &new, span - p).map_err(|e| format!("pwrite: {e}"))?;
    let mut want = data[at..span - p].to_vec();
    want.extend_from_slice(&new);
    want.extend_from_slice(&data[span + p..at + len]);
    same(
        "the pipe, read after the device was written",
        &pipe.read_all()?,
        &want,
    )?;
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: gup_proc_mem);
/// `/proc/self/mem` reads and writes across the boundary of two untouched folios (faulting them
/// in, each by its PMD entry) see and change the device's bytes; a write to a read-only private
/// mapping (FOLL_FORCE, as a debugger sets a breakpoint, where the kernel forces it) copies the
/// page and leaves the device as it was.
fn gup_proc_mem(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let span = pmd_span();
    let f = d.open(true)?;
    let data = fill(&f, 96, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    let mem = self_mem()?;
    let (at, len) = (span - 100, 200);
    let mut read = Ok(Vec::new());
    let cost = counted(d, || {
        read = mem_read(&mem, m.addr() + at as u64, len);
        Ok(())
    })?;
    let read = read.map_err(|e| format!("/proc/self/mem read: {e}"))?;
    same("/proc/self/mem read", &read, &data[at..at + len])?;
    expect_counts(
        "/proc/self/mem read of the untouched pages",
        cost,
        across_two(&pmd, 2),
    )?;
    let new = pattern(97, len);
    let n = mem_write(&mem, m.addr() + at as u64, &new)
        .map_err(|e| format!("/proc/self/mem write: {e}"))?;
    ensure!(n == len, "/proc/self/mem wrote {n} of {len} bytes");
    same(
        "read() after the /proc/self/mem write",
        &pread(&f, len, at)?,
        &new,
    )?;
    same("the mapping after it", &m.read_bytes(at, len), &new)?;
    let ro = folio_map(&f, span, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, span)?;
    // Whether `/proc/<pid>/mem` forces its way into a read-only mapping is the kernel's
    // configuration (`CONFIG_PROC_MEM_*`, `proc_mem.force_override=`): always, or only for a
    // process's ptracer (the test kernel), which this process is not. Either way the device's
    // bytes stay as they were.
    // The device's bytes there now, the write above included.
    let before = pread(&f, 10, span + 9)?;
    let shown = match mem_write(&mem, ro.addr() + 9, b"breakpoint") {
        Ok(n) => {
            ensure!(n == 10, "/proc/self/mem wrote {n} of 10 bytes");
            b"breakpoint".to_vec()
        }
        Err(Errno::EIO) => before.clone(),
        Err(e) => {
            return Err(format!(
                "/proc/self/mem write into a read-only private mapping: {e}"
            ));
        }
    };
    ensure!(
        ro.read_bytes(9, 10) == shown && pread(&f, 10, span + 9)? == before,
        "a write into a read-only private mapping: it shows {:?}, the device {:?}",
        ro.read_bytes(9, 10),
        pread(&f, 10, span + 9)?
    );
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: gup_o_direct);
/// O_DIRECT I/O between a block device (the test VM's zram) and four pages across the boundary
/// of two untouched folios, whose pages the block layer pins with GUP (faulting each folio in
/// by its PMD entry): a write from the mapping puts the device's bytes on the disk, a read into
/// it puts the disk's bytes into the device.
fn gup_o_direct(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, p) = (pmd_span(), ps());
    let (at, len) = (span - 2 * p, 4 * p);
    let io = match DirectIo::zram(len)? {
        Ok(io) => io,
        Err(skip) => return Ok(skip),
    };
    let f = d.open(true)?;
    let data = fill(&f, 98, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    let mut wrote = Ok(0);
    let cost = counted(d, || {
        wrote = io.write_from(m.addr() + at as u64, len, 0);
        Ok(())
    })?;
    let wrote = wrote.map_err(|e| format!("O_DIRECT write from the mapping: {e}"))?;
    ensure!(wrote == len, "O_DIRECT wrote {wrote} of {len} bytes");
    expect_counts("the O_DIRECT write's faults", cost, across_two(&pmd, 4))?;
    let buf = Mapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    let n = io
        .read_into(buf.addr(), len, 0)
        .map_err(|e| format!("O_DIRECT read back: {e}"))?;
    ensure!(n == len, "O_DIRECT read {n} of {len} bytes");
    same(
        "the disk after the O_DIRECT write from the mapping",
        &buf.read_bytes(0, len),
        &data[at..at + len],
    )?;
    let new = marked(99, at, len);
    buf.write_bytes(0, &new);
    let n = io
        .write_from(buf.addr(), len, 0)
        .map_err(|e| format!("O_DIRECT write: {e}"))?;
    ensure!(n == len, "O_DIRECT wrote {n} of {len} bytes");
    let n = io
        .read_into(m.addr() + at as u64, len, 0)
        .map_err(|e| format!("O_DIRECT read into the mapping: {e}"))?;
    ensure!(
        n == len,
        "O_DIRECT read {n} of {len} bytes into the mapping"
    );
    same(
        "read() after the O_DIRECT read into the mapping",
        &pread(&f, len, at)?,
        &new,
    )?;
    same("the mapping after it", &m.read_bytes(at, len), &new)?;
    pmd.note();
    Ok(Outcome::Pass)
}

/// Maps, touches, splits, forks and hands folio pages to GUP every way the tests do, then
/// unmaps everything and closes every pipe.
pub fn everything_once(d: &Device) -> Result<(), String> {
    let (span, p) = (pmd_span(), ps());
    let f = d.open(true)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    m.read(0);
    // Folio 1 by PTEs: a mapping that does not line up with it.
    let ptes = Mapping::at_phase(&f, span, RW, MapFlags::MAP_SHARED, span as i64, span, p)
        .map_err(|e| format!("mmap: {e}"))?;
    for i in (0..span).step_by(37 * p) {
        ptes.write(i, ptes.read(i));
    }
    child_ok(|| {
        m.write(span + 1, m.read(span + 1));
        ptes.read(3 * p);
        Ok(())
    })?;
    let pipe = SplicedPipe::splice(&m, span - p, 2 * p).map_err(|e| format!("vmsplice: {e}"))?;
    pipe.read_all()?;
    drop(pipe);
    process_vm_read(&m, span / 2, 3 * p).map_err(|e| format!("process_vm_readv: {e}"))?;
    let private = folio_map(&f, span, RW, MapFlags::MAP_PRIVATE, 0)?;
    private.read(p);
    private.write(2 * p, 1);
    let at = std::ptr::NonNull::new((m.addr() + (span + 5 * p) as u64) as *mut libc::c_void)
        .ok_or("null address")?;
    // SAFETY: One page of the mapping this function owns; no Rust reference points into it.
    unsafe { mprotect(at, p, ProtFlags::PROT_READ) }.map_err(|e| format!("mprotect: {e}"))?;
    m.read(span + 6 * p);
    Ok(())
}

test!(folio: unmapped_frames_unreferenced);
/// Once every mapping is gone and every pipe closed (after PMD and PTE mappings, a fork, a
/// split, a private copy, vmsplice and process_vm_readv), no frame of the buffer, as the debug
/// view lists them, is mapped: `/proc/kpagecount` 0 and no `mmap` in `/proc/kpageflags`, for
/// every page of every folio; and `live_vmas` is 0.
fn unmapped_frames_unreferenced(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let live = d.live_vmas()?;
    ensure!(
        live == 0,
        "live_vmas {live} before the test mapped anything"
    );
    everything_once(d)?;
    let live = d.live_vmas()?;
    ensure!(live == 0, "live_vmas {live} after every mapping is gone");
    let view = KernelView::read(&d.path)?;
    let sp = span_pages();
    for (k, folio) in view.pages.chunks(sp).enumerate() {
        let frames: Vec<u64> = folio.iter().map(|&(_, pfn)| pfn).collect();
        ensure!(
            runs(&frames).len() == 1,
            "folio {k}: the debug view's frames are not contiguous"
        );
        let first = frames[0];
        let counts = kpagecounts(first, folio.len())?;
        let flags = kpageflags_range(first, folio.len())?;
        if let Some(i) = (0..folio.len()).find(|&i| counts[i] != 0 || flags[i].mmap()) {
            return Err(format!(
                "folio {k}, page {i} (frame {:#x}): kpagecount {}, kpageflags {} after \
                 everything was unmapped",
                first + i as u64,
                counts[i],
                flags[i].names()
            ));
        }
    }
    diag!(
        "{} folios, {} frames: none mapped",
        view.pages.len() / sp,
        view.pages.len()
    );
    Ok(Outcome::Pass)
}
