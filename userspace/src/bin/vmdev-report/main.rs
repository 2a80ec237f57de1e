//! vmdev-report: turns the `bench|...` lines of a `make bench` console log into BENCHMARKS.md
//! (medians with min/max, Rust/C ratios, each target with its verdict) and an SVG chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Parser;
use plotters::prelude::*;

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

/// Median, min and max of one metric for one implementation.
#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    faults: f64,
    reps: usize,
}

fn stat(samples: &[(f64, f64)]) -> Stat {
    let mut ns: Vec<f64> = samples.iter().map(|s| s.0).collect();
    let mut faults: Vec<f64> = samples.iter().map(|s| s.1).collect();
    ns.sort_by(f64::total_cmp);
    faults.sort_by(f64::total_cmp);
    Stat {
        median: ns[ns.len() / 2],
        min: ns[0],
        max: ns[ns.len() - 1],
        faults: faults[faults.len() / 2],
        reps: ns.len(),
    }
}

type Results = BTreeMap<String, BTreeMap<String, Stat>>;

fn parse(log: &str) -> Result<Results, String> {
    let mut samples: BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
    for line in log
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("bench|"))
    {
        let f: Vec<&str> = line.split('|').collect();
        let [metric, imp, ns, faults] = f[..] else {
            return Err(format!("bad line {line:?}"));
        };
        let ns = ns.parse().map_err(|_| format!("bad number in {line:?}"))?;
        let faults = faults
            .parse()
            .map_err(|_| format!("bad number in {line:?}"))?;
        samples
            .entry(metric.into())
            .or_default()
            .entry(imp.into())
            .or_default()
            .push((ns, faults));
    }
    if samples.is_empty() {
        return Err("no bench| lines in the log".into());
    }
    Ok(samples
        .into_iter()
        .map(|(m, by)| (m, by.into_iter().map(|(i, s)| (i, stat(&s))).collect()))
        .collect())
}

fn get<'a>(r: &'a Results, metric: &str, imp: &str) -> Result<&'a Stat, String> {
    r.get(metric)
        .and_then(|m| m.get(imp))
        .ok_or_else(|| format!("no {metric} for {imp}"))
}

fn fmt_stat(s: &Stat) -> String {
    format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn report(r: &Results, kernel: &str) -> Result<String, String> {
    let mut md = String::new();
    let w = |md: &mut String, s: String| md.push_str(&s);
    w(
        &mut md,
        "# Benchmarks: rust_vmdev against its C twin\n\n".into(),
    );
    w(
        &mut md,
        format!(
            "Written by `make bench` (`vmdev-report`). Kernel: `{kernel}`, built from `scripts/vm.config` + \
         `scripts/bench.config` (no KASAN, lockdep or kmemleak), booted under QEMU TCG with 2 vCPUs \
         and `-icount shift=4`: these machines have no usable KVM, so guest time counts emulated \
         instructions (16 ns each), not host time; absolute numbers mean little, ratios taken in the \
         same boot do, and two runs agree within 1%. Every number is nanoseconds per 4 KiB page, the \
         median of {} repetitions with the min–max spread, interleaved with the first driver \
         alternating (Rust, C, C, Rust, ...).\n\n",
            get(r, "remap_mmap_munmap", "rust")?.reps
        ),
    );

    w(&mut md, "## Rust against C, every metric\n\n| metric | Rust ns/page | C ns/page | Rust/C | target ≤ 1.00 within spread, never > 1.05 |\n|---|---|---|---|---|\n".into());
    let mut worst: f64 = 0.0;
    for (metric, by) in r {
        let (Some(rust), Some(c)) = (by.get("rust"), by.get("c")) else {
            continue;
        };
        if c.median <= 0.0 {
            w(
                &mut md,
                format!(
                    "| {metric} | {} | {} | – | below the clock's resolution |\n",
                    fmt_stat(rust),
                    fmt_stat(c)
                ),
            );
            continue;
        }
        let ratio = rust.median / c.median;
        worst = worst.max(ratio);
        let within = rust.min <= c.max;
        let ok = ratio <= 1.05 && (ratio <= 1.0 || within);
        w(
            &mut md,
            format!(
                "| {metric} | {} | {} | {ratio:.2} | {} |\n",
                fmt_stat(rust),
                fmt_stat(c),
                verdict(ok)
            ),
        );
    }
    w(
        &mut md,
        format!("\nWorst Rust/C median ratio: {worst:.2}.\n\n"),
    );
    w(
        &mut md,
        "The `seq_write` rows compare different designs: on a write fault to a shared mapping the \
         Rust driver maps the 16-page block around it (`VmFault::map_window`), while the C twin \
         keeps the classic one page per fault. The `around_off` rows turn off the kernel's \
         fault-around (`fault_around_bytes`), which reads follow; the driver's write window follows \
         its own `fault_around` parameter.\n\n"
            .into(),
    );

    w(&mut md, "## First touch of the 16 MiB fault buffer, against the kernel's own memory\n\n| metric | Rust | C | anonymous | tmpfs (memfd) | Rust faults/page |\n|---|---|---|---|---|---|\n".into());
    for (metric, by) in r.iter().filter(|(m, _)| m.starts_with("first_touch")) {
        let cell = |i: &str| by.get(i).map_or("–".into(), fmt_stat);
        let faults = by.get("rust").map_or(0.0, |s| s.faults);
        w(
            &mut md,
            format!(
                "| {metric} | {} | {} | {} | {} | {faults:.3} |\n",
                cell("rust"),
                cell("c"),
                cell("anon"),
                cell("tmpfs")
            ),
        );
    }

    w(&mut md, "\n## Targets of the fault path\n\n| target | Rust | C | verdict (Rust) |\n|---|---|---|---|\n".into());
    let ratios = |imp: &str| -> Result<(f64, f64), String> {
        let (on, off) = (
            get(r, "first_touch_seq_read_around_on", imp)?,
            get(r, "first_touch_seq_read_around_off", imp)?,
        );
        Ok((off.faults / on.faults, off.median / on.median))
    };
    let ((rf, rt), (cf, ct)) = (ratios("rust")?, ratios("c")?);
    w(
        &mut md,
        format!(
            "| fault-around, sequential read: ≥ 8x fewer faults than without | {rf:.1}x | {cf:.1}x | {} |\n",
            verdict(rf >= 8.0)
        ),
    );
    w(
        &mut md,
        format!(
            "| fault-around, sequential read: ≥ 3x lower cost per page than without | {rt:.1}x | {ct:.1}x | {} |\n",
            verdict(rt >= 3.0)
        ),
    );
    for dev in ["fault", "remap"] {
        let speedup = |imp: &str| -> Result<f64, String> {
            Ok(get(r, &format!("stream_{dev}_read"), imp)?.median
                / get(r, &format!("stream_{dev}_mapping"), imp)?.median)
        };
        let (rs, cs) = (speedup("rust")?, speedup("c")?);
        w(
            &mut md,
            format!(
                "| streaming the {dev} buffer: mapping ≥ 2x faster than read() | {rs:.1}x | {cs:.1}x | {} |\n",
                verdict(rs >= 2.0)
            ),
        );
    }
    let flat = |imp: &str| -> Result<f64, String> {
        let costs: Vec<f64> = [1, 4, 16, 64]
            .iter()
            .map(|s| get(r, &format!("growth_{s}mib"), imp).map(|x| x.median))
            .collect::<Result<_, _>>()?;
        let lo = costs.iter().copied().fold(f64::MAX, f64::min);
        let hi = costs.iter().copied().fold(0.0, f64::max);
        Ok(hi / lo - 1.0)
    };
    let (rg, cg) = (flat("rust")?, flat("c")?);
    w(
        &mut md,
        format!(
            "| first-touch cost per page flat (within 20%) from 1 to 64 MiB | {:.0}% spread | {:.0}% spread | {} |\n",
            rg * 100.0,
            cg * 100.0,
            verdict(rg <= 0.2)
        ),
    );
    for imp in ["rust", "c"] {
        let (one, two) = (get(r, "procs_1", imp)?, get(r, "procs_2", imp)?);
        w(
            &mut md,
            format!(
                "\n{imp}: one process touching 16 MiB {:.0} ns/page, two processes touching halves at once {:.0} ns/page (wall time per page of the whole buffer).",
                one.median, two.median
            ),
        );
    }
    w(
        &mut md,
        "\n\n![ns per page by path and implementation](bench/chart.svg)\n".into(),
    );
    Ok(md)
}

fn chart(r: &Results, path: &PathBuf) -> Result<(), String> {
    let metrics: Vec<&String> = r
        .keys()
        .filter(|m| {
            m.starts_with("first_touch") || m.starts_with("remap_") || m.starts_with("stream_")
        })
        .collect();
    let short = |m: &str| {
        m.trim_start_matches("first_touch_")
            .replace("_around", "")
            .replace('_', " ")
    };
    let imps = [
        ("rust", RGBColor(222, 95, 40)),
        ("c", RGBColor(60, 110, 180)),
        ("anon", RGBColor(120, 120, 120)),
        ("tmpfs", RGBColor(90, 170, 90)),
    ];
    let top = metrics
        .iter()
        .flat_map(|m| r[*m].values().map(|s| s.median))
        .fold(1.0, f64::max)
        * 2.0;
    let n = metrics.len();
    let root = SVGBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    // Group i is centred on x = i, so the mesh's integer labels fall under their group.
    let mut ch = ChartBuilder::on(&root)
        .caption(
            "rust_vmdev: median ns per 4 KiB page, log scale (QEMU TCG with -icount)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (10f64..top).log_scale())
        .map_err(|e| e.to_string())?;
    ch.configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            metrics.get(i as usize).map_or(String::new(), |m| short(m))
        })
        .x_label_style(("sans-serif", 11))
        .y_desc("ns per page")
        .draw()
        .map_err(|e| e.to_string())?;
    let width = 0.8 / imps.len() as f64;
    for (k, (imp, color)) in imps.iter().enumerate() {
        let bars = metrics.iter().enumerate().filter_map(|(i, m)| {
            let s = r[*m].get(*imp)?;
            let x0 = i as f64 - 0.4 + k as f64 * width;
            Some(Rectangle::new(
                [(x0, 10.0), (x0 + width, s.median.max(10.0))],
                color.filled(),
            ))
        });
        ch.draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(*imp)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    ch.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn main() {
    let args = Args::parse();
    let run = || -> Result<(), String> {
        let log = std::fs::read_to_string(&args.log)
            .map_err(|e| format!("{}: {e}", args.log.display()))?;
        let kernel = log
            .lines()
            .find_map(|l| l.split("Linux version ").nth(1))
            .map_or("unknown".into(), |v| {
                v.split_whitespace().next().unwrap_or("unknown").to_string()
            });
        let r = parse(&log)?;
        let mut md = report(&r, &kernel)?;
        let date = std::process::Command::new("date")
            .arg("-u")
            .arg("+%Y-%m-%d")
            .output()
            .map_err(|e| e.to_string())?;
        let _ = write!(
            md,
            "\nRun on {} (UTC).\n",
            String::from_utf8_lossy(&date.stdout).trim()
        );
        std::fs::write(&args.markdown, md).map_err(|e| e.to_string())?;
        chart(&r, &args.chart)
    };
    if let Err(e) = run() {
        eprintln!("vmdev-report: {e}");
        std::process::exit(1);
    }
}
