//! The fault node's window: the curve of its first touch and sparse touch from one page to a page
//! table's span, and the instructions per fault and per page drawn from its two ends.

use std::fmt::Write as _;

use crate::data::{Results, Stat, ns, ratio, size};
use crate::targets::no_slower;

/// Guest nanoseconds per emulated instruction under `-icount shift=4`.
const NS_PER_INSN: f64 = 16.0;

/// The cost of a fault of the fault node split into what each fault pays once and what each page
/// it maps pays, from the sequential first read at the narrowest and the widest window of the
/// curve: with `f` faults per page, ns/page = per_fault * f + per_page, two rows, two unknowns.
/// Those rows come from one step, with the drivers loaded alike, and their spreads are the
/// tightest of the fault node's.
fn fault_split(r: &Results, label: &str) -> Option<(f64, f64)> {
    let windows = curve(r);
    let off = r.get(&windows.first()?.1, label)?;
    let on = r.get(&windows.last()?.1, label)?;
    let per_fault = (off.median - on.median) / (off.faults - on.faults);
    (per_fault.is_finite() && off.faults > on.faults)
        .then_some((per_fault, on.median - per_fault * on.faults))
}

pub fn instruction_table(md: &mut String, r: &Results) {
    let (Some((rf, rp)), Some((cf, cp))) =
        (fault_split(r, "rust-fault"), fault_split(r, "c-fault"))
    else {
        return;
    };
    md.push_str(
        "\n### Instructions per fault and per page\n\nUnder `-icount shift=4` every guest \
         instruction takes 16 ns of guest time, so the medians count instructions. The sequential \
         first read of the fault node at the narrowest and the widest window of its curve (below: \
         one page and a page table's span per fault) gives two equations in two unknowns: what \
         a fault costs once (the exception, the core's fault \
         path, the driver's handler) and what each page costs (the core's insertion of it, the \
         reference and rmap it takes, the touching loop). Both drivers share everything but the \
         handler, so the difference between them is the handlers'.\n\n\
         | driver | instructions per fault | instructions per page |\n|---|---|---|\n",
    );
    for (name, f, p) in [("Rust", rf, rp), ("C", cf, cp)] {
        let _ = writeln!(
            md,
            "| {name} | {:.0} | {:.1} |",
            f / NS_PER_INSN,
            p / NS_PER_INSN
        );
    }
    let _ = writeln!(
        md,
        "| Rust - C | {:+.0} | {:+.1} |",
        (rf - cf) / NS_PER_INSN,
        (rp - cp) / NS_PER_INSN
    );
}

/// The windows of the fault node's curve, smallest first: bytes, and the metrics of its
/// sequential first read (`window_64k`) and its sparse touch (`sparse_64k`).
fn curve(r: &Results) -> Vec<(u64, String, String)> {
    let mut rows: Vec<(u64, String, String)> = r
        .stats
        .keys()
        .filter_map(|m| {
            let kib: u64 = m.strip_prefix("window_")?.strip_suffix('k')?.parse().ok()?;
            Some((kib << 10, m.clone(), format!("sparse_{kib}k")))
        })
        .collect();
    rows.sort();
    rows
}

pub fn window_table(md: &mut String, r: &Results) {
    let rows = curve(r);
    if rows.is_empty() {
        return;
    }
    md.push_str(
        "\n## The fault node's window\n\nIn the same boot, after the steps above, both drivers \
         reloaded with `fault_around_bytes=W`, for \
         each power of two W from one page to what one page table maps, each fault node checked \
         to report W (`vmdev_info.flags`). For each W, Rust and C in turn: the sequential first \
         read of every page of a fresh 16 MiB mapping (ns per page, as in the comparison of every \
         path; pages per fault from the Rust node's counters, `(faults + around_pages) / faults`), \
         and a sparse first touch of a fresh 16 MiB mapping: one read in each aligned group of 64 \
         pages, the page in the group drawn from a generator with a fixed seed, the same pages \
         for every source and window (ns per page touched). After it, the mapping's present \
         pages are counted from `/proc/self/pagemap` (bit 63): pages present per page touched is \
         the memory a touch costs the process. udmabuf is the reference: its first read is the \
         comparison of every path's, its sparse touch measured once per repetition in this step \
         (its first fault maps the whole VMA, whatever W).\n\n\
         | window | Rust | C | Rust/C | Rust ÷ udmabuf | pages per fault | sparse touch, Rust \
         | sparse touch, C | pages present per page touched, Rust | pages present per page \
         touched, C |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let udmabuf = r.get("first_read_seq", "udmabuf");
    let cell = |s: Option<&Stat>| s.map_or("–".into(), |s| s.short());
    for (bytes, metric, sparse) in &rows {
        let (rust, c) = (r.get(metric, "rust-fault"), r.get(metric, "c-fault"));
        let over = |a: Option<&Stat>, b: Option<&Stat>, f: fn(f64) -> String| match (a, b) {
            (Some(a), Some(b)) if b.median > 0.0 => f(a.median / b.median),
            _ => "–".into(),
        };
        let per_fault = r
            .counters
            .get(&(metric.clone(), "rust-fault".into()))
            .filter(|c| c.faults > 0)
            .map_or("–".into(), |c| {
                ns((c.faults + c.around_pages) as f64 / c.faults as f64)
            });
        let present = |label: &str| {
            r.mapped
                .get(&(sparse.clone(), label.into()))
                .filter(|m| m.touched > 0)
                .map_or("–".into(), |m| ns(m.present as f64 / m.touched as f64))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {per_fault} | {} | {} | {} | {} |",
            size(*bytes),
            cell(rust),
            cell(c),
            over(rust, c, |x| format!("{x:.3}")),
            over(rust, udmabuf, ratio),
            cell(r.get(sparse, "rust-fault")),
            cell(r.get(sparse, "c-fault")),
            present("rust-fault"),
            present("c-fault"),
        );
    }
    let sparse = r.get("sparse", "udmabuf");
    if let (Some(u), Some(m)) = (
        udmabuf,
        r.mapped.get(&("sparse".to_string(), "udmabuf".to_string())),
    ) && m.touched > 0
        && m.pages > 0
    {
        let how = if m.how == "pagemap" {
            "counted from pagemap".to_string()
        } else {
            format!(
                "its mapping is `VM_PFNMAP`, which pagemap skips: counted as the mapping's pages \
                 less the faults a read of every page then took, {}",
                if m.present == m.pages {
                    "none"
                } else {
                    "some (an upper bound)"
                }
            )
        };
        let _ = write!(
            md,
            "\nudmabuf: first read {} ns/page; sparse touch {} ns per page touched, after which \
             {:.0}% of its mapping was present, {} pages per page touched ({how}).\n",
            u.short(),
            cell(sparse),
            m.present as f64 / m.pages as f64 * 100.0,
            ns(m.present as f64 / m.touched as f64),
        );
    }
    if let Some(u) = udmabuf {
        let rust = |m: &String| r.get(m, "rust-fault");
        let first = rows
            .iter()
            .find_map(|(b, m, _)| Some((b, rust(m)?)).filter(|(_, s)| no_slower(s, u)));
        let fastest = rows
            .iter()
            .filter_map(|(b, m, _)| Some((b, rust(m)?)))
            .min_by(|a, b| a.1.median.total_cmp(&b.1.median));
        match (first, fastest) {
            (Some((b, s)), _) => {
                let _ = write!(
                    md,
                    "\nThe smallest window at which the Rust fault node's first touch is no slower \
                     than udmabuf's (a median at most udmabuf's, or spreads that overlap), where it \
                     overtakes: {}, {} against {} ns/page.\n",
                    size(*b),
                    s.short(),
                    u.short()
                );
            }
            (None, Some((b, s))) => {
                let _ = write!(
                    md,
                    "\nThe Rust fault node's first touch is slower than udmabuf's at every window: \
                     at its fastest, {}, {} against {} ns/page ({}x).\n",
                    size(*b),
                    s.short(),
                    u.short(),
                    ratio(s.median / u.median)
                );
            }
            (None, None) => {}
        }
    }
    if !r.windows.is_empty() {
        let each: Vec<String> = r
            .windows
            .iter()
            .map(|(label, &w)| format!("{label} {}", size(w)))
            .collect();
        let _ = write!(
            md,
            "\nThe default window each fault node reported at the first load \
             (`vmdev_info.flags`, bits 26-31): {}.\n",
            each.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_window_curve_names_where_it_overtakes() {
        let log = "window|rust-fault|65536\nwindow|c-fault|65536\n\
                   bench|first_read_seq|udmabuf|100.0|0|0\n\
                   bench|first_read_seq|rust-fault|104.0|0|0\n\
                   bench|window_4k|rust-fault|400.0|0|0\nbench|window_4k|c-fault|400.0|0|0\n\
                   bench|window_64k|rust-fault|104.0|0|0\nbench|window_64k|c-fault|104.0|0|0\n\
                   bench|window_128k|rust-fault|99.0|0|0\nbench|window_128k|c-fault|100.0|0|0\n\
                   bench|window_2048k|rust-fault|90.0|0|0\n\
                   counters|window_64k|rust-fault|256|3840|16777216\n\
                   mapped|sparse_64k|rust-fault|64|1024|4096|pagemap\n\
                   mapped|sparse|udmabuf|64|4096|4096|faults\n";
        let r = crate::data::parse(log).unwrap();
        let md = crate::markdown::report(&r, "7.3");
        // Smallest first, by size, not by name.
        let at = |w: &str| md.find(&format!("\n| {w} |")).unwrap();
        assert!(at("4 KiB") < at("64 KiB") && at("64 KiB") < at("128 KiB"));
        assert!(at("128 KiB") < at("2 MiB"), "{md}");
        assert!(md.contains("| 64 KiB | 104 | 104 | 1.000 | 1.04 | 16.0 | – | – | 16.0 | – |"));
        assert!(md.contains("where it overtakes: 128 KiB, 99.0 against 100 ns/page"));
        assert!(md.contains("100% of its mapping was present, 64.0 pages per page touched"));
        assert!(md.contains("rust-fault 64 KiB"));
        assert!(md.contains("the 64 KiB around each fault"));
        let t = crate::targets::targets(&r);
        assert!(t[0].what.contains("at its default window, 64 KiB"));
        assert!(!t[0].met);
    }
}
