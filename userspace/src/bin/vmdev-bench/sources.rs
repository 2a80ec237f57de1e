//! Where a measurement gets its memory: the driver's nodes (and the C twin's), and the peers,
//! each through its own UAPI: udmabuf, the dma-buf system heap, /dev/mem over the range reserved
//! at boot, and the kernel's own anonymous and tmpfs memory.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags};
use vmdev::device::Device;
use vmdev::mapping::Mapping;
use vmdev::uapi::VmdevInfo;

/// `struct udmabuf_create` of include/uapi/linux/udmabuf.h.
#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}
const _: () = assert!(size_of::<UdmabufCreate>() == 24);
/// `UDMABUF_FLAGS_CLOEXEC`.
const UDMABUF_FLAGS_CLOEXEC: u32 = 0x01;
// `UDMABUF_CREATE`: `_IOW('u', 0x42, struct udmabuf_create)`; returns the dma-buf's fd.
nix::ioctl_write_ptr!(udmabuf_create, b'u', 0x42, UdmabufCreate);

/// `struct dma_heap_allocation_data` of include/uapi/linux/dma-heap.h.
#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}
const _: () = assert!(size_of::<DmaHeapAllocationData>() == 24);
// `DMA_HEAP_IOCTL_ALLOC`: `_IOWR('H', 0x0, struct dma_heap_allocation_data)`.
nix::ioctl_readwrite!(dma_heap_ioctl_alloc, b'H', 0x0, DmaHeapAllocationData);

const UDMABUF: &str = "/dev/udmabuf";
const SYSTEM_HEAP: &str = "/dev/dma_heap/system";
const DEVMEM: &str = "/dev/mem";

/// One source of mappable memory.
pub enum Source {
    /// A node of the driver or of its C twin: `rust-fault`, `c-huge`, ...
    Node { label: String, dev: Device },
    /// A dma-buf made by udmabuf from a sealed memfd; every mapping maps this one buffer.
    Udmabuf { buf: OwnedFd, _memfd: OwnedFd },
    /// A dma-buf from the system heap; every mapping maps this one buffer.
    Heap { buf: OwnedFd },
    /// `/dev/mem` at this physical address (the range reserved at boot).
    DevMem { phys: u64 },
    /// A fresh private anonymous mapping each time.
    Anon,
    /// A fresh tmpfs file (memfd) each time, mapped shared.
    Tmpfs,
}

fn errno(what: &str) -> impl Fn(nix::errno::Errno) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Source {
    /// The label in the `bench|` lines.
    pub fn label(&self) -> &str {
        match self {
            Source::Node { label, .. } => label,
            Source::Udmabuf { .. } => "udmabuf",
            Source::Heap { .. } => "heap",
            Source::DevMem { .. } => "devmem",
            Source::Anon => "anon",
            Source::Tmpfs => "tmpfs",
        }
    }

    /// The same node under another label (the bench's rows of another module load).
    pub fn relabel(self, label: String) -> Self {
        match self {
            Source::Node { dev, .. } => Source::Node { label, dev },
            other => other,
        }
    }

    /// udmabuf over a new `len`-byte memfd: sealed against shrinking (UDMABUF_CREATE wants
    /// F_SEAL_SHRINK and refuses write seals), which pins the memfd's pages for the buffer's life.
    pub fn udmabuf(len: usize) -> Result<Self, String> {
        let memfd = memfd_create("vmdev-bench-udmabuf", MFdFlags::MFD_ALLOW_SEALING)
            .map_err(errno("memfd_create(MFD_ALLOW_SEALING)"))?;
        nix::unistd::ftruncate(&memfd, len as i64).map_err(errno("ftruncate(memfd)"))?;
        fcntl(&memfd, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK))
            .map_err(errno("fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)"))?;
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open(UDMABUF)
            .map_err(|e| format!("open {UDMABUF}: {e} (CONFIG_UDMABUF)"))?;
        let create = UdmabufCreate {
            memfd: memfd.as_raw_fd() as u32,
            flags: UDMABUF_FLAGS_CLOEXEC,
            offset: 0,
            size: len as u64,
        };
        // SAFETY: `create` is a valid `struct udmabuf_create` for the duration of the call.
        let fd = unsafe { udmabuf_create(dev.as_raw_fd(), &create) }
            .map_err(errno("ioctl(UDMABUF_CREATE)"))?;
        // SAFETY: UDMABUF_CREATE returned a new file descriptor, owned from now on.
        let buf = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Source::Udmabuf { buf, _memfd: memfd })
    }

    /// A `len`-byte dma-buf from the system heap, opened read-write (to be mapped writable).
    pub fn heap(len: usize) -> Result<Self, String> {
        let heap = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(SYSTEM_HEAP)
            .map_err(|e| format!("open {SYSTEM_HEAP}: {e} (CONFIG_DMABUF_HEAPS_SYSTEM)"))?;
        let mut data = DmaHeapAllocationData {
            len: len as u64,
            fd: 0,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            heap_flags: 0,
        };
        // SAFETY: `data` is a valid `struct dma_heap_allocation_data` for the call.
        unsafe { dma_heap_ioctl_alloc(heap.as_raw_fd(), &mut data) }
            .map_err(errno("ioctl(DMA_HEAP_IOCTL_ALLOC)"))?;
        // SAFETY: DMA_HEAP_IOCTL_ALLOC put a new file descriptor in `fd`, owned from now on.
        let buf = unsafe { OwnedFd::from_raw_fd(data.fd as i32) };
        Ok(Source::Heap { buf })
    }

    /// `/dev/mem` at `phys`, checked by mapping and reading one page.
    pub fn devmem(phys: u64) -> Result<Self, String> {
        let src = Source::DevMem { phys };
        let m = src.map(page())?;
        std::hint::black_box(m.read(0));
        Ok(src)
    }

    /// Opens the file the source's mappings map, where each needs one: a driver's node or
    /// `/dev/mem`. The timed steps open it before their timing, so that a row of `mmap()` times
    /// `mmap()`, not `open()` and `close()` too (a dma-buf's file is open for the source's life).
    pub fn open(&self) -> Result<Opened<'_>, String> {
        let file = match self {
            Source::Node { dev, .. } => Some(dev.open(true)?),
            Source::DevMem { .. } => Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(DEVMEM)
                    .map_err(|e| format!("open {DEVMEM}: {e} (CONFIG_DEVMEM)"))?,
            ),
            _ => None,
        };
        Ok(Opened { src: self, file })
    }

    /// Maps `len` bytes of the source, shared and read-write (anonymous memory: private),
    /// opening its file for this mapping alone.
    pub fn map(&self, len: usize) -> Result<Mapping, String> {
        self.open()?.map(len)
    }

    /// The node's `vmdev_info` (its fault counters), for the driver's nodes.
    pub fn info(&self) -> Result<Option<VmdevInfo>, String> {
        match self {
            Source::Node { dev, .. } => dev.info().map(Some),
            _ => Ok(None),
        }
    }

    /// The node behind a driver source, for `read()`.
    pub fn device(&self) -> Option<&Device> {
        match self {
            Source::Node { dev, .. } => Some(dev),
            _ => None,
        }
    }
}

fn page() -> usize {
    vmdev::mapping::page_size()
}

/// A source with its file open (see [`Source::open`]).
pub struct Opened<'a> {
    src: &'a Source,
    file: Option<File>,
}

impl Opened<'_> {
    /// Maps `len` bytes of the source, shared and read-write (anonymous memory: private).
    pub fn map(&self, len: usize) -> Result<Mapping, String> {
        let label = self.src.label();
        let fail = |e: nix::errno::Errno| format!("{label}: mmap of {len} bytes: {e}");
        let offset = match self.src {
            Source::DevMem { phys } => *phys as i64,
            _ => 0,
        };
        if let Some(f) = &self.file {
            return Mapping::shared(f.as_fd(), len, offset).map_err(fail);
        }
        match self.src {
            Source::Udmabuf { buf, .. } | Source::Heap { buf } => {
                Mapping::shared(buf.as_fd(), len, 0).map_err(fail)
            }
            Source::Tmpfs => {
                let fd = memfd_create("vmdev-bench", MFdFlags::empty())
                    .map_err(errno("memfd_create"))?;
                nix::unistd::ftruncate(&fd, len as i64).map_err(errno("ftruncate(memfd)"))?;
                Mapping::shared(fd.as_fd(), len, 0).map_err(fail)
            }
            Source::Anon => {
                let nz = std::num::NonZeroUsize::new(len).ok_or("empty mapping")?;
                let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
                // SAFETY: A new anonymous mapping touches nothing else.
                let ptr =
                    unsafe { nix::sys::mman::mmap_anonymous(None, nz, rw, MapFlags::MAP_PRIVATE) }
                        .map_err(fail)?;
                // SAFETY: The mapping was just made and is owned from now on.
                Ok(unsafe { Mapping::from_raw(ptr, len) })
            }
            Source::Node { .. } | Source::DevMem { .. } => Err(format!("{label}: not open")),
        }
    }
}
