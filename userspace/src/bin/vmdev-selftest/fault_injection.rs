//! Allocation failures injected into the module's load, into mmap and into faults
//! (`CONFIG_FAULT_INJECTION`'s failslab and fail_page_alloc, one failure at a time through
//! `/proc/thread-self/fail-nth`): each fails as the kernel defines, or is absorbed, and leaves
//! nothing behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::signal::Signal;
use vmdev::mapping::Mapping;
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Module, Outcome, TestResult, diag, ensure, test};

const FAIL_NTH: &str = "/proc/thread-self/fail-nth";

/// Makes sleeping and order-0 allocations eligible for injected failures, without the
/// injection's own stack dumps; false without fault-injection support.
fn fault_injection_ready() -> Result<bool, String> {
    if !Path::new("/sys/kernel/debug/failslab").exists() || !Path::new(FAIL_NTH).exists() {
        return Ok(false);
    }
    for (file, value) in [
        ("failslab/ignore-gfp-wait", "N"),
        ("failslab/verbose", "0"),
        ("fail_page_alloc/ignore-gfp-wait", "N"),
        ("fail_page_alloc/min-order", "0"),
        ("fail_page_alloc/verbose", "0"),
    ] {
        std::fs::write(format!("/sys/kernel/debug/{file}"), value)
            .map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(true)
}

/// Runs `op` with the n-th slab or page allocation of this thread failing, for n = 1, 2, ...
/// until `op` finishes without reaching an n-th allocation; `judge(injected, result)` checks
/// each run. Returns how many runs had a failure injected.
fn each_allocation_failing<T>(
    max: u32,
    mut op: impl FnMut() -> T,
    mut judge: impl FnMut(bool, T) -> Result<(), String>,
) -> Result<u32, String> {
    // One fd for the whole loop: opening the file again would itself allocate.
    let nth = OpenOptions::new()
        .read(true)
        .write(true)
        .open(FAIL_NTH)
        .map_err(|e| e.to_string())?;
    let mut left = [0u8; 16];
    for n in 1..=max {
        pwrite(&nth, n.to_string().as_bytes(), 0).map_err(|e| e.to_string())?;
        let result = op();
        let len = nix::sys::uio::pread(&nth, &mut left, 0).map_err(|e| e.to_string())?;
        pwrite(&nth, b"0", 0).map_err(|e| e.to_string())?;
        // 0 left means the n-th allocation happened, and failed.
        let injected = String::from_utf8_lossy(&left[..len]).trim() == "0";
        judge(injected, result).map_err(|e| format!("allocation {n} failing: {e}"))?;
        if !injected {
            return Ok(n - 1);
        }
    }
    Err(format!("still allocating after {max} allocations"))
}

/// Where the kernel puts modules' code, and no code of its own: above the kernel image on
/// x86_64 (`MODULES_VADDR` to `MODULES_END`, KASLR or not); on arm64 without KASLR (the test
/// kernels have none), within 2 GiB below the image's end and outside the image
/// (`module_init_limits()` in arch/arm64/mm/init.c).
fn module_area() -> Result<(u64, u64), String> {
    let (text, end) = (kallsyms("_text")?, kallsyms("_end")?);
    if cfg!(target_arch = "x86_64") {
        Ok((end, u64::MAX))
    } else {
        Ok((end.saturating_sub(2 << 30), text))
    }
}

/// The address of kernel symbol `name` in /proc/kallsyms (root sees real addresses).
fn kallsyms(name: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| format!("kallsyms: {e}"))?;
    text.lines()
        .filter_map(|l| l.split_once(' ').zip(l.rsplit(' ').next()))
        .find(|(_, sym)| *sym == name)
        .and_then(|((addr, _), _)| u64::from_str_radix(addr, 16).ok())
        .ok_or(format!("no {name} in /proc/kallsyms"))
}

/// While it lives, an injected failure (`fail-nth`) counts and fails only the slab and page
/// allocations that have code in `[start, end)` on their stack: the fault-injection stack
/// filter (`require-start`, `require-end`), as deep as it looks (`stacktrace-depth`, at most
/// 32 frames). Dropping it puts the previous filter back.
struct StackFilter {
    saved: Vec<(String, String)>,
}

impl StackFilter {
    fn require(start: u64, end: u64) -> Result<Self, String> {
        let mut filter = Self { saved: Vec::new() };
        for attr in ["failslab", "fail_page_alloc"] {
            for (file, value) in [
                ("require-start", format!("{start:#x}")),
                ("require-end", format!("{end:#x}")),
                ("stacktrace-depth", "32".to_string()),
            ] {
                let path = format!("/sys/kernel/debug/{attr}/{file}");
                let old = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                std::fs::write(&path, value).map_err(|e| format!("{path}: {e}"))?;
                filter.saved.push((path, old.trim().to_string()));
            }
        }
        Ok(filter)
    }
}

impl Drop for StackFilter {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            if let Err(e) = std::fs::write(path, old) {
                diag!("restoring {path} to {old}: {e}");
            }
        }
    }
}

test!(module: inject_load, Reload);
/// Each allocation the module's own code makes while it loads (its buffers, the device
/// registrations and what they allocate) fails in turn: the load is refused and leaves nothing
/// behind, or absorbs the failure. The allocations of `load_module()` around it are left alone
/// (the stack filter: only those with module code on their stack count), so the loop steps
/// through the module's allocations, not the kernel's hundreds.
fn inject_load(cx: &Context, m: &Module) -> TestResult {
    if !fault_injection_ready()? {
        return Ok(Outcome::Skip(
            "no fault injection (CONFIG_FAULT_INJECTION_DEBUG_FS, FAILSLAB, FAIL_PAGE_ALLOC)"
                .into(),
        ));
    }
    if !Path::new("/sys/kernel/debug/failslab/require-start").exists() {
        return Err(
            "no fault-injection stack filter (CONFIG_FAULT_INJECTION_STACKTRACE_FILTER)".into(),
        );
    }
    // Small buffers: the same allocation paths with far fewer page allocations to step through.
    // Two folios: the second failing must put the first.
    let params = format!(
        "remap_size={} fault_size={} folio_size={}",
        2 * ps(),
        4 * ps(),
        2 * pmd_span()
    );
    // The filter's range must hold the module's code: check it on a load without injection.
    let (start, end) = module_area()?;
    m.reload(&params)?;
    let section = format!("/sys/module/{}/sections/.text", m.name);
    let text = std::fs::read_to_string(&section).map_err(|e| format!("{section}: {e}"))?;
    let text = u64::from_str_radix(text.trim().trim_start_matches("0x"), 16)
        .map_err(|e| format!("{section}: {text:?}: {e}"))?;
    ensure!(
        (start..end).contains(&text),
        "the module's code at {text:#x} is outside the filter's range {start:#x}..{end:#x}"
    );
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    let filter = StackFilter::require(start, end)?;
    let began = Instant::now();
    let mut absorbed = 0;
    let injected = each_allocation_failing(
        20_000,
        || m.load(&params),
        |injected, res| {
            match res {
                Ok(()) => {
                    // Finished without the failure, or something absorbed it (a fallback).
                    absorbed += u32::from(injected);
                    m.unload().map_err(|e| format!("rmmod: {e}"))
                }
                Err(e) if injected => {
                    ensure!(
                        !m.is_loaded(),
                        "load failed ({e}) but the module is in /proc/modules"
                    );
                    ensure!(
                        !cx.nodes_exist(),
                        "load failed ({e}) but a device node is left"
                    );
                    Ok(())
                }
                Err(e) => Err(format!("load failed with no failure injected: {e}")),
            }
        },
    )?;
    drop(filter);
    diag!(
        "{injected} allocations of the module's code failed in turn, one per load: {} loads \
         refused cleanly, {absorbed} absorbed; {:.1} s",
        injected - absorbed,
        began.elapsed().as_secs_f64()
    );
    ensure!(
        injected > absorbed,
        "no injected failure made the load fail"
    );
    m.reload("")?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: inject_mmap, Abuse);
fn inject_mmap(_cx: &Context, d: &Device) -> TestResult {
    if !fault_injection_ready()? {
        return Ok(Outcome::Skip("no fault injection".into()));
    }
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let mut refused = 0;
    let injected = each_allocation_failing(
        10_000,
        || Mapping::shared(f.as_fd(), 4 * ps(), 0),
        |injected, res| {
            match res {
                Ok(map) => {
                    ensure!(map.read(3 * ps()) == map.read(3 * ps()), "unstable read");
                    drop(map);
                }
                Err(e) => {
                    ensure!(injected, "mmap failed with no failure injected: {e}");
                    ensure!(
                        e == Errno::ENOMEM || e == Errno::EAGAIN,
                        "mmap failed with {e}, expected ENOMEM or EAGAIN"
                    );
                    ensure!(!device_mapped(d)?, "a refused mmap left a VMA");
                    refused += 1;
                }
            }
            let now = d.live_vmas()?;
            ensure!(now == live, "live_vmas {now}, {live} before");
            Ok(())
        },
    )?;
    diag!("{injected} mmaps with an allocation failing: {refused} refused, the rest absorbed");
    Ok(Outcome::Pass)
}

/// The text of kernel function `name`: from its address in /proc/kallsyms to the next
/// symbol's.
fn kallsyms_span(name: &str) -> Result<(u64, u64), String> {
    let start = kallsyms(name)?;
    let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| format!("kallsyms: {e}"))?;
    let end = text
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
        .filter(|&a| a > start)
        .min()
        .ok_or(format!("no symbol after {name} in /proc/kallsyms"))?;
    Ok((start, end))
}

/// While it lives, every slab and page allocation with code in the filter's range on its stack
/// fails, in every task (probability 100, no limit); dropping it stops that.
struct FailEverything {
    _filter: StackFilter,
}

impl FailEverything {
    fn start(filter: StackFilter) -> Result<Self, String> {
        let this = Self { _filter: filter };
        for attr in ["failslab", "fail_page_alloc"] {
            for (file, value) in [("interval", "1"), ("times", "-1"), ("probability", "100")] {
                let path = format!("/sys/kernel/debug/{attr}/{file}");
                std::fs::write(&path, value).map_err(|e| format!("{path}: {e}"))?;
            }
        }
        Ok(this)
    }
}

impl Drop for FailEverything {
    fn drop(&mut self) {
        for attr in ["failslab", "fail_page_alloc"] {
            let path = format!("/sys/kernel/debug/{attr}/probability");
            if let Err(e) = std::fs::write(&path, "0") {
                diag!("{path}: {e}");
            }
        }
    }
}

test!(remap: half_set_up, Abuse);
/// A VMA whose setup failed half way: the remap action of `mmap_prepare` fails (a page table
/// cannot be allocated), and the core's `do_munmap()` of the new VMA fails too (every
/// allocation under `mmap_action_complete()` fails), an error `mmap_action_finish()` ignores.
/// The VMA lives on with the node's operations and no data. `fork()` (`open`),
/// `/proc/self/mem` (`access`), a touch and `munmap()` (`close`) must each treat it as a VMA
/// that maps nothing: no oops, nothing counted, nothing read.
fn half_set_up(_cx: &Context, d: &Device) -> TestResult {
    if d.info()?.flags & uapi::FLAG_MMAP_PREPARE == 0 {
        return Ok(Outcome::Skip("f_op->mmap: no remap action to fail".into()));
    }
    if !fault_injection_ready()? {
        return Ok(Outcome::Skip("no fault injection".into()));
    }
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let (start, end) = kallsyms_span("mmap_action_complete")?;
    // At a 1 GiB boundary with 1 GiB free on each side, so that no page table spans it yet and
    // the remap must allocate one. (Nearer another VMA, a page table of that VMA's could span
    // the address already: one spans 32 MiB with 16 KiB pages.) The 3 GiB are found with a
    // reservation, given back before the node is mapped in the middle of them; this test runs
    // alone in its process, so nothing else maps there meanwhile.
    let gib = 1usize << 30;
    let span = std::num::NonZeroUsize::new(3 * gib).ok_or("zero")?;
    let reserve = MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE;
    // SAFETY: A new mapping at an address the kernel picks, unmapped right after.
    let base = unsafe { nix::sys::mman::mmap_anonymous(None, span, ProtFlags::PROT_NONE, reserve) }
        .map_err(|e| format!("reserving 3 GiB: {e}"))?;
    // SAFETY: The reservation just made.
    unsafe { nix::sys::mman::munmap(base, span.get()) }.map_err(|e| format!("munmap: {e}"))?;
    let at = (base.as_ptr() as usize + gib).next_multiple_of(gib);
    let failing = FailEverything::start(StackFilter::require(start, end)?)?;
    // SAFETY: `MAP_FIXED_NOREPLACE` maps only where nothing is mapped.
    let res = unsafe {
        nix::sys::mman::mmap(
            std::num::NonZeroUsize::new(at),
            std::num::NonZeroUsize::new(4 * ps()).ok_or("zero")?,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED | MapFlags::MAP_FIXED_NOREPLACE,
            f.as_fd(),
            0,
        )
    };
    drop(failing);
    match res {
        Ok(_) => return Err("mmap succeeded with every allocation of its remap failing".into()),
        Err(e) => ensure!(e == Errno::ENOMEM, "mmap failed with {e}, expected ENOMEM"),
    }
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let path = d.path.to_string_lossy();
    let Some(left) = maps
        .lines()
        .filter(|l| l.ends_with(path.as_ref()))
        .find_map(vmdev::maps::MapsEntry::parse)
    else {
        // The core could unmap it after all: nothing to check.
        return Ok(Outcome::Skip("the core's do_munmap() did not fail".into()));
    };
    diag!("left behind: {:#x}-{:#x}", left.start, left.end);
    let addr = left.start as usize;
    // `open` on the copy, then a touch in the child: SIGBUS, never the memory.
    child_killed_by(Signal::SIGBUS, || {
        // SAFETY: A read of an address the process maps; a SIGBUS ends the child.
        let _ = unsafe { std::ptr::read_volatile(addr as *const u8) };
    })?;
    // `access`: refused.
    let mem = File::open("/proc/self/mem").map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    ensure!(
        nix::sys::uio::pread(&mem, &mut byte, addr as i64).is_err(),
        "/proc/self/mem read the half set up VMA"
    );
    ensure!(
        d.live_vmas()? == live,
        "live_vmas changed: {}, {live} before",
        d.live_vmas()?
    );
    // `close`: gives nothing back.
    // SAFETY: The range is the left-behind VMA, which nothing in this process uses.
    unsafe {
        nix::sys::mman::munmap(
            std::ptr::NonNull::new(addr as *mut std::ffi::c_void).ok_or("null")?,
            (left.end - left.start) as usize,
        )
    }
    .map_err(|e| format!("munmap: {e}"))?;
    ensure!(!device_mapped(d)?, "the VMA is still there after munmap");
    ensure!(
        d.live_vmas()? == live,
        "live_vmas {}, {live} before",
        d.live_vmas()?
    );
    Ok(Outcome::Pass)
}

test!(fault folio: inject_page_fault, Abuse);
fn inject_page_fault(_cx: &Context, d: &Device) -> TestResult {
    if !fault_injection_ready()? {
        return Ok(Outcome::Skip("no fault injection".into()));
    }
    let f = d.open(true)?;
    let pages = d.size()? / ps();
    let (mut page, mut errors) = (0, 0);
    // Every run maps a page afresh, so the read must fault it in (and often allocate a page
    // table); get_user_pages() reports what the fault returned.
    let injected = each_allocation_failing(
        pages as u32,
        || {
            page = (page + 129) % pages;
            let map = Mapping::shared(f.as_fd(), ps(), (page * ps()) as i64)?;
            Ok::<_, Errno>((map.read_through_gup(8), map, page))
        },
        |injected, res| {
            let (res, map, page) = match res {
                Ok(r) => r,
                Err(e) => {
                    ensure!(injected, "mmap failed with no failure injected: {e}");
                    return Ok(());
                }
            };
            let want = pread(&f, 8, page * ps())?;
            match res {
                Ok(got) => ensure!(
                    got == want,
                    "process_vm_readv read {got:?}, the device holds {want:?}"
                ),
                Err(e) => {
                    ensure!(injected, "the fault failed with no failure injected: {e}");
                    ensure!(
                        e == Errno::EFAULT || e == Errno::ENOMEM,
                        "process_vm_readv: {e}"
                    );
                    errors += 1;
                    ensure!(
                        map.read_bytes(0, 8) == want,
                        "after the failed fault the page reads wrong"
                    );
                }
            }
            Ok(())
        },
    )?;
    diag!(
        "{injected} faults with an allocation failing: {errors} failed as the kernel defines, the rest absorbed"
    );
    Ok(Outcome::Pass)
}
