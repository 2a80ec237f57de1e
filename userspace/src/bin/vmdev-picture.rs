//! vmdev-picture: draws the pages and frames `make run`'s demo saw, from the `picture|` lines of
//! its console log (`vmdev::picture`), as SVG.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use vmdev::picture;

#[derive(Parser)]
#[command(about = "Writes the demo's picture (SVG) from a make run console log")]
struct Args {
    /// The console log of the demo VM (build/vm-demo.log).
    log: PathBuf,
    /// Where to write the SVG.
    svg: PathBuf,
}

fn run(args: &Args) -> Result<(), String> {
    let log =
        std::fs::read_to_string(&args.log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let entries = picture::parse_log(&log).map_err(|e| format!("{}: {e}", args.log.display()))?;
    let title = "One process's pages and the frames behind them (make run)";
    std::fs::write(&args.svg, picture::svg(&entries, title))
        .map_err(|e| format!("{}: {e}", args.svg.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmdev-picture: {e}");
            ExitCode::FAILURE
        }
    }
}
