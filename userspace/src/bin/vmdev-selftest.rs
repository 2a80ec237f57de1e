//! The kselftest-style suite for the rust_vmdev ABI.
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use vmdev::kmod;
use vmdev::tap::{self, Outcome, Summary};

#[derive(Parser)]
struct Args {
    /// Load and unload this module file around the suite (the lifecycle tests).
    #[arg(long)]
    module: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let mut summary = Summary::default();
    tap::header(2);
    let module = args.module.clone();
    tap::run(1, "module_load", Duration::from_secs(30), &mut summary, || {
        let m = module.as_ref().ok_or("no --module")?;
        kmod::load(m, "")?;
        Ok(Outcome::Pass)
    });
    tap::run(2, "module_unload", Duration::from_secs(30), &mut summary, || {
        kmod::unload().map_err(|e| e.to_string())?;
        Ok(Outcome::Pass)
    });
    println!("{}", summary.line());
    std::process::exit(summary.exit_code());
}
