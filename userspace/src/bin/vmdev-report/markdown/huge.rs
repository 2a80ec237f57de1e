//! The huge node against `remap_pfn_range()` over its whole reservation, and the entries it
//! mapped.

use std::fmt::Write as _;

use super::reservation;
use crate::data::{HUGE, Results, TWIN, ns};

pub fn huge_table(md: &mut String, r: &Results) {
    let _ = write!(
        md,
        "\n## The huge node over its whole reservation\n\nThe remap and huge nodes, and \
         /dev/mem, over the whole of {}; the C twin's nodes over the whole of {}.\n\n\
         | metric | remap | huge | huge ÷ remap | C remap | C huge | C huge ÷ C remap | \
         huge Rust/C | /dev/mem |\n|---|---|---|---|---|---|---|---|---|\n",
        reservation(r, HUGE),
        reservation(r, TWIN),
    );
    let rows = [
        (
            "setup_whole",
            "building the mapping: `mmap()` + one read per 2 MiB + `munmap()`",
        ),
        (
            "first_read_whole",
            "first read of every page, entries in place (huge: after the reads per 2 MiB)",
        ),
        (
            "fresh_read_whole",
            "first read of every page of a fresh mapping (huge: its faults included)",
        ),
        ("stream_whole", "streaming through the warm mapping"),
    ];
    for (metric, what) in rows {
        // A fresh remap mapping has its entries in place: its row is `first_read_whole`.
        let remap_metric = if metric == "fresh_read_whole" {
            "first_read_whole"
        } else {
            metric
        };
        let cell = |m: &str, l: &str| r.get(m, l).map_or("–".into(), |s| s.short());
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 && a < b * 0.5 => {
                format!("{:.3} ({:.0}x cheaper)", a / b, b / a)
            }
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
            _ => "–".into(),
        };
        let med = |m: &str, l: &str| r.get(m, l).map(|s| s.median);
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(remap_metric, "rust-remap"),
            cell(metric, "rust-huge"),
            ratio(med(metric, "rust-huge"), med(remap_metric, "rust-remap")),
            cell(remap_metric, "c-remap"),
            cell(metric, "c-huge"),
            ratio(med(metric, "c-huge"), med(remap_metric, "c-remap")),
            ratio(med(metric, "rust-huge"), med(metric, "c-huge")),
            if metric == "fresh_read_whole" {
                "–".into()
            } else {
                cell(metric, "devmem")
            },
        );
    }
    for (label, sizes) in r.entries.iter().filter(|(l, _)| l.ends_with("-huge")) {
        let _ = write!(
            md,
            "\n{label} can map: {} (`vmdev_info.flags`).",
            sizes.replace(',', ", ")
        );
    }
    md.push('\n');
    md.push_str("\nWhat the huge nodes mapped (their `vmdev_info` counters over the timed passes): faults (page-table entries written by the fault handler) per 2 MiB, and pages per entry, `(faults + around_pages) / faults`: 512 is a PMD entry, 1 a PTE.\n\n| node | pass | faults per 2 MiB | pages per entry | entry size |\n|---|---|---|---|---|\n");
    for label in ["rust-huge", "c-huge"] {
        for metric in ["setup_whole", "fresh_read_whole"] {
            let Some(c) = r.counters.get(&(metric.to_string(), label.to_string())) else {
                continue;
            };
            let per_2m = c.faults as f64 / (c.bytes as f64 / (2 << 20) as f64);
            let pages = (c.faults + c.around_pages) as f64 / c.faults.max(1) as f64;
            let _ = writeln!(
                md,
                "| {label} | {metric} | {per_2m:.2} | {pages:.0} | {} KiB |",
                ns(pages * 4.0)
            );
        }
    }
    md.push_str(
        "\nUnder TCG every first access to a 4 KiB page costs an emulated TLB fill whatever entry \
         maps it (QEMU's software TLB holds 4 KiB pages; `-icount` counts guest instructions, not \
         the host's work), so huge entries show in building the mapping, not in the per-page \
         access rows; on hardware a PMD entry would also save TLB misses.\n",
    );
}
