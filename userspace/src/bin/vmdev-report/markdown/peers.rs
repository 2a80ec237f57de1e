//! Every path against the peers: the sources and metrics of the comparison (the chart's too),
//! the table of every source, the driver's nodes divided by each peer, and the fault paths without
//! the kernel's fault-around.

use std::fmt::Write as _;

use crate::data::{Results, ratio};

/// The sources in the order of the tables, with their names in them.
pub const SOURCES: [(&str, &str); 9] = [
    ("rust-fault", "fault node"),
    ("rust-remap", "remap node"),
    ("rust-huge", "huge node"),
    ("rust-folio", "folio node"),
    ("udmabuf", "udmabuf"),
    ("heap", "system heap"),
    ("devmem", "/dev/mem"),
    ("anon", "anonymous"),
    ("tmpfs", "tmpfs (memfd)"),
];
/// Where the peers start in `SOURCES`: the sources before are the driver's nodes.
const DRIVER: usize = 4;

/// The metrics of the comparison of every path, with what they time.
pub(super) const METRICS: [(&str, &str); 8] = [
    ("mmap", "`mmap()` alone"),
    ("mmap_munmap", "`mmap()` + `munmap()`"),
    ("first_read_seq", "first read of every page, in order"),
    ("first_write_seq", "first write of every page, in order"),
    ("first_read_rand", "first read of every page, random order"),
    (
        "map_read_unmap",
        "`mmap()` + first read of every page + `munmap()`",
    ),
    ("stream_mapping", "streaming through a warm mapping"),
    ("stream_read", "`pread()` of the whole buffer"),
];

pub fn peer_tables(md: &mut String, r: &Results) {
    md.push_str("## Every path against the peers\n\nEach source maps 16 MiB (the remap and huge nodes the first 16 MiB of their reservation, the folio node its first 8 folios; the huge and folio nodes' first-touch rows include their 8 PMD faults); ns per 4 KiB page, default parameters (fault-around on). `pread()` only where the node has `read()`.\n\n| metric |");
    for (_, name) in SOURCES {
        let _ = write!(md, " {name} |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(SOURCES.len()));
    md.push('\n');
    for (metric, what) in METRICS {
        let _ = write!(md, "| {what} |");
        for (label, _) in SOURCES {
            let cell = r.get(metric, label).map_or("–".into(), |s| s.short());
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }

    md.push_str("\n### The driver against each peer\n\nThe driver's cost divided by the peer's, per metric (below 1: the driver is cheaper).\n\n| metric | driver node |");
    for (_, name) in &SOURCES[DRIVER..] {
        let _ = write!(md, " ÷ {name} |");
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---|".repeat(SOURCES.len() - DRIVER));
    md.push('\n');
    for (metric, what) in METRICS.iter().filter(|(m, _)| *m != "stream_read") {
        for (label, name) in &SOURCES[..DRIVER] {
            let Some(d) = r.get(metric, label) else {
                continue;
            };
            let _ = write!(md, "| {what} | {name} |");
            for (peer, _) in &SOURCES[DRIVER..] {
                let cell = match r.get(metric, peer) {
                    Some(p) if p.median > 0.0 => ratio(d.median / p.median),
                    _ => "–".into(),
                };
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
    }
}

pub fn around_off_table(md: &mut String, r: &Results) {
    md.push_str("\n### Without the kernel's fault-around\n\nThe drivers loaded with `fault_around=0` (one page per fault: their window is mapped by their own fault handler, the kernel's fault-around does not apply to them), and the kernel's `fault_around_bytes` set to one page for tmpfs. Anonymous memory never faults around (its reads map the huge zero page where aligned).\n\n| metric | fault node | C fault node | anonymous | tmpfs (memfd) |\n|---|---|---|---|---|\n");
    for metric in ["first_read_seq", "first_write_seq", "first_read_rand"] {
        let m = format!("{metric}_around_off");
        let _ = write!(md, "| {m} |");
        for label in ["rust-fault", "c-fault", "anon", "tmpfs"] {
            let cell = r.get(&m, label).map_or("–".into(), |s| s.short());
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
}
