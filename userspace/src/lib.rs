//! Userspace side of rust_vmdev: the test harness, module loading and (later) the UAPI mirror.

pub mod kmod;
pub mod tap;
