//! The lines `vmdev-bench` printed, gathered per metric and source: `bench|` samples (medians
//! with their spread), `counters|` of the driver's nodes, `mapped|` pages of the sparse touches,
//! and `error|` lines; and the ranges reserved at boot, from the kernel's command line as the
//! console showed it.

use std::collections::BTreeMap;

/// One metric of one source over its repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// ns per 4 KiB page.
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Minor faults per page (median).
    pub faults: f64,
    /// `vma_lock_retry` per fault over all repetitions (0 without faults).
    pub retries_per_fault: f64,
    pub reps: usize,
}

impl Stat {
    /// "8194 (8158–8280)".
    pub fn range(&self) -> String {
        format!("{} ({}–{})", ns(self.median), ns(self.min), ns(self.max))
    }

    /// "8194 ±1%": the median and the larger distance to min or max.
    pub fn short(&self) -> String {
        let dev = (self.max - self.median).max(self.median - self.min) / self.median * 100.0;
        if dev < 0.5 {
            ns(self.median)
        } else {
            format!("{} ±{dev:.0}%", ns(self.median))
        }
    }
}

/// A cost in ns, with a precision that suits its size.
pub fn ns(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A size in bytes (a power of two from 1 KiB): "64 KiB", "2 MiB".
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// A ratio, with a precision that suits its size.
pub fn ratio(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.4}")
    } else if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// A driver node's counters over one timed step, summed over the repetitions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub faults: u64,
    pub around_pages: u64,
    pub bytes: u64,
}

/// What a sparse touch left mapped (`mapped|` lines), summed over the repetitions.
#[derive(Clone, Debug, Default)]
pub struct Mapped {
    /// Pages read once.
    pub touched: u64,
    /// Pages present afterwards.
    pub present: u64,
    /// Pages of the mapping.
    pub pages: u64,
    /// How `present` was counted: `pagemap`, or `faults` (a mapping pagemap cannot see: the
    /// pages less the faults a read of every page then took).
    pub how: String,
}

/// The boot reservation the Rust driver's remap and huge nodes serve, and /dev/mem maps.
pub const HUGE: &str = "huge";
/// The boot reservation the C twin's remap and huge nodes serve.
pub const TWIN: &str = "twin";

/// A range of RAM reserved at boot, as the VM runner announced it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reservation {
    pub base: u64,
    pub size: u64,
}

#[derive(Default)]
pub struct Results {
    pub stats: BTreeMap<String, BTreeMap<String, Stat>>,
    pub counters: BTreeMap<(String, String), Counters>,
    pub errors: Vec<(String, String)>,
    /// The entry sizes each huge node can map (`vmdev_info.flags`), e.g. "PMD,PTE".
    pub entries: BTreeMap<String, String>,
    /// The mapping hook each remap source's node registered (`vmdev_info.flags`), e.g.
    /// "f_op->mmap_prepare".
    pub hooks: BTreeMap<String, String>,
    /// The pages each sparse touch left mapped, by (metric, label).
    pub mapped: BTreeMap<(String, String), Mapped>,
    /// Each fault node's default window in bytes, as it reported it at the first load.
    pub windows: BTreeMap<String, u64>,
    /// The ranges reserved at boot, by name: the `vmdev_reserved=NAME:BASE,SIZE` words of the
    /// console's `Kernel command line:` line (none in a log without it).
    pub reservations: BTreeMap<String, Reservation>,
}

impl Results {
    pub fn get(&self, metric: &str, label: &str) -> Option<&Stat> {
        self.stats.get(metric)?.get(label)
    }

    pub fn reps(&self) -> usize {
        self.stats
            .values()
            .flat_map(|m| m.values())
            .map(|s| s.reps)
            .max()
            .unwrap_or(0)
    }
}

fn stat(samples: &[[f64; 3]]) -> Stat {
    let sorted = |i: usize| {
        let mut v: Vec<f64> = samples.iter().map(|s| s[i]).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (ns, faults) = (sorted(0), sorted(1));
    let (sum_faults, sum_retries) = samples
        .iter()
        .fold((0.0, 0.0), |(f, r), s| (f + s[1], r + s[2]));
    Stat {
        median: ns[ns.len() / 2],
        min: ns[0],
        max: ns[ns.len() - 1],
        faults: faults[faults.len() / 2],
        retries_per_fault: if sum_faults > 0.0 {
            sum_retries / sum_faults
        } else {
            0.0
        },
        reps: ns.len(),
    }
}

fn numbers<const N: usize>(fields: &[&str], line: &str) -> Result<[f64; N], String> {
    let mut out = [0.0; N];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = f
            .parse()
            .map_err(|_| format!("bad number {f:?} in {line:?}"))?;
    }
    Ok(out)
}

/// A number of the kernel command line, as `memparse()` reads it: decimal or `0x` hex, with an
/// optional K, M or G.
fn memparse(s: &str) -> Option<u64> {
    let (digits, shift) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 10),
        (i, 'M' | 'm') => (&s[..i], 20),
        (i, 'G' | 'g') => (&s[..i], 30),
        _ => (s, 0),
    };
    let n = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    n.checked_mul(1 << shift)
}

/// `NAME:BASE,SIZE`, the value of a `vmdev_reserved=` word.
fn reservation(value: &str) -> Option<(String, Reservation)> {
    let (name, range) = value.split_once(':')?;
    let (base, size) = range.split_once(',')?;
    let (base, size) = (memparse(base)?, memparse(size)?);
    Some((name.into(), Reservation { base, size }))
}

pub fn parse(log: &str) -> Result<Results, String> {
    let mut samples: BTreeMap<String, BTreeMap<String, Vec<[f64; 3]>>> = BTreeMap::new();
    let mut r = Results::default();
    for line in log.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(cmdline) = line.split("Kernel command line: ").nth(1) {
            for word in cmdline.split_whitespace() {
                if let Some(value) = word.strip_prefix("vmdev_reserved=") {
                    let (name, range) = reservation(value)
                        .ok_or_else(|| format!("bad reservation {word:?} in {line:?}"))?;
                    r.reservations.insert(name, range);
                }
            }
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        match f[..] {
            ["bench", metric, label, ref rest @ ..] if rest.len() == 3 => {
                let s = numbers::<3>(rest, line)?;
                let by = samples.entry(metric.into()).or_default();
                by.entry(label.into()).or_default().push(s);
            }
            ["counters", metric, label, ref rest @ ..] if rest.len() == 3 => {
                let [faults, around, bytes] = numbers::<3>(rest, line)?;
                let c = r.counters.entry((metric.into(), label.into())).or_default();
                c.faults += faults as u64;
                c.around_pages += around as u64;
                c.bytes += bytes as u64;
            }
            ["mapped", metric, label, touched, present, pages, how] => {
                let [touched, present, pages] = numbers::<3>(&[touched, present, pages], line)?;
                let m = r.mapped.entry((metric.into(), label.into())).or_default();
                m.touched += touched as u64;
                m.present += present as u64;
                m.pages += pages as u64;
                m.how = how.into();
            }
            ["window", label, bytes] => {
                let bytes = bytes
                    .parse()
                    .map_err(|_| format!("bad number {bytes:?} in {line:?}"))?;
                r.windows.insert(label.into(), bytes);
            }
            ["entries", label, sizes] => {
                r.entries.insert(label.into(), sizes.into());
            }
            ["hook", label, hook] => {
                r.hooks.insert(label.into(), hook.into());
            }
            ["error", label, ref why @ ..] => r.errors.push((label.into(), why.join("|"))),
            ["bench" | "counters" | "mapped", ..] => return Err(format!("bad line {line:?}")),
            _ => {}
        }
    }
    if samples.is_empty() {
        return Err("no bench| lines in the log".into());
    }
    r.stats = samples
        .into_iter()
        .map(|(m, by)| (m, by.into_iter().map(|(l, s)| (l, stat(&s))).collect()))
        .collect();
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_samples_counters_and_errors() {
        let log = "noise\nbench|m|rust-fault|10.0|0.5|0.0\r\nbench|m|rust-fault|30.0|0.5|0.25\n\
                   bench|m|rust-fault|20.0|0.5|0.0\ncounters|m|rust-huge|32|16352|67108864\n\
                   error|heap|open /dev/dma_heap/system: ENOENT\n\
                   hook|rust-remap (f_op->mmap)|f_op->mmap\n";
        let r = super::parse(log).unwrap();
        let s = r.get("m", "rust-fault").unwrap();
        assert_eq!((s.median, s.min, s.max, s.reps), (20.0, 10.0, 30.0, 3));
        assert!((s.retries_per_fault - 0.25 / 1.5).abs() < 1e-9);
        let c = r.counters[&("m".to_string(), "rust-huge".to_string())];
        assert_eq!((c.faults, c.around_pages), (32, 16352));
        assert_eq!(
            r.errors,
            [("heap".into(), "open /dev/dma_heap/system: ENOENT".into())]
        );
        assert_eq!(r.hooks["rust-remap (f_op->mmap)"], "f_op->mmap");
        assert!(super::parse("bench|m|x|1\n").is_err());
    }

    #[test]
    fn parses_windows_and_mapped_pages() {
        let log = "bench|m|rust-fault|10.0|0.5|0.0\nwindow|rust-fault|65536\n\
                   mapped|sparse_64k|rust-fault|64|1024|4096|pagemap\n\
                   mapped|sparse_64k|rust-fault|64|1024|4096|pagemap\n\
                   mapped|sparse|udmabuf|64|4096|4096|faults\n";
        let r = super::parse(log).unwrap();
        assert_eq!(r.windows["rust-fault"], 65536);
        let m = &r.mapped[&("sparse_64k".to_string(), "rust-fault".to_string())];
        assert_eq!((m.touched, m.present, m.pages), (128, 2048, 8192));
        assert_eq!(m.how, "pagemap");
        let u = &r.mapped[&("sparse".to_string(), "udmabuf".to_string())];
        assert_eq!((u.present, u.how.as_str()), (4096, "faults"));
        assert!(super::parse("bench|m|x|1|0|0\nmapped|m|x|64|1024\n").is_err());
        assert!(super::parse("bench|m|x|1|0|0\nwindow|x|64k\n").is_err());
    }

    #[test]
    fn parses_the_reservations_of_the_command_line() {
        use super::Reservation;
        let log = "[    0.000000] Command line: vmdev_reserved=early:0x1,0x2\n\
                   [    0.031000] Kernel command line: console=ttyS0 memmap=64M$0x48000000 \
                   vmdev_reserved=huge:0x48000000,0x4000000 vmdev_reserved=twin:1207959552,64M\r\n\
                   bench|m|x|1|0|0\n";
        let r = super::parse(log).unwrap();
        let huge = Reservation {
            base: 0x4800_0000,
            size: 64 << 20,
        };
        assert_eq!(r.reservations.len(), 2, "{:?}", r.reservations);
        assert_eq!(r.reservations["huge"], huge);
        assert_eq!(r.reservations["twin"], huge);
        let bad = "Kernel command line: vmdev_reserved=huge:0x48000000\nbench|m|x|1|0|0\n";
        assert!(super::parse(bad).is_err());
        assert!(
            super::parse("bench|m|x|1|0|0\n")
                .unwrap()
                .reservations
                .is_empty()
        );
    }
}
