//! The folio node against the other nodes: its rows of the comparison of every path divided by
//! the huge, remap and fault nodes', Rust against C, and the entries it mapped.

use std::fmt::Write as _;

use super::peers::METRICS;
use crate::data::{Results, ns, ratio};

/// The first-touch passes whose counters show the entries the folio nodes mapped.
const PASSES: [&str; 3] = ["first_read_seq", "first_write_seq", "first_read_rand"];

pub fn folio_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## The folio node\n\nThe folio node maps a PMD with each entry, as the huge node \
         does, but from PMD-order folios the driver allocated at load: each entry holds a \
         reference and an rmap entry for its folio (ordinary pages, which `get_user_pages()` \
         takes), where the huge node's `VM_PFNMAP` entries map raw frames. Its rows of the comparison of every path \
         (16 MiB, its first 8 folios), each divided by the other nodes' (below 1: the folio node \
         is cheaper), and the C twin's folio node.\n\n\
         | metric | folio node | ÷ huge node | ÷ remap node | ÷ fault node | C folio node | \
         Rust/C |\n|---|---|---|---|---|---|---|\n",
    );
    for (metric, what) in METRICS {
        let Some(folio) = r.get(metric, "rust-folio") else {
            continue;
        };
        let over = |label: &str| match r.get(metric, label) {
            Some(s) if s.median > 0.0 => ratio(folio.median / s.median),
            _ => "–".into(),
        };
        let c = r.get(metric, "c-folio");
        let rust_c = c
            .filter(|c| c.median > 0.0)
            .map_or("–".into(), |c| format!("{:.3}", folio.median / c.median));
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} | {rust_c} |",
            folio.short(),
            over("rust-huge"),
            over("rust-remap"),
            over("rust-fault"),
            c.map_or("–".into(), |c| c.short()),
        );
    }
    if let (Some(f), Some(m), Some(a)) = (
        r.get("first_read_seq", "rust-folio"),
        r.get("mmap", "rust-remap"),
        r.get("first_read_seq", "rust-remap"),
    ) {
        let remap = m.median + a.median;
        let _ = write!(
            md,
            "\nA fresh remap mapping's `mmap()` + first read (its entries written by `mmap()`): {} \
             ns/page; the folio node's first read of a fresh mapping, its faults included, is \
             {}x that.\n",
            ns(remap),
            ratio(f.median / remap)
        );
    }
    for (label, sizes) in r.entries.iter().filter(|(l, _)| l.ends_with("-folio")) {
        let _ = write!(
            md,
            "\n{label} can map: {} (`vmdev_info.flags`).",
            sizes.replace(',', ", ")
        );
    }
    md.push('\n');
    let rows: Vec<String> = ["rust-folio", "c-folio"]
        .iter()
        .flat_map(|label| PASSES.iter().map(move |pass| (*label, *pass)))
        .filter_map(|(label, pass)| {
            let c = r.counters.get(&(pass.to_string(), label.to_string()))?;
            let per_2m = c.faults as f64 / (c.bytes as f64 / (2 << 20) as f64);
            let pages = (c.faults + c.around_pages) as f64 / c.faults.max(1) as f64;
            Some(format!(
                "| {label} | {pass} | {per_2m:.2} | {pages:.0} | {} KiB |",
                ns(pages * 4.0)
            ))
        })
        .collect();
    if !rows.is_empty() {
        md.push_str(
            "\nWhat the folio nodes mapped (their `vmdev_info` counters over the timed first-touch \
             passes): faults per 2 MiB, and pages per entry, `(faults + around_pages) / faults`: \
             512 is a PMD entry, 1 a PTE.\n\n| node | pass | faults per 2 MiB | pages per entry \
             | entry size |\n|---|---|---|---|---|\n",
        );
        for row in rows {
            md.push_str(&row);
            md.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_folio_rows_and_targets() {
        let log = "bench|mmap|rust-remap|800.0|0|0\n\
                   bench|first_read_seq|rust-remap|250.0|0|0\n\
                   bench|first_read_seq|rust-huge|300.0|0|0\n\
                   bench|first_read_seq|rust-folio|330.0|0|0\n\
                   bench|first_read_seq|c-folio|330.0|0|0\n\
                   bench|map_read_unmap|rust-huge|340.0|0|0\n\
                   bench|map_read_unmap|rust-folio|420.0|0|0\n\
                   bench|map_read_unmap|c-folio|410.0|0|0\n\
                   bench|map_read_unmap|rust-fault|10000.0|0|0\n\
                   bench|map_read_unmap|udmabuf|7000.0|0|0\n\
                   bench|stream_mapping|rust-remap|11500.0|0|0\n\
                   bench|stream_mapping|rust-folio|11490.0|0|0\n\
                   counters|first_read_seq|rust-folio|8|4088|16777216\n\
                   entries|rust-folio|PMD,PTE\nentries|rust-huge|PUD,PMD,PTE\n";
        let r = crate::data::parse(log).unwrap();
        let md = crate::markdown::report(&r, "7.3");
        assert!(
            md.contains(
                "| first read of every page, in order | 330 | 1.10 | 1.32 | – | 330 | 1.000 |"
            ),
            "{md}"
        );
        assert!(md.contains("ns/page; the folio node's first read of a fresh mapping"));
        assert!(md.contains("| rust-folio | first_read_seq | 1.00 | 512 | 2048 KiB |"));
        // Each node's entries in its own section.
        let (huge, folio) = (
            md.find("## The huge node").unwrap(),
            md.find("## The folio node").unwrap(),
        );
        let at = |s: &str| md.find(s).unwrap();
        assert!(huge < at("rust-huge can map") && at("rust-huge can map") < folio);
        assert!(folio < at("rust-folio can map: PMD, PTE"));
        // A column of the comparison of every path.
        assert!(md.contains("| huge node | folio node | udmabuf |"));

        let t = crate::targets::targets(&r);
        let find = |what: &str| t.iter().find(|t| t.what.starts_with(what)).unwrap();
        let first = find("folio node: first read of every page of a fresh mapping at most 1.2x");
        assert!(first.met && first.measured == "folio 330 vs huge 300: 1.10x");
        let remap = find("folio node: first read of every page of a fresh mapping at most 2x");
        assert!(remap.met && remap.measured == "folio 330 vs remap 800 + 250 = 1050: 0.31x");
        let job = find("folio node: mmap + first read + munmap at most 1.2x");
        assert!(
            !job.met && job.left == "folio must drop 3% (to 408 ns/page)",
            "{}",
            job.left
        );
        let below = find("folio node: mmap + first read + munmap below");
        assert!(below.met, "{}", below.measured);
        assert_eq!(
            below.measured,
            "folio 420 vs udmabuf 7000: 0.06x vs fault 10000: 0.04x"
        );
        assert!(find("folio node: streaming").met);
        let rust_c = find("folio node: Rust/C");
        assert!(!rust_c.met && rust_c.measured.starts_with("2 rows, 1 missed"));
        assert_eq!(rust_c.left, "map_read_unmap (folio) 1.02");
    }

    #[test]
    fn the_folio_targets_without_a_folio_node() {
        let r = crate::data::parse("bench|mmap|rust-remap|10.0|0|0\n").unwrap();
        let t = crate::targets::targets(&r);
        let folio: Vec<_> = t
            .iter()
            .filter(|t| t.what.starts_with("folio node"))
            .collect();
        assert_eq!(folio.len(), 6);
        assert!(folio.iter().all(|t| !t.met));
        assert!(folio[0].measured.contains("folio or huge missing"));
    }
}
