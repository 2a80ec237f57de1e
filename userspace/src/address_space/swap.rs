//! Swap beside the driver's memory: the zram swap area the test VM prepares, turned on while a
//! [`SwapOn`] lives, an anonymous page pushed out to it and faulted back in, and the same
//! request on the driver's nodes, whose pages are not the kernel's to reclaim.

use std::fs::OpenOptions;
use std::os::fd::AsFd;

use super::{Fact, fact, major_faults};

/// The swap area on a zram device that the test VM's init prepares (`mkswap`), in use while
/// this value lives: swap is on only for the few checks that need it.
pub struct SwapOn(std::ffi::CString);

impl SwapOn {
    /// `swapon(2)` of `/dev/zram0`; `Err` says why not (no zram device in this kernel).
    pub fn zram() -> Result<Self, String> {
        let dev = "/dev/zram0";
        if !std::path::Path::new(dev).exists() {
            return Err(format!(
                "no {dev}: this kernel has no zram device (CONFIG_ZRAM, or its module, missing)"
            ));
        }
        let path = std::ffi::CString::new(dev).map_err(|e| e.to_string())?;
        // SAFETY: `path` is a NUL-terminated string; flags 0 asks for the default priority.
        if unsafe { libc::swapon(path.as_ptr(), 0) } != 0 {
            return Err(format!(
                "swapon({dev}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Self(path))
    }
}

impl SwapOn {
    /// Writes the anonymous mapping `m` with `write`, then pushes its pages out to swap
    /// (`MADV_PAGEOUT`), both on one CPU: a new page waits in its CPU's batch before it joins
    /// an LRU list, and `MADV_PAGEOUT` drains the batch of the CPU it runs on only, so a page
    /// written on the other CPU could stay in memory.
    pub fn page_out(
        &self,
        m: &crate::mapping::Mapping,
        write: impl FnOnce(),
    ) -> Result<(), String> {
        let _pinned = Pinned::here()?;
        write();
        crate::fault_branches::madvise_pageout(m).map_err(|e| format!("madvise(MADV_PAGEOUT): {e}"))
    }
}

/// This thread kept on the CPU it runs on, until dropped.
struct Pinned(libc::cpu_set_t);

impl Pinned {
    fn here() -> Result<Self, String> {
        let size = size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu_set_t` is plain bits; the calls read and write `size` bytes of it.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size, &mut old) != 0 {
                return Err(format!(
                    "sched_getaffinity: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let cpu = usize::try_from(libc::sched_getcpu())
                .map_err(|_| format!("sched_getcpu: {}", std::io::Error::last_os_error()))?;
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            if libc::sched_setaffinity(0, size, &one) != 0 {
                return Err(format!(
                    "sched_setaffinity: {}",
                    std::io::Error::last_os_error()
                ));
            }
            Ok(Self(old))
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: As in `here`: the affinity this thread had before.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &self.0) };
    }
}

impl Drop for SwapOn {
    fn drop(&mut self) {
        // swapoff() faults every swapped page back in first.
        // SAFETY: As in `zram`.
        unsafe { libc::swapoff(self.0.as_ptr()) };
    }
}

/// Swap: an anonymous page pushed out with `MADV_PAGEOUT` and faulted back in, a major fault;
/// and the same request on each node of the driver, which leaves every page where it was.
pub fn swap(on: &SwapOn, nodes: &[&std::path::Path]) -> Result<Vec<Fact>, String> {
    use crate::fault_branches::madvise_pageout;
    use crate::frames::pagemap;
    let anon = crate::mapping::Mapping::anonymous(crate::mapping::page_size())
        .map_err(|e| format!("mmap: {e}"))?;
    let mut pfn = None;
    on.page_out(&anon, || {
        anon.write_bytes(0, b"swap me");
        pfn = pagemap(anon.addr()).ok().and_then(|e| e.pfn());
    })?;
    let out = pagemap(anon.addr())?;
    let majors = major_faults()?;
    let back = anon.read_bytes(0, 7);
    let majors = major_faults()? - majors;
    let now = pagemap(anon.addr())?;
    let mut facts = vec![
        fact(
            out.swap_entry().is_some() && !out.present(),
            format!(
                "anonymous page, pfn {:#x}: after MADV_PAGEOUT, pagemap: swapped, {}",
                pfn.unwrap_or(0),
                out.swap_entry()
                    .map_or("no swap entry".into(), |(a, o)| format!(
                        "area {a} offset {o:#x}"
                    ))
            ),
        ),
        fact(
            back == b"swap me" && majors == 1 && now.present(),
            format!(
                "read back: {:?}, {majors} major fault; present again, pfn {:#x}",
                String::from_utf8_lossy(&back),
                now.pfn().unwrap_or(0)
            ),
        ),
    ];
    for node in nodes {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(node)
            .map_err(|e| format!("{}: {e}", node.display()))?;
        let m = crate::mapping::Mapping::shared(f.as_fd(), crate::mapping::page_size(), 0)
            .map_err(|e| format!("{}: mmap: {e}", node.display()))?;
        m.write(0, m.read(0));
        let before = pagemap(m.addr())?;
        let res = madvise_pageout(&m);
        let after = pagemap(m.addr())?;
        let name = node.display();
        facts.push(match &res {
            Err(e) => fact(
                *e == nix::errno::Errno::EINVAL && after == before,
                format!("{name}: MADV_PAGEOUT gets EINVAL: a PFN map, no struct page to reclaim"),
            ),
            Ok(()) => fact(
                after == before && after.present(),
                format!(
                    "{name}: MADV_PAGEOUT leaves pfn {:#x} mapped: the driver's, not on an LRU",
                    after.pfn().unwrap_or(0)
                ),
            ),
        });
    }
    Ok(facts)
}
