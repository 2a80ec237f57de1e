//! Loading and unloading the module under test, and the kernel's leak detector.

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags, delete_module, finit_module};

/// The name `lsmod` and `rmmod` know a module file by: its file name without `.ko`, dashes
/// made underscores (as kbuild does), e.g. `rust_vmdev` for `rust-vmdev.ko`.
pub fn module_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.replace('-', "_")
}

/// Loads the module at `path` with `params` (e.g. `"fault_around=0"`).
pub fn load(path: &Path, params: &str) -> Result<(), String> {
    try_load(path, params).map_err(|e| format!("finit_module({}, {params:?}): {e}", path.display()))
}

/// Loads the module at `path` with `params`; the errno says why it failed.
pub fn try_load(path: &Path, params: &str) -> nix::Result<()> {
    let file = File::open(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let params = CString::new(params).map_err(|_| Errno::EINVAL)?;
    finit_module(&file, &params, ModuleInitFlags::empty())
}

/// Unloads module `name`; fails with EWOULDBLOCK while it is in use.
pub fn unload(name: &str) -> nix::Result<()> {
    let name = CString::new(name).map_err(|_| nix::errno::Errno::EINVAL)?;
    delete_module(&name, DeleteModuleFlags::O_NONBLOCK)
}

/// Whether module `name` is in /proc/modules.
pub fn is_loaded(name: &str) -> bool {
    std::fs::read_to_string("/proc/modules")
        .map(|m| m.lines().any(|l| l.split(' ').next() == Some(name)))
        .unwrap_or(false)
}

/// A module file under test, and the name the kernel knows it by.
#[derive(Clone, Debug)]
pub struct Module {
    /// The `.ko` file.
    pub path: PathBuf,
    /// As `lsmod` knows it, e.g. `rust_vmdev`.
    pub name: String,
}

impl Module {
    /// The module in file `path`.
    pub fn new(path: PathBuf) -> Self {
        Self {
            name: module_name(&path),
            path,
        }
    }

    /// Whether it is in /proc/modules.
    pub fn is_loaded(&self) -> bool {
        is_loaded(&self.name)
    }

    /// Loads it with `params`; the errno says why it failed.
    pub fn load(&self, params: &str) -> nix::Result<()> {
        try_load(&self.path, params)
    }

    /// Unloads it; EWOULDBLOCK while it is in use.
    pub fn unload(&self) -> nix::Result<()> {
        unload(&self.name)
    }

    /// Replaces the loaded module (if any) with one loaded with `params`.
    pub fn reload(&self, params: &str) -> Result<(), String> {
        if self.is_loaded() {
            self.unload()
                .map_err(|e| format!("rmmod {}: {e}", self.name))?;
        }
        load(&self.path, params)
    }
}

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// Whether kmemleak is available (debug kernel with debugfs mounted).
pub fn kmemleak_available() -> bool {
    Path::new(KMEMLEAK).exists()
}

/// Forgets the leak suspects found so far, so later reports concern only what follows.
pub fn kmemleak_clear() -> std::io::Result<()> {
    std::fs::write(KMEMLEAK, "clear")
}

/// Scans for leaks and returns the report (empty when nothing leaked).
pub fn kmemleak_scan() -> std::io::Result<String> {
    std::fs::write(KMEMLEAK, "scan")?;
    std::fs::read_to_string(KMEMLEAK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_names_follow_kbuild() {
        assert_eq!(
            super::module_name("/lib/modules/rust-vmdev.ko".as_ref()),
            "rust_vmdev"
        );
        assert_eq!(super::module_name("c_twin/vmdev_c.ko".as_ref()), "vmdev_c");
    }
}
