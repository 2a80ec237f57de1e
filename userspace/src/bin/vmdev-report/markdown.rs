//! BENCHMARKS.md, section by section in the order of the report: the opening (`intro`), the
//! targets (here, with `bench/targets.md` under them), every path against the peers (`peers`),
//! the fault node's window (`window`), per-VMA-lock retries (`retries`), the huge node (`huge`),
//! the folio node (`folio`), the remap node's mapping hook (`hooks`), Rust against C (`rust_c`).

mod folio;
mod hooks;
mod huge;
mod intro;
mod peers;
mod retries;
mod rust_c;
mod window;

use std::fmt::Write as _;

use crate::data::{Results, size};
use crate::targets::targets;

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

/// What the drivers do for each target, in prose: a file written by hand, printed verbatim under
/// the table of targets. Edit it there; the report is regenerated with it.
const TARGET_NOTES: &str = include_str!("../../../../bench/targets.md");

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
    md.push_str(TARGET_NOTES);
    md.push('\n');
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
    folio::folio_table(&mut md, r);
    hooks::hook_table(&mut md, r);
    rust_c::rust_c_table(&mut md, r);
    md.push_str("\n![ns per page by path: the driver's nodes and the peers](bench/chart.svg)\n");
    md
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_target_notes_follow_the_table_verbatim() {
        let r = crate::data::parse("bench|mmap|rust-remap|10.0|0|0\n").unwrap();
        let md = super::report(&r, "7.3");
        let at = |s: &str| md.find(s).unwrap();
        let notes = at(super::TARGET_NOTES);
        assert!(
            at("\n| target |") < notes && notes < at("\n## Every path"),
            "{md}"
        );
    }
}
