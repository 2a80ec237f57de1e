//! Frames: what the process's page tables map (`/proc/self/pagemap`) against what the driver
//! says backs its buffer (its debug view, `vmdev::frames::KernelView`), what `/proc/kpageflags`
//! says of a frame, demand paging, fork with shared and private mappings, and huge entries. What
//! `make run`'s demo shows and draws, asserted here, so that neither can drift from the truth.

use std::fs::File;
use std::os::unix::fs::MetadataExt;

use nix::sys::mman::MapFlags;
use nix::unistd::{Uid, setuid};
use vmdev::boot::{self, Reservation};
use vmdev::frames::{
    KernelMapping, KernelView, kpagecount, kpageflags, pagemap, pagemap_frames, runs,
};
use vmdev::mapping::Mapping;
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Kind, Module, Outcome, TestResult, diag, ensure, test};
use crate::huge_cost::{Cost, expect_cost, spans_or_skip, touch};

/// The frames pagemap gives for `pages` pages from `m`'s start, all of which must be mapped.
fn mapped_frames(m: &Mapping, pages: usize) -> Result<Vec<u64>, String> {
    pagemap_frames(m.addr(), pages)?
        .into_iter()
        .enumerate()
        .map(|(i, f)| f.ok_or(format!("page {i} of the mapping is not present")))
        .collect()
}

/// The driver's frames of its buffer's pages `first..first + pages`.
fn view_frames(view: &KernelView, first: usize, pages: usize) -> Result<Vec<u64>, String> {
    view.pages
        .get(first..first + pages)
        .map(|p| p.iter().map(|&(_, pfn)| pfn).collect())
        .ok_or(format!(
            "the debug view has no pages {first}..{}",
            first + pages
        ))
}

test!(remap huge fault folio: kernel_view_root_only);
/// The debug view prints kernel addresses: mode 0400, and a user other than root cannot open it.
fn kernel_view_root_only(_cx: &Context, d: &Device) -> TestResult {
    let path = KernelView::path(&d.path)?;
    let mode = std::fs::metadata(&path).map_err(|e| e.to_string())?.mode() & 0o7777;
    ensure!(
        mode == 0o400,
        "{}: mode {mode:o}, expected 0400",
        path.display()
    );
    child_ok(move || {
        setuid(Uid::from_raw(65534)).map_err(|e| format!("setuid(nobody): {e}"))?;
        match File::open(&path) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            other => Err(format!("open as nobody: {other:?}, expected EACCES")),
        }
    })?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: kernel_view_describes_buffer);
/// The debug view lists every page of the buffer with this machine's page size, and its
/// addresses are what its kind of memory makes them: a linear-map address is the physical one
/// plus a constant; a vmalloc or memremap buffer has consecutive kernel addresses; the remap
/// buffer's frames are contiguous; the folio node's are, folio by folio: each PMD span of its
/// buffer is one folio of PMD order, whose frames are contiguous and start at a multiple of the
/// span's pages (the buddy allocator aligns a block to its size).
fn kernel_view_describes_buffer(_cx: &Context, d: &Device) -> TestResult {
    let view = KernelView::read(&d.path)?;
    let size = d.size()?;
    ensure!(
        view.page_size == ps() as u64 && view.pages.len() * ps() == size,
        "{} pages of {} bytes, for a {size}-byte buffer",
        view.pages.len(),
        view.page_size
    );
    let page = ps() as u64;
    let consecutive = view.pages.windows(2).all(|w| w[1].0 == w[0].0 + page);
    let frames: Vec<u64> = view.pages.iter().map(|p| p.1).collect();
    match (d.kind, view.memory) {
        (Kind::Remap | Kind::Huge | Kind::Folio, KernelMapping::Linear) => {
            for &(addr, pfn) in &view.pages {
                ensure!(
                    view.linear_to_phys(addr) == Some(pfn * page),
                    "{addr:#x} - page_offset {:#x} + {:#x} is not frame {pfn:#x}'s address",
                    view.page_offset,
                    view.page_offset_phys
                );
            }
        }
        (Kind::Remap | Kind::Huge, KernelMapping::Memremap)
        | (Kind::Fault, KernelMapping::Vmalloc) => {
            ensure!(consecutive, "the kernel addresses are not consecutive")
        }
        (kind, memory) => return Err(format!("{kind:?} node with {memory:?} memory")),
    }
    if d.kind.pfnmap() {
        ensure!(runs(&frames).len() == 1, "the frames are not contiguous");
    }
    if d.kind == Kind::Folio {
        let sp = pmd_span() / ps();
        for (i, folio) in frames.chunks(sp).enumerate() {
            ensure!(
                folio.len() == sp && runs(folio).len() == 1 && folio[0] % sp as u64 == 0,
                "folio {i}: frames {:#x}.. are not {sp} contiguous frames aligned to {sp}",
                folio[0]
            );
        }
    }
    diag!(
        "{:?}: {} pages in {} runs of contiguous frames",
        view.memory,
        frames.len(),
        runs(&frames).len()
    );
    Ok(Outcome::Pass)
}

test!(fault folio: frames_are_the_drivers);
/// Eight pages mapped from page 3 on and touched: pagemap's frames are the driver's pages 3-10.
fn frames_are_the_drivers(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, 8 * ps(), 3 * ps())?;
    for i in 0..8 {
        m.read(i * ps());
    }
    let got = mapped_frames(&m, 8)?;
    let want = view_frames(&KernelView::read(&d.path)?, 3, 8)?;
    ensure!(got == want, "pagemap {got:x?}, the driver {want:x?}");
    Ok(Outcome::Pass)
}

test!(fault folio: pagemap_present_after_touch);
/// Demand paging: a page is not in the page tables until touched, then it is.
fn pagemap_present_after_touch(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 5 * ps())?;
    ensure!(
        !pagemap(m.addr())?.present(),
        "present before the first touch"
    );
    m.read(7);
    ensure!(
        pagemap(m.addr())?.present(),
        "not present after the first touch"
    );
    Ok(Outcome::Pass)
}

test!(remap huge: pagemap_skips_pfnmap);
/// Pagemap does not see a PFN map: the kernel's page walker skips `VM_PFNMAP` VMAs (no struct
/// page behind them: `walk_page_test()`), so a page just written through the mapping, whose bytes
/// `read()` returns, is reported not present, with no frame. Nor does the core record the
/// mapping in the frame's `struct page`: no mapcount, no `mmap` flag.
fn pagemap_skips_pfnmap(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 5 * ps())?;
    let bytes = pattern(77, 16);
    m.write_bytes(0, &bytes);
    ensure!(
        pread(&f, 16, 5 * ps())? == bytes,
        "read() does not return the bytes written"
    );
    let entry = pagemap(m.addr())?;
    ensure!(!entry.present(), "pagemap sees the PFN map: {entry:x?}");
    let pfn = view_frames(&KernelView::read(&d.path)?, 5, 1)?[0];
    let (count, flags) = (kpagecount(pfn)?, kpageflags(pfn)?);
    ensure!(
        count == 0 && !flags.mmap(),
        "frame {pfn:#x}, mapped by PFN: kpagecount {count}, kpageflags {}",
        flags.names()
    );
    Ok(Outcome::Pass)
}

test!(fault folio: shared_fork_keeps_frame);
/// A child forked with a shared mapping maps the parent's frame; the page's mapcount
/// (`/proc/kpagecount`) counts the entries that map it: 0, 1 in the parent, 2 with the child.
fn shared_fork_keeps_frame(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let device = view_frames(&KernelView::read(&d.path)?, 4, 1)?[0];
    let unmapped = kpagecount(device)?;
    ensure!(unmapped == 0, "kpagecount {unmapped} before any mapping");
    let m = shared(&f, ps(), 4 * ps())?;
    m.write(0, 0x11);
    let parent = mapped_frames(&m, 1)?[0];
    let once = kpagecount(parent)?;
    ensure!(once == 1, "kpagecount {once} mapped by the parent alone");
    child_ok(|| {
        ensure!(
            m.read(0) == 0x11,
            "the child does not read the parent's byte"
        );
        let child = mapped_frames(&m, 1)?[0];
        ensure!(
            child == parent,
            "the child maps frame {child:#x}, the parent {parent:#x}"
        );
        let twice = kpagecount(child)?;
        ensure!(twice == 2, "kpagecount {twice} mapped by parent and child");
        Ok(())
    })?;
    Ok(Outcome::Pass)
}

test!(fault folio: private_fork_write_gives_child_anon_frame);
/// Copy-on-write across fork(): parent and child first map the device's frame; the child's
/// write gives it a new anonymous frame and leaves the parent's frame and bytes, the device's
/// buffer and the driver's page as they were.
fn private_fork_write_gives_child_anon_frame(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let at = 6 * ps();
    let bytes = pattern(91, 32);
    pwrite(&f, &bytes, at).map_err(|e| e.to_string())?;
    let m = map(&f, ps(), RW, MapFlags::MAP_PRIVATE, at)?;
    ensure!(
        m.read_bytes(0, 32) == bytes,
        "the private mapping does not show the device"
    );
    let device = view_frames(&KernelView::read(&d.path)?, 6, 1)?[0];
    let parent = mapped_frames(&m, 1)?[0];
    ensure!(
        parent == device,
        "after a read the parent maps {parent:#x}, not the device's page {device:#x}"
    );
    child_ok(|| {
        m.read(0);
        let before = mapped_frames(&m, 1)?[0];
        ensure!(
            before == parent,
            "the child first maps {before:#x}, not {parent:#x}"
        );
        m.write(0, !bytes[0]);
        let after = mapped_frames(&m, 1)?[0];
        let flags = kpageflags(after)?;
        ensure!(
            after != parent && flags.anon(),
            "after its write the child maps {after:#x} with flags {} (parent {parent:#x})",
            flags.names()
        );
        Ok(())
    })?;
    ensure!(
        mapped_frames(&m, 1)? == [parent] && m.read_bytes(0, 32) == bytes,
        "the parent's frame or bytes changed with the child's write"
    );
    ensure!(pread(&f, 32, at)? == bytes, "the device's bytes changed");
    let now = view_frames(&KernelView::read(&d.path)?, 6, 1)?[0];
    ensure!(
        now == device,
        "the driver's page moved: {now:#x}, was {device:#x}"
    );
    Ok(Outcome::Pass)
}

test!(huge: pmd_frames_contiguous);
/// One write maps a whole PMD span with one fault, which needs the span's frames contiguous and
/// aligned to the span: the driver's view of them is.
fn pmd_frames_contiguous(_cx: &Context, d: &Device) -> TestResult {
    let spans = spans_or_skip!(d);
    let (span, sp) = (pmd_span(), pmd_span() / ps());
    let f = d.open(true)?;
    let m = map_congruent(&f, spans * span, RW, MapFlags::MAP_SHARED, 0, span)?;
    let got = touch(d, &m, &[span + 17], true)?;
    expect_cost("a first write in span 1", got, Cost::of(1, sp, 0))?;
    let frames = view_frames(&KernelView::read(&d.path)?, sp, sp)?;
    ensure!(
        runs(&frames).len() == 1 && frames[0] % sp as u64 == 0,
        "span 1's frames {:#x}-{:#x} are not {sp} contiguous frames aligned to {sp}",
        frames[0],
        frames[sp - 1]
    );
    Ok(Outcome::Pass)
}

test!(module: pagemap_read_keeps_pud, Reload);
/// Reading pagemap over a PUD entry of a PFN map: the page walker skips the `VM_PFNMAP` VMA, so
/// it neither reports the page nor splits the entry (which for a PFN map would clear it): the
/// next touch takes no fault. On the 1 GiB reservation; restores the default load.
fn pagemap_read_keeps_pud(cx: &Context, m: &Module) -> TestResult {
    let huge = &cx.huge;
    let flags = huge.info()?.flags;
    if flags & uapi::FLAG_HUGE_PUD == 0 {
        return Ok(Outcome::Skip(format!(
            "this kernel cannot map PUD entries of PFNs (vmdev_info.flags {flags:#x})"
        )));
    }
    let pud = pud_span();
    let range = match pud_reservation()? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
    };
    m.reload(&range.params())?;
    let result = (|| {
        let f = huge.open(true)?;
        let map = map_congruent(&f, pud, RW, MapFlags::MAP_SHARED, 0, pud)?;
        let first = touch(huge, &map, &[ps()], false)?;
        expect_cost("a first read", first, Cost::of(1, pud / ps(), 0))?;
        let again = touch(huge, &map, &[2 * ps()], false)?;
        expect_cost("a read after it", again, Cost::of(0, pud / ps(), 0))?;
        let entry = pagemap(map.addr() + ps() as u64)?;
        ensure!(
            !entry.present(),
            "pagemap reports the PUD-mapped page: {entry:x?}"
        );
        let after = touch(huge, &map, &[ps()], false)?;
        expect_cost(
            "a read after reading pagemap",
            after,
            Cost::of(0, pud / ps(), 0),
        )?;
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

/// How many frames of the remap node's buffer, as its debug view lists them, are `PG_reserved`
/// or have no `struct page`, of how many, and the flags of the first frame that is neither.
fn frames_reserved(remap: &Device) -> Result<(usize, usize, String), String> {
    let view = KernelView::read(&remap.path)?;
    let (mut reserved, mut other) = (0, String::new());
    for &(_, pfn) in &view.pages {
        let flags = kpageflags(pfn)?;
        if flags.has(32) || flags.nopage() {
            reserved += 1;
        } else if other.is_empty() {
            other = format!("frame {pfn:#x}: {} ({:#x})", flags.names(), flags.0);
        }
    }
    Ok((reserved, view.pages.len(), other))
}

test!(module: frames_reserved_by_kind, Reload);
/// What docs/design.md says of each kind of buffer's frames (and so of what VFIO's type-1 driver
/// may pin without a reference, `PG_reserved` frames): the allocated buffer's are ordinary
/// pages, never `PG_reserved`; those of a range reserved at boot by address are all alike, as
/// the kernel made them: `PG_reserved` or without a `struct page` on the test kernels, with no
/// flag at all on Debian's stock kernel. Restores the default load.
fn frames_reserved_by_kind(cx: &Context, m: &Module) -> TestResult {
    let remap = &cx.remap;
    m.reload("")?;
    ensure!(
        remap.info()?.flags & uapi::FLAG_BOOT_RESERVED == 0,
        "the default load is not an allocated buffer"
    );
    let (reserved, pages, _) = frames_reserved(remap)?;
    ensure!(
        reserved == 0,
        "{reserved} of the {pages} frames of the allocated buffer are PG_reserved or have no \
         struct page"
    );
    let Reservation { base, size } = match reservation(boot::REMAP)? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
    };
    m.reload(&format!("phys_base={base:#x} phys_size={size:#x}"))?;
    let reserved = frames_reserved(remap);
    m.reload("")?;
    let (reserved, pages, other) = reserved?;
    ensure!(
        reserved == pages || reserved == 0,
        "{reserved} of the {pages} frames of the boot reservation are PG_reserved or have no \
         struct page, the others not: {other}"
    );
    diag!(
        "the {pages} frames of the boot reservation are {}",
        if reserved == pages {
            "PG_reserved or without a struct page"
        } else {
            "without PG_reserved"
        }
    );
    Ok(Outcome::Pass)
}
