//! A seeded, bounded random workload over both devices, checking the ABI's invariants as it
//! goes: `vmdev-stress` runs it from the command line, the selftest suite runs short ones.
//!
//! `procs` worker processes run `threads` threads each. Worker `w` uses its own random stream
//! (from the seed and `w`), so each worker's sequence of operations replays exactly from the seed;
//! only the interleaving between workers varies. Each worker owns a disjoint slice of each
//! device, which only it writes, so what it reads back through a mapping, `read()`, or after a
//! fork, can be checked exactly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

use crate::device::{Device, Kind};
use crate::mapping::page_size;

mod worker;

use worker::Worker;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The remap device node.
    pub remap: PathBuf,
    /// The fault device node.
    pub fault: PathBuf,
    /// Seed of every worker's random stream.
    pub seed: u64,
    /// Stop after this long.
    pub seconds: u64,
    /// Stop after this many operations per worker.
    pub max_ops: u64,
    /// Worker processes.
    pub procs: usize,
    /// Threads per worker process.
    pub threads: usize,
}

/// What ran: operations by kind, summed over every worker.
#[derive(Default, Debug)]
pub struct Report {
    /// Count of each kind of operation.
    pub ops: BTreeMap<String, u64>,
}

impl Report {
    /// All operations.
    pub fn total(&self) -> u64 {
        self.ops.values().sum()
    }

    fn add(&mut self, other: &Report) {
        for (k, v) in &other.ops {
            *self.ops.entry(k.clone()).or_default() += v;
        }
    }

    fn count(&mut self, kind: &str) {
        *self.ops.entry(kind.to_string()).or_default() += 1;
    }
}

/// Runs the workload; `Err` names the first broken invariant, with the seed.
pub fn run(cfg: &Config) -> Result<Report, String> {
    let devs = [
        Target::new(Kind::Remap, &cfg.remap)?,
        Target::new(Kind::Fault, &cfg.fault)?,
    ];
    let baseline: Vec<u64> = devs
        .iter()
        .map(|d| d.device.live_vmas())
        .collect::<Result<_, _>>()?;
    let workers = cfg.procs * cfg.threads;
    let mut children = Vec::new();
    for p in 0..cfg.procs {
        let (read_end, write_end) = pipe().map_err(|e| e.to_string())?;
        // SAFETY: The caller is single-threaded here (threads start in the children).
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                drop(read_end);
                let result = run_process(cfg, &devs, p, workers);
                let mut out = File::from(write_end);
                let code = match result {
                    Ok(report) => {
                        let line: Vec<String> =
                            report.ops.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        let _ = writeln!(out, "{}", line.join(" "));
                        0
                    }
                    Err(e) => {
                        let _ = writeln!(out, "error {e}");
                        1
                    }
                };
                drop(out);
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(write_end);
                children.push((child, read_end));
            }
        }
    }
    let mut report = Report::default();
    let mut failures = Vec::new();
    for (p, (child, read_end)) in children.into_iter().enumerate() {
        let mut text = String::new();
        let _ = File::from(read_end).read_to_string(&mut text);
        let status = waitpid(child, None).map_err(|e| e.to_string())?;
        match (status, text.strip_prefix("error ")) {
            (WaitStatus::Exited(_, 0), None) => {
                for kv in text.split_whitespace() {
                    let (k, v) = kv.split_once('=').ok_or("bad report")?;
                    *report.ops.entry(k.to_string()).or_default() +=
                        v.parse::<u64>().map_err(|e| e.to_string())?;
                }
            }
            (_, Some(e)) => failures.push(format!("process {p}: {}", e.trim())),
            (other, None) => failures.push(format!("process {p} ended with {other:?}")),
        }
    }
    if !failures.is_empty() {
        return Err(format!("seed {}: {}", cfg.seed, failures.join("; ")));
    }
    for (d, base) in devs.iter().zip(baseline) {
        let live = d.device.live_vmas()?;
        if live != base {
            return Err(format!(
                "seed {}: {} live_vmas {live} after every worker unmapped, {base} before",
                cfg.seed,
                d.device.name()
            ));
        }
    }
    Ok(report)
}

fn run_process(
    cfg: &Config,
    devs: &[Target; 2],
    p: usize,
    workers: usize,
) -> Result<Report, String> {
    let results: Vec<Result<Report, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let w = p * cfg.threads + t;
                s.spawn(move || Worker::new(cfg, devs, w, workers)?.run())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let mut total = Report::default();
    for (t, r) in results.into_iter().enumerate() {
        total.add(&r.map_err(|e| format!("worker {}: {e}", p * cfg.threads + t))?);
    }
    Ok(total)
}

/// A device the workload runs on, and its size in pages.
#[derive(Clone, Debug)]
struct Target {
    device: Device,
    pages: usize,
}

impl Target {
    fn new(kind: Kind, path: &std::path::Path) -> Result<Self, String> {
        let device = Device {
            kind,
            path: path.to_path_buf(),
        };
        Ok(Self {
            pages: device.size()? / page_size(),
            device,
        })
    }
}
