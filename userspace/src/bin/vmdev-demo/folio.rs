//! The folio node: memory in folios of PMD order (2 MiB with 4 KiB pages, 32 MiB with 16 KiB
//! pages) that the driver allocated at load, each mapped on its first touch by one PMD entry.
//! Unlike the huge node's raw frames (`VM_PFNMAP`), its pages are ordinary pages the core
//! counts: the entry holds a reference and an rmap entry for the whole folio (`/proc/kpagecount`,
//! smaps' `FilePmdMapped`), `get_user_pages()` finds them where it refuses the huge node's, and a
//! VMA boundary inside the folio's span (an `mprotect()` of one page) takes the entry away, the
//! pages then mapped again one PTE per fault.

use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::sys::mman::{ProtFlags, mprotect};
use vmdev::frames::{KernelView, KpageFlags, kpagecount, kpageflags, pagemap_entries, runs};
use vmdev::mapping::{Mapping, page_size};
use vmdev::maps::{MapsEntry, parse_smaps};
use vmdev::uapi::{self, VmdevInfo};

use crate::{Node, Picture, Res, check, kib};

/// The kernel's PMD size, where it has transparent huge pages.
const HPAGE_PMD_SIZE: &str = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";

/// `KPF_COMPOUND_HEAD`, `KPF_COMPOUND_TAIL` and `KPF_THP` of
/// `include/uapi/linux/kernel-page-flags.h`.
const KPF_COMPOUND_HEAD: u32 = 15;
const KPF_COMPOUND_TAIL: u32 = 16;
const KPF_THP: u32 = 22;

/// The bytes one PMD entry maps: the kernel's `hpage_pmd_size`, or without THP what one page
/// table maps (a page of 8-byte entries, a page each).
fn pmd_size() -> Res<usize> {
    match std::fs::read_to_string(HPAGE_PMD_SIZE) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|e| format!("{HPAGE_PMD_SIZE}: {s:?}: {e}")),
        Err(_) => Ok(page_size() * (page_size() / 8)),
    }
}

/// A frame's flags as `/proc/kpageflags` has them, with the compound-page bits named too.
fn flag_names(f: KpageFlags) -> String {
    let mut names: Vec<String> = match f.names().as_str() {
        "-" => Vec::new(),
        n => n.split(' ').map(String::from).collect(),
    };
    for (bit, name) in [
        (KPF_COMPOUND_HEAD, "compound_head"),
        (KPF_COMPOUND_TAIL, "compound_tail"),
    ] {
        if f.has(bit) {
            names.push(name.into());
        }
    }
    if names.is_empty() {
        "-".into()
    } else {
        names.join(" ")
    }
}

/// What the core records in the `struct page` of frame `pfn`: its count, flags, and the line.
fn struct_page(pfn: u64) -> Res<(u64, KpageFlags, String)> {
    let (count, flags) = (kpagecount(pfn)?, kpageflags(pfn)?);
    let line = format!("kpagecount {count}, kpageflags {}", flag_names(flags));
    Ok((count, flags, line))
}

/// What smaps says of the VMAs in a mapping's range: how many, their `Rss` and `FilePmdMapped`
/// summed (kB), and their maps lines.
struct Smaps {
    vmas: Vec<MapsEntry>,
    rss: u64,
    pmd_mapped: u64,
}

fn smaps(m: &Mapping) -> Res<Smaps> {
    let text = std::fs::read_to_string("/proc/self/smaps").map_err(|e| e.to_string())?;
    let (start, end) = (m.addr(), m.addr() + m.len() as u64);
    let inside: Vec<_> = parse_smaps(&text)?
        .into_iter()
        .filter(|e| e.map.start >= start && e.map.end <= end)
        .collect();
    let sum = |key: &str| {
        inside
            .iter()
            .map(|e| e.fields.get(key).copied().unwrap_or(0))
            .sum()
    };
    Ok(Smaps {
        rss: sum("Rss"),
        pmd_mapped: sum("FilePmdMapped"),
        vmas: inside.into_iter().map(|e| e.map).collect(),
    })
}

/// The driver's counters moved from `before` to `after`: (faults, around_pages).
fn moved(before: VmdevInfo, after: VmdevInfo) -> (u64, u64) {
    (
        after.faults - before.faults,
        after.around_pages - before.around_pages,
    )
}

/// The folio node: one read fault maps a whole folio with one PMD entry; `get_user_pages()`
/// against the huge node; the entry split away by an `mprotect()` of one page.
pub fn folio(pic: &mut Picture, huge: &Node) -> Res<Node> {
    let (file, info) = Node::open(uapi::FOLIO_PATH)?;
    let page = page_size();
    let span = pmd_size()?;
    let pages = span / page;
    println!(
        "== {}: {} KiB, {} folios of {} KiB (a PMD each) allocated at load",
        uapi::FOLIO_PATH,
        kib(info.size),
        info.size / span as u64,
        span >> 10
    );
    // The first folio's span: the driver places the mapping as a PMD needs.
    let map = Mapping::shared(file.as_fd(), span, 0)
        .map_err(|e| format!("{}: mmap: {e}", uapi::FOLIO_PATH))?;
    let node = Node {
        path: uapi::FOLIO_PATH,
        name: "folio",
        view: KernelView::read(uapi::FOLIO_PATH.as_ref())?,
        file,
        map,
        first_page: 0,
    };
    node.show_vma()?;
    let vma = vmdev::maps::self_smaps_entry(node.map.addr())?;
    check(
        !["pf", "mm", "io"].iter().any(|f| vma.has_flag(f)),
        "VmFlags: no pf, mm or io: not a PFN map, every page has a struct page the core counts"
            .into(),
    )?;
    check(
        !node.show_before_touch()?,
        "nothing mapped before the touch".into(),
    )?;
    let addr = node.map.addr();
    if info.flags & uapi::FLAG_HUGE_PMD == 0 {
        println!("  this kernel maps no PMD entries (VMDEV_FLAG_HUGE_PMD clear): a page per fault");
        let (kaddr, pfn) = node.show_marker()?;
        pic.add(
            "/dev/vmdev-folio, MAP_SHARED",
            addr,
            pfn,
            Some(kaddr),
            1,
            "",
        );
        gup(&node, huge, page)?;
        return Ok(node);
    }
    check(
        addr.is_multiple_of(span as u64),
        format!(
            "mmap() placed it at {addr:#x}, a multiple of {} KiB",
            span >> 10
        ),
    )?;

    let before = node.info()?;
    std::hint::black_box(node.map.read(0));
    let (faults, around) = moved(before, node.info()?);
    println!(
        "read one byte at {addr:#x}: the driver's counters faults +{faults}, around_pages +{around}"
    );
    check(
        faults == 1 && around == pages as u64 - 1,
        format!("one read fault mapped all {pages} pages of the folio: one PMD entry"),
    )?;
    let frames = node.check_frames(pages)?;
    let (head, tail) = (frames[0], frames[pages - 1]);
    check(
        runs(&frames).len() == 1 && head.is_multiple_of(pages as u64),
        format!(
            "one folio: contiguous frames {head:#x}-{tail:#x}, the first a multiple of {pages}"
        ),
    )?;
    let (head_count, head_flags, line) = struct_page(head)?;
    println!("struct page of pfn {head:#x}, the folio's first: {line}");
    let (tail_count, tail_flags, line) = struct_page(tail)?;
    println!("struct page of pfn {tail:#x}, its last:   {line}");
    check(
        head_flags.has(KPF_THP)
            && head_flags.has(KPF_COMPOUND_HEAD)
            && tail_flags.has(KPF_THP)
            && tail_flags.has(KPF_COMPOUND_TAIL),
        "one compound page, a THP to the core: the first is its head, the last a tail".into(),
    )?;
    check(
        head_count == 1 && tail_count == 1,
        "kpagecount 1 on the head and on the tail: the one entry maps every page once".into(),
    )?;
    let s = smaps(&node.map)?;
    println!("smaps: Rss {} kB, FilePmdMapped {} kB", s.rss, s.pmd_mapped);
    check(
        s.pmd_mapped == kib(span as u64) && s.rss == s.pmd_mapped,
        format!(
            "FilePmdMapped {} kB: the folio is mapped as a file PMD",
            s.pmd_mapped
        ),
    )?;
    let (kaddr, _) = node.show_marker()?;
    pic.add(
        "/dev/vmdev-folio, MAP_SHARED, one PMD entry",
        addr,
        head,
        Some(kaddr),
        pages as u64,
        "",
    );

    gup(&node, huge, span)?;
    split(&node, pic, &frames)?;
    Ok(node)
}

/// `get_user_pages()`: it finds the folio node's pages behind the PMD entry, and refuses the
/// huge node's raw frames.
fn gup(folio: &Node, huge: &Node, len: usize) -> Res {
    println!("== get_user_pages(): process_vm_readv() of this process's own mappings");
    println!("  the kernel copies through the pages GUP pins, not through the page tables");
    let got = folio
        .map
        .read_through_gup(len)
        .map_err(|e| format!("{}: {e}", folio.path))?;
    let mut want = vec![0u8; len];
    let n = nix::sys::uio::pread(&folio.file, &mut want, 0).map_err(|e| e.to_string())?;
    check(
        got.len() == len && n == len && got == want,
        format!(
            "{}: {} KiB read, the bytes read() returns: GUP took its pages",
            folio.path,
            kib(len as u64)
        ),
    )?;
    let res = huge.map.read_through_gup(page_size());
    check(
        res.as_ref().err() == Some(&Errno::EFAULT),
        format!(
            "{}: {}: GUP refuses a VM_PFNMAP mapping, whose frames it may not take",
            huge.path,
            res.map_or_else(|e| format!("{e:?}"), |b| format!("{} bytes read", b.len()))
        ),
    )
}

/// `mprotect(PROT_READ)` of the folio's last page: the VMA splits, which takes the PMD entry
/// away (with its reference and rmap entry); each page is then mapped by a fault of its own.
fn split(node: &Node, pic: &mut Picture, frames: &[u64]) -> Res {
    let page = page_size();
    let pages = frames.len();
    let (head, tail) = (frames[0], frames[pages - 1]);
    println!(
        "== mprotect(PROT_READ) of the folio's last page: a VMA boundary inside the PMD's span"
    );
    let last = NonNull::new((node.map.addr() + ((pages - 1) * page) as u64) as *mut _)
        .ok_or("a null address")?;
    // SAFETY: One page of the node's own mapping, which only volatile accesses touch; reading it
    // stays allowed.
    unsafe { mprotect(last, page, ProtFlags::PROT_READ) }.map_err(|e| format!("mprotect: {e}"))?;
    let s = smaps(&node.map)?;
    for m in &s.vmas {
        println!(
            "maps:  {:x}-{:x} {} {:08x} {}",
            m.start, m.end, m.perms, m.offset, m.path
        );
    }
    let present = pagemap_entries(node.map.addr(), pages)?
        .iter()
        .filter(|e| e.present())
        .count();
    let (count, _, line) = struct_page(head)?;
    println!("smaps: Rss {} kB, FilePmdMapped {} kB", s.rss, s.pmd_mapped);
    println!("pfn {head:#x}, the first page: {line}");
    check(
        s.vmas.len() == 2 && s.pmd_mapped == 0 && s.rss == 0 && present == 0 && count == 0,
        format!(
            "two VMAs, none of the {pages} pages mapped: the split dropped the entry, its \
             reference and rmap"
        ),
    )?;

    let before = node.info()?;
    std::hint::black_box(node.map.read(0));
    let (faults, around) = moved(before, node.info()?);
    let now = pagemap_entries(node.map.addr(), 2)?;
    check(
        faults == 1 && around == 0 && now[0].pfn() == Some(head) && !now[1].present(),
        format!(
            "a read of page 0: faults +{faults}, around_pages +{around}: one PTE, pfn {head:#x}; \
             page 1 not mapped"
        ),
    )?;
    let before = node.info()?;
    for i in 1..pages {
        std::hint::black_box(node.map.read(i * page));
    }
    let (faults, around) = moved(before, node.info()?);
    let again: Vec<Option<u64>> = pagemap_entries(node.map.addr(), pages)?
        .into_iter()
        .map(|e| e.pfn())
        .collect();
    check(
        faults == pages as u64 - 1
            && around == 0
            && again.iter().zip(frames).all(|(a, f)| *a == Some(*f)),
        format!(
            "a read of each other page: faults +{faults}, one per page: the same {pages} frames, \
             a PTE each"
        ),
    )?;
    let (head_count, head_flags, _) = struct_page(head)?;
    let (tail_count, tail_flags, line) = struct_page(tail)?;
    let s = smaps(&node.map)?;
    println!("smaps: Rss {} kB, FilePmdMapped {} kB", s.rss, s.pmd_mapped);
    println!("pfn {tail:#x}, the last page, read-only now: {line}");
    check(
        head_count == 1
            && tail_count == 1
            && head_flags.has(KPF_COMPOUND_HEAD)
            && tail_flags.has(KPF_COMPOUND_TAIL)
            && s.pmd_mapped == 0
            && s.rss == kib((pages * page) as u64),
        "kpagecount 1 again on head and tail, by PTEs: the folio itself stays one compound page"
            .into(),
    )?;
    let row = "/dev/vmdev-folio, after mprotect() of the last page: a PTE each";
    for i in [0, 1, pages - 1] {
        let kaddr = node.kernel(i)?.0;
        let user = node.map.addr() + (i * page) as u64;
        pic.add(row, user, frames[i], Some(kaddr), 1, "");
    }
    Ok(())
}
