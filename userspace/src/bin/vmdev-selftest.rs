//! vmdev-selftest: checks every promise of the rust_vmdev ABI (`include/uapi/rust_vmdev.h`)
//! against the device nodes it is given, kselftest style (KTAP output, exit status 0 pass,
//! 1 fail, 4 skip, and last the line `N passed, N failed, N skipped`).
//!
//! Without `--module` it tests whatever driver is loaded behind the nodes; with `--module`, it
//! also loads and unloads that module itself and tests its lifetime and parameters.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::time::Duration;

use clap::Parser;
use nix::errno::Errno;
use nix::sys::mman::{
    MRemapFlags, MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, mprotect, mremap, munmap,
};
use nix::sys::signal::Signal;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Uid, fork, getpid, setuid};
use vmdev::device::{Device as Dev, Kind};
use vmdev::mapping::{
    FAULT_AROUND_BYTES, Mapping, minor_faults, page_size, set_fault_around_bytes,
};
use vmdev::maps::{self_maps_entry, self_smaps_entry};
use vmdev::tap::{self, Outcome, Summary, TestResult};
use vmdev::uapi::{self, VmdevInfo};
use vmdev::{kmod, stress};

#[derive(Parser)]
#[command(about = "Kselftest-style suite for the rust_vmdev ABI")]
struct Args {
    /// The remap device node (physically contiguous, remap_pfn_range).
    #[arg(long, default_value = uapi::REMAP_PATH)]
    remap: PathBuf,
    /// The fault device node (vmalloc, mapped on fault).
    #[arg(long, default_value = uapi::FAULT_PATH)]
    fault: PathBuf,
    /// Load this module first, unload it last, and run the tests that reload it with other
    /// parameters. Without it those tests are skipped.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Run only these tests (repeatable); see --list.
    #[arg(long = "test")]
    tests: Vec<String>,
    /// Print the test names and exit.
    #[arg(long)]
    list: bool,
}

/// Fails the test with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn ps() -> usize {
    page_size()
}

fn shared(file: &File, len: usize, offset: usize) -> Result<Mapping, String> {
    Mapping::shared(file.as_fd(), len, offset as i64)
        .map_err(|e| format!("mmap({len}, offset {offset}): {e}"))
}

fn map(
    file: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: usize,
) -> Result<Mapping, String> {
    Mapping::new(file.as_fd(), len, prot, flags, offset as i64)
        .map_err(|e| format!("mmap({len}, {prot:?}, {flags:?}, offset {offset}): {e}"))
}

fn pread(file: &File, len: usize, offset: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0; len];
    let n =
        nix::sys::uio::pread(file, &mut buf, offset as i64).map_err(|e| format!("pread: {e}"))?;
    buf.truncate(n);
    Ok(buf)
}

fn pwrite(file: &File, data: &[u8], offset: usize) -> Result<usize, Errno> {
    nix::sys::uio::pwrite(file, data, offset as i64)
}

/// A recognisable byte pattern for position `i`, varied by `seed`.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn expect_errno<T>(what: &str, res: Result<T, Errno>, want: Errno) -> Result<(), String> {
    match res {
        Ok(_) => Err(format!("{what}: succeeded, expected {want}")),
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what}: {e}, expected {want}")),
    }
}

fn mmap_errno(
    file: &File,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    offset: u64,
) -> Result<Mapping, Errno> {
    Mapping::new(file.as_fd(), len, prot, flags, offset as i64)
}

/// Whether this process maps the device at all (after a failed mmap: nothing must be left).
fn device_mapped(dev: &Dev) -> Result<bool, String> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let path = dev.path.to_string_lossy();
    Ok(maps.lines().any(|l| l.ends_with(path.as_ref())))
}

/// Runs `body` in a child process and returns how it ended.
fn in_child(body: impl FnOnce() -> Result<(), String>) -> Result<WaitStatus, String> {
    // SAFETY: The test process is single-threaded when it forks.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let code = match body() {
                Ok(()) => 0,
                Err(e) => {
                    println!("# child: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => waitpid(child, None).map_err(|e| e.to_string()),
    }
}

/// Runs `body` in a child process and fails unless it succeeds.
fn child_ok(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match in_child(body)? {
        WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(format!("child ended with {other:?}")),
    }
}

/// Runs `body` in a child process and fails unless it is killed by `sig`.
fn child_killed_by(sig: Signal, body: impl FnOnce()) -> Result<(), String> {
    match in_child(|| {
        body();
        Ok(())
    })? {
        WaitStatus::Signaled(_, s, _) if s == sig => Ok(()),
        other => Err(format!("child ended with {other:?}, expected {sig:?}")),
    }
}

fn madvise_errno(m: &Mapping, advice: MmapAdvise) -> Result<(), Errno> {
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or(Errno::EINVAL)?;
    // SAFETY: The range is this live mapping; the advice changes no memory the program uses
    // through references.
    unsafe { madvise(ptr, m.len(), advice) }
}

/// Runs `body` with the kernel's fault-around turned off (for every mapping on the machine),
/// then restores the setting.
fn without_fault_around(body: impl FnOnce() -> TestResult) -> TestResult {
    if !Path::new(FAULT_AROUND_BYTES).exists() {
        return Ok(Outcome::Skip(format!(
            "{FAULT_AROUND_BYTES} not available (mount debugfs)"
        )));
    }
    let old = set_fault_around_bytes(ps())?;
    let result = body();
    std::fs::write(FAULT_AROUND_BYTES, old).map_err(|e| e.to_string())?;
    result
}

// ---------------------------------------------------------------------------------------------
// The tests. Each returns Ok(Pass), Ok(Skip(why)) or Err(what went wrong).

fn info_reports_device(d: &Dev) -> TestResult {
    let info = d.info()?;
    let backing = d.backing();
    let allowed = match d.kind {
        Kind::Remap => uapi::FLAG_BOOT_RESERVED,
        Kind::Fault => uapi::FLAG_FAULT_AROUND,
    };
    ensure!(
        info.backing == backing,
        "backing {} on {}, expected {backing}",
        info.backing,
        d.name()
    );
    ensure!(
        info.flags & !allowed == 0,
        "flags {:#x} has bits a {} device never sets",
        info.flags,
        d.name()
    );
    ensure!(
        info.size > 0 && info.size % ps() as u64 == 0,
        "size {} is not a positive page multiple",
        info.size
    );
    Ok(Outcome::Pass)
}

fn ioctl_unknown_enotty(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    nix::ioctl_read!(bogus, b'V', 99, u64);
    let mut v = 0u64;
    // SAFETY: `v` is a valid u64 for the (refused) ioctl to write.
    expect_errno(
        "ioctl(_IOR('V', 99, u64))",
        unsafe { bogus(f.as_raw_fd(), &mut v) },
        Errno::ENOTTY,
    )?;
    Ok(Outcome::Pass)
}

fn ioctl_bad_pointer_efault(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    for addr in [0usize, 1, usize::MAX - 7] {
        // SAFETY: The kernel must refuse these pointers; the process never dereferences them.
        let res = unsafe { uapi::vmdev_ioc_info(f.as_raw_fd(), addr as *mut VmdevInfo) };
        expect_errno(&format!("VMDEV_IOC_INFO to {addr:#x}"), res, Errno::EFAULT)?;
    }
    Ok(Outcome::Pass)
}

fn mmap_whole(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    let m = shared(&f, size, 0)?;
    let data = pattern(7, size);
    m.write_bytes(0, &data);
    ensure!(
        m.read_bytes(0, size) == data,
        "the whole mapping does not read back what was written"
    );
    ensure!(
        pread(&f, size, 0)? == data,
        "read() does not see what the mapping wrote"
    );
    Ok(Outcome::Pass)
}

fn mmap_subranges(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    let pages = size / ps();
    pwrite(&f, &pattern(11, size), 0).map_err(|e| e.to_string())?;
    let expected = pread(&f, size, 0)?;
    for (first, len) in [
        (0, 1),
        (1, 2),
        (pages / 2, 3.min(pages - pages / 2)),
        (pages - 1, 1),
    ] {
        let m = shared(&f, len * ps(), first * ps())?;
        let got = m.read_bytes(0, len * ps());
        ensure!(
            got[..] == expected[first * ps()..(first + len) * ps()],
            "mapping of pages {first}..{} shows other bytes than the device at that offset",
            first + len
        );
    }
    Ok(Outcome::Pass)
}

/// A refused mmap must leave nothing mapped and no VMA counted.
fn refused_cleanly(
    d: &Dev,
    what: &str,
    res: Result<Mapping, Errno>,
    want: Errno,
    live_before: u64,
) -> TestResult {
    expect_errno(what, res, want)?;
    ensure!(
        !device_mapped(d)?,
        "{what}: failed but a VMA of {} is in /proc/self/maps",
        d.path.display()
    );
    let live = d.live_vmas()?;
    ensure!(
        live == live_before,
        "{what}: live_vmas {live}, was {live_before}"
    );
    Ok(Outcome::Pass)
}

fn mmap_len_zero_einval(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: A zero-length mmap changes no memory (the kernel refuses it).
    let res = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            0,
            rw.bits(),
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    let res = if res == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(())
    };
    expect_errno("mmap(length 0)", res, Errno::EINVAL)?;
    ensure!(d.live_vmas()? == live, "live_vmas moved");
    Ok(Outcome::Pass)
}

fn mmap_offset_at_end_einval(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let (size, live) = (d.size()?, d.live_vmas()?);
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, size as u64);
    refused_cleanly(d, "mmap(1 page at offset = size)", res, Errno::EINVAL, live)
}

fn mmap_past_end_einval(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let (size, live) = (d.size()?, d.live_vmas()?);
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let res = mmap_errno(&f, 2 * ps(), rw, MapFlags::MAP_SHARED, (size - ps()) as u64);
    refused_cleanly(
        d,
        "mmap(2 pages from the last page)",
        res,
        Errno::EINVAL,
        live,
    )?;
    let res = mmap_errno(&f, size + ps(), rw, MapFlags::MAP_SHARED, 0);
    refused_cleanly(d, "mmap(size + 1 page at 0)", res, Errno::EINVAL, live)
}

fn mmap_huge_offset_einval(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // The largest page offset the core passes to the driver: the driver's own range check
    // must refuse it without its arithmetic overflowing.
    let near_max = !(2 * ps() as u64 - 1);
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, near_max);
    refused_cleanly(
        d,
        &format!("mmap(1 page at offset {near_max:#x})"),
        res,
        Errno::EINVAL,
        live,
    )?;
    // One page further, offset + length wraps: the core itself refuses with EOVERFLOW.
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, !(ps() as u64 - 1));
    refused_cleanly(
        d,
        "mmap(1 page at the last page offset)",
        res,
        Errno::EOVERFLOW,
        live,
    )
}

fn mapping_coherent_with_read_write(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let off = ps();
    let m = shared(&f, 2 * ps(), off)?;
    let a = pattern(21, 100);
    m.write_bytes(10, &a);
    ensure!(
        pread(&f, 100, off + 10)? == a,
        "read() does not see bytes written through the mapping"
    );
    let b = pattern(22, 100);
    pwrite(&f, &b, off + ps() + 5).map_err(|e| e.to_string())?;
    ensure!(
        m.read_bytes(ps() + 5, 100) == b,
        "the mapping does not see bytes written by write()"
    );
    Ok(Outcome::Pass)
}

fn two_mappings_alias(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m1 = shared(&f, ps(), 3 * ps())?;
    let m2 = shared(&f, 2 * ps(), 2 * ps())?;
    m1.write(17, 0xa5);
    ensure!(
        m2.read(ps() + 17) == 0xa5,
        "a write through one mapping is not seen through the other"
    );
    m2.write(ps() + 18, 0x5a);
    ensure!(m1.read(18) == 0x5a, "the aliasing does not work both ways");
    Ok(Outcome::Pass)
}

fn shared_across_fork(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    m.write(0, 1);
    child_ok(|| {
        ensure!(m.read(0) == 1, "the child does not see the parent's write");
        m.write(1, 2);
        Ok(())
    })?;
    ensure!(m.read(1) == 2, "the parent does not see the child's write");
    Ok(Outcome::Pass)
}

fn two_processes_share(d: &Dev) -> TestResult {
    // Unlike `shared_across_fork`, the child maps the device itself.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 5 * ps())?;
    m.write(100, 0x42);
    let dev = d.clone();
    child_ok(move || {
        let f = dev.open(true)?;
        let m = shared(&f, ps(), 5 * ps())?;
        ensure!(
            m.read(100) == 0x42,
            "another process's mapping does not see the write"
        );
        m.write(101, 0x43);
        Ok(())
    })?;
    ensure!(
        m.read(101) == 0x43,
        "the write of another process's mapping is not seen"
    );
    Ok(Outcome::Pass)
}

fn fork_counts_child_vma(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let before = d.live_vmas()?;
    let dev = d.clone();
    child_ok(move || {
        let live = dev.live_vmas()?;
        ensure!(
            live == before + 1,
            "the child's copy of the VMA is not counted: live_vmas {live}, parent alone {before}"
        );
        Ok(())
    })?;
    let after = d.live_vmas()?;
    ensure!(
        after == before,
        "live_vmas {after} after the child exited, {before} before it was born"
    );
    drop(m);
    Ok(Outcome::Pass)
}

fn fault_private_is_cow(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    pwrite(&f, &[9, 9, 9, 9], 0).map_err(|e| e.to_string())?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let m = map(&f, ps(), rw, MapFlags::MAP_PRIVATE, 0)?;
    ensure!(
        m.read(0) == 9,
        "a private mapping does not start with the device's bytes"
    );
    m.write(0, 1);
    ensure!(
        pread(&f, 1, 0)? == [9],
        "a write to a private mapping reached the device"
    );
    child_ok(|| {
        ensure!(
            m.read(0) == 1,
            "the child does not inherit the parent's private copy"
        );
        m.write(1, 2);
        Ok(())
    })?;
    ensure!(
        m.read(1) == 9,
        "the child's write to its private copy reached the parent"
    );
    child_ok(|| {
        m.write(2, 3);
        Ok(())
    })?;
    m.write(3, 4);
    ensure!(
        pread(&f, 4, 0)? == [9, 9, 9, 9],
        "private writes reached the device"
    );
    Ok(Outcome::Pass)
}

fn fault_private_child_write_cow(d: &Dev) -> TestResult {
    // Copy-on-write the other way: a page first written by the child after fork.
    let f = d.open(true)?;
    pwrite(&f, &[5], 2 * ps()).map_err(|e| e.to_string())?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let m = map(&f, ps(), rw, MapFlags::MAP_PRIVATE, 2 * ps())?;
    ensure!(
        m.read(0) == 5,
        "the private mapping does not show the device's byte"
    );
    child_ok(|| {
        m.write(0, 6);
        ensure!(m.read(0) == 6, "the child does not see its own write");
        Ok(())
    })?;
    ensure!(
        m.read(0) == 5,
        "the child's write reached the parent's private mapping"
    );
    m.write(0, 7);
    ensure!(
        pread(&f, 1, 2 * ps())? == [5],
        "a private write reached the device"
    );
    Ok(Outcome::Pass)
}

fn madv_dontfork_child_has_no_mapping(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    let before = d.live_vmas()?;
    let addr = m.addr();
    let dev = d.clone();
    child_ok(move || {
        let live = dev.live_vmas()?;
        ensure!(
            live == before,
            "a VM_DONTCOPY VMA was copied: live_vmas {live}, parent alone {before}"
        );
        ensure!(
            self_maps_entry(addr).is_err(),
            "the child has a VMA at {addr:#x}"
        );
        Ok(())
    })?;
    // SAFETY: The child reads an address its address space does not have; it dies.
    child_killed_by(Signal::SIGSEGV, || unsafe {
        (addr as *const u8).read_volatile();
    })?;
    drop(m);
    Ok(Outcome::Pass)
}

fn smaps_dontfork_shows_dc(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    ensure!(
        !self_smaps_entry(m.addr())?.has_flag("dc"),
        "dc before MADV_DONTFORK"
    );
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    ensure!(
        self_smaps_entry(m.addr())?.has_flag("dc"),
        "no dc in VmFlags after MADV_DONTFORK"
    );
    Ok(Outcome::Pass)
}

fn madv_wipeonfork_einval(d: &Dev) -> TestResult {
    // MADV_WIPEONFORK is for private anonymous memory only.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    expect_errno(
        "MADV_WIPEONFORK",
        madvise_errno(&m, MmapAdvise::MADV_WIPEONFORK),
        Errno::EINVAL,
    )?;
    Ok(Outcome::Pass)
}

fn madv_dofork_einval(d: &Dev) -> TestResult {
    // Both VMAs are VM_DONTEXPAND, so VM_SPECIAL: once MADV_DONTFORK has made them skip
    // fork, MADV_DOFORK cannot undo it.
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    madvise_errno(&m, MmapAdvise::MADV_DONTFORK).map_err(|e| format!("MADV_DONTFORK: {e}"))?;
    expect_errno(
        "MADV_DOFORK on a VM_SPECIAL mapping",
        madvise_errno(&m, MmapAdvise::MADV_DOFORK),
        Errno::EINVAL,
    )?;
    ensure!(
        self_smaps_entry(m.addr())?.has_flag("dc"),
        "the refused MADV_DOFORK cleared dc"
    );
    Ok(Outcome::Pass)
}

fn maps_line_is_exact(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let st = std::fs::metadata(&d.path).map_err(|e| e.to_string())?;
    let off = 2 * ps();
    let m = shared(&f, 3 * ps(), off)?;
    let e = self_maps_entry(m.addr())?;
    ensure!(
        e.start == m.addr() && e.end == m.addr() + 3 * ps() as u64,
        "range {:#x}-{:#x}, mapped {:#x}+{:#x}",
        e.start,
        e.end,
        m.addr(),
        3 * ps()
    );
    ensure!(e.perms == "rw-s", "perms {}, expected rw-s", e.perms);
    ensure!(
        e.offset == off as u64,
        "offset {:#x}, expected the mmap offset {off:#x}",
        e.offset
    );
    let (major, minor) = (libc::major(st.dev()), libc::minor(st.dev()));
    ensure!(
        (e.major, e.minor) == (major, minor),
        "dev {:x}:{:x}, the node's st_dev is {major:x}:{minor:x}",
        e.major,
        e.minor
    );
    ensure!(
        e.inode == st.ino(),
        "inode {}, the node's st_ino is {}",
        e.inode,
        st.ino()
    );
    ensure!(
        Path::new(&e.path) == d.path,
        "path {:?}, expected {}",
        e.path,
        d.path.display()
    );
    let parent_line = e.clone();
    child_ok(move || {
        let e = self_maps_entry(parent_line.start)?;
        ensure!(
            e == parent_line,
            "the child's line {e:?} differs from the parent's {parent_line:?}"
        );
        Ok(())
    })?;
    Ok(Outcome::Pass)
}

fn maps_perms_follow_prot(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let r = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    let e = self_maps_entry(r.addr())?;
    ensure!(
        e.perms == "r--s",
        "shared read-only mapping shows {}, expected r--s",
        e.perms
    );
    let ro = d.open(false)?;
    let r2 = map(&ro, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, ps())?;
    let e = self_maps_entry(r2.addr())?;
    ensure!(
        e.perms == "r--s",
        "shared mapping of an O_RDONLY fd shows {}, expected r--s",
        e.perms
    );
    ensure!(
        e.offset == ps() as u64,
        "offset {:#x}, expected {:#x}",
        e.offset,
        ps()
    );
    Ok(Outcome::Pass)
}

fn fault_maps_private_perms(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let rw = map(
        &f,
        ps(),
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        MapFlags::MAP_PRIVATE,
        3 * ps(),
    )?;
    let e = self_maps_entry(rw.addr())?;
    ensure!(
        e.perms == "rw-p" && e.offset == 3 * ps() as u64,
        "private rw mapping shows {} offset {:#x}",
        e.perms,
        e.offset
    );
    let r = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, 0)?;
    let e = self_maps_entry(r.addr())?;
    ensure!(
        e.perms == "r--p",
        "private read-only mapping shows {}",
        e.perms
    );
    Ok(Outcome::Pass)
}

fn remap_private_readonly_keeps_offset(d: &Dev) -> TestResult {
    // A copy-on-write remap_pfn_range mapping would show the physical page number here.
    let f = d.open(true)?;
    let off = 3 * ps();
    let m = map(
        &f,
        2 * ps(),
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE,
        off,
    )?;
    let e = self_maps_entry(m.addr())?;
    ensure!(e.perms == "r--p", "perms {}, expected r--p", e.perms);
    ensure!(
        e.offset == off as u64,
        "offset {:#x}, expected the mmap offset {off:#x}",
        e.offset
    );
    pwrite(&f, &[0x3c], off).map_err(|e| e.to_string())?;
    ensure!(
        m.read(0) == 0x3c,
        "a read-only private mapping does not show the device's bytes"
    );
    Ok(Outcome::Pass)
}

fn smaps_vmflags(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let s = self_smaps_entry(m.addr())?;
    let (must, must_not): (&[&str], &[&str]) = match d.kind {
        Kind::Remap => (&["io", "pf", "de", "dd"], &["mm"]),
        Kind::Fault => (&["de", "dd"], &["io", "pf"]),
    };
    for flag in must {
        ensure!(s.has_flag(flag), "VmFlags {:?} lacks {flag}", s.vm_flags);
    }
    for flag in must_not {
        ensure!(!s.has_flag(flag), "VmFlags {:?} has {flag}", s.vm_flags);
    }
    Ok(Outcome::Pass)
}

fn fault_mmap_maps_nothing(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let before = d.info()?;
    let m = shared(&f, 8 * ps(), 0)?;
    let after = d.info()?;
    ensure!(
        after.faults == before.faults && after.around_pages == before.around_pages,
        "mmap alone moved the counters: {before:?} -> {after:?}"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some(0),
        "Rss {rss:?} kB before any touch, expected 0"
    );
    Ok(Outcome::Pass)
}

fn fault_write_touch_counts_pages_mapped(d: &Dev) -> TestResult {
    // The core never faults writes to a shared mapping around, but the driver may map
    // neighbours itself: whatever it maps, `faults` counts it, and Rss shows it.
    let f = d.open(true)?;
    let k = 12;
    let m = shared(&f, 16 * ps(), 16 * ps())?;
    let before = d.info()?;
    for i in 0..k {
        m.write(i * ps(), 1);
    }
    let mid = d.info()?;
    let rss = self_smaps_entry(m.addr())?
        .fields
        .get("Rss")
        .copied()
        .unwrap_or(0);
    let mapped = rss * 1024 / ps() as u64;
    ensure!(
        mid.faults - before.faults == mapped && mapped >= k as u64,
        "{k} first writes: faults moved by {}, Rss shows {mapped} pages",
        mid.faults - before.faults
    );
    for i in 0..k {
        m.write(i * ps() + 1, 2);
    }
    let after = d.info()?;
    ensure!(
        after.faults == mid.faults,
        "second touches moved faults by {}",
        after.faults - mid.faults
    );
    Ok(Outcome::Pass)
}

fn fault_read_touch_without_around(d: &Dev) -> TestResult {
    without_fault_around(|| {
        let f = d.open(true)?;
        let k = 20;
        let m = shared(&f, 32 * ps(), 32 * ps())?;
        let before = d.info()?;
        for i in 0..k {
            m.read(i * ps());
        }
        let after = d.info()?;
        ensure!(
            after.faults - before.faults == k as u64,
            "{k} first reads moved faults by {}",
            after.faults - before.faults
        );
        ensure!(
            after.around_pages == before.around_pages,
            "fault-around ran while turned off"
        );
        Ok(Outcome::Pass)
    })
}

fn fault_around_cuts_read_faults(d: &Dev) -> TestResult {
    if d.info()?.flags & uapi::FLAG_FAULT_AROUND == 0 {
        return Ok(Outcome::Skip("the device has fault-around off".into()));
    }
    let f = d.open(true)?;
    let pages = 512; // one page table's worth
    let m = shared(&f, pages * ps(), 0)?;
    let before = d.info()?;
    let flt = minor_faults()?;
    for i in 0..pages {
        m.read(i * ps());
    }
    let faults = minor_faults()? - flt;
    let after = d.info()?;
    let (by_fault, by_around) = (
        after.faults - before.faults,
        after.around_pages - before.around_pages,
    );
    ensure!(
        by_fault + by_around == pages as u64,
        "{by_fault} pages by fault + {by_around} by fault-around, expected {pages} in all"
    );
    ensure!(by_around > 0, "fault-around mapped nothing");
    ensure!(
        faults * 8 <= pages as i64,
        "{faults} page faults to read {pages} pages: fault-around should need at most 1/8 of that"
    );
    Ok(Outcome::Pass)
}

fn fault_populate_counts(
    d: &Dev,
    populate: impl Fn(&File, usize) -> Result<Mapping, String>,
) -> TestResult {
    let f = d.open(true)?;
    let pages = 24;
    let before = d.info()?;
    let m = populate(&f, pages)?;
    let after = d.info()?;
    let mapped = after.faults - before.faults + after.around_pages - before.around_pages;
    ensure!(
        mapped == pages as u64,
        "populating {pages} pages mapped {mapped} ({before:?} -> {after:?})"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some((pages * ps() / 1024) as u64),
        "Rss {rss:?} kB after populating {pages} pages"
    );
    let again = d.info()?;
    m.read(0);
    m.read((pages - 1) * ps());
    ensure!(d.info()? == again, "touching populated pages still faulted");
    Ok(Outcome::Pass)
}

fn fault_map_populate(d: &Dev) -> TestResult {
    fault_populate_counts(d, |f, pages| {
        map(
            f,
            pages * ps(),
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
            64 * ps(),
        )
    })
}

fn fault_madv_populate_read(d: &Dev) -> TestResult {
    fault_populate_counts(d, |f, pages| {
        let m = shared(f, pages * ps(), 128 * ps())?;
        madvise_errno(&m, MmapAdvise::MADV_POPULATE_READ)
            .map_err(|e| format!("MADV_POPULATE_READ: {e}"))?;
        Ok(m)
    })
}

fn remap_populate(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let m = map(
        &f,
        4 * ps(),
        rw,
        MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
        0,
    )?;
    pwrite(&f, &[0x61], 3 * ps()).map_err(|e| e.to_string())?;
    ensure!(
        m.read(3 * ps()) == 0x61,
        "MAP_POPULATE changed what the mapping shows"
    );
    for advice in [
        MmapAdvise::MADV_POPULATE_READ,
        MmapAdvise::MADV_POPULATE_WRITE,
    ] {
        expect_errno(
            &format!("{advice:?} on a VM_PFNMAP mapping"),
            madvise_errno(&m, advice),
            Errno::EINVAL,
        )?;
    }
    Ok(Outcome::Pass)
}

fn munmap_middle_splits(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 3 * ps(), 0)?;
    m.write_bytes(0, &[1]);
    m.write_bytes(2 * ps(), &[3]);
    ensure!(
        d.live_vmas()? == base + 1,
        "one mapping, live_vmas {} from {base}",
        d.live_vmas()?
    );
    let (ptr, _) = m.into_raw();
    // SAFETY: `ptr + 1 page` is the middle page of the mapping this function owns.
    unsafe { munmap(ptr.byte_add(ps()), ps()) }.map_err(|e| format!("munmap(middle): {e}"))?;
    // SAFETY: The first and last pages are still mapped; these objects own them from now on.
    let (head, tail) = unsafe {
        (
            Mapping::from_raw(ptr, ps()),
            Mapping::from_raw(ptr.byte_add(2 * ps()), ps()),
        )
    };
    ensure!(
        d.live_vmas()? == base + 2,
        "after the split live_vmas is {}, expected {}",
        d.live_vmas()?,
        base + 2
    );
    ensure!(
        head.read(0) == 1 && tail.read(0) == 3,
        "the two halves lost their contents"
    );
    let e = self_maps_entry(tail.addr())?;
    ensure!(
        e.offset == 2 * ps() as u64,
        "the tail VMA has offset {:#x}, expected {:#x}",
        e.offset,
        2 * ps()
    );
    drop(head);
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after unmapping the head",
        d.live_vmas()?
    );
    drop(tail);
    ensure!(
        d.live_vmas()? == base,
        "live_vmas {} after unmapping all, was {base}",
        d.live_vmas()?
    );
    Ok(Outcome::Pass)
}

fn mremap_shrink(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 4 * ps(), 0)?;
    m.write(0, 0x11);
    let (ptr, _) = m.into_raw();
    // SAFETY: Shrinking in place a mapping this function owns.
    let new = unsafe { mremap(ptr, 4 * ps(), ps(), MRemapFlags::empty(), None) }
        .map_err(|e| format!("mremap shrink: {e}"))?;
    // SAFETY: `new` is the shrunk mapping, owned from now on.
    let m = unsafe { Mapping::from_raw(new, ps()) };
    ensure!(
        new == ptr && m.read(0) == 0x11,
        "the shrunk mapping moved or lost its contents"
    );
    ensure!(
        self_maps_entry(m.addr())?.end == m.addr() + ps() as u64,
        "maps still shows the old length"
    );
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after shrinking, expected {}",
        d.live_vmas()?,
        base + 1
    );
    drop(m);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    Ok(Outcome::Pass)
}

fn mremap_grow_fails(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or("null mapping")?;
    for flags in [MRemapFlags::empty(), MRemapFlags::MREMAP_MAYMOVE] {
        // SAFETY: The kernel must refuse to grow a VM_DONTEXPAND mapping; nothing changes.
        let res = unsafe { mremap(ptr, ps(), 2 * ps(), flags, None) };
        ensure!(
            res.is_err(),
            "mremap({flags:?}) grew a VM_DONTEXPAND mapping"
        );
    }
    ensure!(
        self_maps_entry(m.addr())?.end == m.addr() + ps() as u64,
        "the failed growth changed the VMA"
    );
    Ok(Outcome::Pass)
}

fn mremap_move_keeps_contents(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let base = d.live_vmas()?;
    let m = shared(&f, 2 * ps(), 4 * ps())?;
    let data = pattern(33, 2 * ps());
    m.write_bytes(0, &data);
    let target = NonZeroLen::reserve(2 * ps())?;
    let (ptr, len) = m.into_raw();
    let flags = MRemapFlags::MREMAP_MAYMOVE | MRemapFlags::MREMAP_FIXED;
    // SAFETY: Moving a mapping this function owns onto a reservation it also owns.
    let new = unsafe { mremap(ptr, len, len, flags, Some(target.ptr)) }
        .map_err(|e| format!("mremap move: {e}"))?;
    target.forget();
    // SAFETY: `new` is the moved mapping, owned from now on.
    let moved = unsafe { Mapping::from_raw(new, len) };
    ensure!(
        moved.addr() != ptr.as_ptr() as u64,
        "the mapping did not move"
    );
    ensure!(
        moved.read_bytes(0, len) == data,
        "the moved mapping lost its contents"
    );
    let e = self_maps_entry(moved.addr())?;
    ensure!(
        e.offset == 4 * ps() as u64,
        "the moved VMA has offset {:#x}",
        e.offset
    );
    ensure!(
        self_maps_entry(ptr.as_ptr() as u64).is_err(),
        "the old range is still mapped"
    );
    ensure!(
        d.live_vmas()? == base + 1,
        "live_vmas {} after the move, expected {}",
        d.live_vmas()?,
        base + 1
    );
    drop(moved);
    ensure!(d.live_vmas()? == base, "live_vmas not back to {base}");
    Ok(Outcome::Pass)
}

/// An anonymous `PROT_NONE` reservation, a target for `MREMAP_FIXED`.
struct NonZeroLen {
    ptr: NonNull<c_void>,
    len: usize,
}

impl NonZeroLen {
    fn reserve(len: usize) -> Result<Self, String> {
        let nz = std::num::NonZeroUsize::new(len).ok_or("empty reservation")?;
        // SAFETY: An anonymous mapping at an address the kernel picks touches nothing else.
        let ptr = unsafe { mmap_anonymous(None, nz, ProtFlags::PROT_NONE, MapFlags::MAP_PRIVATE) }
            .map_err(|e| e.to_string())?;
        Ok(Self { ptr, len })
    }

    /// The range was replaced (by `MREMAP_FIXED`): nothing to unmap.
    fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for NonZeroLen {
    fn drop(&mut self) {
        // SAFETY: The reservation is owned by this object.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

fn close_fd_keeps_mapping(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    drop(f);
    m.write(5, 0x99);
    ensure!(
        m.read(5) == 0x99,
        "the mapping stopped working after close(fd)"
    );
    let f = d.open(true)?;
    ensure!(
        pread(&f, 1, 5)? == [0x99],
        "the write after close(fd) did not reach the device"
    );
    Ok(Outcome::Pass)
}

fn exit_releases_vmas(d: &Dev) -> TestResult {
    let base = d.live_vmas()?;
    let dev = d.clone();
    child_ok(move || {
        let f = dev.open(true)?;
        // Mappings the child never unmaps: exit must close them.
        for i in 0..3 {
            shared(&f, ps(), i * ps())?.into_raw();
        }
        let live = dev.live_vmas()?;
        ensure!(
            live == base + 3,
            "three mappings, live_vmas {live} from {base}"
        );
        Ok(())
    })?;
    let live = d.live_vmas()?;
    ensure!(
        live == base,
        "live_vmas {live} after the child exited, was {base}"
    );
    Ok(Outcome::Pass)
}

fn rdonly_fd_shared_write_eacces(d: &Dev) -> TestResult {
    let f = d.open(false)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    refused_cleanly(
        d,
        "MAP_SHARED PROT_WRITE of an O_RDONLY fd",
        mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, 0),
        Errno::EACCES,
        live,
    )
}

/// `mprotect(PROT_WRITE)` of `m`, which can never become writable, must fail with EACCES.
fn mprotect_write_refused(m: &Mapping, what: &str) -> TestResult {
    let ptr = NonNull::new(m.addr() as *mut c_void).ok_or("null mapping")?;
    // SAFETY: The kernel must refuse; the mapping is unchanged.
    let res = unsafe { mprotect(ptr, m.len(), ProtFlags::PROT_READ | ProtFlags::PROT_WRITE) };
    expect_errno(
        &format!("mprotect(PROT_WRITE) of {what}"),
        res,
        Errno::EACCES,
    )?;
    Ok(Outcome::Pass)
}

fn mprotect_write_on_readonly_eacces(d: &Dev) -> TestResult {
    let f = d.open(false)?;
    let m = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_SHARED, 0)?;
    mprotect_write_refused(&m, "a shared mapping of an O_RDONLY fd")
}

fn remap_private_writable_einval(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    refused_cleanly(
        d,
        "MAP_PRIVATE PROT_WRITE on the remap device",
        mmap_errno(&f, ps(), rw, MapFlags::MAP_PRIVATE, 0),
        Errno::EINVAL,
        live,
    )
}

fn remap_private_readonly_stays_readonly(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = map(&f, ps(), ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, 0)?;
    mprotect_write_refused(&m, "a private remap mapping")
}

fn nonroot_cannot_open(d: &Dev) -> TestResult {
    let mode = std::fs::metadata(&d.path)
        .map_err(|e| e.to_string())?
        .mode()
        & 0o777;
    ensure!(mode == 0o600, "mode {mode:o}, expected 0600");
    let path = d.path.clone();
    child_ok(move || {
        setuid(Uid::from_raw(65534)).map_err(|e| format!("setuid(nobody): {e}"))?;
        match File::open(&path) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
            other => Err(format!("open as nobody: {other:?}, expected EACCES")),
        }
    })?;
    Ok(Outcome::Pass)
}

fn process_vm_readv_result(m: &Mapping, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: m.addr() as usize,
        len,
    }];
    let n = process_vm_readv(getpid(), &mut [std::io::IoSliceMut::new(&mut buf)], &remote)?;
    buf.truncate(n);
    Ok(buf)
}

fn fault_gup_process_vm_readv(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let data = pattern(44, 2 * ps());
    pwrite(&f, &data, 6 * ps()).map_err(|e| e.to_string())?;
    let m = shared(&f, 2 * ps(), 6 * ps())?;
    // Not touched first: get_user_pages() faults the pages in itself.
    let got =
        process_vm_readv_result(&m, 2 * ps()).map_err(|e| format!("process_vm_readv: {e}"))?;
    ensure!(
        got == data,
        "process_vm_readv read other bytes than the device holds"
    );
    Ok(Outcome::Pass)
}

fn remap_gup_process_vm_readv_efault(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let m = shared(&f, ps(), 0)?;
    m.read(0);
    expect_errno(
        "process_vm_readv of a VM_PFNMAP mapping",
        process_vm_readv_result(&m, ps()),
        Errno::EFAULT,
    )?;
    Ok(Outcome::Pass)
}

fn fault_concurrent_first_touch(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let pages = 64;
    let off = 256 * ps();
    let data = pattern(55, pages * ps());
    pwrite(&f, &data, off).map_err(|e| e.to_string())?;
    let m = shared(&f, pages * ps(), off)?;
    let before = d.info()?;
    let threads = 4;
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let m = &m;
                let data = &data;
                s.spawn(move || {
                    (0..pages).all(|i| {
                        let p = (i + t * 7) % pages; // different orders, same pages
                        m.read(p * ps() + t) == data[p * ps() + t]
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    ensure!(
        results.iter().all(|&ok| ok),
        "a thread read wrong bytes: {results:?}"
    );
    let after = d.info()?;
    let mapped = after.faults - before.faults + after.around_pages - before.around_pages;
    // A page two threads fault at once may be handed over twice (the core keeps one): never
    // fewer mappings than pages, never more than one per thread and page.
    ensure!(
        mapped >= pages as u64 && mapped <= (pages * threads) as u64,
        "{mapped} pages mapped for {pages} pages and {threads} threads"
    );
    let rss = self_smaps_entry(m.addr())?.fields.get("Rss").copied();
    ensure!(
        rss == Some((pages * ps() / 1024) as u64),
        "Rss {rss:?} kB, expected every page mapped once"
    );
    Ok(Outcome::Pass)
}

fn read_write_boundaries(d: &Dev) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    ensure!(
        pread(&f, 10, size)?.is_empty(),
        "read at the end returned data"
    );
    ensure!(
        pread(&f, 10, size + 5 * ps())?.is_empty(),
        "read past the end returned data"
    );
    expect_errno("write at the end", pwrite(&f, &[1], size), Errno::ENOSPC)?;
    let n =
        pwrite(&f, &[1, 2, 3, 4], size - 2).map_err(|e| format!("write across the end: {e}"))?;
    ensure!(n == 2, "a write across the end wrote {n} bytes, expected 2");
    ensure!(pread(&f, 10, size - 2)? == [1, 2], "read of the last bytes");
    Ok(Outcome::Pass)
}

fn read_advances_position(d: &Dev) -> TestResult {
    use std::io::Read;
    let mut f = d.open(true)?;
    pwrite(&f, &pattern(66, 200), 0).map_err(|e| e.to_string())?;
    let (mut a, mut b) = ([0u8; 100], [0u8; 100]);
    f.read_exact(&mut a).map_err(|e| e.to_string())?;
    f.read_exact(&mut b).map_err(|e| e.to_string())?;
    ensure!(
        [a, b].concat() == pattern(66, 200),
        "two reads did not return consecutive bytes"
    );
    Ok(Outcome::Pass)
}

fn lseek_espipe(d: &Dev) -> TestResult {
    // 7.3's misc-device API offers no llseek hook: lseek is refused; pread/pwrite position.
    let f = d.open(true)?;
    let res = nix::unistd::lseek(f.as_fd(), 0, nix::unistd::Whence::SeekSet);
    expect_errno("lseek(0, SEEK_SET)", res, Errno::ESPIPE)?;
    Ok(Outcome::Pass)
}

/// A short run of the random workload with a fixed seed (`vmdev-stress` runs long ones).
fn stress_fixed_seed(remap: &Dev, fault: &Dev, seed: u64) -> TestResult {
    let cfg = stress::Config {
        remap: remap.path.clone(),
        fault: fault.path.clone(),
        seed,
        seconds: 25,
        max_ops: u64::MAX,
        procs: 2,
        threads: 2,
    };
    let report = stress::run(&cfg)?;
    let kinds: Vec<String> = report.ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "# stress seed {seed}: {} operations ({})",
        report.total(),
        kinds.join(", ")
    );
    ensure!(report.total() > 0, "no operation ran");
    Ok(Outcome::Pass)
}

// ---------------------------------------------------------------------------------------------
// Tests that load the module themselves (--module).

struct Module {
    path: PathBuf,
    /// As `lsmod` knows it.
    name: String,
}

impl Module {
    fn new(path: PathBuf) -> Self {
        Self {
            name: kmod::module_name(&path),
            path,
        }
    }

    fn is_loaded(&self) -> bool {
        kmod::is_loaded(&self.name)
    }

    fn unload(&self) -> nix::Result<()> {
        kmod::unload(&self.name)
    }

    /// Replaces the loaded module with one loaded with `params`.
    fn reload(&self, params: &str) -> Result<(), String> {
        if self.is_loaded() {
            self.unload().map_err(|e| format!("rmmod: {e}"))?;
        }
        kmod::load(&self.path, params)
    }
}

fn module_load(m: &Module) -> TestResult {
    if kmod::kmemleak_available() {
        // Only leaks from here on concern this module.
        kmod::kmemleak_clear().map_err(|e| e.to_string())?;
    }
    m.reload("")?;
    ensure!(m.is_loaded(), "not in /proc/modules after loading");
    Ok(Outcome::Pass)
}

fn nodes_present(remap: &Dev, fault: &Dev) -> TestResult {
    for d in [remap, fault] {
        let st = std::fs::metadata(&d.path).map_err(|e| format!("{}: {e}", d.path.display()))?;
        ensure!(
            st.file_type_is_char(),
            "{} is not a character device",
            d.path.display()
        );
    }
    Ok(Outcome::Pass)
}

trait FileTypeExt {
    fn file_type_is_char(&self) -> bool;
}

impl FileTypeExt for std::fs::Metadata {
    fn file_type_is_char(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.file_type().is_char_device()
    }
}

fn rmmod_refused_while_in_use(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    for d in [remap, fault] {
        let f = d.open(true)?;
        expect_errno(
            &format!("rmmod with {} open", d.path.display()),
            m.unload(),
            Errno::EWOULDBLOCK,
        )?;
        let mapping = shared(&f, ps(), 0)?;
        drop(f);
        expect_errno(
            &format!("rmmod with {} mapped, fd closed", d.path.display()),
            m.unload(),
            Errno::EWOULDBLOCK,
        )?;
        mapping.write(0, 1);
        ensure!(m.is_loaded(), "the module went away while in use");
    }
    Ok(Outcome::Pass)
}

fn reload_gives_zeroed_buffers(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    for d in [remap, fault] {
        let size = d.size()?;
        pwrite(&d.open(true)?, &vec![0xff; size], 0).map_err(|e| e.to_string())?;
    }
    m.reload("")?;
    for d in [remap, fault] {
        let size = d.size()?;
        let f = d.open(true)?;
        ensure!(
            pread(&f, size, 0)?.iter().all(|&b| b == 0),
            "{} is not zeroed after reload",
            d.path.display()
        );
        let map = shared(&f, size, 0)?;
        ensure!(
            (0..size).step_by(ps()).all(|i| map.read(i) == 0),
            "{} mapping is not zeroed after reload",
            d.path.display()
        );
    }
    Ok(Outcome::Pass)
}

fn param_sizes(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    m.reload(&format!("remap_size={} fault_size={}", 8 * ps(), 20 * ps()))?;
    let (r, f) = (remap.info()?, fault.info()?);
    m.reload("")?;
    ensure!(
        r.size == 8 * ps() as u64 && f.size == 20 * ps() as u64,
        "sizes {} and {}, loaded with {} and {}",
        r.size,
        f.size,
        8 * ps(),
        20 * ps()
    );
    Ok(Outcome::Pass)
}

fn param_fault_around_off(m: &Module, fault: &Dev) -> TestResult {
    m.reload("fault_around=0")?;
    let result = (|| {
        let info = fault.info()?;
        ensure!(
            info.flags & uapi::FLAG_FAULT_AROUND == 0,
            "flags {:#x} still say fault-around",
            info.flags
        );
        let f = fault.open(true)?;
        let k = 40;
        let map = shared(&f, 64 * ps(), 0)?;
        ensure!(
            !self_smaps_entry(map.addr())?.has_flag("mm"),
            "VM_MIXEDMAP set without fault-around"
        );
        for i in 0..k {
            map.read(i * ps());
        }
        let after = fault.info()?;
        ensure!(
            after.faults - info.faults == k as u64,
            "{k} first reads moved faults by {}",
            after.faults - info.faults
        );
        ensure!(
            after.around_pages == 0,
            "around_pages {} with fault_around=0",
            after.around_pages
        );
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

/// The range `memmap=4M$0x40000000` reserves on the test VM's kernel command line.
const BOOT_RESERVED: (u64, u64) = (0x4000_0000, 0x40_0000);

fn param_boot_reserved(m: &Module, remap: &Dev) -> TestResult {
    let cmdline = std::fs::read_to_string("/proc/cmdline").map_err(|e| e.to_string())?;
    if !cmdline.contains("memmap=4M$0x40000000") {
        return Ok(Outcome::Skip(
            "no memmap=4M$0x40000000 on the kernel command line".into(),
        ));
    }
    let (base, size) = BOOT_RESERVED;
    m.reload(&format!("phys_base={base:#x} phys_size={size:#x}"))?;
    let result = (|| {
        let info = remap.info()?;
        ensure!(
            info.size == size && info.flags & uapi::FLAG_BOOT_RESERVED != 0,
            "info {info:?} for the boot-reserved range"
        );
        let f = remap.open(true)?;
        ensure!(
            pread(&f, 4096, 0)?.iter().all(|&b| b == 0),
            "the reserved range is not zeroed at load"
        );
        let data = pattern(77, 3 * ps());
        let map = shared(&f, 3 * ps(), ps())?;
        map.write_bytes(0, &data);
        ensure!(
            pread(&f, 3 * ps(), ps())? == data,
            "read() does not see the mapping's writes"
        );
        let e = self_maps_entry(map.addr())?;
        ensure!(
            e.offset == ps() as u64,
            "maps offset {:#x}: expected the mmap offset, never a physical address",
            e.offset
        );
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

fn param_boot_reserved_refuses_others(m: &Module) -> TestResult {
    let (base, size) = BOOT_RESERVED;
    let cases = [
        (
            "phys_base=0x1000000 phys_size=0x100000".to_string(),
            "System RAM",
        ),
        (
            "phys_base=0x100000000 phys_size=0x100000".to_string(),
            "neither RAM nor reserved",
        ),
        (
            format!("phys_base={:#x} phys_size=0x2000", base + size - 0x1000),
            "past the reservation",
        ),
        (format!("phys_base={base:#x} phys_size=0"), "empty"),
        (
            format!("phys_base={:#x} phys_size=0x1000", base + 0x800),
            "unaligned",
        ),
        (
            "phys_base=0xfffffffffffff000 phys_size=0x2000".to_string(),
            "wrapping",
        ),
    ];
    for (params, what) in cases {
        let res = m.reload(&params);
        ensure!(
            res.is_err() && !m.is_loaded(),
            "{params} ({what}) loaded: {res:?}"
        );
    }
    m.reload("")?;
    Ok(Outcome::Pass)
}

/// The kernel log from some point on, read from `/dev/kmsg`.
struct Kmsg(File);

impl Kmsg {
    /// Starts reading at the current end of the log.
    fn from_now() -> Result<Self, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .map_err(|e| e.to_string())?;
        nix::unistd::lseek(f.as_fd(), 0, nix::unistd::Whence::SeekEnd)
            .map_err(|e| e.to_string())?;
        Ok(Self(f))
    }

    /// The messages logged since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        use std::io::Read;
        let mut lines = Vec::new();
        let mut buf = [0u8; 8192];
        // One record per read; EAGAIN when there is no more.
        while let Ok(n) = self.0.read(&mut buf) {
            let record = String::from_utf8_lossy(&buf[..n]);
            if let Some((_, msg)) = record.split_once(';') {
                lines.push(msg.lines().next().unwrap_or("").to_string());
            }
        }
        lines
    }
}

fn nodes_exist(remap: &Dev, fault: &Dev) -> bool {
    remap.path.exists() || fault.path.exists()
}

fn bad_params_refused(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    let cases = [
        "remap_size=0".to_string(),
        format!("remap_size={}", ps() + 1),
        format!("remap_size={}", 8 << 20),
        format!("remap_size={}", usize::MAX - ps() + 1),
        "remap_size=-1".to_string(),
        "fault_size=0".to_string(),
        "fault_size=12345".to_string(),
        format!("fault_size={}", 1u64 << 40),
        format!("fault_size={}", 1u64 << 63),
        "fault_around=maybe".to_string(),
    ];
    if m.is_loaded() {
        m.unload().map_err(|e| format!("rmmod: {e}"))?;
    }
    let mut kmsg = Kmsg::from_now()?;
    for params in &cases {
        let res = kmod::load(&m.path, params);
        ensure!(res.is_err() && !m.is_loaded(), "{params}: loaded ({res:?})");
        ensure!(
            !nodes_exist(remap, fault),
            "{params}: refused, but a device node is left"
        );
        let ours: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| l.contains(&m.name))
            .collect();
        ensure!(
            ours.len() == 1
                && (ours[0].contains("refused") || ours[0].contains("invalid for parameter")),
            "{params}: expected one line saying why, got {ours:?}"
        );
    }
    m.reload("")?;
    Ok(Outcome::Pass)
}

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

fn fault_inject_load(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    if !fault_injection_ready()? {
        return Ok(Outcome::Skip(
            "no fault injection (CONFIG_FAULT_INJECTION_DEBUG_FS, FAILSLAB, FAIL_PAGE_ALLOC)"
                .into(),
        ));
    }
    if m.is_loaded() {
        m.unload().map_err(|e| format!("rmmod: {e}"))?;
    }
    // Small buffers: the same allocation paths with far fewer page allocations to step through.
    let params = format!("remap_size={} fault_size={}", 2 * ps(), 4 * ps());
    let mut absorbed = 0;
    let injected = each_allocation_failing(
        20_000,
        || kmod::load(&m.path, &params),
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
                        !nodes_exist(remap, fault),
                        "load failed ({e}) but a device node is left"
                    );
                    Ok(())
                }
                Err(e) => Err(format!("load failed with no failure injected: {e}")),
            }
        },
    )?;
    println!(
        "# {injected} loads with an allocation failing: {} refused cleanly, {absorbed} absorbed",
        injected - absorbed
    );
    ensure!(
        injected > absorbed,
        "no injected failure made the load fail"
    );
    m.reload("")?;
    Ok(Outcome::Pass)
}

fn fault_inject_mmap(d: &Dev) -> TestResult {
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
    println!("# {injected} mmaps with an allocation failing: {refused} refused, the rest absorbed");
    Ok(Outcome::Pass)
}

fn fault_inject_fault(d: &Dev) -> TestResult {
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
            Ok::<_, Errno>((process_vm_readv_result(&map, 8), map, page))
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
    println!(
        "# {injected} faults with an allocation failing: {errors} failed as the kernel defines, the rest absorbed"
    );
    Ok(Outcome::Pass)
}

fn rmmod_waits_for_last_unmap(m: &Module, remap: &Dev, fault: &Dev) -> TestResult {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).map_err(|e| e.to_string())?;
    let (r, f) = (remap.clone(), fault.clone());
    // The holder maps both devices (fds closed), says 'r'eady, drops one mapping, and says
    // 'l'ast just before it drops the last one.
    // SAFETY: The test process is single-threaded when it forks.
    let child = match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let hold = || -> Result<(), String> {
                let maps = (
                    shared(&r.open(true)?, ps(), 0)?,
                    shared(&f.open(true)?, ps(), 0)?,
                );
                nix::unistd::write(&write_end, b"r").map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(1500));
                drop(maps.0);
                std::thread::sleep(Duration::from_millis(1500));
                nix::unistd::write(&write_end, b"l").map_err(|e| e.to_string())?;
                drop(maps.1);
                Ok(())
            };
            std::process::exit(i32::from(hold().is_err()));
        }
        ForkResult::Parent { child } => child,
    };
    drop(write_end);
    let mut said = Vec::new();
    let hear = |said: &mut Vec<u8>| {
        let mut buf = [0u8; 4];
        while let Ok(n @ 1..) = nix::unistd::read(&read_end, &mut buf) {
            said.extend_from_slice(&buf[..n]);
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !said.contains(&b'r') {
        ensure!(
            std::time::Instant::now() < deadline,
            "the holder never mapped the devices"
        );
        std::thread::sleep(Duration::from_millis(10));
        hear(&mut said);
    }
    let mut refused = 0;
    loop {
        match m.unload() {
            Err(Errno::EWOULDBLOCK) => refused += 1,
            Ok(()) => {
                // The last mapping was gone, so the holder had said 'l' before dropping it.
                hear(&mut said);
                ensure!(
                    said.contains(&b'l'),
                    "rmmod succeeded while the holder still had a mapping"
                );
                break;
            }
            Err(e) => return Err(format!("rmmod: {e}")),
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "rmmod still refused 30 s on ({said:?} from the holder)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = waitpid(child, None).map_err(|e| e.to_string())?;
    ensure!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "the holder ended with {status:?}"
    );
    println!("# rmmod refused {refused} times while mappings were alive, then succeeded");
    ensure!(
        refused >= 10,
        "only {refused} attempts while the holder held mappings"
    );
    m.reload("")?;
    Ok(Outcome::Pass)
}

fn module_unload(m: &Module) -> TestResult {
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    ensure!(!m.is_loaded(), "still in /proc/modules after unloading");
    Ok(Outcome::Pass)
}

fn kmemleak_clean() -> TestResult {
    if !kmod::kmemleak_available() {
        return Ok(Outcome::Skip("no /sys/kernel/debug/kmemleak".into()));
    }
    // An object is reported once it is older than 5 s and unreferenced in a scan.
    std::thread::sleep(Duration::from_secs(6));
    let report = kmod::kmemleak_scan().map_err(|e| e.to_string())?;
    ensure!(report.trim().is_empty(), "kmemleak:\n{report}");
    Ok(Outcome::Pass)
}

// ---------------------------------------------------------------------------------------------

type Body = Box<dyn Fn() -> TestResult>;

/// A named test of one device.
type DevTest = (&'static str, fn(&Dev) -> TestResult);

struct Test {
    name: String,
    body: Body,
}

fn tests(args: &Args) -> Vec<Test> {
    let remap = Dev {
        kind: Kind::Remap,
        path: args.remap.clone(),
    };
    let fault = Dev {
        kind: Kind::Fault,
        path: args.fault.clone(),
    };
    let mut list: Vec<Test> = Vec::new();
    let mut add = |name: String, body: Body| list.push(Test { name, body });

    let module = args
        .module
        .clone()
        .map(|path| std::rc::Rc::new(Module::new(path)));
    let with_module = |f: Box<dyn Fn(&Module) -> TestResult>| -> Body {
        let module = module.clone();
        Box::new(move || match &module {
            Some(m) => f(m),
            None => Ok(Outcome::Skip("needs --module".into())),
        })
    };

    add("module_load".into(), with_module(Box::new(module_load)));
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "nodes_present".into(),
        Box::new(move || nodes_present(&r, &f)),
    );

    let per_device: &[DevTest] = &[
        ("info", info_reports_device),
        ("ioctl_unknown_enotty", ioctl_unknown_enotty),
        ("ioctl_bad_pointer_efault", ioctl_bad_pointer_efault),
        ("mmap_whole", mmap_whole),
        ("mmap_subranges", mmap_subranges),
        ("mmap_len_zero_einval", mmap_len_zero_einval),
        ("mmap_offset_at_end_einval", mmap_offset_at_end_einval),
        ("mmap_past_end_einval", mmap_past_end_einval),
        ("mmap_huge_offset_einval", mmap_huge_offset_einval),
        (
            "mapping_coherent_with_read_write",
            mapping_coherent_with_read_write,
        ),
        ("two_mappings_alias", two_mappings_alias),
        ("shared_across_fork", shared_across_fork),
        ("two_processes_share", two_processes_share),
        ("fork_counts_child_vma", fork_counts_child_vma),
        (
            "madv_dontfork_child_has_no_mapping",
            madv_dontfork_child_has_no_mapping,
        ),
        ("smaps_dontfork_shows_dc", smaps_dontfork_shows_dc),
        ("madv_wipeonfork_einval", madv_wipeonfork_einval),
        ("madv_dofork_einval", madv_dofork_einval),
        ("maps_line_is_exact", maps_line_is_exact),
        ("maps_perms_follow_prot", maps_perms_follow_prot),
        ("smaps_vmflags", smaps_vmflags),
        ("munmap_middle_splits", munmap_middle_splits),
        ("mremap_shrink", mremap_shrink),
        ("mremap_grow_fails", mremap_grow_fails),
        ("mremap_move_keeps_contents", mremap_move_keeps_contents),
        ("close_fd_keeps_mapping", close_fd_keeps_mapping),
        ("exit_releases_vmas", exit_releases_vmas),
        (
            "rdonly_fd_shared_write_eacces",
            rdonly_fd_shared_write_eacces,
        ),
        (
            "mprotect_write_on_readonly_eacces",
            mprotect_write_on_readonly_eacces,
        ),
        ("nonroot_cannot_open", nonroot_cannot_open),
        ("read_write_boundaries", read_write_boundaries),
        ("read_advances_position", read_advances_position),
        ("lseek_espipe", lseek_espipe),
    ];
    for d in [&remap, &fault] {
        for &(name, body) in per_device {
            let d = d.clone();
            add(format!("{}_{name}", d.name()), Box::new(move || body(&d)));
        }
    }

    let remap_only: &[DevTest] = &[
        (
            "remap_private_readonly_keeps_offset",
            remap_private_readonly_keeps_offset,
        ),
        (
            "remap_private_writable_einval",
            remap_private_writable_einval,
        ),
        (
            "remap_private_readonly_stays_readonly",
            remap_private_readonly_stays_readonly,
        ),
        ("remap_populate", remap_populate),
        (
            "remap_gup_process_vm_readv_efault",
            remap_gup_process_vm_readv_efault,
        ),
    ];
    let fault_only: &[DevTest] = &[
        ("fault_private_is_cow", fault_private_is_cow),
        (
            "fault_private_child_write_cow",
            fault_private_child_write_cow,
        ),
        ("fault_maps_private_perms", fault_maps_private_perms),
        ("fault_mmap_maps_nothing", fault_mmap_maps_nothing),
        (
            "fault_write_touch_counts_pages_mapped",
            fault_write_touch_counts_pages_mapped,
        ),
        (
            "fault_read_touch_without_around",
            fault_read_touch_without_around,
        ),
        (
            "fault_around_cuts_read_faults",
            fault_around_cuts_read_faults,
        ),
        ("fault_map_populate", fault_map_populate),
        ("fault_madv_populate_read", fault_madv_populate_read),
        ("fault_gup_process_vm_readv", fault_gup_process_vm_readv),
        ("fault_concurrent_first_touch", fault_concurrent_first_touch),
    ];
    for (d, table) in [(&remap, remap_only), (&fault, fault_only)] {
        for &(name, body) in table {
            let d = d.clone();
            add(name.into(), Box::new(move || body(&d)));
        }
    }

    for d in [&remap, &fault] {
        let d = d.clone();
        add(
            format!("{}_fault_inject_mmap", d.name()),
            Box::new(move || fault_inject_mmap(&d)),
        );
    }
    let f = fault.clone();
    add(
        "fault_fault_inject_fault".into(),
        Box::new(move || fault_inject_fault(&f)),
    );
    for seed in [1, 2] {
        let (r, f) = (remap.clone(), fault.clone());
        add(
            format!("stress_seed_{seed}"),
            Box::new(move || stress_fixed_seed(&r, &f, seed)),
        );
    }
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "rmmod_refused_while_in_use".into(),
        with_module(Box::new(move |m| rmmod_refused_while_in_use(m, &r, &f))),
    );
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "reload_gives_zeroed_buffers".into(),
        with_module(Box::new(move |m| reload_gives_zeroed_buffers(m, &r, &f))),
    );
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "param_sizes".into(),
        with_module(Box::new(move |m| param_sizes(m, &r, &f))),
    );
    let f = fault.clone();
    add(
        "param_fault_around_off".into(),
        with_module(Box::new(move |m| param_fault_around_off(m, &f))),
    );
    let r = remap.clone();
    add(
        "param_boot_reserved".into(),
        with_module(Box::new(move |m| param_boot_reserved(m, &r))),
    );
    add(
        "param_boot_reserved_refuses_others".into(),
        with_module(Box::new(param_boot_reserved_refuses_others)),
    );
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "bad_params_refused".into(),
        with_module(Box::new(move |m| bad_params_refused(m, &r, &f))),
    );
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "fault_inject_load".into(),
        with_module(Box::new(move |m| fault_inject_load(m, &r, &f))),
    );
    let (r, f) = (remap.clone(), fault.clone());
    add(
        "rmmod_waits_for_last_unmap".into(),
        with_module(Box::new(move |m| rmmod_waits_for_last_unmap(m, &r, &f))),
    );
    add("module_unload".into(), with_module(Box::new(module_unload)));
    add(
        "kmemleak_clean".into(),
        with_module(Box::new(|_| kmemleak_clean())),
    );
    list
}

fn main() {
    let args = Args::parse();
    let all = tests(&args);
    if args.list {
        for t in &all {
            println!("{}", t.name);
        }
        return;
    }
    let unknown: Vec<&String> = args
        .tests
        .iter()
        .filter(|n| !all.iter().any(|t| &t.name == *n))
        .collect();
    if !unknown.is_empty() {
        eprintln!("vmdev-selftest: no such test: {unknown:?} (see --list)");
        std::process::exit(2);
    }
    let chosen: Vec<&Test> = all
        .iter()
        .filter(|t| args.tests.is_empty() || args.tests.contains(&t.name))
        .collect();
    let mut summary = Summary::default();
    tap::header(chosen.len());
    for (i, t) in chosen.iter().enumerate() {
        tap::run(
            i + 1,
            &t.name,
            Duration::from_secs(120),
            &mut summary,
            &t.body,
        );
    }
    println!("{}", summary.line());
    std::process::exit(summary.exit_code());
}
