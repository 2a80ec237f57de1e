//! The address space around the mappings, from the kernel's side: `VMDEV_IOC_MM`'s ABI, and
//! each fact `make run` shows of the `mm_struct`, the VMA tree, threads, `fork()`, the heap,
//! swap and the fault handler's branches, required of whichever driver answers.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;
use vmdev::address_space::{self, Fact, SwapOn};
use vmdev::fault_branches::{FaultTracer, record_all};
use vmdev::mapping::Mapping;
use vmdev::uapi::{self, VmdevMm};

use crate::common::*;
use crate::harness::{Context, Outcome, TestResult, diag, ensure, test};

/// Passes if every fact held, printing each as a diagnostic; fails with the first that did not.
fn all_hold(facts: Vec<Fact>) -> TestResult {
    for f in &facts {
        diag!("{}", f.what);
    }
    match facts.into_iter().find(|f| !f.holds) {
        Some(f) => Err(format!("does not hold: {}", f.what)),
        None => Ok(Outcome::Pass),
    }
}

/// `VMDEV_IOC_MM` with a struct of `size` bytes at `buf`, the raw way.
fn ioctl_sized(fd: impl AsFd, buf: *mut u8, size: usize) -> Result<(), Errno> {
    let cmd = nix::request_code_readwrite!(b'V', 2, size);
    // SAFETY: `buf` is valid for `size` bytes, or deliberately not (the EFAULT case).
    Errno::result(unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), cmd, buf) }).map(drop)
}

test!(mm: ioctl_abi, Device);
fn ioctl_abi(cx: &Context) -> TestResult {
    let f = cx.fault.open(true)?;
    let mut small = [0u8; 16];
    expect_errno(
        "a struct shorter than the first version",
        ioctl_sized(&f, small.as_mut_ptr(), 16),
        Errno::EINVAL,
    )?;
    let bad = uapi::mm(&f, 2, 0);
    expect_errno("request 2", bad, Errno::EINVAL)?;
    expect_errno(
        "a bad pointer",
        ioctl_sized(&f, 16 as *mut u8, uapi::MM_SIZE_VER0),
        Errno::EFAULT,
    )?;

    // A later, longer struct: the driver fills the first version and leaves the rest.
    let mut long = vec![0xa5u8; uapi::MM_SIZE_VER0 + 24];
    long[..8].fill(0);
    ioctl_sized(&f, long.as_mut_ptr(), long.len()).map_err(|e| format!("a longer struct: {e}"))?;
    let size = u32::from_ne_bytes(long[..4].try_into().map_err(|_| "short")?);
    ensure!(
        size as usize == uapi::MM_SIZE_VER0,
        "size {size}, not the first version's"
    );
    ensure!(
        long[uapi::MM_SIZE_VER0..].iter().all(|b| *b == 0xa5),
        "bytes past the first version changed"
    );

    // Nothing at address 0: no VMA, its fields zero.
    let none = uapi::mm(&f, uapi::MM_LOOKUP, 0).map_err(|e| e.to_string())?;
    ensure!(
        none.vma == 0 && none.vm_start == 0 && none.vm_end == 0 && none.vm_flags == 0,
        "a VMA at address 0: {none:?}"
    );
    // The driver's own mapping, and a private copy-on-write one.
    let m = shared(&f, 2 * ps(), 3 * ps())?;
    let mine = uapi::mm(&f, uapi::MM_LOOKUP, m.addr() + ps() as u64).map_err(|e| e.to_string())?;
    let ours = uapi::VMA_FOUND | uapi::VMA_FILE | uapi::VMA_DRIVER_FILE | uapi::VMA_DRIVER_OPS;
    ensure!(
        mine.vma == ours
            && mine.vm_start == m.addr()
            && mine.vm_end == m.addr() + 2 * ps() as u64
            && mine.vm_pgoff == 3
            && mine.vm_flags & 0x8 != 0,
        "the driver's mapping reads {mine:?}"
    );
    let rw = nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE;
    let p = Mapping::new(
        f.as_fd(),
        ps(),
        rw,
        nix::sys::mman::MapFlags::MAP_PRIVATE,
        0,
    )
    .map_err(|e| e.to_string())?;
    p.read(0);
    let read = uapi::mm(&f, uapi::MM_LOOKUP, p.addr()).map_err(|e| e.to_string())?;
    p.write(0, 1);
    let written = uapi::mm(&f, uapi::MM_LOOKUP, p.addr()).map_err(|e| e.to_string())?;
    ensure!(
        read.vma & uapi::VMA_ANON_VMA == 0 && written.vma & uapi::VMA_ANON_VMA != 0,
        "anon_vma: {:#x} after a read, {:#x} after a private write",
        read.vma,
        written.vma
    );
    let anon = Mapping::anonymous(ps()).map_err(|e| e.to_string())?;
    let a = uapi::mm(&f, uapi::MM_LOOKUP, anon.addr()).map_err(|e| e.to_string())?;
    ensure!(
        a.vma == uapi::VMA_FOUND,
        "an untouched anonymous mapping reads {:#x}",
        a.vma
    );
    // No kernel address in any field: all are counts or user addresses.
    let words: Vec<u64> = [written, mine, a]
        .iter()
        .flat_map(|m| {
            // SAFETY: `VmdevMm` is plain integers, any 8 bytes of it one.
            let bytes: [u8; uapi::MM_SIZE_VER0] = unsafe { std::mem::transmute(*m) };
            bytes
                .as_chunks::<8>()
                .0
                .iter()
                .map(|c| u64::from_ne_bytes(*c))
                .collect::<Vec<_>>()
        })
        .collect();
    ensure!(
        words.iter().all(|w| *w < 1 << 56),
        "a field holds a kernel address"
    );
    Ok(Outcome::Pass)
}

test!(mm: fields_match_proc, Device);
fn fields_match_proc(cx: &Context) -> TestResult {
    all_hold(address_space::mm_against_proc(cx.fault.open(true)?)?)
}

test!(mm: users_threads_fork, Device);
fn users_threads_fork(cx: &Context) -> TestResult {
    all_hold(address_space::users_threads_fork(cx.fault.open(true)?)?)
}

test!(mm: vma_walk_matches_maps, Device);
fn vma_walk_matches_maps(cx: &Context) -> TestResult {
    // One mapping of each node in place, for the walk to find as the driver's.
    let files = cx.devices().map(|d| d.open(true));
    let mut maps = Vec::new();
    for f in &files {
        maps.push(shared(f.as_ref().map_err(Clone::clone)?, ps(), 0)?);
    }
    let paths: Vec<&Path> = cx.devices().iter().map(|d| d.path.as_path()).collect();
    let (lines, facts) = address_space::vma_walk(cx.fault.open(true)?, &paths)?;
    for l in lines {
        diag!("{l}");
    }
    all_hold(facts)
}

test!(mm: heap_brk, Device);
fn heap_brk(cx: &Context) -> TestResult {
    all_hold(address_space::heap(cx.fault.open(true)?)?)
}

test!(mm: swap_anon_not_device, Device);
fn swap_anon_not_device(cx: &Context) -> TestResult {
    let on = match SwapOn::zram() {
        Ok(on) => on,
        Err(why) => return Ok(Outcome::Skip(why)),
    };
    let paths: Vec<&Path> = cx.devices().iter().map(|d| d.path.as_path()).collect();
    all_hold(address_space::swap(&on, &paths)?)
}

test!(mm: fault_branches, Device);
fn fault_branches(cx: &Context) -> TestResult {
    let mut tracer = match FaultTracer::new() {
        Ok(t) => t,
        Err(why) => return Ok(Outcome::Skip(why)),
    };
    let swap = SwapOn::zram().ok();
    let seen = record_all(&mut tracer, &cx.fault.path, &cx.huge.path, swap.as_ref())?;
    let facts = seen
        .iter()
        .map(|s| Fact {
            holds: s.holds(),
            what: format!(
                "{}: {} (expected {}): {}",
                s.what,
                s.recorded.join(" "),
                s.expected.join(" "),
                s.note.clone().unwrap_or_else(|e| e)
            ),
        })
        .collect();
    all_hold(facts)
}

/// `VmdevMm` is the size the header says (`tests/uapi.rs` checks every offset).
const _: () = assert!(size_of::<VmdevMm>() == uapi::MM_SIZE_VER0);
