//! `make run`'s demonstration, as root in the test VM. For each node it writes a marker through a
//! mapping and shows the four addresses of that byte: the user virtual address, the physical
//! address and frame from `/proc/self/pagemap`, and the kernel's address of the same page of the
//! driver's buffer with the frame the driver says backs it (its debug view). It checks that the
//! views agree, shows what the core records in the frame's `struct page`, demand paging,
//! `fork()` with shared and private mappings (copy-on-write: `fork.rs`), and a huge entry; the
//! folio node's PMD entry over refcounted pages, `get_user_pages()` on it and its split
//! (`folio.rs`); then the process around the mappings from the kernel's side
//! (`address_space.rs`). Every check that fails makes the demo fail. With `--picture FILE` it
//! also writes the pages and frames it saw as `picture|` lines to FILE, which the VM copies to
//! its console for `vmdev-picture` on the host.

mod address_space;
mod folio;
mod fork;

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsFd;
use std::process::ExitCode;

use vmdev::frames::{KernelMapping, KernelView, kpagecount, kpageflags, pagemap, runs};
use vmdev::mapping::{Mapping, page_size};
use vmdev::maps::{self_maps_entry, self_smaps_entry};
use vmdev::picture::Entry;
use vmdev::uapi::{self, VmdevInfo};

type Res<T = ()> = Result<T, String>;

/// A check the demo makes: prints `ok` and what held, or fails the demo.
fn check(ok: bool, what: String) -> Res {
    if !ok {
        return Err(format!("check FAILED: {what}"));
    }
    println!("  ok  {what}");
    Ok(())
}

/// Where the picture's lines go (`--picture FILE`), if anywhere.
struct Picture(Option<File>);

impl Picture {
    fn add(&mut self, row: &str, user: u64, pfn: u64, kaddr: Option<u64>, pages: u64, note: &str) {
        if let Some(f) = &mut self.0 {
            let e = Entry {
                row: row.into(),
                user,
                pfn,
                kaddr,
                pages,
                note: note.into(),
            };
            // The picture is an extra: a failed write loses it, not the demo.
            let _ = writeln!(f, "{}", e.line());
        }
    }
}

/// One node, mapped.
struct Node {
    path: &'static str,
    name: &'static str,
    file: File,
    view: KernelView,
    map: Mapping,
    /// The buffer's page at the mapping's start.
    first_page: usize,
}

impl Node {
    fn open(path: &'static str) -> Res<(File, VmdevInfo)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        let info = uapi::info(file.as_fd()).map_err(|e| format!("{path}: VMDEV_IOC_INFO: {e}"))?;
        Ok((file, info))
    }

    fn info(&self) -> Res<VmdevInfo> {
        uapi::info(self.file.as_fd()).map_err(|e| format!("{}: VMDEV_IOC_INFO: {e}", self.path))
    }

    /// The frame pagemap gives for the mapping's page `i`, if mapped.
    fn user_pfn(&self, i: usize) -> Res<Option<u64>> {
        Ok(pagemap(self.map.addr() + (i * page_size()) as u64)?.pfn())
    }

    /// The driver's kernel address and frame of the mapping's page `i`.
    fn kernel(&self, i: usize) -> Res<(u64, u64)> {
        let page = self.first_page + i;
        self.view
            .pages
            .get(page)
            .copied()
            .ok_or(format!("{}: the debug view has no page {page}", self.path))
    }

    /// The `maps` and `smaps` lines of the mapping, spaces squeezed to fit 100 columns.
    fn show_vma(&self) -> Res {
        let m = self_maps_entry(self.map.addr())?;
        let s = self_smaps_entry(self.map.addr())?;
        println!(
            "maps:  {:x}-{:x} {} {:08x} {:02x}:{:02x} {} {}",
            m.start, m.end, m.perms, m.offset, m.major, m.minor, m.inode, m.path
        );
        println!(
            "smaps: Rss {} kB, VmFlags: {}",
            s.fields.get("Rss").copied().unwrap_or(0),
            s.vm_flags.join(" ")
        );
        Ok(())
    }

    /// Whether the node maps by page frame number (`VM_PFNMAP`): pagemap cannot see those.
    fn pfnmap(&self) -> bool {
        matches!(self.name, "remap" | "huge")
    }

    /// Demand paging: whether pagemap has the first page before any touch.
    fn show_before_touch(&self) -> Res<bool> {
        let present = pagemap(self.map.addr())?.present();
        let why = if present {
            "present"
        } else {
            "not present: nothing is mapped until a page is touched"
        };
        println!("before the first touch: pagemap says {why}");
        Ok(present)
    }

    /// Writes the marker at the mapping's start and shows its four addresses, checked.
    fn show_marker(&self) -> Res<(u64, u64)> {
        let marker = format!("hello from {}", self.name);
        self.map.write_bytes(0, marker.as_bytes());
        let user = self.map.addr();
        let (kaddr, kpfn) = self.kernel(0)?;
        let phys = kpfn * page_size() as u64;
        let how = match self.view.memory {
            KernelMapping::Linear => "the linear map",
            KernelMapping::Vmalloc => "vmalloc",
            KernelMapping::Memremap => "memremap",
        };
        println!(
            "wrote {marker:?} at {user:#x}, page {} of the buffer: its four addresses",
            self.first_page
        );
        println!("  user virtual  {user:#x}");
        match self.user_pfn(0)? {
            Some(pfn) => {
                println!(
                    "  physical      {:<#18x}  pagemap: pfn {pfn:#x}",
                    pfn * page_size() as u64
                );
                println!("  kernel        {kaddr:<#18x}  {how}; the driver: pfn {kpfn:#x}");
                check(
                    pfn == kpfn,
                    format!("pagemap and the driver name the same frame, {pfn:#x}"),
                )?;
            }
            None => {
                println!("  physical      {phys:<#18x}  the driver: pfn {kpfn:#x}");
                println!("  kernel        {kaddr:<#18x}  {how}");
                check(
                    self.pfnmap(),
                    "pagemap: not present, though just written: it skips VM_PFNMAP".into(),
                )?;
            }
        }
        let mut back = vec![0u8; marker.len()];
        let at = (self.first_page * page_size()) as i64;
        let n = nix::sys::uio::pread(&self.file, &mut back, at).map_err(|e| e.to_string())?;
        check(
            back[..n] == *marker.as_bytes(),
            "read(), a copy from the kernel's address, returns the marker".into(),
        )?;
        if self.view.memory == KernelMapping::Linear {
            let page_offset = self.view.page_offset;
            let lin = self.view.linear_to_phys(kaddr);
            let base = match self.view.page_offset_phys {
                0 => String::new(),
                p => format!(" + {p:#x}"),
            };
            check(
                lin == Some(phys),
                format!(
                    "{kaddr:#x} - PAGE_OFFSET {page_offset:#x}{base} = {phys:#x}, its physical address"
                ),
            )?;
        }
        Ok((kaddr, kpfn))
    }

    /// The frames of the mapping's first `pages` pages: pagemap's, checked against the
    /// driver's, or for a PFN map (which pagemap does not see) the driver's.
    fn check_frames(&self, pages: usize) -> Res<Vec<u64>> {
        let driver: Vec<u64> = (0..pages)
            .map(|i| self.kernel(i).map(|k| k.1))
            .collect::<Res<_>>()?;
        if self.pfnmap() {
            return Ok(driver);
        }
        let mut frames = Vec::new();
        for i in 0..pages {
            let pfn = self
                .user_pfn(i)?
                .ok_or(format!("page {i} is not present"))?;
            frames.push(pfn);
        }
        let (first, last) = (self.first_page, self.first_page + pages - 1);
        check(
            frames == driver,
            format!("pagemap's {pages} frames are the driver's pages {first}-{last}"),
        )?;
        Ok(frames)
    }
}

/// What the core records in the `struct page` of frame `pfn`.
fn struct_page(pfn: u64) -> Res<String> {
    Ok(format!(
        "kpagecount {}, kpageflags {}",
        kpagecount(pfn)?,
        kpageflags(pfn)?.names()
    ))
}

/// How many runs of contiguous frames `frames` are in, in words.
fn runs_of(frames: &[u64]) -> String {
    match runs(frames).len() {
        1 => "1 run".into(),
        n => format!("{n} runs"),
    }
}

fn kib(bytes: u64) -> u64 {
    bytes >> 10
}

/// The remap node: every entry written at `mmap()` time.
fn remap(pic: &mut Picture) -> Res<Node> {
    let (file, info) = Node::open(uapi::REMAP_PATH)?;
    let page = page_size();
    println!(
        "== {}: {} KiB, physically contiguous, every page mapped by mmap() itself",
        uapi::REMAP_PATH,
        kib(info.size)
    );
    // Four pages from page 2 on: the maps offset column shows the file offset, 2 pages.
    let map = Mapping::shared(file.as_fd(), 4 * page, 2 * page as i64)
        .map_err(|e| format!("{}: mmap: {e}", uapi::REMAP_PATH))?;
    let node = Node {
        path: uapi::REMAP_PATH,
        name: "remap",
        view: KernelView::read(uapi::REMAP_PATH.as_ref())?,
        file,
        map,
        first_page: 2,
    };
    node.show_vma()?;
    println!("mmap() wrote every entry (remap_pfn_range()); pagemap cannot show them:");
    println!("  the kernel's page walker skips VM_PFNMAP VMAs, whose frames need no struct page");
    let (_, pfn) = node.show_marker()?;
    let frames = node.check_frames(4)?;
    check(
        runs(&frames).len() == 1,
        format!(
            "the driver's pages 2-5 are contiguous frames, {:#x}-{:#x}",
            frames[0], frames[3]
        ),
    )?;
    println!("struct page of pfn {pfn:#x}, mapped: {}", struct_page(pfn)?);
    println!("  VM_PFNMAP: the core maps the frame by number, never looks at its struct page");
    for (i, f) in frames.iter().enumerate() {
        let kaddr = node.kernel(i)?.0;
        let user = node.map.addr() + (i * page) as u64;
        pic.add(
            "/dev/vmdev-remap, MAP_SHARED, pages 2-5",
            user,
            *f,
            Some(kaddr),
            1,
            "",
        );
    }
    Ok(node)
}

/// The huge node: the same memory, mapped on first touch with a PMD entry.
fn huge(pic: &mut Picture) -> Res<Node> {
    let (file, info) = Node::open(uapi::HUGE_PATH)?;
    let page = page_size();
    let span = page * (page / 8);
    println!(
        "== {}: the remap node's {} KiB, mapped on first touch, {} KiB (a PMD) at a time",
        uapi::HUGE_PATH,
        kib(info.size),
        span >> 10
    );
    let len = usize::try_from(info.size).map_err(|e| e.to_string())?;
    // The whole buffer, so that a PMD entry can map its first span.
    let map = Mapping::shared(file.as_fd(), len, 0)
        .map_err(|e| format!("{}: mmap: {e}", uapi::HUGE_PATH))?;
    let node = Node {
        path: uapi::HUGE_PATH,
        name: "huge",
        view: KernelView::read(uapi::HUGE_PATH.as_ref())?,
        file,
        map,
        first_page: 0,
    };
    node.show_vma()?;
    let before = node.info()?;
    let (kaddr, pfn) = node.show_marker()?;
    let after = node.info()?;
    let (faults, around) = (
        after.faults - before.faults,
        after.around_pages - before.around_pages,
    );
    let pages = span / page;
    if info.flags & uapi::FLAG_HUGE_PMD == 0
        || len < span
        || !node.map.addr().is_multiple_of(span as u64)
    {
        println!(
            "  this kernel or mapping allows no PMD entry here: {faults} fault, {around} around"
        );
        pic.add(
            "/dev/vmdev-huge, MAP_SHARED",
            node.map.addr(),
            pfn,
            Some(kaddr),
            1,
            "",
        );
        return Ok(node);
    }
    check(
        faults == 1 && around == pages as u64 - 1,
        format!(
            "one fault mapped {pages} pages (faults +{faults}, around_pages +{around}): one PMD"
        ),
    )?;
    let frames = node.check_frames(pages)?;
    check(
        runs(&frames).len() == 1 && frames[0].is_multiple_of(pages as u64),
        format!(
            "the driver's pages 0-{}: contiguous frames {:#x}-{:#x}, aligned as a PMD needs",
            pages - 1,
            frames[0],
            frames[pages - 1]
        ),
    )?;
    println!(
        "struct page of pfn {pfn:#x}, mapped: {} (VM_PFNMAP)",
        struct_page(pfn)?
    );
    let row = "/dev/vmdev-huge, MAP_SHARED, one PMD entry";
    pic.add(row, node.map.addr(), pfn, Some(kaddr), pages as u64, "");
    Ok(node)
}

/// The fault node: pages mapped on first touch, by the fault handler.
fn fault(pic: &mut Picture) -> Res<Node> {
    let (file, info) = Node::open(uapi::FAULT_PATH)?;
    let page = page_size();
    println!(
        "== {}: {} KiB, vmalloc, each page mapped on its first touch",
        uapi::FAULT_PATH,
        kib(info.size)
    );
    let map = Mapping::shared(file.as_fd(), 4 * page, 2 * page as i64)
        .map_err(|e| format!("{}: mmap: {e}", uapi::FAULT_PATH))?;
    let node = Node {
        path: uapi::FAULT_PATH,
        name: "fault",
        view: KernelView::read(uapi::FAULT_PATH.as_ref())?,
        file,
        map,
        first_page: 2,
    };
    node.show_vma()?;
    check(
        !node.show_before_touch()?,
        "nothing mapped before the touch".into(),
    )?;
    let (_, driver_pfn) = node.kernel(0)?;
    println!(
        "struct page of pfn {driver_pfn:#x}, the driver's page 2, not mapped yet: {}",
        struct_page(driver_pfn)?
    );
    let before = node.info()?;
    let (_, pfn) = node.show_marker()?;
    let after = node.info()?;
    let mapped = (after.faults - before.faults) + (after.around_pages - before.around_pages);
    let frames = node.check_frames(mapped.min(4) as usize)?;
    let kaddrs: Vec<u64> = (0..frames.len())
        .map(|i| node.kernel(i).map(|k| k.0))
        .collect::<Res<_>>()?;
    check(
        kaddrs.windows(2).all(|w| w[1] == w[0] + page as u64),
        format!(
            "one fault mapped {mapped} pages; their kernel addresses are contiguous, their \
             frames in {}",
            runs_of(&frames)
        ),
    )?;
    let all: Vec<u64> = node.view.pages.iter().map(|p| p.1).collect();
    println!(
        "  the whole buffer: {} pages, frames in {} (vmalloc promises no contiguity)",
        all.len(),
        runs_of(&all)
    );
    println!(
        "struct page of pfn {pfn:#x}, mapped once: {}",
        struct_page(pfn)?
    );
    for (i, f) in frames.iter().enumerate() {
        let kaddr = node.kernel(i)?.0;
        let user = node.map.addr() + (i * page) as u64;
        pic.add(
            "/dev/vmdev-fault, MAP_SHARED, pages 2-5",
            user,
            *f,
            Some(kaddr),
            1,
            "",
        );
    }
    Ok(node)
}

/// Prints this process's `/proc/self/{maps,smaps}`, each line prefixed with `maps|` or
/// `smaps|`, for `scripts/capture-fixtures.sh` to pick out of the console log.
fn dump_proc() -> Res {
    for name in ["maps", "smaps"] {
        let text =
            std::fs::read_to_string(format!("/proc/self/{name}")).map_err(|e| e.to_string())?;
        for line in text.lines() {
            println!("{name}|{line}");
        }
    }
    Ok(())
}

fn run(proc_dump: bool, picture: Option<String>) -> Res {
    let file = match picture {
        Some(p) => Some(File::create(&p).map_err(|e| format!("{p}: {e}"))?),
        None => None,
    };
    let mut pic = Picture(file);
    println!(
        "vmdev-demo: one byte, four addresses, on each node; pages of {} bytes",
        page_size()
    );
    let mut nodes = vec![remap(&mut pic)?, huge(&mut pic)?, fault(&mut pic)?];
    let folio = folio::folio(&mut pic, &nodes[1])?;
    nodes.push(folio);
    fork::shared(&nodes)?;
    fork::private(&nodes[2], &mut pic)?;
    address_space::run(&nodes)?;
    println!("vmdev-demo: every check passed");
    if proc_dump {
        dump_proc()?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let picture = args
        .iter()
        .position(|a| a == "--picture")
        .and_then(|i| args.get(i + 1).cloned());
    match run(args.iter().any(|a| a == "--proc-dump"), picture) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmdev-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
