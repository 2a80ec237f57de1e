//! The four device nodes of the ABI, as the suite and the stress workload open and query them.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::path::PathBuf;

use crate::uapi::{self, VmdevInfo};

/// Which of the four devices.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Physically contiguous memory, mapped with `remap_pfn_range`.
    Remap,
    /// The remap device's memory, mapped on fault with PMD or PUD entries where aligned.
    Huge,
    /// vmalloc memory, mapped on fault.
    Fault,
    /// Folios of PMD order, mapped on fault: a whole folio by one PMD entry where its span fits,
    /// else page by page.
    Folio,
}

impl Kind {
    /// `remap`, `huge`, `fault` or `folio`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Remap => "remap",
            Kind::Huge => "huge",
            Kind::Fault => "fault",
            Kind::Folio => "folio",
        }
    }

    /// Whether the node's VMAs are `VM_PFNMAP` (the remap and huge nodes): no `struct page` the
    /// core looks at, so no copy-on-write, no get_user_pages(), no zapping advice. The fault
    /// and folio nodes map ordinary refcounted pages.
    pub fn pfnmap(self) -> bool {
        matches!(self, Kind::Remap | Kind::Huge)
    }
}

/// A device node.
#[derive(Clone, Debug)]
pub struct Device {
    /// Which device it is.
    pub kind: Kind,
    /// Its node, e.g. `/dev/vmdev-remap`.
    pub path: PathBuf,
}

impl Device {
    /// `remap`, `huge`, `fault` or `folio`.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// `vmdev_info.backing` of this kind of device.
    pub fn backing(&self) -> u32 {
        match self.kind {
            Kind::Remap => uapi::BACKING_REMAP,
            Kind::Huge => uapi::BACKING_HUGE,
            Kind::Fault => uapi::BACKING_FAULT,
            Kind::Folio => uapi::BACKING_FOLIO,
        }
    }

    /// Opens the node read-write, or read-only.
    pub fn open(&self, write: bool) -> Result<File, String> {
        OpenOptions::new()
            .read(true)
            .write(write)
            .open(&self.path)
            .map_err(|e| format!("open {} (write {write}): {e}", self.path.display()))
    }

    /// The device's `VMDEV_IOC_INFO`.
    pub fn info(&self) -> Result<VmdevInfo, String> {
        uapi::info(self.open(false)?.as_fd())
            .map_err(|e| format!("{}: VMDEV_IOC_INFO: {e}", self.path.display()))
    }

    /// The buffer's size in bytes.
    pub fn size(&self) -> Result<usize, String> {
        usize::try_from(self.info()?.size).map_err(|e| e.to_string())
    }

    /// VMAs mapping the device now, in every process.
    pub fn live_vmas(&self) -> Result<u64, String> {
        Ok(self.info()?.live_vmas)
    }
}
