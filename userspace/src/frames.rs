//! Page frames seen from both sides: what a process's page tables map at an address
//! (`/proc/self/pagemap`), what the kernel records for a frame's `struct page`
//! (`/proc/kpagecount`, `/proc/kpageflags`), and the driver's debug view of its buffer, the
//! kernel address and frame of each page (`/sys/kernel/debug/MODULE/NODE`, format in
//! `include/uapi/rust_vmdev.h`). All of them need root: without `CAP_SYS_ADMIN` pagemap reads
//! frame numbers as 0, and the others cannot be opened.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One entry of `/proc/<pid>/pagemap` (Documentation/admin-guide/mm/pagemap.rst).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PagemapEntry(pub u64);

impl PagemapEntry {
    /// Bit 63: a page-table entry maps the page.
    pub fn present(self) -> bool {
        self.0 >> 63 & 1 == 1
    }

    /// Bit 61: a file page or shared anonymous page (set only where the entry maps a
    /// `struct page` the core looked at: never for a PFN mapping's raw frames).
    pub fn file_or_shared(self) -> bool {
        self.0 >> 61 & 1 == 1
    }

    /// Bit 56: the page is mapped by this process alone.
    pub fn exclusive(self) -> bool {
        self.0 >> 56 & 1 == 1
    }

    /// Bit 62: the page is swapped out; bits 0-4 then hold the swap area, 5-54 the offset.
    pub fn swapped(self) -> bool {
        self.0 >> 62 & 1 == 1
    }

    /// The swap area and the page's offset in it, when swapped.
    pub fn swap_entry(self) -> Option<(u64, u64)> {
        self.swapped()
            .then_some((self.0 & 0x1f, self.0 >> 5 & ((1 << 50) - 1)))
    }

    /// Bits 0-54: the page frame number, when present (0 without `CAP_SYS_ADMIN`).
    pub fn pfn(self) -> Option<u64> {
        self.present().then_some(self.0 & ((1 << 55) - 1))
    }
}

/// The 8-byte records `index..index + count` of a `/proc` array file (pagemap, kpagecount,
/// kpageflags), in one read: a mapping's whole pagemap costs one system call, not one per page.
fn records(path: &str, index: u64, count: usize) -> Result<Vec<u64>, String> {
    let f = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut buf = vec![0u8; count.checked_mul(8).ok_or("record count overflows")?];
    let at = index.checked_mul(8).ok_or("record index overflows")?;
    f.read_exact_at(&mut buf, at)
        .map_err(|e| format!("{path}: records {index:#x}+{count}: {e}"))?;
    Ok(buf
        .as_chunks::<8>()
        .0
        .iter()
        .map(|r| u64::from_ne_bytes(*r))
        .collect())
}

/// The 8-byte record `index` of a `/proc` array file.
fn record(path: &str, index: u64) -> Result<u64, String> {
    records(path, index, 1)?
        .first()
        .copied()
        .ok_or_else(|| format!("{path}: no record {index:#x}"))
}

/// This process's pagemap entry for the page holding `addr`.
pub fn pagemap(addr: u64) -> Result<PagemapEntry, String> {
    let page = crate::mapping::page_size() as u64;
    record("/proc/self/pagemap", addr / page).map(PagemapEntry)
}

/// This process's pagemap entries for `pages` pages from the one holding `addr` on.
pub fn pagemap_entries(addr: u64, pages: usize) -> Result<Vec<PagemapEntry>, String> {
    let page = crate::mapping::page_size() as u64;
    let entries = records("/proc/self/pagemap", addr / page, pages)?;
    Ok(entries.into_iter().map(PagemapEntry).collect())
}

/// The frames behind `pages` pages from `addr` on (`None` where nothing is mapped).
pub fn pagemap_frames(addr: u64, pages: usize) -> Result<Vec<Option<u64>>, String> {
    Ok(pagemap_entries(addr, pages)?
        .into_iter()
        .map(PagemapEntry::pfn)
        .collect())
}

/// `/proc/kpagecount` of frame `pfn`: how many page-table entries map its `struct page` (0 for
/// a frame without one, and for a frame mapped by PFN, whose `struct page` the core never
/// touches).
pub fn kpagecount(pfn: u64) -> Result<u64, String> {
    record("/proc/kpagecount", pfn)
}

/// `/proc/kpageflags` of frame `pfn` (`include/uapi/linux/kernel-page-flags.h`).
pub fn kpageflags(pfn: u64) -> Result<KpageFlags, String> {
    record("/proc/kpageflags", pfn).map(KpageFlags)
}

/// `/proc/kpagecount` of the `count` frames from `pfn` on, in one read.
pub fn kpagecounts(pfn: u64, count: usize) -> Result<Vec<u64>, String> {
    records("/proc/kpagecount", pfn, count)
}

/// `/proc/kpageflags` of the `count` frames from `pfn` on, in one read.
pub fn kpageflags_range(pfn: u64, count: usize) -> Result<Vec<KpageFlags>, String> {
    Ok(records("/proc/kpageflags", pfn, count)?
        .into_iter()
        .map(KpageFlags)
        .collect())
}

/// The flags of a frame's `struct page`, as `/proc/kpageflags` reports them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KpageFlags(pub u64);

impl KpageFlags {
    /// The flags this crate names, with their `KPF_*` bit numbers.
    const NAMES: [(u32, &'static str); 14] = [
        (2, "referenced"),
        (3, "uptodate"),
        (4, "dirty"),
        (5, "lru"),
        (10, "buddy"),
        (11, "mmap"),
        (12, "anon"),
        (14, "swapbacked"),
        (15, "compound_head"),
        (16, "compound_tail"),
        (20, "nopage"),
        (22, "thp"),
        (24, "zero_page"),
        (32, "reserved"),
    ];

    /// Whether flag `KPF_<bit>` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 >> bit & 1 == 1
    }

    /// `KPF_MMAP`: mapped into some process.
    pub fn mmap(self) -> bool {
        self.has(11)
    }

    /// `KPF_ANON`: an anonymous page (a private copy, for instance).
    pub fn anon(self) -> bool {
        self.has(12)
    }

    /// `KPF_NOPAGE`: no `struct page` at all (memory the kernel does not manage).
    pub fn nopage(self) -> bool {
        self.has(20)
    }

    /// `KPF_COMPOUND_HEAD`: the first page of a large folio (a compound page).
    pub fn compound_head(self) -> bool {
        self.has(15)
    }

    /// `KPF_COMPOUND_TAIL`: a page of a large folio other than its first.
    pub fn compound_tail(self) -> bool {
        self.has(16)
    }

    /// `KPF_THP`: a page of a large folio the rmap knows (`folio_test_large_rmappable()`), any
    /// order, however it is mapped.
    pub fn thp(self) -> bool {
        self.has(22)
    }

    /// The named flags that are set, space-separated, or `-` when none is.
    pub fn names(self) -> String {
        let set: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, name)| *name)
            .collect();
        if set.is_empty() {
            "-".into()
        } else {
            set.join(" ")
        }
    }
}

/// How the kernel maps a driver's buffer: the debug view's `memory` line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KernelMapping {
    /// The linear map of all RAM: kernel address and physical address differ by a constant.
    Linear,
    /// `vmalloc()`: contiguous kernel addresses over pages found one by one.
    Vmalloc,
    /// `memremap()` of a boot reservation outside System RAM.
    Memremap,
}

/// A node's debug view: the kernel address and frame of each page of its buffer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KernelView {
    /// How the kernel maps the buffer.
    pub memory: KernelMapping,
    /// Bytes per page.
    pub page_size: u64,
    /// `PAGE_OFFSET`, where the linear map begins.
    pub page_offset: u64,
    /// The physical address mapped at `PAGE_OFFSET`.
    pub page_offset_phys: u64,
    /// Page `i`'s kernel address and page frame number.
    pub pages: Vec<(u64, u64)>,
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

impl KernelView {
    /// Parses the debug file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let mut field = |key: &str| {
            let line = lines.next().ok_or(format!("no {key} line"))?;
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or(format!("{line:?}: expected {key} VALUE"))
        };
        let memory = match field("memory")? {
            "linear" => KernelMapping::Linear,
            "vmalloc" => KernelMapping::Vmalloc,
            "memremap" => KernelMapping::Memremap,
            other => return Err(format!("memory {other}: not linear, vmalloc or memremap")),
        };
        let page_size = field("page_size")?.parse().map_err(|_| "bad page_size")?;
        let page_offset = hex(field("page_offset")?).ok_or("bad page_offset")?;
        let page_offset_phys = hex(field("page_offset_phys")?).ok_or("bad page_offset_phys")?;
        let count: usize = field("pages")?.parse().map_err(|_| "bad pages")?;
        let pages = lines
            .enumerate()
            .map(|(i, line)| {
                let mut words = line.split(' ');
                let parsed = (|| {
                    let index: usize = words.next()?.parse().ok()?;
                    let addr = hex(words.next()?)?;
                    let pfn = hex(words.next()?)?;
                    (index == i && words.next().is_none()).then_some((addr, pfn))
                })();
                parsed.ok_or(format!(
                    "page line {i}: {line:?}: expected {i} 0xADDR 0xPFN"
                ))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if pages.len() != count {
            return Err(format!("pages {count}, but {} page lines", pages.len()));
        }
        Ok(Self {
            memory,
            page_size,
            page_offset,
            page_offset_phys,
            pages,
        })
    }

    /// The debug file of device node `node`: `/sys/kernel/debug/MODULE/NAME` for `/dev/NAME`,
    /// in whichever module's directory has it.
    pub fn path(node: &Path) -> Result<PathBuf, String> {
        let name = node
            .file_name()
            .ok_or(format!("{}: no file name", node.display()))?;
        let root = "/sys/kernel/debug";
        std::fs::read_dir(root)
            .map_err(|e| format!("{root}: {e}"))?
            .filter_map(|d| Some(d.ok()?.path().join(name)))
            .find(|p| p.is_file())
            .ok_or(format!(
                "no {root}/*/{} (debugfs mounted?)",
                name.to_string_lossy()
            ))
    }

    /// Reads and parses the debug view of device node `node`.
    pub fn read(node: &Path) -> Result<Self, String> {
        let path = Self::path(node)?;
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The physical address a linear-map address maps, or `None` outside the linear map's
    /// arithmetic (an address below `PAGE_OFFSET`).
    pub fn linear_to_phys(&self, addr: u64) -> Option<u64> {
        addr.checked_sub(self.page_offset)?
            .checked_add(self.page_offset_phys)
    }
}

/// The runs of consecutive numbers in `frames`: `[(first, length)]`.
pub fn runs(frames: &[u64]) -> Vec<(u64, usize)> {
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for &f in frames {
        match runs.last_mut() {
            Some((first, len)) if *first + *len as u64 == f => *len += 1,
            _ => runs.push((f, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEW: &str = "memory linear\npage_size 4096\npage_offset 0xffff888000000000\n\
        page_offset_phys 0x0\npages 2\n0 0xffff888003c00000 0x3c00\n1 0xffff888003c01000 0x3c01\n";

    #[test]
    fn view_parses() {
        let v = KernelView::parse(VIEW).unwrap();
        assert_eq!(v.memory, KernelMapping::Linear);
        assert_eq!(
            v.pages,
            [(0xffff888003c00000, 0x3c00), (0xffff888003c01000, 0x3c01)]
        );
        assert_eq!(v.linear_to_phys(v.pages[1].0), Some(0x3c01000));
    }

    #[test]
    fn view_rejects_what_the_format_does_not_allow() {
        let short = VIEW.replace("pages 2", "pages 3");
        assert!(KernelView::parse(&short).is_err());
        let misnumbered = VIEW.replace("1 0xffff888003c01000", "2 0xffff888003c01000");
        assert!(KernelView::parse(&misnumbered).is_err());
        assert!(KernelView::parse(&VIEW.replace("linear", "direct")).is_err());
        assert!(KernelView::parse(&VIEW.replace("0x3c01\n", "3c01\n")).is_err());
    }

    #[test]
    fn pagemap_bits() {
        let e = PagemapEntry(1 << 63 | 1 << 61 | 0x1234);
        assert!(e.present() && e.file_or_shared() && !e.exclusive());
        assert_eq!(e.pfn(), Some(0x1234));
        assert_eq!(PagemapEntry(0x1234).pfn(), None);
    }

    #[test]
    fn runs_of_frames() {
        assert_eq!(runs(&[5, 6, 7, 9, 3, 4]), [(5, 3), (9, 1), (3, 2)]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn flag_names() {
        assert_eq!(KpageFlags(1 << 11 | 1 << 12).names(), "mmap anon");
        assert_eq!(KpageFlags(0).names(), "-");
        assert!(KpageFlags(1 << 20).nopage());
        let head = KpageFlags(1 << 11 | 1 << 15 | 1 << 22);
        assert!(head.compound_head() && !head.compound_tail() && head.thp());
        assert_eq!(head.names(), "mmap compound_head thp");
    }
}
