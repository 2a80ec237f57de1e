//! The remap node's mapping hook: its `mmap()` with `f_op->mmap_prepare`, the default, and with
//! the classic `f_op->mmap`.

use std::fmt::Write as _;

use crate::data::{Results, ratio};

/// The label of a driver's remap node loaded with `mmap_prepare=0` (`vmdev-bench`).
fn classic_label(lang: &str) -> String {
    format!("{lang}-remap (f_op->mmap)")
}

pub fn hook_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## The remap node's mapping hook\n\nThe drivers register `f_op->mmap_prepare` by \
         default; loaded with `mmap_prepare=0`, the deprecated `f_op->mmap`. The remap node's \
         `mmap()` of 16 MiB (its `remap_pfn_range()` of the whole mapping) with each: the default \
         rows are those of the comparison of every path, the others were measured in the same \
         boot, after it, with both drivers reloaded. Each cell names the hook its node reported \
         (`VMDEV_FLAG_MMAP_PREPARE`).\n\n| metric | driver | default load | `mmap_prepare=0` | \
         ÷ default |\n|---|---|---|---|---|\n",
    );
    let hook = |label: &str| {
        r.hooks
            .get(label)
            .map_or(String::new(), |h| format!(" (`{h}`)"))
    };
    for metric in ["mmap", "mmap_munmap"] {
        for (lang, name) in [("rust", "Rust"), ("c", "C")] {
            let (default, classic) = (format!("{lang}-remap"), classic_label(lang));
            let (d, c) = (r.get(metric, &default), r.get(metric, &classic));
            let cell = |s: Option<&crate::data::Stat>, label: &str| {
                s.map_or("–".into(), |s| format!("{}{}", s.short(), hook(label)))
            };
            let x = match (d, c) {
                (Some(d), Some(c)) if d.median > 0.0 => ratio(c.median / d.median),
                _ => "–".into(),
            };
            let _ = writeln!(
                md,
                "| {metric} | {name} | {} | {} | {x} |",
                cell(d, &default),
                cell(c, &classic)
            );
        }
    }
    for lang in ["rust", "c"] {
        let (default, classic) = (format!("{lang}-remap"), classic_label(lang));
        if let (Some(a), Some(b)) = (r.hooks.get(&default), r.hooks.get(&classic))
            && a == b
        {
            let _ = write!(
                md,
                "\n`{default}` reported `{a}` with either load: its two rows ran the same hook.\n"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_classic_hook_rows_are_their_own() {
        let log = "bench|mmap|rust-remap|10.0|0|0\nbench|mmap|c-remap|10.0|0|0\n\
                   bench|mmap|rust-remap (f_op->mmap)|12.0|0|0\n\
                   bench|mmap|c-remap (f_op->mmap)|11.0|0|0\n\
                   hook|rust-remap|f_op->mmap_prepare\nhook|c-remap|f_op->mmap\n\
                   hook|rust-remap (f_op->mmap)|f_op->mmap\nhook|c-remap (f_op->mmap)|f_op->mmap\n";
        let r = crate::data::parse(log).unwrap();
        let md = crate::markdown::report(&r, "7.3");
        assert!(
            md.contains(
                "| mmap | Rust | 10.0 (`f_op->mmap_prepare`) | 12.0 (`f_op->mmap`) | 1.20 |"
            ),
            "{md}"
        );
        assert!(md.contains("| mmap | C | 10.0 (`f_op->mmap`) | 11.0 (`f_op->mmap`) | 1.10 |"));
        assert!(md.contains("`c-remap` reported `f_op->mmap` with either load"));
        assert!(!md.contains("`rust-remap` reported"));
        // Rust against C, per hook: the default rows and the classic rows apart.
        let rows = crate::targets::rust_c_rows(&r);
        let nodes: Vec<&str> = rows.iter().map(|row| row.1).collect();
        assert_eq!(nodes, ["remap", "remap (f_op->mmap)"]);
        assert!(md.contains("| mmap | remap (f_op->mmap) |"));
    }
}
