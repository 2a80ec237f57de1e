//! The targets, each with its verdict from the run and, when missed, what is left to gain. What
//! the drivers do for them is prose written by hand, `bench/targets.md` (see `markdown`).

use crate::data::{Results, Stat, ns, size};

pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
    /// What the numbers say is left, for a missed target.
    pub left: String,
}

/// "No slower": the median at most the other's, or the spreads overlap (the difference is
/// within the noise of the repetitions).
pub fn no_slower(a: &Stat, b: &Stat) -> bool {
    a.median <= b.median || a.min <= b.max
}

/// The verdict of a Rust/C row: at most 1.00 within the spread, never above 1.01.
pub fn rust_c_ok(rust: &Stat, c: &Stat) -> bool {
    let ratio = rust.median / c.median;
    ratio <= 1.01 && no_slower(rust, c)
}

/// The rows where the Rust driver and the C twin both ran (the same design on every node):
/// (metric, node, Rust, C).
pub fn rust_c_rows(r: &Results) -> Vec<(&str, &str, &Stat, &Stat)> {
    let mut rows = Vec::new();
    for (metric, by) in &r.stats {
        for (label, rust) in by {
            let Some(node) = label.strip_prefix("rust-") else {
                continue;
            };
            if let Some(c) = by.get(&format!("c-{node}"))
                && c.median > 0.0
            {
                rows.push((metric.as_str(), node, rust, c));
            }
        }
    }
    rows
}

/// `a` no slower than `b`: (what, measured, met, left).
fn not_slower(
    what: &str,
    (an, a): (&str, Option<&Stat>),
    (bn, b): (&str, Option<&Stat>),
) -> Target {
    let (Some(a), Some(b)) = (a, b) else {
        return missing(what, &format!("{an} or {bn}"));
    };
    let ratio = a.median / b.median;
    let met = no_slower(a, b);
    Target {
        what: what.into(),
        measured: format!("{an} {} vs {bn} {}: {ratio:.2}x", a.short(), b.short()),
        met,
        left: if met {
            String::new()
        } else {
            format!(
                "{an} must drop {:.0}% ({} ns/page) to reach {bn}'s median",
                (1.0 - b.median / a.median) * 100.0,
                ns(a.median - b.median)
            )
        },
    }
}

fn missing(what: &str, which: &str) -> Target {
    Target {
        what: what.into(),
        measured: format!("not measured ({which} missing: see Errors)"),
        met: false,
        left: "a run that measures it".into(),
    }
}

pub fn targets(r: &Results) -> Vec<Target> {
    let mut t = Vec::new();
    let g = |m: &str, l: &str| r.get(m, l);

    // The fault node's first touch against udmabuf, and against remap's mmap + first access.
    let window = r
        .windows
        .get("rust-fault")
        .map_or("not reported".into(), |&w| size(w));
    t.push(not_slower(
        &format!(
            "first touch of the fault node (sequential read, at its default window, {window}) \
             no slower than udmabuf's"
        ),
        ("fault node", g("first_read_seq", "rust-fault")),
        ("udmabuf", g("first_read_seq", "udmabuf")),
    ));
    let what = "first touch of the fault node at most 2x the remap node's mmap + first access";
    match (
        g("first_read_seq", "rust-fault"),
        g("mmap", "rust-remap"),
        g("first_read_seq", "rust-remap"),
    ) {
        (Some(f), Some(m), Some(a)) => {
            let remap = m.median + a.median;
            let ratio = f.median / remap;
            t.push(Target {
                what: what.into(),
                measured: format!(
                    "fault {} vs remap {} + {} = {}: {ratio:.2}x",
                    ns(f.median),
                    ns(m.median),
                    ns(a.median),
                    ns(remap)
                ),
                met: ratio <= 2.0,
                left: format!(
                    "the fault node's first touch must drop {:.0}% (to {} ns/page)",
                    (1.0 - 2.0 / ratio) * 100.0,
                    ns(2.0 * remap)
                ),
            });
        }
        _ => t.push(missing(what, "rust-fault or rust-remap")),
    }

    // remap_pfn_range in this driver against the peers that use it.
    for (peer, name) in [
        ("heap", "the dma-buf system heap's"),
        ("devmem", "/dev/mem's"),
    ] {
        t.push(not_slower(
            &format!("mmap of the remap node per page no slower than {name}"),
            ("remap", g("mmap", "rust-remap")),
            (peer, g("mmap", peer)),
        ));
    }

    // Rust against C.
    let rows = rust_c_rows(r);
    let missed: Vec<String> = rows
        .iter()
        .filter(|(_, _, rust, c)| !rust_c_ok(rust, c))
        .map(|(m, n, rust, c)| format!("{m} ({n}) {:.2}", rust.median / c.median))
        .collect();
    let worst = rows
        .iter()
        .map(|(m, n, rust, c)| (rust.median / c.median, *m, *n))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    t.push(Target {
        what: "Rust/C at most 1.00 within the spread on every row, never above 1.01".into(),
        measured: match worst {
            Some((w, m, n)) => format!(
                "{} rows, {} missed; worst median ratio {w:.2} ({m}, {n})",
                rows.len(),
                missed.len()
            ),
            None => "no rows".into(),
        },
        met: !rows.is_empty() && missed.is_empty(),
        left: missed.join(", "),
    });

    // The huge node against remap_pfn_range over the whole reserved range.
    let what = "huge node: building the mapping (mmap + one read per 2 MiB + munmap) at least 25x cheaper than remap's";
    match (
        g("setup_whole", "rust-remap"),
        g("setup_whole", "rust-huge"),
    ) {
        (Some(remap), Some(huge)) => {
            let x = remap.median / huge.median;
            t.push(Target {
                what: what.into(),
                measured: format!("remap {} vs huge {}: {x:.1}x", remap.short(), huge.short()),
                met: x >= 25.0,
                left: format!(
                    "the huge setup must drop {:.0}% (to {} ns/page)",
                    (1.0 - x / 25.0) * 100.0,
                    ns(remap.median / 25.0)
                ),
            });
        }
        _ => t.push(missing(what, "setup_whole")),
    }
    t.push(not_slower(
        "huge node: first read of every page (entries in place) no slower than remap's",
        ("huge", g("first_read_whole", "rust-huge")),
        ("remap", g("first_read_whole", "rust-remap")),
    ));
    t.push(not_slower(
        "huge node: streaming through the warm mapping no slower than remap's",
        ("huge", g("stream_whole", "rust-huge")),
        ("remap", g("stream_whole", "rust-remap")),
    ));

    // The fault path's own targets.
    let fault = |m: &str| g(m, "rust-fault");
    if let (Some(on), Some(off)) = (fault("first_read_seq"), fault("first_read_seq_around_off")) {
        let (fx, cx) = (off.faults / on.faults, off.median / on.median);
        t.push(ratio_target(
            "fault-around, sequential read: at least 8x fewer faults than without",
            fx,
            8.0,
        ));
        t.push(ratio_target(
            "fault-around, sequential read: at least 3x lower cost per page than without",
            cx,
            3.0,
        ));
    }
    for node in ["fault", "remap"] {
        let label = format!("rust-{node}");
        if let (Some(read), Some(map)) = (g("stream_read", &label), g("stream_mapping", &label)) {
            t.push(ratio_target(
                &format!(
                    "streaming the {node} node: a warm mapping at least 2x faster than read()"
                ),
                read.median / map.median,
                2.0,
            ));
        }
    }
    let growth: Option<Vec<f64>> = [1, 4, 16, 64]
        .iter()
        .map(|s| fault(&format!("growth_{s}mib")).map(|x| x.median))
        .collect();
    if let Some(costs) = growth {
        let lo = costs.iter().copied().fold(f64::MAX, f64::min);
        let hi = costs.iter().copied().fold(0.0, f64::max);
        let spread = hi / lo - 1.0;
        t.push(Target {
            what: "first-touch cost per page of the fault node flat (within 20%) from 1 to 64 MiB"
                .into(),
            measured: format!("{:.0}% spread", spread * 100.0),
            met: spread <= 0.2,
            left: format!("{:.0} points of spread", (spread - 0.2) * 100.0),
        });
    }
    t
}

fn ratio_target(what: &str, x: f64, at_least: f64) -> Target {
    Target {
        what: what.into(),
        measured: format!("{x:.1}x"),
        met: x >= at_least,
        left: format!("{:.1}x more", at_least / x),
    }
}
