//! vmdev-stress: a seeded, bounded random workload over the device nodes that checks the ABI's
//! invariants as it goes. Rerun with the printed seed to replay every worker's operations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use vmdev::device::{Device, Kind};
use vmdev::stress::{self, Config};
use vmdev::uapi;

/// A device node, as `--nodes` names it.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Node {
    Remap,
    Huge,
    Fault,
    Folio,
}

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
    /// The nodes to run on.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "remap,huge,fault,folio"
    )]
    nodes: Vec<Node>,
    /// The remap device node.
    #[arg(long, default_value = uapi::REMAP_PATH)]
    remap: PathBuf,
    /// The huge device node.
    #[arg(long, default_value = uapi::HUGE_PATH)]
    huge: PathBuf,
    /// The fault device node.
    #[arg(long, default_value = uapi::FAULT_PATH)]
    fault: PathBuf,
    /// The folio device node.
    #[arg(long, default_value = uapi::FOLIO_PATH)]
    folio: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let mut nodes = Vec::new();
    for (node, kind, path) in [
        (Node::Remap, Kind::Remap, &args.remap),
        (Node::Huge, Kind::Huge, &args.huge),
        (Node::Fault, Kind::Fault, &args.fault),
        (Node::Folio, Kind::Folio, &args.folio),
    ] {
        if args.nodes.contains(&node) {
            nodes.push(Device {
                kind,
                path: path.clone(),
            });
        }
    }
    let names: Vec<String> = nodes.iter().map(|d| d.path.display().to_string()).collect();
    let cfg = Config {
        nodes,
        seed,
        seconds: args.seconds,
        max_ops: args.max_ops,
        procs: args.procs,
        threads: args.threads,
    };
    println!(
        "vmdev-stress: seed {seed}, {} processes x {} threads, {} s, on {}",
        cfg.procs,
        cfg.threads,
        cfg.seconds,
        names.join(" ")
    );
    match stress::run(&cfg) {
        Ok(report) => {
            println!(
                "vmdev-stress: seed {seed}: {} operations, no broken invariant ({})",
                report.total(),
                report.summary()
            );
            println!(
                "vmdev-stress: seed {seed}: the faults mapped {}",
                report.mapped_summary()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("vmdev-stress: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
