//! Debuggers: another process reads and writes a node's mapping with `ptrace(PTRACE_PEEKDATA)`,
//! `PTRACE_POKEDATA` and `/proc/<pid>/mem`, as gdb does. `get_user_pages()` refuses the remap
//! and huge nodes' `VM_PFNMAP` VMAs, so the core asks their `vm_ops->access`, which copies
//! through the buffer's kernel mapping; the fault node's pages are ordinary and take the core's
//! own path. Each is checked against `read()`/`write()` on the node, and against `/dev/mem` over
//! the same boot-reserved range, whose `access` is the kernel's `generic_access_phys()`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::ptrace;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pause};
use vmdev::boot::{self, Reservation};
use vmdev::kmod::Module;
use vmdev::mapping::Mapping;

use crate::common::*;
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// A child process that inherited the caller's mappings and waits, for another process (the
/// test) to look into; killed on drop.
struct Debuggee {
    pid: Pid,
}

impl Debuggee {
    fn fork() -> Result<Self, String> {
        // SAFETY: The test process is single-threaded when it forks; the child only pauses.
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => loop {
                pause();
            },
            ForkResult::Parent { child } => Ok(Self { pid: child }),
        }
    }

    /// `/proc/<pid>/mem`, opened for reading and writing.
    fn mem(&self) -> Result<File, String> {
        let path = format!("/proc/{}/mem", self.pid);
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))
    }

    /// Attaches with `ptrace`, runs `body` while the child is stopped, detaches.
    fn traced<T>(&self, body: impl FnOnce(Pid) -> T) -> Result<T, String> {
        ptrace::attach(self.pid).map_err(|e| format!("PTRACE_ATTACH: {e}"))?;
        match waitpid(self.pid, None) {
            Ok(WaitStatus::Stopped(_, Signal::SIGSTOP)) => {}
            other => {
                return Err(format!(
                    "the traced child: {other:?}, expected a SIGSTOP stop"
                ));
            }
        }
        let out = body(self.pid);
        ptrace::detach(self.pid, None).map_err(|e| format!("PTRACE_DETACH: {e}"))?;
        Ok(out)
    }
}

impl Drop for Debuggee {
    fn drop(&mut self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// What a debugger saw of one mapping: `PTRACE_PEEKDATA` of a word, `/proc/<pid>/mem` reads
/// across a page boundary, and whether `PTRACE_POKEDATA` and a `/proc/<pid>/mem` write were
/// refused (their errno) or landed.
#[derive(Debug, PartialEq)]
struct Seen {
    peek: Result<u64, Errno>,
    read: Result<Vec<u8>, Errno>,
    poke: Result<(), Errno>,
    write: Result<(), Errno>,
}

/// Where the debugger looks in a mapping of at least two pages: a word in the first, and a
/// range across the boundary of the first two.
const PEEK_AT: usize = 96;
const ACROSS: usize = 150;

/// Reads and writes `m` (at least two pages) from `child`, which inherited it, as a debugger
/// does: a word with `PTRACE_PEEKDATA` and another with `PTRACE_POKEDATA` (the value `word`), and
/// `2 * ACROSS` bytes across its first page boundary from `/proc/<pid>/mem`, then writes
/// `bytes` there.
fn debug(child: &Debuggee, m: &Mapping, word: u64, bytes: &[u8]) -> Result<Seen, String> {
    let base = m.addr() as usize;
    let (peek_at, poke_at) = (base + PEEK_AT, base + ps() + 2 * PEEK_AT);
    let (peek, poke) = child.traced(|pid| {
        let peek = ptrace::read(pid, peek_at as ptrace::AddressType).map(|w| w as u64);
        let poke = ptrace::write(pid, poke_at as ptrace::AddressType, word as i64);
        (peek, poke)
    })?;
    let mem = child.mem()?;
    let across = (base + ps() - ACROSS) as u64;
    let mut buf = vec![0u8; 2 * ACROSS];
    let read = mem
        .read_at(&mut buf, across)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        .and_then(|n| {
            if n == buf.len() {
                Ok(buf)
            } else {
                Err(Errno::EIO)
            }
        });
    let write = match mem.write_at(bytes, across) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(_) => Err(Errno::EIO),
        Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(0))),
    };
    Ok(Seen {
        peek,
        read,
        poke,
        write,
    })
}

/// What `read()` at file offset `off` (the mapping's start) says the debugger should have seen,
/// before any write: the word at `PEEK_AT`, and the bytes across the first page boundary.
fn device_view(f: &File, off: usize) -> Result<(u64, Vec<u8>), String> {
    let word = pread(f, 8, off + PEEK_AT)?;
    let word = u64::from_ne_bytes(word.try_into().map_err(|_| "short read")?);
    Ok((word, pread(f, 2 * ACROSS, off + ps() - ACROSS)?))
}

test!(remap huge fault folio: debugger_reads_and_writes);
/// `PTRACE_PEEKDATA`, `PTRACE_POKEDATA` and `/proc/<pid>/mem` from another process see and
/// change the node's bytes, as `read()` and `write()` do, on a page touched and on one not
/// touched yet, and across a page boundary.
fn debugger_reads_and_writes(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let off = 3 * ps();
    pwrite(&f, &pattern(41, 4 * ps()), off).map_err(|e| e.to_string())?;
    let m = shared(&f, 3 * ps(), off)?;
    // The first page touched: mapped in the child too. The rest is not mapped yet.
    ensure!(
        m.read(0) == pattern(41, 1)[0],
        "the mapping does not show the device"
    );
    let child = Debuggee::fork()?;
    let (word, across) = device_view(&f, off)?;
    let (poke, bytes) = (0x1122_3344_5566_7788u64, pattern(42, 2 * ACROSS));
    let seen = debug(&child, &m, poke, &bytes)?;
    ensure!(
        seen == Seen {
            peek: Ok(word),
            read: Ok(across),
            poke: Ok(()),
            write: Ok(()),
        },
        "a debugger saw {seen:x?}"
    );
    ensure!(
        pread(&f, 8, off + ps() + 2 * PEEK_AT)? == poke.to_ne_bytes(),
        "read() does not show the word PTRACE_POKEDATA wrote"
    );
    ensure!(
        pread(&f, 2 * ACROSS, off + ps() - ACROSS)? == bytes,
        "read() does not show the bytes written to /proc/<pid>/mem"
    );
    ensure!(
        m.read_bytes(ps() - ACROSS, 2 * ACROSS) == bytes,
        "the debugger's writes are not seen through the mapping"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: debugger_cannot_write_read_only);
/// A read-only mapping can be read by a debugger but not written: `PTRACE_POKEDATA` and a
/// `/proc/<pid>/mem` write fail with `EIO`, and the device keeps its bytes.
fn debugger_cannot_write_read_only(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let off = ps();
    pwrite(&f, &pattern(43, 3 * ps()), off).map_err(|e| e.to_string())?;
    let m = map(
        &f,
        2 * ps(),
        ProtFlags::PROT_READ,
        MapFlags::MAP_SHARED,
        off,
    )?;
    let child = Debuggee::fork()?;
    let (word, across) = device_view(&f, off)?;
    let before = pread(&f, 3 * ps(), off)?;
    let seen = debug(&child, &m, 0x5a5a, &pattern(44, 2 * ACROSS))?;
    ensure!(
        seen == Seen {
            peek: Ok(word),
            read: Ok(across),
            poke: Err(Errno::EIO),
            write: Err(Errno::EIO),
        },
        "a debugger saw {seen:x?}"
    );
    ensure!(
        pread(&f, 3 * ps(), off)? == before,
        "a refused write changed the device"
    );
    Ok(Outcome::Pass)
}

test!(module: debugger_same_as_dev_mem, Reload);
/// With the module on the `remap` boot reservation, a debugger sees the remap and huge nodes'
/// mappings as it sees `/dev/mem`'s over the same range: the same bytes, the same writes
/// landing, and the same refusals on read-only mappings. Restores the default load.
fn debugger_same_as_dev_mem(cx: &Context, m: &Module) -> TestResult {
    let Reservation { base, size } = match reservation(boot::REMAP)? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
    };
    let dev_mem = match OpenOptions::new().read(true).write(true).open("/dev/mem") {
        Ok(f) => f,
        Err(e) => return Ok(Outcome::Skip(format!("/dev/mem: {e}"))),
    };
    m.reload(&format!("phys_base={base:#x} phys_size={size:#x}"))?;
    let result = (|| {
        let off = usize::try_from(base).map_err(|e| e.to_string())?;
        // CONFIG_IO_STRICT_DEVMEM (Debian's kernels) refuses /dev/mem over a range a driver
        // has claimed, as the module claims its boot range.
        let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        match Mapping::new(&dev_mem, ps(), rw, MapFlags::MAP_SHARED, base as i64) {
            Err(Errno::EPERM) => {
                return Ok(Outcome::Skip(
                    "/dev/mem refuses the range the module claimed (CONFIG_IO_STRICT_DEVMEM)"
                        .into(),
                ));
            }
            res => drop(res.map_err(|e| format!("mmap of /dev/mem at {base:#x}: {e}"))?),
        }
        for d in [&cx.remap, &cx.huge] {
            let f = d.open(true)?;
            for (i, prot) in [
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                ProtFlags::PROT_READ,
            ]
            .into_iter()
            .enumerate()
            {
                let seed = 50 + 2 * i as u8;
                let bytes = pattern(seed + 1, 2 * ACROSS);
                // The same memory through each, from the same contents.
                let mut seen = Vec::new();
                for (file, at) in [(&f, 0), (&dev_mem, off)] {
                    pwrite(&f, &pattern(seed, 3 * ps()), 0).map_err(|e| e.to_string())?;
                    let view = map(file, 2 * ps(), prot, MapFlags::MAP_SHARED, at)?;
                    let child = Debuggee::fork()?;
                    seen.push((debug(&child, &view, 0x77, &bytes)?, pread(&f, 3 * ps(), 0)?));
                }
                let [(by_node, after_node), (by_mem, after_mem)] =
                    <[_; 2]>::try_from(seen).map_err(|_| "two views")?;
                ensure!(
                    by_node == by_mem && after_node == after_mem,
                    "{} ({prot:?}): a debugger saw {by_node:x?}, through /dev/mem {by_mem:x?}{}",
                    d.name(),
                    if after_node == after_mem {
                        ""
                    } else {
                        "; the memory after each differs"
                    }
                );
                diag!(
                    "{} ({prot:?}): the node and /dev/mem alike: PEEKDATA {:?}, POKEDATA {:?}, \
                     /proc/<pid>/mem write {:?}",
                    d.name(),
                    by_node.peek.map(|_| "read"),
                    by_node.poke,
                    by_node.write
                );
            }
        }
        Ok(Outcome::Pass)
    })();
    m.reload("")?;
    result
}
