//! The split matrix: every way to split a huge VMA (mprotect, munmap, MADV_DONTFORK, mremap of
//! the end of a mapping) at a page, a PMD-span and a PUD boundary, in a range mapped by PMD
//! entries (`huge.split_pmd_range_by_*`) and in the 1 GiB reserved at boot, mapped by a PUD
//! entry (`module.split_pud_range_by_*`), first touched before the split or not, with a fork
//! after each. One driver, `split_case`, runs each case of the tables the tests give it.

use std::ffi::c_void;
use std::fs::File;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap, mprotect, mremap, munmap,
};
use vmdev::mapping::Mapping;
use vmdev::maps::{SmapsEntry, parse_smaps, self_maps_entry};
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Module, Outcome, TestResult, diag, ensure, test};
use crate::huge_cost::{Cost, expect_cost, in_spans, pages, span_pages, spans_or_skip, touch};

/// How a case splits the mapping: each acts on the part from the boundary to the end, so it
/// makes exactly one split, at the boundary.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    /// mprotect(PROT_READ) of the part.
    Mprotect,
    /// munmap() of the part.
    Munmap,
    /// madvise(MADV_DONTFORK) of the part.
    DontFork,
    /// mremap() of the part to another address congruent to it (MREMAP_MAYMOVE|MREMAP_FIXED).
    Mremap,
}

impl Way {
    /// Its tag in the per-page words, so that what one test left in the device is not taken
    /// for another's.
    fn seed(self) -> u64 {
        self as u64 + 1
    }
}

/// The range a test splits: `len` bytes of the device from offset 0 (whole PMD spans), whose
/// pages hold their tags ([`fill_tags`]); a first touch of it maps entries of `entry` bytes (a
/// PUD span, or a PMD span).
struct Range<'a> {
    dev: &'a Device,
    file: &'a File,
    len: usize,
    entry: usize,
    seed: u64,
}

/// Where a case splits: the offset of the boundary in the mapping, and the mapping's address
/// modulo the PUD span (a multiple of the PMD span: the mapping is congruent to its offset).
struct Boundary {
    what: &'static str,
    at: usize,
    phase: usize,
}

/// The word at the start of page `page` of the file.
fn tag(seed: u64, page: usize) -> u64 {
    0x5e17_0000_0000_0000 | seed << 40 | page as u64
}

/// Writes each page's tag through a temporary mapping (one entry per span: a few faults, where
/// pwrite() of the whole range would copy all of it).
fn fill_tags(r: &Range) -> Result<(), String> {
    let m = map_congruent(r.file, r.len, RW, MapFlags::MAP_SHARED, 0, r.entry)?;
    for page in 0..r.len / ps() {
        m.write_bytes(page * ps(), &tag(r.seed, page).to_ne_bytes());
    }
    Ok(())
}

/// A shared mapping of `len` bytes of `file` from offset 0 at an address `phase` past a multiple
/// of `align`: a PROT_NONE reservation aligned to `align`, the device mapped over its end with
/// MAP_FIXED, its head given back.
fn map_at(file: &File, len: usize, align: usize, phase: usize) -> Result<Mapping, String> {
    let zero = File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"))?;
    let room = Mapping::aligned(
        zero.as_fd(),
        phase + len,
        ProtFlags::PROT_NONE,
        MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
        0,
        align,
    )
    .map_err(|e| {
        format!(
            "reserving {:#x} bytes aligned to {align:#x}: {e}",
            phase + len
        )
    })?;
    let (base, _) = room.into_raw();
    let at = base.as_ptr() as usize + phase;
    let nz = |n: usize| NonZeroUsize::new(n).ok_or("zero length");
    // SAFETY: `at..at + len` is the end of the reservation just made, which nothing else uses.
    let res = unsafe {
        mmap(
            NonZeroUsize::new(at),
            nz(len)?,
            RW,
            MapFlags::MAP_SHARED | MapFlags::MAP_FIXED,
            file,
            0,
        )
    };
    if phase > 0 {
        // SAFETY: The reservation's head, which nothing uses.
        let _ = unsafe { munmap(base, phase) };
    }
    match res {
        // SAFETY: The device mapping just made, owned from now on.
        Ok(ptr) => Ok(unsafe { Mapping::from_raw(ptr, len) }),
        Err(e) => {
            // SAFETY: The rest of the reservation, which nothing uses.
            drop(unsafe { Mapping::from_raw(NonNull::new(at as *mut c_void).ok_or("null")?, len) });
            Err(format!("mmap({len:#x}, MAP_FIXED at {at:#x}): {e}"))
        }
    }
}

/// A VMA left by a split: a mapping of the file from offset `off`.
struct Piece {
    m: Mapping,
    off: usize,
    /// Whether a fork child has it (not after MADV_DONTFORK).
    inherited: bool,
    /// Its permissions in /proc/self/maps.
    perms: &'static str,
    /// Whether mremap() moved it here (its entries may have moved with it).
    moved: bool,
}

impl Piece {
    fn new(m: Mapping, off: usize) -> Self {
        Self {
            m,
            off,
            inherited: true,
            perms: "rw-s",
            moved: false,
        }
    }
}

/// Splits `m` (the whole range) at byte `at` the `way` way: the VMAs left, in address order of
/// the file.
fn split(way: Way, m: Mapping, at: usize) -> Result<Vec<Piece>, String> {
    let (ptr, len) = m.into_raw();
    let rest = len - at;
    // SAFETY: Byte `at` of the mapping this function owns (`at < len`).
    let part = unsafe { ptr.byte_add(at) };
    // The owners of the whole range (on an error, to unmap it) or of its two parts; each arm
    // below calls either `whole` or the others, each once.
    // SAFETY: The mapping this function owns, taken over once.
    let whole = || unsafe { Mapping::from_raw(ptr, len) };
    // SAFETY: The part before the boundary, taken over once.
    let head = || Piece::new(unsafe { Mapping::from_raw(ptr, at) }, 0);
    // SAFETY: The part from the boundary, still mapped there (not after munmap, mremap).
    let tail = || Piece::new(unsafe { Mapping::from_raw(part, rest) }, at);
    let fail = |what: String| {
        drop(whole());
        Err(what)
    };
    match way {
        Way::Mprotect => {
            // SAFETY: The part, owned here, is only read from now on.
            if let Err(e) = unsafe { mprotect(part, rest, ProtFlags::PROT_READ) } {
                return fail(format!("mprotect(PROT_READ) from byte {at:#x}: {e}"));
            }
            Ok(vec![
                head(),
                Piece {
                    perms: "r--s",
                    ..tail()
                },
            ])
        }
        Way::Munmap => {
            // SAFETY: The part, owned here, is not used again.
            if let Err(e) = unsafe { munmap(part, rest) } {
                return fail(format!("munmap from byte {at:#x}: {e}"));
            }
            Ok(vec![head()])
        }
        Way::DontFork => {
            // SAFETY: The part, owned here; the advice changes no memory.
            if let Err(e) = unsafe { madvise(part, rest, MmapAdvise::MADV_DONTFORK) } {
                return fail(format!("MADV_DONTFORK from byte {at:#x}: {e}"));
            }
            Ok(vec![
                head(),
                Piece {
                    inherited: false,
                    ..tail()
                },
            ])
        }
        Way::Mremap => {
            let zero = File::open("/dev/zero").map_err(|e| format!("/dev/zero: {e}"));
            let target = zero.and_then(|z| {
                Mapping::congruent(
                    z.as_fd(),
                    rest,
                    ProtFlags::PROT_NONE,
                    MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
                    at as i64,
                    pmd_span(),
                )
                .map_err(|e| format!("reserving {rest:#x} bytes congruent to {at:#x}: {e}"))
            });
            let to = match target {
                Ok(t) => t.into_raw().0,
                Err(e) => return fail(e),
            };
            let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
            // SAFETY: Moves the part onto the reservation this function also owns.
            match unsafe { mremap(part, rest, rest, flags, Some(to)) } {
                Ok(new) if new == to => {
                    // SAFETY: The moved part, owned from now on.
                    let moved = unsafe { Mapping::from_raw(new, rest) };
                    Ok(vec![
                        head(),
                        Piece {
                            moved: true,
                            ..Piece::new(moved, at)
                        },
                    ])
                }
                res => {
                    // SAFETY: The reservation (or whatever mremap() left there), owned here.
                    drop(unsafe { Mapping::from_raw(to, rest) });
                    fail(format!("mremap from byte {at:#x} to {to:p}: {res:?}"))
                }
            }
        }
    }
}

/// Whole PMD spans, and pages outside them, of the file range `off..off + len`.
fn spans_and_pages(off: usize, len: usize) -> (usize, usize) {
    let first = off.next_multiple_of(pmd_span());
    let whole = (off + len).saturating_sub(first) / pmd_span();
    (whole, len / ps() - whole * span_pages())
}

/// Fails unless every page of `p` holds its tag.
fn check_tags(r: &Range, p: &Piece, who: &str) -> Result<(), String> {
    for page in 0..p.m.len() / ps() {
        let (got, want) = (p.m.read_u64(page * ps()), tag(r.seed, p.off / ps() + page));
        ensure!(
            got == want,
            "{who}: page {page} of the VMA at file offset {:#x} holds {got:#x}, expected {want:#x}",
            p.off
        );
    }
    Ok(())
}

/// The kernel log lines that are splats (`scripts/common.sh` counts the same in the VM's log).
fn splats(lines: &[String]) -> Vec<&String> {
    const MARKS: [&str; 9] = [
        "BUG:",
        "kernel BUG at",
        "WARNING:",
        "KASAN:",
        "Oops",
        "possible circular locking",
        "panicked at",
        "Kernel panic",
        "general protection fault",
    ];
    lines
        .iter()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .collect()
}

/// Fails unless this process's VMAs of `d` in /proc/self/smaps are `pieces`, one entry each, with
/// their addresses, offsets, `Size:`, permissions, and `dc` (VM_DONTCOPY) where MADV_DONTFORK
/// applies.
fn check_smaps(d: &Device, pieces: &[Piece]) -> Result<(), String> {
    let text = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| format!("/proc/self/smaps: {e}"))?;
    let path = d.path.to_string_lossy();
    let ours: Vec<SmapsEntry> = parse_smaps(&text)?
        .into_iter()
        .filter(|e| e.map.path.ends_with(path.as_ref()))
        .collect();
    ensure!(
        ours.len() == pieces.len(),
        "{} VMAs of {path} in /proc/self/smaps, expected {}",
        ours.len(),
        pieces.len()
    );
    for p in pieces {
        let (start, len) = (p.m.addr(), p.m.len() as u64);
        let e = ours
            .iter()
            .find(|e| e.map.start == start)
            .ok_or_else(|| format!("no smaps entry starts at {start:#x}"))?;
        let size = e.fields.get("Size").copied();
        ensure!(
            e.map.end == start + len
                && e.map.offset == p.off as u64
                && size == Some(len / 1024)
                && e.map.perms == p.perms
                && e.has_flag("dc") != p.inherited,
            "smaps entry {:#x}-{:#x} {} offset {:#x} Size {size:?} kB, dc {}; expected \
             {start:#x}-{:#x} {} offset {:#x} Size {} kB, dc {}",
            e.map.start,
            e.map.end,
            e.map.perms,
            e.map.offset,
            e.has_flag("dc"),
            start + len,
            p.perms,
            p.off,
            len / 1024,
            !p.inherited
        );
    }
    Ok(())
}

/// One case: maps the range at `b.phase` past a PUD-aligned address, first reads every PMD span
/// of it if `touched`, splits it the `way` way at `b.at`, then checks the device's VMA count,
/// what reading every page of each VMA left costs and reads (each page's tag), smaps, and a
/// fork child's view (every inherited page read, at no fault, with its tag; the MADV_DONTFORK
/// part absent); then the parent's pages again, and the VMA count once all is unmapped.
/// Returns what the reads after the split cost, for the log.
fn split_case(r: &Range, way: Way, b: &Boundary, touched: bool) -> Result<String, String> {
    let (d, p, sp) = (r.dev, ps(), span_pages());
    let base = d.live_vmas()?;
    let m = map_at(r.file, r.len, pud_span(), b.phase)?;
    if touched {
        let got = touch(d, &m, &in_spans(0..r.len / pmd_span(), 0), false)?;
        let want = Cost::of(r.len / r.entry, r.entry / p, 0);
        expect_cost("a first read of every PMD span", got, want)?;
    }
    // The PMD entries a first touch mapped survive the split, but for the one straddling the
    // boundary, which the core clears; a PUD entry the driver removes whole (`may_split`) when
    // the boundary is not PUD-aligned, which inside it it never is.
    let kept = touched && r.entry == pmd_span();
    let pieces = split(way, m, b.at)?;
    let live = d.live_vmas()?;
    let want = base + if way == Way::Munmap { 1 } else { 2 };
    ensure!(
        live == want,
        "live_vmas {live} after the split, expected {want}"
    );
    let mut log = Vec::new();
    for piece in &pieces {
        let len = piece.m.len();
        // Each VMA maps its whole spans with PMD entries and its other pages (the part of the
        // span that straddled the boundary) with PTEs, unless the entries are still there.
        let (whole, other) = spans_and_pages(piece.off, len);
        let want = Cost::of(if kept { 0 } else { whole }, sp, other);
        let got = touch(d, &piece.m, &pages(0..len / p), false)?;
        let what = format!(
            "reads of every page of the {len:#x}-byte VMA at file offset {:#x}",
            piece.off
        );
        if kept && piece.moved {
            // mremap() moves the page tables before it splits: the PMD entries of the moved
            // whole spans may come along (move_huge_pmd()) or be cleared to be refaulted, as
            // the core decides; the straddling span is cleared either way. So between no and
            // every whole span refaulted, each as one PMD entry.
            ensure!(
                got.minor == got.faults
                    && (other..=other + whole).contains(&(got.faults as usize))
                    && got.around == (got.faults - other as u64) * (sp as u64 - 1),
                "{what}: {got}; expected {other} PTE faults and up to {whole} PMD entries"
            );
        } else {
            expect_cost(&what, got, want)?;
        }
        log.push(format!("{:#x}: {} faults", piece.off, got.faults));
        check_tags(r, piece, "the parent")?;
    }
    check_smaps(d, &pieces)?;
    child_ok(|| {
        for piece in pieces.iter().filter(|p| !p.inherited) {
            let (start, end) = (piece.m.addr(), piece.m.addr() + piece.m.len() as u64);
            ensure!(
                self_maps_entry(start).is_err() && self_maps_entry(end - 1).is_err(),
                "the MADV_DONTFORK part {start:#x}-{end:#x} is mapped in the child"
            );
        }
        for piece in pieces.iter().filter(|p| p.inherited) {
            // fork() copies the page tables of VM_PFNMAP VMAs: nothing to fault.
            let got = touch(d, &piece.m, &pages(0..piece.m.len() / p), false)?;
            let what = format!(
                "the child's reads of every page of the VMA at file offset {:#x}",
                piece.off
            );
            expect_cost(&what, got, Cost::of(0, sp, 0))?;
            check_tags(r, piece, "the child")?;
        }
        Ok(())
    })?;
    for piece in &pieces {
        check_tags(r, piece, "the parent after the fork")?;
    }
    drop(pieces);
    let live = d.live_vmas()?;
    ensure!(
        live == base,
        "live_vmas {live} after unmapping all, was {base}"
    );
    Ok(log.join(", "))
}

/// Runs `split_case` at each boundary, touched first and not, then looks for splats in the
/// kernel log.
fn split_cases(r: &Range, way: Way, boundaries: &[Boundary], mut kmsg: Kmsg) -> TestResult {
    for b in boundaries {
        for touched in [true, false] {
            let case = format!(
                "{way:?} from {} ({:#x} into the mapping, {:#x} past a PUD boundary), {}",
                b.what,
                b.at,
                (b.phase + b.at) % pud_span(),
                if touched {
                    "touched first"
                } else {
                    "untouched"
                }
            );
            let log = split_case(r, way, b, touched).map_err(|e| format!("{case}: {e}"))?;
            diag!("{case}: {log}");
        }
    }
    let lines = kmsg.new_lines();
    let bad = splats(&lines);
    ensure!(bad.is_empty(), "the kernel logged: {bad:?}");
    Ok(Outcome::Pass)
}

/// The PMD range, the huge device's default buffer (whole PMD spans), split the `way` way at a
/// page boundary inside a span, at a span boundary, and at a span boundary that is also a PUD
/// boundary (the mapping placed across a 1 GiB-aligned address).
fn pmd_range(d: &Device, way: Way) -> TestResult {
    let spans = spans_or_skip!(d);
    let kmsg = Kmsg::from_now()?;
    let (span, pud) = (pmd_span(), pud_span());
    let file = d.open(true)?;
    let r = Range {
        dev: d,
        file: &file,
        len: spans * span,
        entry: span,
        seed: way.seed(),
    };
    fill_tags(&r)?;
    let boundaries = [
        Boundary {
            what: "a page boundary",
            at: span + 5 * ps(),
            phase: pud / 2,
        },
        Boundary {
            what: "a PMD-span boundary",
            at: span,
            phase: pud / 2,
        },
        Boundary {
            what: "a PUD-span boundary",
            at: span,
            phase: pud - span,
        },
    ];
    split_cases(&r, way, &boundaries, kmsg)
}

test!(huge: split_pmd_range_by_mprotect);
/// mprotect(PROT_READ) of a mapping of PMD spans from a page boundary inside a span, a span
/// boundary, and a span boundary at a 1 GiB-aligned address, each after a first read of every
/// span and without: two VMAs; reading every page then refaults, as PTEs, only the pages of the
/// span that straddled the boundary (every span with PMD entries when untouched before); the
/// bytes stay, a fork child reads every page with no fault, smaps shows the two VMAs, and the
/// kernel logs no splat.
fn split_pmd_range_by_mprotect(_cx: &Context, d: &Device) -> TestResult {
    pmd_range(d, Way::Mprotect)
}

test!(huge: split_pmd_range_by_munmap);
/// munmap() of the end of a mapping of PMD spans, from the same boundaries, touched first and
/// not: the head is one VMA, costs what the entry rules predict to read, keeps its bytes, and
/// forks; no splat.
fn split_pmd_range_by_munmap(_cx: &Context, d: &Device) -> TestResult {
    pmd_range(d, Way::Munmap)
}

test!(huge: split_pmd_range_by_dontfork);
/// MADV_DONTFORK of the end of a mapping of PMD spans, from the same boundaries, touched first
/// and not: two VMAs, the second `dc` in smaps and absent from a fork child, which reads every
/// page of the first with no fault; the costs are those of the entry rules; no splat.
fn split_pmd_range_by_dontfork(_cx: &Context, d: &Device) -> TestResult {
    pmd_range(d, Way::DontFork)
}

test!(huge: split_pmd_range_by_mremap);
/// mremap() of the end of a mapping of PMD spans, from the same boundaries, to an address
/// congruent to it, touched first and not: two VMAs with their bytes; the moved part costs at
/// most a first touch (its entries may move with it), the rest what the entry rules predict; a
/// fork child reads every page with no fault; no splat.
fn split_pmd_range_by_mremap(_cx: &Context, d: &Device) -> TestResult {
    pmd_range(d, Way::Mremap)
}

/// The PUD range: the module reloaded on the 1 GiB reserved at boot, mapped whole at a 1 GiB
/// aligned address (one PUD entry once touched, where the CPU walks them; PMD entries where
/// not, `VMDEV_FLAG_HUGE_PUD` clear), split the `way` way at a page boundary and at a PMD-span
/// boundary. (A VMA of the 1 GiB device has no PUD boundary inside.) Restores the default load.
fn pud_range(cx: &Context, m: &Module, way: Way) -> TestResult {
    let huge = &cx.huge;
    let (span, pud) = (pmd_span(), pud_span());
    let flags = huge.info()?.flags;
    let entry = if flags & uapi::FLAG_HUGE_PUD != 0 {
        pud
    } else if flags & uapi::FLAG_HUGE_PMD != 0 {
        span
    } else {
        return Ok(Outcome::Skip(format!(
            "this kernel maps neither PUD nor PMD entries of PFNs (vmdev_info.flags {flags:#x})"
        )));
    };
    let params = match pud_reservation()? {
        Ok(range) => range.params(),
        Err(skip) => return Ok(skip),
    };
    let kmsg = Kmsg::from_now()?;
    m.reload(&params)?;
    let result = (|| {
        let info = huge.info()?;
        ensure!(
            info.size == pud as u64,
            "the huge device has {:#x} bytes on the {pud:#x}-byte reserved range",
            info.size
        );
        let file = huge.open(true)?;
        let r = Range {
            dev: huge,
            file: &file,
            len: pud,
            entry,
            seed: way.seed(),
        };
        fill_tags(&r)?;
        diag!("the GiB is mapped with {:#x}-byte entries", entry);
        let boundaries = [
            Boundary {
                what: "a page boundary",
                at: pud / 2 + 5 * ps(),
                phase: 0,
            },
            Boundary {
                what: "a PMD-span boundary",
                at: pud / 2 + span,
                phase: 0,
            },
        ];
        split_cases(&r, way, &boundaries, kmsg)
    })();
    m.reload("")?;
    result
}

test!(module: split_pud_range_by_mprotect, Reload);
/// mprotect(PROT_READ) of the end of the 1 GiB range from a page and from a PMD-span boundary,
/// after a first read (one PUD entry) and without: the driver removes the PUD entry before the
/// split (no oops), and reading every page then maps each VMA's whole spans with PMD entries
/// and the pages of the straddling span with PTEs; with PMD entries only the straddling span
/// refaults. Bytes, fork child, smaps and kernel log as for the PMD range.
fn split_pud_range_by_mprotect(cx: &Context, m: &Module) -> TestResult {
    pud_range(cx, m, Way::Mprotect)
}

test!(module: split_pud_range_by_munmap, Reload);
/// munmap() of the end of the 1 GiB range from the same boundaries, touched first and not: no
/// oops, the head refaults as the entry rules predict, keeps its bytes and forks.
fn split_pud_range_by_munmap(cx: &Context, m: &Module) -> TestResult {
    pud_range(cx, m, Way::Munmap)
}

test!(module: split_pud_range_by_dontfork, Reload);
/// MADV_DONTFORK of the end of the 1 GiB range from the same boundaries, touched first and
/// not: no oops, two VMAs refaulting as predicted, the second absent from a fork child.
fn split_pud_range_by_dontfork(cx: &Context, m: &Module) -> TestResult {
    pud_range(cx, m, Way::DontFork)
}

test!(module: split_pud_range_by_mremap, Reload);
/// mremap() of the end of the 1 GiB range from the same boundaries to an address congruent to
/// it, touched first and not: no oops (the driver removes the PUD entry before mremap() moves
/// the page tables), both VMAs refault as predicted (nothing is left to move), bytes and fork
/// as for the PMD range.
fn split_pud_range_by_mremap(cx: &Context, m: &Module) -> TestResult {
    pud_range(cx, m, Way::Mremap)
}
