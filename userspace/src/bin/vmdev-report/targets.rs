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
    t.push(within_remap(
        r,
        "first touch of the fault node at most 2x the remap node's mmap + first access",
        "fault",
        2.0,
    ));

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
    t.push(rust_c_target(
        "Rust/C at most 1.00 within the spread on every row, never above 1.01",
        &rust_c_rows(r),
    ));

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

    // The folio node (one PMD entry per folio, refcounted pages) against the huge node's PMD
    // entries of raw frames, the remap node, udmabuf and the fault node; the same 16 MiB as the
    // comparison of every path.
    t.push(at_most(
        "folio node: first read of every page of a fresh mapping at most 1.2x the huge node's",
        ("folio", g("first_read_seq", "rust-folio")),
        ("huge", g("first_read_seq", "rust-huge")),
        1.2,
    ));
    t.push(within_remap(
        r,
        "folio node: first read of every page of a fresh mapping at most 2x the remap node's mmap \
         + first access",
        "folio",
        2.0,
    ));
    let whole_job = |l: &str| g("map_read_unmap", l);
    t.push(at_most(
        "folio node: mmap + first read + munmap at most 1.2x the huge node's",
        ("folio", whole_job("rust-folio")),
        ("huge", whole_job("rust-huge")),
        1.2,
    ));
    t.push(below(
        "folio node: mmap + first read + munmap below udmabuf's and the fault node's",
        ("folio", whole_job("rust-folio")),
        &[
            ("udmabuf", whole_job("udmabuf")),
            ("fault", whole_job("rust-fault")),
        ],
    ));
    t.push(not_slower(
        "folio node: streaming through a warm mapping no slower than the remap node's",
        ("folio", g("stream_mapping", "rust-folio")),
        ("remap", g("stream_mapping", "rust-remap")),
    ));
    let folio_rows: Vec<_> = rust_c_rows(r)
        .into_iter()
        .filter(|row| row.1 == "folio")
        .collect();
    t.push(rust_c_target(
        "folio node: Rust/C at most 1.00 within the spread on each of its rows, never above 1.01",
        &folio_rows,
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

/// `a` at most `factor` times `b`, by their medians.
fn at_most(
    what: &str,
    (an, a): (&str, Option<&Stat>),
    (bn, b): (&str, Option<&Stat>),
    factor: f64,
) -> Target {
    let (Some(a), Some(b)) = (a, b) else {
        return missing(what, &format!("{an} or {bn}"));
    };
    let ratio = a.median / b.median;
    Target {
        what: what.into(),
        measured: format!("{an} {} vs {bn} {}: {ratio:.2}x", a.short(), b.short()),
        met: ratio <= factor,
        left: format!(
            "{an} must drop {:.0}% (to {} ns/page)",
            (1.0 - factor / ratio) * 100.0,
            ns(factor * b.median)
        ),
    }
}

/// `a` below each of `others`: a lower median than each.
fn below(what: &str, (an, a): (&str, Option<&Stat>), others: &[(&str, Option<&Stat>)]) -> Target {
    let Some(a) = a else {
        return missing(what, an);
    };
    let mut measured = vec![format!("{an} {}", a.short())];
    let mut left = Vec::new();
    for (bn, b) in others {
        let Some(b) = b else {
            return missing(what, bn);
        };
        measured.push(format!("{bn} {}: {:.2}x", b.short(), a.median / b.median));
        if a.median >= b.median {
            left.push(format!(
                "{an} must drop {:.0}% to go below {bn}'s median",
                (1.0 - b.median / a.median) * 100.0
            ));
        }
    }
    Target {
        what: what.into(),
        measured: measured.join(" vs "),
        met: left.is_empty(),
        left: left.join("; "),
    }
}

/// The first read of every page of a fresh mapping of node `node` (`rust-NODE`) at most `factor`
/// times the remap node's `mmap()` plus its first access (its entries already written).
fn within_remap(r: &Results, what: &str, node: &str, factor: f64) -> Target {
    let label = format!("rust-{node}");
    let g = |m: &str, l: &str| r.get(m, l);
    match (
        g("first_read_seq", &label),
        g("mmap", "rust-remap"),
        g("first_read_seq", "rust-remap"),
    ) {
        (Some(f), Some(m), Some(a)) => {
            let remap = m.median + a.median;
            let ratio = f.median / remap;
            Target {
                what: what.into(),
                measured: format!(
                    "{node} {} vs remap {} + {} = {}: {ratio:.2}x",
                    ns(f.median),
                    ns(m.median),
                    ns(a.median),
                    ns(remap)
                ),
                met: ratio <= factor,
                left: format!(
                    "the {node} node's first touch must drop {:.0}% (to {} ns/page)",
                    (1.0 - factor / ratio) * 100.0,
                    ns(factor * remap)
                ),
            }
        }
        _ => missing(what, &format!("{label} or rust-remap")),
    }
}

/// Rust/C on `rows` (see [`rust_c_rows`]): each at most 1.00 within the spread, never above
/// 1.01.
fn rust_c_target(what: &str, rows: &[(&str, &str, &Stat, &Stat)]) -> Target {
    let missed: Vec<String> = rows
        .iter()
        .filter(|(_, _, rust, c)| !rust_c_ok(rust, c))
        .map(|(m, n, rust, c)| format!("{m} ({n}) {:.2}", rust.median / c.median))
        .collect();
    let worst = rows
        .iter()
        .map(|(m, n, rust, c)| (rust.median / c.median, *m, *n))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    Target {
        what: what.into(),
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
    }
}

fn ratio_target(what: &str, x: f64, at_least: f64) -> Target {
    Target {
        what: what.into(),
        measured: format!("{x:.1}x"),
        met: x >= at_least,
        left: format!("{:.1}x more", at_least / x),
    }
}
