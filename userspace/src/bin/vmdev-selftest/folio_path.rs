//! The folio node's fault path: `/dev/vmdev-folio` serves folios of PMD order, each one PMD span
//! of its buffer. A fault where a folio's whole span lies in the VMA, at an address congruent to
//! its file offset (and not a write to a private mapping), maps the whole folio with one PMD
//! entry: one reference and one rmap entry for the folio, `faults` + 1 and `around_pages` + the
//! span's pages but one. Every other fault maps the one page by a PTE (`faults` + 1), or a
//! private copy of it. The pages are ordinary refcounted pages, which the page walkers
//! (`smaps`, `pagemap`, `mincore`, `numa_maps`) report and `/proc/kpage*` count.
//!
//! PMD entries need the kernel's transparent huge pages (`VMDEV_FLAG_HUGE_PMD`) and, for a VMA of
//! pages, their sysfs setting: `always`, or `madvise` and the VMA advised `MADV_HUGEPAGE`
//! (`vma_file_allow_thp_tuneables()` in mm/huge_memory.c; the PFN maps of the huge node bypass
//! it). The mappings here are advised so; where the setting is `never` or the flag is clear, the
//! tests keep their other assertions and expect PTEs ([`Pmd`]). The page walkers:
//! `folio_walkers`; splits, moves and forks: `folio_split`; madvise(): `folio_advice`; GUP:
//! `folio_gup`; the module's load and unload: `folio_module`.

use std::fmt;
use std::fs::File;
use std::path::Path;

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, mlock, munlock};
use vmdev::frames::{
    KernelView, kpagecounts, kpageflags_range, pagemap_entries, pagemap_frames, runs,
};
use vmdev::mapping::Mapping;
use vmdev::maps::{self_maps_entry, self_smaps_entry};
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// Where a kernel with transparent huge pages has their settings.
pub const THP_SYSFS: &str = "/sys/kernel/mm/transparent_hugepage";

/// Pages of one PMD span: one folio.
pub fn span_pages() -> usize {
    pmd_span() / ps()
}

/// Whether faults of the folio node map PMD entries on this kernel, with this THP setting; why
/// not where they do not (the tests then expect a PTE per page).
pub struct Pmd {
    pub on: bool,
    why: String,
}

impl Pmd {
    pub fn of(d: &Device) -> Result<Self, String> {
        let flags = d.info()?.flags;
        if flags & uapi::FLAG_HUGE_PMD == 0 {
            return Ok(Self {
                on: false,
                why: format!("vmdev_info.flags {flags:#x} lack VMDEV_FLAG_HUGE_PMD"),
            });
        }
        let path = format!("{THP_SYSFS}/enabled");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // THP built in, but the CPU cannot map huge pages (thp_disabled_by_hw()): no sysfs.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    on: false,
                    why: format!("no {path}: transparent huge pages off on this CPU"),
                });
            }
            Err(e) => return Err(format!("{path}: {e}")),
        };
        // `always [madvise] never`: the setting is the word in brackets.
        let set = text.split_whitespace().find(|w| w.starts_with('['));
        if set == Some("[never]") {
            return Ok(Self {
                on: false,
                why: format!("{path} is [never]: no PMD entries of pages in any VMA"),
            });
        }
        Ok(Self {
            on: true,
            why: String::new(),
        })
    }

    /// What the first touch of a folio's span costs where the whole span lies in the VMA, at
    /// an address congruent to its offset: one PMD entry, or one PTE without them.
    pub fn span_touch(&self) -> Counts {
        if self.on {
            Counts::pmds(1)
        } else {
            Counts::ptes(1)
        }
    }

    /// Says which expectations a test left out.
    pub fn note(&self) {
        if !self.on {
            diag!("PMD expectations left out ({}): PTEs expected", self.why);
        }
    }
}

/// What touches cost the folio node: `vmdev_info.faults` and `around_pages`, moved.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Counts {
    pub faults: u64,
    pub around: u64,
}

impl Counts {
    /// Nothing: no fault.
    pub const NONE: Counts = Counts {
        faults: 0,
        around: 0,
    };

    /// `n` PMD entries, each a whole folio.
    pub fn pmds(n: usize) -> Self {
        Self {
            faults: n as u64,
            around: (n * (span_pages() - 1)) as u64,
        }
    }

    /// `n` pages mapped by PTE.
    pub fn ptes(n: usize) -> Self {
        Self {
            faults: n as u64,
            around: 0,
        }
    }

    /// Both.
    pub fn plus(self, other: Self) -> Self {
        Self {
            faults: self.faults + other.faults,
            around: self.around + other.around,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "faults +{}, around_pages +{}", self.faults, self.around)
    }
}

/// Runs `body` and returns how far it moved `d`'s counters (so runs it alone: no other process
/// may fault the node meanwhile, as none does while a test runs).
pub fn counted(d: &Device, body: impl FnOnce() -> Result<(), String>) -> Result<Counts, String> {
    let before = d.info()?;
    body()?;
    let after = d.info()?;
    Ok(Counts {
        faults: after.faults - before.faults,
        around: after.around_pages - before.around_pages,
    })
}

/// Fails unless `got` is `want`.
pub fn expect_counts(what: &str, got: Counts, want: Counts) -> Result<(), String> {
    ensure!(got == want, "{what}: {got}; expected {want}");
    Ok(())
}

/// What touching pages of `m` cost `d`: the first byte of each page of `pages`, read, and
/// written back if `write`.
pub fn touch(
    d: &Device,
    m: &Mapping,
    pages: impl IntoIterator<Item = usize>,
    write: bool,
) -> Result<Counts, String> {
    counted(d, || {
        for p in pages {
            let b = m.read(p * ps());
            if write {
                m.write(p * ps(), b);
            }
        }
        Ok(())
    })
}

/// MADV_HUGEPAGE over all of `m` (where THP is `madvise` in sysfs, only such a VMA of pages
/// takes PMD entries; where it is `always` the advice changes nothing). Nothing without THP.
pub fn advise_huge(m: &Mapping) -> Result<(), String> {
    if !Path::new(THP_SYSFS).exists() {
        return Ok(());
    }
    madvise_errno(m, MmapAdvise::MADV_HUGEPAGE).map_err(|e| format!("MADV_HUGEPAGE: {e}"))
}

/// A mapping of `len` bytes at file offset `offset` of the folio node, at an address congruent
/// to the offset modulo a PMD span, advised MADV_HUGEPAGE: each whole folio inside it can be
/// mapped by one PMD entry.
pub fn folio_map(
    f: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: usize,
) -> Result<Mapping, String> {
    let m = map_congruent(f, len, prot, flags, offset, pmd_span())?;
    advise_huge(&m)?;
    Ok(m)
}

/// The folios of `d`'s buffer, or why a test that needs `need` of them is skipped.
pub fn folios(d: &Device, need: usize) -> Result<Result<usize, Outcome>, String> {
    let (size, span) = (d.size()?, pmd_span());
    if size / span < need {
        return Ok(Err(Outcome::Skip(format!(
            "the buffer ({size:#x} bytes) holds {} folios of {span:#x} bytes, the test needs \
             {need}",
            size / span
        ))));
    }
    Ok(Ok(size / span))
}

/// The folios of the device, at least `need`, or returns the skip from the test.
macro_rules! folios_or_skip {
    ($d:expr, $need:expr) => {
        match $crate::folio_path::folios($d, $need)? {
            Ok(n) => n,
            Err(skip) => return Ok(skip),
        }
    };
}
pub(crate) use folios_or_skip;

/// `len` bytes for file offset `at` that differ from page to page: a pattern, each page's first
/// word its page number (xor the seed), so that a page mapped at the wrong offset shows.
pub fn marked(seed: u8, at: usize, len: usize) -> Vec<u8> {
    let mut data = pattern(seed, len);
    for (i, page) in data.chunks_mut(ps()).enumerate() {
        let n = ((at / ps() + i) as u64 ^ (u64::from(seed) * 0x0101_0101_0101_0101)).to_ne_bytes();
        let k = page.len().min(8);
        page[..k].copy_from_slice(&n[..k]);
    }
    data
}

/// Writes [`marked`] bytes at `at` with `pwrite()` and returns them.
pub fn fill(f: &File, seed: u8, at: usize, len: usize) -> Result<Vec<u8>, String> {
    let data = marked(seed, at, len);
    let n = pwrite(f, &data, at).map_err(|e| format!("pwrite: {e}"))?;
    ensure!(n == len, "pwrite wrote {n} of {len} bytes");
    Ok(data)
}

/// Fails unless `m` shows the device's bytes from file offset `at` on, all of them.
pub fn shows_device(m: &Mapping, f: &File, at: usize, what: &str) -> Result<(), String> {
    let want = pread(f, m.len(), at)?;
    let got = m.read_bytes(0, m.len());
    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
        return Err(format!(
            "{what}: byte {i:#x} (page {}) of the mapping is {:#x}, the device's {:#x}",
            i / ps(),
            got[i],
            want[i]
        ));
    }
    Ok(())
}

/// `FilePmdMapped` of the VMA holding `addr`, in bytes: the folios it maps by PMD entries.
pub fn pmd_mapped(addr: u64) -> Result<u64, String> {
    smaps_bytes(addr, "FilePmdMapped")
}

/// smaps field `key` (in kB) of the VMA holding `addr`, in bytes.
pub fn smaps_bytes(addr: u64, key: &str) -> Result<u64, String> {
    let e = self_smaps_entry(addr)?;
    let kb = e.fields.get(key).copied();
    Ok(kb.ok_or(format!("no {key} in smaps"))? * 1024)
}

/// The frames of the device's pages `first..first + pages`, from its debug view.
pub fn device_frames(d: &Device, first: usize, pages: usize) -> Result<Vec<u64>, String> {
    let view = KernelView::read(&d.path)?;
    view.pages
        .get(first..first + pages)
        .map(|p| p.iter().map(|&(_, pfn)| pfn).collect())
        .ok_or(format!(
            "the debug view has no pages {first}..{}",
            first + pages
        ))
}

/// mincore(2) of `pages` pages from `addr`: one byte per page, 1 where it is resident.
pub fn mincore(addr: u64, pages: usize) -> Result<Vec<u8>, String> {
    let mut vec = vec![0u8; pages];
    // SAFETY: mincore writes one byte per page into `vec`, which has that many.
    let res = unsafe {
        libc::mincore(
            addr as *mut libc::c_void,
            pages * ps(),
            vec.as_mut_ptr().cast(),
        )
    };
    ensure!(
        res == 0,
        "mincore({addr:#x}, {pages} pages): {}",
        nix::errno::Errno::last()
    );
    Ok(vec.into_iter().map(|b| b & 1).collect())
}

/// The pages of a mapping, as a list of which are mapped: `true` at each index of `on`.
pub fn pages_set(pages: usize, on: &[usize]) -> Vec<bool> {
    let mut set = vec![false; pages];
    for &p in on {
        set[p] = true;
    }
    set
}

test!(folio: pmd_maps_whole_folio);
/// One read of a mapping of a whole folio, at an address congruent to its offset, maps the
/// folio with one PMD entry: `faults` + 1, `around_pages` + the span's pages but one; pagemap
/// shows every page of the span present, on the folio's consecutive frames (as the debug view
/// lists them, the first a multiple of the span's pages), file pages; `/proc/kpageflags` shows
/// the first `THP` and `COMPOUND_HEAD`, the others `THP` and `COMPOUND_TAIL`, all mapped;
/// `/proc/kpagecount` 1 for each; smaps `FilePmdMapped` and `Rss` the span. Touching every
/// other page then takes no fault, and the mapping shows the device's bytes. Without PMD
/// entries, the read maps one page by PTE, and only that page is mapped and counted.
fn pmd_maps_whole_folio(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp) = (pmd_span(), span_pages());
    let f = d.open(true)?;
    fill(&f, 81, span, span)?;
    // Folio 1, exactly.
    let m = folio_map(&f, span, RW, MapFlags::MAP_SHARED, span)?;
    let at = 5;
    let got = counted(d, || {
        m.read(at * ps() + 3);
        Ok(())
    })?;
    expect_counts("a first read", got, pmd.span_touch())?;
    let frames = device_frames(d, sp, sp)?;
    ensure!(
        runs(&frames).len() == 1 && frames[0] % sp as u64 == 0,
        "folio 1's frames {:#x}.. are not {sp} contiguous frames aligned to {sp}",
        frames[0]
    );
    let mapped = if pmd.on { (0..sp).collect() } else { vec![at] };
    let set = pages_set(sp, &mapped);
    for (i, e) in pagemap_entries(m.addr(), sp)?.into_iter().enumerate() {
        let want = set[i].then_some(frames[i]);
        ensure!(
            e.pfn() == want && (!set[i] || e.file_or_shared()),
            "page {i}: pagemap {e:x?}, expected frame {want:x?}, a file page"
        );
    }
    let flags = kpageflags_range(frames[0], sp)?;
    for (i, fl) in flags.iter().enumerate() {
        let shape = if i == 0 {
            fl.compound_head() && !fl.compound_tail()
        } else {
            fl.compound_tail() && !fl.compound_head()
        };
        ensure!(
            shape && fl.thp() && fl.mmap() && !fl.anon(),
            "page {i} of the folio, frame {:#x}: kpageflags {} ({:#x})",
            frames[i],
            fl.names(),
            fl.0
        );
    }
    let counts = kpagecounts(frames[0], sp)?;
    for (i, &c) in counts.iter().enumerate() {
        let want = u64::from(set[i]);
        ensure!(
            c == want,
            "page {i} of the folio: kpagecount {c}, expected {want}"
        );
    }
    let (pmd_bytes, rss) = (pmd_mapped(m.addr())?, smaps_bytes(m.addr(), "Rss")?);
    let want = if pmd.on { span as u64 } else { 0 };
    ensure!(
        pmd_bytes == want && rss == (mapped.len() * ps()) as u64,
        "smaps: FilePmdMapped {pmd_bytes:#x}, Rss {rss:#x}; expected {want:#x} and {:#x}",
        mapped.len() * ps()
    );
    if pmd.on {
        let got = touch(d, &m, 0..sp, true)?;
        expect_counts("touching every page after", got, Counts::NONE)?;
    }
    shows_device(&m, &f, span, "the PMD-mapped folio")?;
    pmd.note();
    Ok(Outcome::Pass)
}

test!(folio: unaligned_maps_by_pte);
/// Where no folio's whole span lies in the VMA at an address congruent to its offset, every
/// page is mapped by its own PTE fault (`around_pages` does not move) and shows its own bytes:
/// a mapping that starts a page into a folio, one a page short of a folio, and one of two whole
/// folios placed a page past a span boundary (its spans' file offsets start no folio). smaps
/// shows no PMD mapping; pagemap the device's frames, page by page.
fn unaligned_maps_by_pte(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let f = d.open(true)?;
    fill(&f, 82, 0, 2 * span)?;
    for (what, off, len, phase) in [
        ("a folio's span from its second page on", p, span, p),
        ("a folio's span but its last page", 0, span - p, 0),
        (
            "two folios, placed a page past a span's start",
            0,
            2 * span,
            p,
        ),
    ] {
        let m = Mapping::at_phase(&f, len, RW, MapFlags::MAP_SHARED, off as i64, span, phase)
            .map_err(|e| format!("{what}: mmap: {e}"))?;
        advise_huge(&m)?;
        ensure!(
            m.addr() as usize % span == phase,
            "{what}: mapped at {:#x}",
            m.addr()
        );
        let pages = len / p;
        let got = touch(d, &m, 0..pages, false)?;
        expect_counts(
            &format!("{what}: a first read of every page"),
            got,
            Counts::ptes(pages),
        )?;
        shows_device(&m, &f, off, what)?;
        let pmd = pmd_mapped(m.addr())?;
        ensure!(pmd == 0, "{what}: FilePmdMapped {pmd:#x}");
        let frames: Vec<u64> = pagemap_frames(m.addr(), pages)?
            .into_iter()
            .map(|f| f.unwrap_or(0))
            .collect();
        let want = device_frames(d, off / p, pages)?;
        ensure!(
            frames == want,
            "{what}: pagemap's frames are not the device's pages {}..{}",
            off / p,
            off / p + pages
        );
        diag!("{what} ({sp}-page spans): {got}");
    }
    Ok(Outcome::Pass)
}

test!(folio: mlock_changes_nothing);
/// mlock() and munlock() of pages across the two folios of a mapping succeed and change no VMA:
/// the node's VMAs are VM_DONTEXPAND, so VM_SPECIAL, which `mlock_fixup()` leaves alone (no
/// VM_LOCKED, no split, nothing counted as locked). mlock() still populates the range
/// (`__mm_populate()` skips only VM_IO and VM_PFNMAP VMAs): every page of it is resident after,
/// the untouched second folio by its PMD entry. The bytes stay the device's.
fn mlock_changes_nothing(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let f = d.open(true)?;
    fill(&f, 84, 0, 2 * span)?;
    let m = folio_map(&f, 2 * span, RW, MapFlags::MAP_SHARED, 0)?;
    let got = touch(d, &m, [0], false)?;
    expect_counts("a first read of folio 0", got, pmd.span_touch())?;
    let (live, line) = (d.live_vmas()?, self_maps_entry(m.addr())?);
    let (from, pages) = (sp / 2, sp);
    let at = std::ptr::NonNull::new((m.addr() as usize + from * p) as *mut libc::c_void)
        .ok_or("null address")?;
    let mut populate = Counts::NONE;
    for (name, lock) in [("mlock", true), ("munlock", false)] {
        let got = counted(d, || {
            // SAFETY: Pages of the mapping this test owns; neither call changes their bytes.
            let res = unsafe {
                if lock {
                    mlock(at, pages * p)
                } else {
                    munlock(at, pages * p)
                }
            };
            res.map_err(|e| format!("{name} of pages {from}..{}: {e}", from + pages))
        })?;
        if lock {
            populate = got;
        }
        let e = self_smaps_entry(m.addr())?;
        let locked = e.fields.get("Locked").copied();
        ensure!(
            e.map == line && d.live_vmas()? == live && !e.has_flag("lo") && locked == Some(0),
            "after {name}: the VMA {:#x}-{:#x} (was {:#x}-{:#x}), live_vmas {} (was {live}), \
             VmFlags {:?}, Locked {locked:?} kB",
            e.map.start,
            e.map.end,
            line.start,
            line.end,
            d.live_vmas()?,
            e.vm_flags
        );
        let resident = mincore(m.addr() + (from * p) as u64, pages)?;
        ensure!(
            resident.iter().all(|&r| r == 1),
            "after {name}: pages {from}..{} not all resident: {resident:?}",
            from + pages
        );
        if pmd.on {
            let pmd_bytes = pmd_mapped(m.addr())?;
            ensure!(
                pmd_bytes == 2 * span as u64,
                "after {name}: FilePmdMapped {pmd_bytes:#x}, expected both folios"
            );
        }
    }
    // With PMD entries folio 0 was mapped already, and populating folio 1's pages faulted its
    // PMD entry; without, only page 0 was, and every page populated took a fault.
    let want = if pmd.on {
        Counts::pmds(1)
    } else {
        Counts::ptes(pages)
    };
    expect_counts("mlock's populating", populate, want)?;
    shows_device(&m, &f, 0, "after mlock and munlock")?;
    diag!("mlock populated: {populate}");
    pmd.note();
    Ok(Outcome::Pass)
}
