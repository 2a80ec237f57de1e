//! vmdev-selftest: checks every promise of the rust_vmdev ABI (`include/uapi/rust_vmdev.h`)
//! against the device nodes it is given, kselftest style: KTAP output, exit status 0 pass,
//! 1 fail, 4 skip, and last the line `N passed, N failed, N skipped`.
//!
//! Without `--module` it tests whatever driver is loaded behind the nodes; with `--module`, it
//! also loads and unloads that module itself and tests its lifetime and parameters.
//!
//! `harness` is the fixture, the registry and the order; each other module is a topic whose
//! tests register themselves with `test!` next to their functions.

mod abuse;
mod address_space;
mod boot_memory;
mod bounds;
mod common;
mod debugger;
mod fault_counts;
mod fault_injection;
mod fault_path;
mod folio_advice;
mod folio_gup;
mod folio_module;
mod folio_path;
mod folio_split;
mod folio_walkers;
mod frames;
mod gup;
mod harness;
mod huge_cost;
mod huge_mremap;
mod huge_path;
mod huge_split;
mod huge_split_matrix;
mod lifecycle;
mod module;
mod params;
mod protection;
mod remap_path;
mod sharing;

use std::path::PathBuf;

use clap::Parser;
use vmdev::device::{Device, Kind};
use vmdev::kmod::Module;
use vmdev::uapi;

use crate::harness::Context;

#[derive(Parser)]
#[command(about = "Kselftest-style suite for the rust_vmdev ABI")]
struct Args {
    /// The remap device node (physically contiguous, remap_pfn_range).
    #[arg(long, default_value = uapi::REMAP_PATH)]
    remap: PathBuf,
    /// The huge device node (the remap device's memory, mapped on fault with huge entries).
    #[arg(long, default_value = uapi::HUGE_PATH)]
    huge: PathBuf,
    /// The fault device node (vmalloc, mapped on fault).
    #[arg(long, default_value = uapi::FAULT_PATH)]
    fault: PathBuf,
    /// The folio device node (folios of PMD order, mapped on fault by one PMD entry per folio
    /// where it fits, else page by page).
    #[arg(long, default_value = uapi::FOLIO_PATH)]
    folio: PathBuf,
    /// Load this module first, unload it last, and run the tests that reload it with other
    /// parameters. Without it those tests are skipped.
    #[arg(long)]
    module: Option<PathBuf>,
    /// Parameters given first at every load of --module, before a test's own (which win), e.g.
    /// `mmap_prepare=0` to run the suite on the nodes' classic `f_op->mmap` hook. The suite is
    /// then named after them too (`rust_vmdev.mmap_prepare=0`).
    #[arg(long, value_name = "PARAMS", requires = "module")]
    module_params: Option<String>,
    /// Another driver of the same ABI that can claim a boot-reserved range (the C twin for the
    /// module, the module for the twin): `module.param_boot_reserved_claimed` loads it on the
    /// module's range, which the module must then refuse.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Run only the tests whose names start with this (repeatable), e.g. `fault.` or
    /// `module.load`; see --list.
    #[arg(long = "test", value_name = "PREFIX")]
    tests: Vec<String>,
    /// Leave out the tests whose names start with this (repeatable).
    #[arg(long = "skip", value_name = "PREFIX")]
    skips: Vec<String>,
    /// Print the test names, in the order they run, and exit.
    #[arg(long)]
    list: bool,
    /// Print the run as suite N of a KTAP document whose header (`KTAP version 1`, `1..M`) the
    /// caller printed, as the test VM does for its two runs; without it the output is a whole
    /// document.
    #[arg(long, value_name = "N")]
    ktap_suite: Option<usize>,
    /// The KTAP suite's name, instead of the module's (the in-tree build of the module, whose
    /// name is the out-of-tree one's: `rust_vmdev.in_tree`).
    #[arg(long, value_name = "NAME")]
    suite_name: Option<String>,
    /// KUnit suites built into the kernel that `module.kunit` runs instead of the module's own
    /// (repeatable name prefixes): the in-tree layer's (`rust_kernel_mm_`) and the kernel
    /// crate's doctests (`rust_doctests_kernel`), for the in-tree build of the module.
    #[arg(long = "kunit", value_name = "PREFIX")]
    kunit: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let cases = harness::cases();
    if args.list {
        for case in &cases {
            println!("{}", case.name);
        }
        return;
    }
    let chosen = match harness::select(&cases, &args.tests, &args.skips) {
        Ok(chosen) => chosen,
        Err(e) => {
            eprintln!("vmdev-selftest: {e}");
            std::process::exit(2);
        }
    };
    let cx = Context {
        remap: Device {
            kind: Kind::Remap,
            path: args.remap,
        },
        huge: Device {
            kind: Kind::Huge,
            path: args.huge,
        },
        fault: Device {
            kind: Kind::Fault,
            path: args.fault,
        },
        folio: Device {
            kind: Kind::Folio,
            path: args.folio,
        },
        module: args
            .module
            .map(|path| Module::new(path).with_params(args.module_params.as_deref().unwrap_or(""))),
        peer: args.peer.map(Module::new),
        kunit: args.kunit,
    };
    let name = args.suite_name.unwrap_or_else(|| cx.suite_name());
    std::process::exit(harness::run(&cx, &chosen, &name, args.ktap_suite));
}
