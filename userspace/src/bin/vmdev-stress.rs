//! vmdev-stress: a seeded, bounded random workload over both devices that checks the ABI's
//! invariants as it goes. Rerun with the printed seed to replay every worker's operations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vmdev::stress::{self, Config};
use vmdev::uapi;

#[derive(Parser)]
#[command(about = "Seeded random workload over the rust_vmdev devices")]
struct Args {
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Stop after this many operations per worker.
    #[arg(long, default_value_t = u64::MAX)]
    max_ops: u64,
    /// Seed of the random streams (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    procs: usize,
    /// Threads per worker process.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The remap device node.
    #[arg(long, default_value = uapi::REMAP_PATH)]
    remap: PathBuf,
    /// The fault device node.
    #[arg(long, default_value = uapi::FAULT_PATH)]
    fault: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let cfg = Config {
        remap: args.remap,
        fault: args.fault,
        seed,
        seconds: args.seconds,
        max_ops: args.max_ops,
        procs: args.procs,
        threads: args.threads,
    };
    println!(
        "vmdev-stress: seed {seed}, {} processes x {} threads, {} s",
        cfg.procs, cfg.threads, cfg.seconds
    );
    match stress::run(&cfg) {
        Ok(report) => {
            let kinds: Vec<String> = report.ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "vmdev-stress: seed {seed}: {} operations, no broken invariant ({})",
                report.total(),
                kinds.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("vmdev-stress: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
