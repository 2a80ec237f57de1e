//! Rust against C: every metric both drivers ran, each with its verdict.

use std::fmt::Write as _;

use crate::data::{Results, ns};
use crate::targets::{rust_c_ok, rust_c_rows};

use super::verdict;

pub fn rust_c_table(md: &mut String, r: &Results) {
    md.push_str("\n## Rust against C, every metric\n\nBoth run the same design on every node, so every row compares the languages. Target: Rust/C at most 1.00 within the spread, never above 1.01.\n\n| metric | node | Rust | C | Rust/C | verdict |\n|---|---|---|---|---|---|\n");
    let rows = rust_c_rows(r);
    for (metric, node, rust, c) in &rows {
        let _ = writeln!(
            md,
            "| {metric} | {node} | {} | {} | {:.3} | {} |",
            rust.range(),
            c.range(),
            rust.median / c.median,
            verdict(rust_c_ok(rust, c))
        );
    }
    for lang in ["rust", "c"] {
        let label = format!("{lang}-fault");
        if let (Some(one), Some(two)) = (r.get("procs_1", &label), r.get("procs_2", &label)) {
            let _ = write!(
                md,
                "\n{lang}: one process first-touching 16 MiB {} ns/page, two processes touching halves at once {} ns/page (wall time per page of the whole buffer).\n",
                ns(one.median),
                ns(two.median)
            );
        }
    }
}
