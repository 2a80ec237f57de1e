//! madvise() on the folio node: every advice the 7.3 kernel knows, on a shared mapping of a
//! PMD-mapped folio and five PTE-mapped pages of the next. Its VMA is a file VMA of ordinary
//! pages, VM_SHARED, and VM_DONTEXPAND (so VM_SPECIAL) and VM_DONTDUMP, neither VM_PFNMAP nor
//! VM_LOCKED: what mm/madvise.c answers each advice follows from those (the table in
//! [`advices`]). Whatever the answer, the VMA stays as it was and shows the device's bytes.

use std::path::Path;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, MmapAdvise};
use vmdev::maps::self_maps_entry;

use crate::common::*;
use crate::folio_path::{
    Counts, Pmd, THP_SYSFS, expect_counts, fill, folio_map, folios_or_skip, mincore, shows_device,
    smaps_bytes, span_pages, touch,
};
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// `<asm-generic/mman-common.h>`'s guard-region advice (6.13), which the libc crate lacks.
const MADV_GUARD_INSTALL: i32 = 102;
const MADV_GUARD_REMOVE: i32 = 103;

/// One advice, what the kernel answers it on the folio node's shared mapping, and why.
struct Advice {
    advice: i32,
    name: &'static str,
    want: Result<(), Errno>,
    why: &'static str,
}

/// Every advice of 7.3's `madvise_behavior_valid()` but MADV_HWPOISON and MADV_SOFT_OFFLINE
/// (which would take a page of the driver's folio out of service, or migrate it), in an order
/// that undoes what can be undone, with the answer mm/madvise.c gives each on the folio node's
/// shared mapping. `ksm` and `thp`: whether the kernel has CONFIG_KSM and
/// CONFIG_TRANSPARENT_HUGEPAGE, without which their advice is not valid at all (EINVAL).
fn advices(ksm: bool, thp: bool) -> Vec<Advice> {
    let ok = Ok(());
    let einval = Err(Errno::EINVAL);
    let a = |advice, name, want, why| Advice {
        advice,
        name,
        want,
        why,
    };
    let ksm_want = if ksm { ok } else { einval };
    let thp_want = if thp { ok } else { einval };
    vec![
        a(libc::MADV_SEQUENTIAL, "MADV_SEQUENTIAL", ok, "a VMA flag"),
        a(libc::MADV_RANDOM, "MADV_RANDOM", ok, "a VMA flag"),
        a(libc::MADV_NORMAL, "MADV_NORMAL", ok, "a VMA flag"),
        a(
            libc::MADV_WILLNEED,
            "MADV_WILLNEED",
            ok,
            "a file VMA: vfs_fadvise(WILLNEED) of the character device (its inode is no shmem \
             one, even on devtmpfs: only regular files get shmem_aops), whose answer \
             madvise_willneed() ignores",
        ),
        a(
            libc::MADV_COLD,
            "MADV_COLD",
            ok,
            "not VM_LOCKED, VM_PFNMAP nor VM_HUGETLB; the folios are on no LRU, so nothing \
             deactivates, and a folio only partly in the range is not split (split_folio() \
             refuses a folio with no mapping: EBUSY)",
        ),
        a(
            libc::MADV_PAGEOUT,
            "MADV_PAGEOUT",
            ok,
            "as MADV_COLD: no folio on an LRU to isolate and reclaim",
        ),
        a(
            libc::MADV_DONTNEED,
            "MADV_DONTNEED",
            ok,
            "not VM_PFNMAP nor VM_LOCKED: the range is zapped, the pages refault from the \
             device",
        ),
        a(
            libc::MADV_DONTNEED_LOCKED,
            "MADV_DONTNEED_LOCKED",
            ok,
            "as MADV_DONTNEED",
        ),
        a(
            libc::MADV_FREE,
            "MADV_FREE",
            einval,
            "anonymous VMAs only (madvise_free_single_vma())",
        ),
        a(
            libc::MADV_REMOVE,
            "MADV_REMOVE",
            Err(Errno::ENODEV),
            "vfs_fallocate(FALLOC_FL_PUNCH_HOLE) of a character device: neither a regular \
             file nor a block device",
        ),
        a(
            libc::MADV_DONTDUMP,
            "MADV_DONTDUMP",
            ok,
            "VM_DONTDUMP, set already",
        ),
        a(
            libc::MADV_DODUMP,
            "MADV_DODUMP",
            einval,
            "VM_SPECIAL (VM_DONTEXPAND) VMAs stay out of core dumps",
        ),
        a(
            libc::MADV_WIPEONFORK,
            "MADV_WIPEONFORK",
            einval,
            "private anonymous memory only",
        ),
        a(
            libc::MADV_KEEPONFORK,
            "MADV_KEEPONFORK",
            ok,
            "clears VM_WIPEONFORK, which is not set",
        ),
        a(
            libc::MADV_MERGEABLE,
            "MADV_MERGEABLE",
            ksm_want,
            "KSM ignores VM_SHARED and VM_SPECIAL VMAs (ksm_compatible()); EINVAL without \
             CONFIG_KSM",
        ),
        a(
            libc::MADV_UNMERGEABLE,
            "MADV_UNMERGEABLE",
            ksm_want,
            "not VM_MERGEABLE: ignored; EINVAL without CONFIG_KSM",
        ),
        a(
            MADV_GUARD_INSTALL,
            "MADV_GUARD_INSTALL",
            einval,
            "no guard regions in VM_SPECIAL VMAs (is_valid_guard_vma())",
        ),
        a(
            MADV_GUARD_REMOVE,
            "MADV_GUARD_REMOVE",
            einval,
            "as MADV_GUARD_INSTALL",
        ),
        a(
            libc::MADV_COLLAPSE,
            "MADV_COLLAPSE",
            einval,
            "VM_SPECIAL is VM_NO_KHUGEPAGED, for which thp_vma_allowable_orders() allows no \
             collapse; not valid at all without THP",
        ),
        a(
            libc::MADV_NOHUGEPAGE,
            "MADV_NOHUGEPAGE",
            thp_want,
            "VM_NOHUGEPAGE; EINVAL without THP",
        ),
        a(
            libc::MADV_POPULATE_READ,
            "MADV_POPULATE_READ",
            ok,
            "GUP faults every page in",
        ),
        a(
            libc::MADV_POPULATE_WRITE,
            "MADV_POPULATE_WRITE",
            ok,
            "GUP write-faults every page in (a shared mapping: no copy)",
        ),
        a(
            libc::MADV_HUGEPAGE,
            "MADV_HUGEPAGE",
            thp_want,
            "VM_HUGEPAGE; EINVAL without THP",
        ),
        a(libc::MADV_DONTFORK, "MADV_DONTFORK", ok, "VM_DONTCOPY"),
        a(
            libc::MADV_DOFORK,
            "MADV_DOFORK",
            einval,
            "a VM_SPECIAL VMA keeps VM_DONTCOPY",
        ),
    ]
}

test!(folio: madvise_each_advice);
/// Each advice of [`advices`] over a whole shared mapping of folio 0 (PMD-mapped where it can
/// be) and eight pages of folio 1 (five of them mapped by PTEs before each advice) gets the
/// answer the table says. After each, the VMA is as it was (no split, `live_vmas` as before),
/// which pages are resident is unchanged (none after MADV_DONTNEED, all after MADV_POPULATE_*),
/// the mapping shows the device's bytes and its writes reach the device. Last, MADV_NOHUGEPAGE
/// makes a fresh mapping's folio fault by PTE, MADV_HUGEPAGE by its PMD entry.
fn madvise_each_advice(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let f = d.open(true)?;
    fill(&f, 101, 0, span + 8 * p)?;
    let base = d.live_vmas()?;
    let pages = sp + 8;
    let m = folio_map(&f, pages * p, RW, MapFlags::MAP_SHARED, 0)?;
    let line = self_maps_entry(m.addr())?;
    let (ksm, thp) = (
        Path::new("/sys/kernel/mm/ksm").exists(),
        Path::new(THP_SYSFS).exists(),
    );
    let mut seen = Vec::new();
    for (k, a) in advices(ksm, thp).into_iter().enumerate() {
        touch(d, &m, [0].into_iter().chain(sp..sp + 5), false)?;
        let before = mincore(m.addr(), pages)?;
        // SAFETY: Advice on the whole mapping this test owns, which Rust code accesses only by
        // volatile copies; what the advice may do to it (zap, populate) changes no bytes.
        let res = unsafe { libc::madvise(m.addr() as *mut libc::c_void, pages * p, a.advice) };
        let res = if res == 0 { Ok(()) } else { Err(Errno::last()) };
        ensure!(
            res == a.want,
            "{}: {res:?}, expected {:?} ({})",
            a.name,
            a.want,
            a.why
        );
        seen.push(format!(
            "{} {}",
            a.name,
            res.map_or_else(|e| e.to_string(), |()| "0".into())
        ));
        let now = self_maps_entry(m.addr())?;
        let live = d.live_vmas()?;
        ensure!(
            now == line && live == base + 1,
            "{}: the VMA is {:#x}-{:#x} {} (was {:#x}-{:#x} {}), live_vmas {live}",
            a.name,
            now.start,
            now.end,
            now.perms,
            line.start,
            line.end,
            line.perms
        );
        let resident = mincore(m.addr(), pages)?;
        let (expect, what) = match a.advice {
            libc::MADV_DONTNEED | libc::MADV_DONTNEED_LOCKED => (vec![0; pages], "none"),
            libc::MADV_POPULATE_READ | libc::MADV_POPULATE_WRITE => (vec![1; pages], "all"),
            _ => (before, "the pages resident before"),
        };
        ensure!(
            resident == expect,
            "{}: resident pages {resident:?}; expected {what}",
            a.name
        );
        if a.advice == libc::MADV_DONTNEED {
            let rss = smaps_bytes(m.addr(), "Rss")?;
            ensure!(rss == 0, "{}: Rss {rss:#x} after the zap", a.name);
        }
        shows_device(&m, &f, 0, a.name)?;
        let at = (k * 4099 + 7) % (pages * p);
        let v = m.read(at) ^ 0xa5;
        m.write(at, v);
        ensure!(
            pread(&f, 1, at)? == [v],
            "{}: a write through the mapping after it did not reach the device",
            a.name
        );
    }
    diag!("{}", seen.join(", "));
    if thp {
        let no = folio_map(&f, span, RW, MapFlags::MAP_SHARED, 0)?;
        madvise_errno(&no, MmapAdvise::MADV_NOHUGEPAGE)
            .map_err(|e| format!("MADV_NOHUGEPAGE: {e}"))?;
        let got = touch(d, &no, [0], false)?;
        expect_counts(
            "a first read of a fresh mapping after MADV_NOHUGEPAGE",
            got,
            Counts::ptes(1),
        )?;
        let yes = folio_map(&f, span, RW, MapFlags::MAP_SHARED, 0)?;
        let got = touch(d, &yes, [0], false)?;
        expect_counts(
            "a first read of a fresh mapping advised MADV_HUGEPAGE",
            got,
            pmd.span_touch(),
        )?;
    }
    pmd.note();
    Ok(Outcome::Pass)
}
