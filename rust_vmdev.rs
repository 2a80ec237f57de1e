// SPDX-License-Identifier: GPL-2.0

//! rust_vmdev: how a driver maps memory into a process.

use kernel::prelude::*;

module! {
    type: RustVmdev,
    name: "rust_vmdev",
    authors: ["rust_vmdev developers"],
    description: "Two ways a driver maps memory into a process",
    license: "GPL",
}

struct RustVmdev;

impl kernel::Module for RustVmdev {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("loaded\n");
        Ok(RustVmdev)
    }
}
