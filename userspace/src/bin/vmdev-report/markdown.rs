//! BENCHMARKS.md, section by section in the order of the report: the opening (`intro`), the
//! targets (here), every path against the peers (`peers`), the fault node's window (`window`),
//! per-VMA-lock retries (`retries`), the huge node (`huge`), the remap node's mapping hook
//! (`hooks`), Rust against C (`rust_c`).

mod hooks;
mod huge;
mod intro;
mod peers;
mod retries;
mod rust_c;
mod window;

use std::fmt::Write as _;

use crate::data::{Results, size};
use crate::targets::{TRIED, targets};

pub use peers::SOURCES;

/// A boot reservation by its name, with its size and base when the run's command line announced
/// them: "the `huge` reservation (64 MiB at 0x48000000)".
fn reservation(r: &Results, name: &str) -> String {
    r.reservations.get(name).map_or_else(
        || format!("the `{name}` reservation"),
        |res| {
            format!(
                "the `{name}` reservation ({} at {:#x})",
                size(res.size),
                res.base
            )
        },
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn target_table(md: &mut String, r: &Results) {
    md.push_str(
        "## Targets\n\n\"No slower\" means a median at most the other's, or spreads that \
         overlap. From this run:\n\n| target | measured | verdict | what is left |\n|---|---|---|---|\n",
    );
    let targets = targets(r);
    for t in &targets {
        let left = if t.met { "" } else { t.left.as_str() };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {left} |",
            t.what,
            t.measured,
            verdict(t.met)
        );
    }
    md.push('\n');
    let tried: Vec<_> = targets
        .iter()
        .filter(|t| !t.met)
        .filter_map(|t| TRIED.iter().find(|(start, _)| t.what.starts_with(start)))
        .collect();
    if !tried.is_empty() {
        md.push_str("What was tried for the missed targets:\n\n");
        for (start, text) in tried {
            let _ = writeln!(md, "- *{start}...*: {text}");
        }
        md.push('\n');
    }
}

pub fn report(r: &Results, kernel: &str) -> String {
    let mut md = String::new();
    intro::intro(&mut md, r, kernel);
    intro::errors(&mut md, r);
    target_table(&mut md, r);
    peers::peer_tables(&mut md, r);
    peers::around_off_table(&mut md, r);
    window::instruction_table(&mut md, r);
    window::window_table(&mut md, r);
    retries::retry_table(&mut md, r);
    huge::huge_table(&mut md, r);
    hooks::hook_table(&mut md, r);
    rust_c::rust_c_table(&mut md, r);
    md.push_str("\n![ns per page by path: the driver's nodes and the peers](bench/chart.svg)\n");
    md
}
