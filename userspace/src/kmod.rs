//! Loading and unloading the module under test, and the kernel's leak detector.

use std::ffi::CString;
use std::fs::File;
use std::path::Path;

use nix::kmod::{DeleteModuleFlags, ModuleInitFlags, delete_module, finit_module};

/// The module's name, as `lsmod` and `rmmod` know it.
pub const MODULE_NAME: &str = "rust_vmdev";

/// Loads the module at `path` with `params` (e.g. `"fault_around=0"`).
pub fn load(path: &Path, params: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let params = CString::new(params).map_err(|e| e.to_string())?;
    finit_module(&file, &params, ModuleInitFlags::empty())
        .map_err(|e| format!("finit_module({}, {params:?}): {e}", path.display()))
}

/// Unloads the module; fails with EBUSY (EWOULDBLOCK on some kernels) while it is in use.
pub fn unload() -> nix::Result<()> {
    let name = CString::new(MODULE_NAME).expect("no NUL in the module name");
    delete_module(&name, DeleteModuleFlags::O_NONBLOCK)
}

/// Whether the module is in /proc/modules.
pub fn is_loaded() -> bool {
    std::fs::read_to_string("/proc/modules")
        .map(|m| m.lines().any(|l| l.split(' ').next() == Some(MODULE_NAME)))
        .unwrap_or(false)
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
