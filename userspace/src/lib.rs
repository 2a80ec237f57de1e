//! Userspace side of rust_vmdev: the UAPI mirror, `/proc` parsers, mapping helpers, module
//! loading, and the KTAP runner.

pub mod address_space;
pub mod boot;
pub mod device;
pub mod fault_branches;
pub mod frames;
pub mod kmod;
pub mod ktap;
pub mod mapping;
pub mod maps;
pub mod picture;
pub mod stress;
pub mod uapi;
