//! The ways another part of the kernel reaches a mapping's pages through get_user_pages() (GUP):
//! `process_vm_readv`/`process_vm_writev`, `vmsplice` into a pipe, `/proc/self/mem`, and
//! `O_DIRECT` I/O to a block device (the test VM's zram device). The tests of the nodes whose
//! pages are ordinary (`folio_gup`) and of the `VM_PFNMAP` ones, which GUP refuses
//! (`remap_path`), use them.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use nix::errno::Errno;
use nix::sys::uio::{RemoteIoVec, process_vm_readv, process_vm_writev};
use nix::unistd::getpid;
use vmdev::mapping::Mapping;

use crate::harness::Outcome;

/// Reads `len` bytes of `m` from byte `at` on through the kernel (`process_vm_readv` of this
/// process: GUP of the pages, which faults them in).
pub fn process_vm_read(m: &Mapping, at: usize, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: m.addr() as usize + at,
        len,
    }];
    let n = process_vm_readv(getpid(), &mut [std::io::IoSliceMut::new(&mut buf)], &remote)?;
    buf.truncate(n);
    Ok(buf)
}

/// Writes `data` into `m` at byte `at` through the kernel (`process_vm_writev`); the bytes
/// written.
pub fn process_vm_write(m: &Mapping, at: usize, data: &[u8]) -> Result<usize, Errno> {
    let remote = [RemoteIoVec {
        base: m.addr() as usize + at,
        len: data.len(),
    }];
    process_vm_writev(getpid(), &[std::io::IoSlice::new(data)], &remote)
}

/// A pipe that `vmsplice` filled with references to pages of a mapping (not copies of them):
/// reading it copies from the pages as they are when it is read.
pub struct SplicedPipe {
    read: OwnedFd,
    _write: OwnedFd,
    /// The bytes spliced.
    pub len: usize,
}

impl SplicedPipe {
    /// `vmsplice` of `len` bytes of `m` from byte `at` (at most the pipe's 16 pages) into a new
    /// pipe, without `SPLICE_F_GIFT`: the pipe takes a reference to each page (GUP).
    pub fn splice(m: &Mapping, at: usize, len: usize) -> Result<Self, Errno> {
        let (read, write) = nix::unistd::pipe()?;
        let iov = libc::iovec {
            iov_base: (m.addr() as usize + at) as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: One iovec over memory this process maps; the kernel only reads it.
        let n = unsafe { libc::vmsplice(write.as_raw_fd(), &iov, 1, 0) };
        if n < 0 {
            return Err(Errno::last());
        }
        Ok(Self {
            read,
            _write: write,
            len: n as usize,
        })
    }

    /// Reads every byte spliced.
    pub fn read_all(&self) -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; self.len];
        let mut got = 0;
        while got < self.len {
            let n = nix::unistd::read(self.read.as_fd(), &mut buf[got..])
                .map_err(|e| format!("read of the pipe: {e}"))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        buf.truncate(got);
        Ok(buf)
    }
}

/// `/proc/self/mem`, opened for reading and writing: each access goes through
/// `access_remote_vm()`, GUP with `FOLL_FORCE`.
pub fn self_mem() -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")
        .map_err(|e| format!("/proc/self/mem: {e}"))
}

/// The zram device's name in the test VM, where its init prepares it as swap.
const ZRAM: &str = "zram0";

/// Where on the zram device the `O_DIRECT` tests write (what was there is put back): past the
/// swap header in its first page, which `swapon` reads.
const ZRAM_AT: u64 = 1 << 20;

/// A scratch range of a block device for `O_DIRECT` I/O, whose block layer pins the user pages
/// of each request with GUP (`bio_iov_iter_get_pages()`): the test VM's zram device, while it is
/// not in use as swap. Its old contents come back on drop.
pub struct DirectIo {
    dev: File,
    saved: Mapping,
}

impl DirectIo {
    /// `len` bytes (a multiple of the page size) of the zram device, opened `O_DIRECT`; or why
    /// the test is skipped (no zram device, or one in use as swap).
    pub fn zram(len: usize) -> Result<Result<Self, Outcome>, String> {
        let node = format!("/dev/{ZRAM}");
        if !std::path::Path::new(&node).exists() {
            return Ok(Err(Outcome::Skip(format!(
                "no {node}, the block device O_DIRECT I/O goes to (CONFIG_ZRAM)"
            ))));
        }
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        if swaps.lines().any(|l| l.starts_with(&node)) {
            return Ok(Err(Outcome::Skip(format!("{node} is in use as swap"))));
        }
        let size = std::fs::read_to_string(format!("/sys/block/{ZRAM}/disksize"))
            .map_err(|e| format!("{ZRAM} disksize: {e}"))?;
        let size: u64 = size.trim().parse().map_err(|e| format!("{size:?}: {e}"))?;
        if size < ZRAM_AT + len as u64 {
            return Ok(Err(Outcome::Skip(format!(
                "{node} has {size} bytes, fewer than the {} the test uses",
                ZRAM_AT + len as u64
            ))));
        }
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&node)
            .map_err(|e| format!("{node} (O_DIRECT): {e}"))?;
        // Page-aligned, as O_DIRECT needs: anonymous memory.
        let saved = Mapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
        let io = Self { dev, saved };
        io.read_into(io.saved.addr(), len, 0)
            .map_err(|e| format!("O_DIRECT read of {node}: {e}"))?;
        Ok(Ok(io))
    }

    /// `pwrite` with `O_DIRECT` of `len` bytes at `addr` (this process's memory) to byte `at` of
    /// the scratch range; the bytes written.
    pub fn write_from(&self, addr: u64, len: usize, at: u64) -> Result<usize, Errno> {
        // SAFETY: The kernel reads `len` bytes at `addr`, memory this process maps (or it fails
        // with EFAULT); nothing in Rust holds a reference to it.
        let n = unsafe {
            libc::pwrite(
                self.dev.as_raw_fd(),
                addr as *const libc::c_void,
                len,
                (ZRAM_AT + at) as i64,
            )
        };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    }

    /// `pread` with `O_DIRECT` of `len` bytes from byte `at` of the scratch range into `addr`.
    pub fn read_into(&self, addr: u64, len: usize, at: u64) -> Result<usize, Errno> {
        // SAFETY: The kernel writes `len` bytes at `addr`, memory this process maps, which Rust
        // code accesses only by volatile copies.
        let n = unsafe {
            libc::pread(
                self.dev.as_raw_fd(),
                addr as *mut libc::c_void,
                len,
                (ZRAM_AT + at) as i64,
            )
        };
        if n < 0 {
            Err(Errno::last())
        } else {
            Ok(n as usize)
        }
    }
}

impl Drop for DirectIo {
    fn drop(&mut self) {
        let (addr, len) = (self.saved.addr(), self.saved.len());
        if let Err(e) = self.write_from(addr, len, 0) {
            crate::harness::diag!("putting back {ZRAM}'s bytes: {e}");
        }
    }
}

/// Reads `len` bytes at address `addr` of this process through `/proc/self/mem`.
pub fn mem_read(mem: &File, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let n = mem
        .read_at(&mut buf, addr)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    buf.truncate(n);
    Ok(buf)
}

/// Writes `data` at address `addr` of this process through `/proc/self/mem`; the bytes written.
pub fn mem_write(mem: &File, addr: u64, data: &[u8]) -> Result<usize, Errno> {
    mem.write_at(data, addr)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}
