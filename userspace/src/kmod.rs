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

/// `base` then `params`, as one parameter string: the kernel applies a module's parameters in
/// order, so one in `params` wins over the same one in `base`.
pub fn join_params(base: &str, params: &str) -> String {
    [base.trim(), params.trim()]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value of bool parameter `name` in `params` (the last one given wins, as in the kernel),
/// read as the kernel's `kstrtobool()` reads it: `y`, `1`, `on` true; `n`, `0`, `off` false;
/// the bare name true. `None` when it is not given, or its value is none of those.
pub fn bool_param(params: &str, name: &str) -> Option<bool> {
    params
        .split_whitespace()
        .filter_map(|w| match w.split_once('=') {
            Some((n, v)) if n.replace('-', "_") == name => Some(Some(v)),
            None if w.replace('-', "_") == name => Some(None),
            _ => None,
        })
        .next_back()
        .and_then(|v| match v.map(str::as_bytes) {
            None => Some(true),
            Some([b'y' | b'Y' | b't' | b'T' | b'1', ..]) => Some(true),
            Some([b'n' | b'N' | b'f' | b'F' | b'0', ..]) => Some(false),
            Some([b'o' | b'O', b'n' | b'N', ..]) => Some(true),
            Some([b'o' | b'O', b'f' | b'F', ..]) => Some(false),
            _ => None,
        })
}

/// A module file under test, the name the kernel knows it by, and the parameters every load
/// of it starts with.
#[derive(Clone, Debug)]
pub struct Module {
    /// The `.ko` file.
    pub path: PathBuf,
    /// As `lsmod` knows it, e.g. `rust_vmdev`.
    pub name: String,
    /// Given first at every load (`load`, `reload`), before the load's own, e.g.
    /// `mmap_prepare=0`; empty by default.
    pub params: String,
}

impl Module {
    /// The module in file `path`, loaded with no base parameters.
    pub fn new(path: PathBuf) -> Self {
        Self {
            name: module_name(&path),
            path,
            params: String::new(),
        }
    }

    /// The same module, each load of it starting with `params`.
    pub fn with_params(self, params: &str) -> Self {
        Self {
            params: params.trim().to_string(),
            ..self
        }
    }

    /// What a load with `params` passes to the kernel: the base parameters, then `params`.
    pub fn params_for(&self, params: &str) -> String {
        join_params(&self.params, params)
    }

    /// Whether it is in /proc/modules.
    pub fn is_loaded(&self) -> bool {
        is_loaded(&self.name)
    }

    /// Loads it with its base parameters and `params`; the errno says why it failed.
    pub fn load(&self, params: &str) -> nix::Result<()> {
        try_load(&self.path, &self.params_for(params))
    }

    /// Unloads it; EWOULDBLOCK while it is in use.
    pub fn unload(&self) -> nix::Result<()> {
        unload(&self.name)
    }

    /// Replaces the loaded module (if any) with one loaded with its base parameters and
    /// `params`.
    pub fn reload(&self, params: &str) -> Result<(), String> {
        if self.is_loaded() {
            self.unload()
                .map_err(|e| format!("rmmod {}: {e}", self.name))?;
        }
        load(&self.path, &self.params_for(params))
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

    #[test]
    fn base_params_come_first() {
        let m = super::Module::new("rust-vmdev.ko".into()).with_params(" mmap_prepare=0 ");
        assert_eq!(m.params_for(""), "mmap_prepare=0");
        assert_eq!(
            m.params_for("fault_around=0 mode=0666"),
            "mmap_prepare=0 fault_around=0 mode=0666"
        );
        assert_eq!(
            m.params_for("mmap_prepare=1"),
            "mmap_prepare=0 mmap_prepare=1"
        );
        let plain = super::Module::new("vmdev_c.ko".into());
        assert_eq!(plain.params_for(" remap_size=4096"), "remap_size=4096");
        assert_eq!(plain.params_for(""), "");
    }

    #[test]
    fn bool_params_read_as_the_kernel_does() {
        use super::bool_param;
        let p = |s| bool_param(s, "mmap_prepare");
        assert_eq!(p(""), None);
        assert_eq!(p("fault_around=0"), None);
        assert_eq!(p("mmap_prepare=0"), Some(false));
        assert_eq!(p("mmap_prepare=n"), Some(false));
        assert_eq!(p("mmap_prepare=N"), Some(false));
        assert_eq!(p("mmap_prepare=off"), Some(false));
        assert_eq!(p("mmap_prepare=1"), Some(true));
        assert_eq!(p("mmap_prepare=Y"), Some(true));
        assert_eq!(p("mmap_prepare=on"), Some(true));
        assert_eq!(p("mmap_prepare"), Some(true));
        assert_eq!(p("mmap-prepare=0"), Some(false));
        assert_eq!(
            p("mmap_prepare=0 fault_around=0 mmap_prepare=1"),
            Some(true)
        );
        assert_eq!(p("mmap_prepare=maybe"), None);
        assert_eq!(p("no_mmap_prepare=0"), None);
    }
}
