//! Userspace side of rust_vmdev: the UAPI mirror, `/proc` parsers, mapping helpers, module
//! loading, and the KTAP runner.

pub mod device;
pub mod frames;
pub mod kmod;
pub mod ktap;
pub mod mapping;
pub mod maps;
pub mod picture;
pub mod stress;
pub mod uapi;
