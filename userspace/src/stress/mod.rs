//! A seeded, bounded random workload over the device nodes, checking the ABI's invariants as it
//! goes: `vmdev-stress` runs it from the command line, the selftest suite runs short ones.
//!
//! `procs` worker processes run `threads` threads each. Worker `w` uses its own random stream
//! (from the seed and `w`), so each worker's sequence of operations replays exactly from the seed;
//! only the interleaving between workers varies. Each worker owns a disjoint slice of each
//! device, which only it writes, so what it reads back through a mapping, `read()`, or after a
//! fork, can be checked exactly. The remap and huge nodes share one buffer, and their slices are
//! the same pages, since both nodes have its size.
//!
//! Mappings of the huge node are placed at an address congruent to their offset modulo the
//! largest entry the buffer can take (a PUD span when the buffer is whole PUD spans and the
//! kernel maps PUD entries, else a PMD span), and most of them cover whole spans, so that its
//! huge entries are used, then split by partial munmap, mprotect, madvise and mremap. So are
//! the folio node's, modulo a PMD span (one folio), whose whole folios a PMD entry maps; its
//! private mappings are copy-on-write, as the fault node's.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

use crate::device::{Device, Kind};
use crate::mapping::page_size;
use crate::uapi;

mod worker;

use worker::Worker;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The device nodes to run on (any of remap, huge, fault, folio; at least one).
    pub nodes: Vec<Device>,
    /// Seed of every worker's random stream.
    pub seed: u64,
    /// Stop after this long (a cap: the run is meant to end by `max_ops`).
    pub seconds: u64,
    /// Stop after this many operations per worker.
    pub max_ops: u64,
    /// Worker processes.
    pub procs: usize,
    /// Threads per worker process.
    pub threads: usize,
}

impl Config {
    /// Operations the run makes when no worker reaches the time cap.
    pub fn planned_ops(&self) -> u64 {
        self.max_ops
            .saturating_mul((self.procs * self.threads) as u64)
    }
}

/// What ran: operations by kind, summed over every worker. An operation on one node is counted
/// as `node.kind` (`huge.munmap_part`), one on all of them (`fork`) or none (`close`) as `kind`.
#[derive(Default, Debug)]
pub struct Report {
    /// Count of each kind of operation.
    pub ops: BTreeMap<String, u64>,
    /// What the faults of each node (by name) mapped during the run.
    pub mapped: BTreeMap<&'static str, Mapped>,
}

/// What a node's faults mapped: `vmdev_info.faults` and the pages of those entries, from
/// `around_pages`. On the huge and folio nodes, more pages than entries means huge entries were
/// used.
#[derive(Default, Debug, Clone, Copy)]
pub struct Mapped {
    /// Entries (pages, on the other nodes) the faults mapped.
    pub entries: u64,
    /// Pages those entries map.
    pub pages: u64,
}

impl Report {
    /// All operations.
    pub fn total(&self) -> u64 {
        self.ops.values().sum()
    }

    /// How many operations of `kind` ran (0 for none).
    pub fn count_of(&self, kind: &str) -> u64 {
        self.ops.get(kind).copied().unwrap_or(0)
    }

    /// `kind count, ...`, for a log line.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = self.ops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        kinds.join(", ")
    }

    /// `node: N entries, M pages; ...`, what the faults mapped, for a log line.
    pub fn mapped_summary(&self) -> String {
        let nodes: Vec<String> = self
            .mapped
            .iter()
            .map(|(n, m)| format!("{n}: {} entries, {} pages", m.entries, m.pages))
            .collect();
        nodes.join("; ")
    }

    fn add(&mut self, other: &Report) {
        for (k, v) in &other.ops {
            *self.ops.entry(k.clone()).or_default() += v;
        }
    }

    fn count(&mut self, kind: String) {
        *self.ops.entry(kind).or_default() += 1;
    }
}

/// Runs the workload; `Err` names the first broken invariant, with the seed.
pub fn run(cfg: &Config) -> Result<Report, String> {
    run_targets(cfg).map_err(|e| format!("seed {}: {e}", cfg.seed))
}

fn run_targets(cfg: &Config) -> Result<Report, String> {
    if cfg.nodes.is_empty() {
        return Err("no device node to run on".into());
    }
    let devs: Vec<Target> = cfg
        .nodes
        .iter()
        .map(Target::new)
        .collect::<Result<_, _>>()?;
    let before: Vec<uapi::VmdevInfo> = devs
        .iter()
        .map(|d| d.device.info())
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
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("process {p} reported {kv:?}"))?;
                    *report.ops.entry(k.to_string()).or_default() +=
                        v.parse::<u64>().map_err(|e| format!("{kv:?}: {e}"))?;
                }
            }
            (_, Some(e)) => failures.push(format!("process {p}: {}", e.trim())),
            (other, None) => failures.push(format!("process {p} ended with {other:?}")),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("; "));
    }
    for (d, before) in devs.iter().zip(before) {
        let after = d.device.info()?;
        if after.live_vmas != before.live_vmas {
            return Err(format!(
                "{} live_vmas {} after every worker unmapped, {} before",
                d.device.name(),
                after.live_vmas,
                before.live_vmas
            ));
        }
        let entries = after.faults - before.faults;
        let pages = entries + after.around_pages - before.around_pages;
        report
            .mapped
            .insert(d.device.name(), Mapped { entries, pages });
    }
    Ok(report)
}

fn run_process(cfg: &Config, devs: &[Target], p: usize, workers: usize) -> Result<Report, String> {
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

/// A device the workload runs on, its size in pages, and where its huge entries fit.
#[derive(Clone, Debug)]
struct Target {
    device: Device,
    pages: usize,
    /// The huge entries' spans in pages, smallest first (a PMD's, and on the huge node a PUD's
    /// when the buffer is whole PUD spans and the kernel maps PUD entries); none on the remap
    /// and fault nodes.
    spans: Vec<usize>,
}

impl Target {
    fn new(device: &Device) -> Result<Self, String> {
        let info = device.info()?;
        let ps = page_size();
        let pages = usize::try_from(info.size).map_err(|e| e.to_string())? / ps;
        // A page table of 8-byte entries maps ps / 8 of the next level's spans.
        let pmd = ps / 8;
        let pud = pmd * (ps / 8);
        let spans = match device.kind {
            // Placed for PMD entries even where the kernel cannot map them: the same ranges
            // then take PTEs, which is what such a kernel does.
            Kind::Huge if info.flags & uapi::FLAG_HUGE_PUD != 0 && pages.is_multiple_of(pud) => {
                vec![pmd, pud]
            }
            Kind::Huge | Kind::Folio => vec![pmd],
            Kind::Remap | Kind::Fault => Vec::new(),
        };
        Ok(Self {
            device: device.clone(),
            pages,
            spans,
        })
    }

    /// The alignment, in bytes, that mappings of this node are placed congruent to their
    /// offset modulo: the largest span; none (`None`) where the node maps no huge entries.
    fn align(&self) -> Option<usize> {
        self.spans.last().map(|s| s * page_size())
    }
}
