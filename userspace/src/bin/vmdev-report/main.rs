//! vmdev-report: turns the lines of a `make bench` console log into BENCHMARKS.md (medians with
//! their spread, every path against the peers, Rust against C, each target with its verdict)
//! and an SVG chart. Fails, after writing both, when the log reports a source it could not
//! measure.
//!
//! The report names the boot reservations the nodes serve (`huge`, `twin`) and prints their
//! sizes and addresses only as the log recorded them: from the `vmdev_reserved=NAME:BASE,SIZE`
//! words of the kernel's command line on the console.
//!
//! One section is not generated: what the drivers do for the targets, prose written by hand in
//! `bench/targets.md` and printed verbatim under the table of targets (compiled in, so a change
//! to it rebuilds the report). Edit that file, not BENCHMARKS.md, and rerun the report.

mod chart;
mod data;
mod markdown;
mod targets;

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Writes BENCHMARKS.md and a chart from a make bench console log")]
struct Args {
    /// The console log of the benchmark VM.
    log: PathBuf,
    /// Where to write the Markdown report.
    markdown: PathBuf,
    /// Where to write the SVG chart.
    chart: PathBuf,
}

fn run(args: &Args) -> Result<(), String> {
    let log =
        std::fs::read_to_string(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let kernel = log
        .lines()
        .find_map(|l| l.split("Linux version ").nth(1))
        .map_or("unknown".into(), |v| {
            v.split_whitespace().next().unwrap_or("unknown").to_string()
        });
    let r = data::parse(&log)?;
    let mut md = markdown::report(&r, &kernel);
    // The day the VM wrote the log, not today's: a report regenerated later from the same log
    // keeps the date of its run.
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d", "-r"])
        .arg(&args.log)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = write!(
        md,
        "\nRun on {} (UTC).\n",
        String::from_utf8_lossy(&date.stdout).trim()
    );
    std::fs::write(&args.markdown, md).map_err(|e| format!("{}: {e}", args.markdown.display()))?;
    chart::chart(&r, &args.chart)?;
    if !r.errors.is_empty() {
        let which: Vec<&str> = r.errors.iter().map(|(l, _)| l.as_str()).collect();
        return Err(format!(
            "the bench could not measure {} (see Errors in {})",
            which.join(", "),
            args.markdown.display()
        ));
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("vmdev-report: {e}");
        std::process::exit(1);
    }
}
