//! BENCHMARKS.md: the targets, every path against the peers, the fault node's window, per-VMA-lock
//! retries, the huge node, Rust against C.

use std::fmt::Write as _;

use crate::data::{Results, Stat, ns, ratio, size};
use crate::targets::{TRIED, no_slower, rust_c_ok, rust_c_rows, targets};

/// The sources in the order of the tables, with their names in them.
pub const SOURCES: [(&str, &str); 8] = [
    ("rust-fault", "fault node"),
    ("rust-remap", "remap node"),
    ("rust-huge", "huge node"),
    ("udmabuf", "udmabuf"),
    ("heap", "system heap"),
    ("devmem", "/dev/mem"),
    ("anon", "anonymous"),
    ("tmpfs", "tmpfs (memfd)"),
];
const DRIVER: usize = 3;
/// The sources of the retry table: the C twin's nodes too.
const RETRY_SOURCES: [(&str, &str); 11] = [
    ("rust-fault", "fault node"),
    ("c-fault", "C fault node"),
    ("rust-remap", "remap node"),
    ("c-remap", "C remap node"),
    ("rust-huge", "huge node"),
    ("c-huge", "C huge node"),
    ("udmabuf", "udmabuf"),
    ("heap", "system heap"),
    ("devmem", "/dev/mem"),
    ("anon", "anonymous"),
    ("tmpfs", "tmpfs (memfd)"),
];

/// The metrics of the comparison of every path, with what they time.
pub const METRICS: [(&str, &str); 8] = [
    ("mmap", "`mmap()` alone"),
    ("mmap_munmap", "`mmap()` + `munmap()`"),
    ("first_read_seq", "first read of every page, in order"),
    ("first_write_seq", "first write of every page, in order"),
    ("first_read_rand", "first read of every page, random order"),
    (
        "map_read_unmap",
        "`mmap()` + first read of every page + `munmap()`",
    ),
    ("stream_mapping", "streaming through a warm mapping"),
    ("stream_read", "`pread()` of the whole buffer"),
];

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn intro(md: &mut String, r: &Results, kernel: &str) {
    let window = r
        .windows
        .get("rust-fault")
        .map_or("its default window".into(), |&w| format!("the {}", size(w)));
    let _ = write!(
        md,
        "# Benchmarks: rust_vmdev against its C twin and the kernel's peers\n\n\
         Written by `make bench` (`vmdev-report`). Kernel: `{kernel}`, built from \
         `scripts/vm.config` + `scripts/bench.config` (no KASAN, lockdep or kmemleak), booted \
         under QEMU TCG with 2 vCPUs and `-icount shift=4`: these machines have no usable KVM, so \
         guest time counts emulated instructions (16 ns each), not host time. Absolute numbers \
         mean little; ratios taken in the same boot do, so the tables give ratios and the \
         targets are ratios. Every number is nanoseconds per 4 KiB page, the median of {} \
         repetitions (± the larger distance to the fastest or slowest), interleaved: which driver \
         goes first alternates (Rust, C, C, Rust, ...), the peers follow in a rotating order. Each \
         repetition times at least 20 ms of work, repeating a short pass (each time on a fresh \
         mapping): under `-icount` a timer tick costs tens of microseconds, which a single 1 ms \
         pass takes or misses. An untimed warm-up round comes first. The file a source maps (a \
         node, `/dev/mem`) is opened once per repetition, outside the timing; the one row that \
         times `open()` + `close()` of a node, `open_close` (in the table of Rust against C), is \
         in nanoseconds per call.\n\n\
         The sources, all mapped `MAP_SHARED` read-write except anonymous memory:\n\n\
         - **fault node** (`/dev/vmdev-fault`): a 16 MiB vmalloc buffer, mapped on fault, \
         {window} around each fault, aligned (`fault_around_bytes`'s default, as the node \
         reported it; a no-op `map_pages` keeps faults under the per-VMA lock).\n\
         - **remap node** (`/dev/vmdev-remap`): `remap_pfn_range()` of the whole mapping at \
         `mmap()` time; **huge node** (`/dev/vmdev-huge`): the same memory mapped on fault with \
         PMD entries where aligned, PTEs elsewhere. Both serve 64 MiB reserved at boot, which the \
         driver claims: the module `memmap=64M$0x48000000` (`phys_base=0x48000000 \
         phys_size=0x4000000`), its C twin the 64 MiB after it (`memmap=64M$0x4c000000`).\n\
         - **udmabuf**: `UDMABUF_CREATE` on a 16 MiB memfd sealed with `F_SEAL_SHRINK`, the \
         dma-buf mapped; its fault handler inserts the faulting PFN and then every other page of \
         the VMA.\n\
         - **system heap**: `DMA_HEAP_IOCTL_ALLOC` of 16 MiB on `/dev/dma_heap/system`, the \
         dma-buf mapped: `remap_pfn_range()` per scatterlist chunk (1 MiB, 64 KiB or 4 KiB pages) \
         at `mmap()` time.\n\
         - **/dev/mem** at `0x48000000`, the same reserved range (`STRICT_DEVMEM` off): \
         `mmap_prepare` with `mmap_action_remap_full()`.\n\
         - **anonymous** (private) and **tmpfs** (a fresh memfd each time): the kernel's own \
         memory, allocated and zeroed on first touch.\n\n\
         The C twin (`c_twin/`, nodes `/dev/vmdev_c-*`) runs the same design on every node.\n\n",
        r.reps()
    );
}

fn errors(md: &mut String, r: &Results) {
    if r.errors.is_empty() {
        return;
    }
    md.push_str(
        "## Errors\n\nThese sources could not be measured; their rows and targets are missing:\n\n",
    );
    for (label, why) in &r.errors {
        let _ = writeln!(md, "- `{label}`: {why}");
    }
    md.push('\n');
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

fn peer_tables(md: &mut String, r: &Results) {
    md.push_str("## Every path against the peers\n\nEach source maps 16 MiB (the remap and huge nodes the first 16 MiB of the reserved range; the huge node's first-touch rows include its 8 PMD faults); ns per 4 KiB page, default parameters (fault-around on). `pread()` only where the node has `read()`.\n\n| metric |");
    for (_, name) in SOURCES {
        let _ = write!(md, " {name} |");
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(SOURCES.len()));
    md.push('\n');
    for (metric, what) in METRICS {
        let _ = write!(md, "| {what} |");
        for (label, _) in SOURCES {
            let cell = r.get(metric, label).map_or("–".into(), |s| s.short());
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }

    md.push_str("\n### The driver against each peer\n\nThe driver's cost divided by the peer's, per metric (below 1: the driver is cheaper).\n\n| metric | driver node |");
    for (_, name) in &SOURCES[DRIVER..] {
        let _ = write!(md, " ÷ {name} |");
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---|".repeat(SOURCES.len() - DRIVER));
    md.push('\n');
    for (metric, what) in METRICS.iter().filter(|(m, _)| *m != "stream_read") {
        for (label, name) in &SOURCES[..DRIVER] {
            let Some(d) = r.get(metric, label) else {
                continue;
            };
            let _ = write!(md, "| {what} | {name} |");
            for (peer, _) in &SOURCES[DRIVER..] {
                let cell = match r.get(metric, peer) {
                    Some(p) if p.median > 0.0 => ratio(d.median / p.median),
                    _ => "–".into(),
                };
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
    }
}

fn around_off_table(md: &mut String, r: &Results) {
    md.push_str("\n### Without the kernel's fault-around\n\nThe drivers loaded with `fault_around=0` (one page per fault: their window is mapped by their own fault handler, the kernel's fault-around does not apply to them), and the kernel's `fault_around_bytes` set to one page for tmpfs. Anonymous memory never faults around (its reads map the huge zero page where aligned).\n\n| metric | fault node | C fault node | anonymous | tmpfs (memfd) |\n|---|---|---|---|---|\n");
    for metric in ["first_read_seq", "first_write_seq", "first_read_rand"] {
        let m = format!("{metric}_around_off");
        let _ = write!(md, "| {m} |");
        for label in ["rust-fault", "c-fault", "anon", "tmpfs"] {
            let cell = r.get(&m, label).map_or("–".into(), |s| s.short());
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
}

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

fn instruction_table(md: &mut String, r: &Results) {
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

fn window_table(md: &mut String, r: &Results) {
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

fn retry_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## Faults and per-VMA-lock retries\n\n`vma_lock_retry` of `/proc/vmstat` (a fault \
         begun under the per-VMA lock and redone under `mmap_lock`, `CONFIG_PER_VMA_LOCK_STATS`), \
         read before and after each first-touch pass, per minor fault of the pass; faults per \
         4 KiB page beside it.\n\n| source | faults/page, read | retries/fault, read | \
         faults/page, write | retries/fault, write | faults/page, random read | retries/fault, random read |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (label, name) in RETRY_SOURCES {
        let _ = write!(md, "| {name} |");
        for metric in ["first_read_seq", "first_write_seq", "first_read_rand"] {
            match r.get(metric, label) {
                Some(s) if s.faults > 0.0 => {
                    let _ = write!(md, " {:.4} | {:.2} |", s.faults, s.retries_per_fault);
                }
                Some(_) => md.push_str(" 0 | – |"),
                None => md.push_str(" – | – |"),
            }
        }
        md.push('\n');
    }
    md.push_str(
        "\nA `.fault` handler without `.map_pages` (udmabuf) cannot run under the per-VMA lock: \
         the core returns `VM_FAULT_RETRY` (`vmf_can_call_fault()`) and the fault is taken again \
         under `mmap_lock`.\n",
    );
}

fn huge_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## The huge node over the whole 64 MiB reserved range\n\n| metric | remap | huge | \
         huge ÷ remap | C remap | C huge | C huge ÷ C remap | huge Rust/C | /dev/mem |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let rows = [
        (
            "setup_whole",
            "building the mapping: `mmap()` + one read per 2 MiB + `munmap()`",
        ),
        (
            "first_read_whole",
            "first read of every page, entries in place (huge: after the reads per 2 MiB)",
        ),
        (
            "fresh_read_whole",
            "first read of every page of a fresh mapping (huge: its faults included)",
        ),
        ("stream_whole", "streaming through the warm mapping"),
    ];
    for (metric, what) in rows {
        // A fresh remap mapping has its entries in place: its row is `first_read_whole`.
        let remap_metric = if metric == "fresh_read_whole" {
            "first_read_whole"
        } else {
            metric
        };
        let cell = |m: &str, l: &str| r.get(m, l).map_or("–".into(), |s| s.short());
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 && a < b * 0.5 => {
                format!("{:.3} ({:.0}x cheaper)", a / b, b / a)
            }
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
            _ => "–".into(),
        };
        let med = |m: &str, l: &str| r.get(m, l).map(|s| s.median);
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(remap_metric, "rust-remap"),
            cell(metric, "rust-huge"),
            ratio(med(metric, "rust-huge"), med(remap_metric, "rust-remap")),
            cell(remap_metric, "c-remap"),
            cell(metric, "c-huge"),
            ratio(med(metric, "c-huge"), med(remap_metric, "c-remap")),
            ratio(med(metric, "rust-huge"), med(metric, "c-huge")),
            if metric == "fresh_read_whole" {
                "–".into()
            } else {
                cell(metric, "devmem")
            },
        );
    }
    for (label, sizes) in &r.entries {
        let _ = write!(
            md,
            "\n{label} can map: {} (`vmdev_info.flags`).",
            sizes.replace(',', ", ")
        );
    }
    md.push('\n');
    md.push_str("\nWhat the huge nodes mapped (their `vmdev_info` counters over the timed passes): faults (page-table entries written by the fault handler) per 2 MiB, and pages per entry, `(faults + around_pages) / faults`: 512 is a PMD entry, 1 a PTE.\n\n| node | pass | faults per 2 MiB | pages per entry | entry size |\n|---|---|---|---|---|\n");
    for label in ["rust-huge", "c-huge"] {
        for metric in ["setup_whole", "fresh_read_whole"] {
            let Some(c) = r.counters.get(&(metric.to_string(), label.to_string())) else {
                continue;
            };
            let per_2m = c.faults as f64 / (c.bytes as f64 / (2 << 20) as f64);
            let pages = (c.faults + c.around_pages) as f64 / c.faults.max(1) as f64;
            let _ = writeln!(
                md,
                "| {label} | {metric} | {per_2m:.2} | {pages:.0} | {} KiB |",
                ns(pages * 4.0)
            );
        }
    }
    md.push_str(
        "\nUnder TCG every first access to a 4 KiB page costs an emulated TLB fill whatever entry \
         maps it (QEMU's software TLB holds 4 KiB pages; `-icount` counts guest instructions, not \
         the host's work), so huge entries show in building the mapping, not in the per-page \
         access rows; on hardware a PMD entry would also save TLB misses.\n",
    );
}

/// The label of a driver's remap node loaded with `mmap_prepare=0` (`vmdev-bench`).
fn classic_label(lang: &str) -> String {
    format!("{lang}-remap (f_op->mmap)")
}

fn hook_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## The remap node's mapping hook\n\nThe drivers register `f_op->mmap_prepare` by \
         default; loaded with `mmap_prepare=0`, the deprecated `f_op->mmap`. The remap node's \
         `mmap()` of 16 MiB (its `remap_pfn_range()` of the whole mapping) with each: the default \
         rows are those of the comparison of every path, the others were measured in the same \
         boot, after it, with both drivers reloaded. Each cell names the hook its node reported \
         (`VMDEV_FLAG_MMAP_PREPARE`).\n\n| metric | driver | default load | `mmap_prepare=0` | \
         ÷ default |\n|---|---|---|---|---|\n",
    );
    let hook = |label: &str| {
        r.hooks
            .get(label)
            .map_or(String::new(), |h| format!(" (`{h}`)"))
    };
    for metric in ["mmap", "mmap_munmap"] {
        for (lang, name) in [("rust", "Rust"), ("c", "C")] {
            let (default, classic) = (format!("{lang}-remap"), classic_label(lang));
            let (d, c) = (r.get(metric, &default), r.get(metric, &classic));
            let cell = |s: Option<&crate::data::Stat>, label: &str| {
                s.map_or("–".into(), |s| format!("{}{}", s.short(), hook(label)))
            };
            let x = match (d, c) {
                (Some(d), Some(c)) if d.median > 0.0 => ratio(c.median / d.median),
                _ => "–".into(),
            };
            let _ = writeln!(
                md,
                "| {metric} | {name} | {} | {} | {x} |",
                cell(d, &default),
                cell(c, &classic)
            );
        }
    }
    for lang in ["rust", "c"] {
        let (default, classic) = (format!("{lang}-remap"), classic_label(lang));
        if let (Some(a), Some(b)) = (r.hooks.get(&default), r.hooks.get(&classic))
            && a == b
        {
            let _ = write!(
                md,
                "\n`{default}` reported `{a}` with either load: its two rows ran the same hook.\n"
            );
        }
    }
}

fn rust_c_table(md: &mut String, r: &Results) {
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

pub fn report(r: &Results, kernel: &str) -> String {
    let mut md = String::new();
    intro(&mut md, r, kernel);
    errors(&mut md, r);
    target_table(&mut md, r);
    peer_tables(&mut md, r);
    around_off_table(&mut md, r);
    instruction_table(&mut md, r);
    window_table(&mut md, r);
    retry_table(&mut md, r);
    huge_table(&mut md, r);
    hook_table(&mut md, r);
    rust_c_table(&mut md, r);
    md.push_str("\n![ns per page by path: the driver's nodes and the peers](bench/chart.svg)\n");
    md
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_classic_hook_rows_are_their_own() {
        let log = "bench|mmap|rust-remap|10.0|0|0\nbench|mmap|c-remap|10.0|0|0\n\
                   bench|mmap|rust-remap (f_op->mmap)|12.0|0|0\n\
                   bench|mmap|c-remap (f_op->mmap)|11.0|0|0\n\
                   hook|rust-remap|f_op->mmap_prepare\nhook|c-remap|f_op->mmap\n\
                   hook|rust-remap (f_op->mmap)|f_op->mmap\nhook|c-remap (f_op->mmap)|f_op->mmap\n";
        let r = crate::data::parse(log).unwrap();
        let md = super::report(&r, "7.3");
        assert!(
            md.contains(
                "| mmap | Rust | 10.0 (`f_op->mmap_prepare`) | 12.0 (`f_op->mmap`) | 1.20 |"
            ),
            "{md}"
        );
        assert!(md.contains("| mmap | C | 10.0 (`f_op->mmap`) | 11.0 (`f_op->mmap`) | 1.10 |"));
        assert!(md.contains("`c-remap` reported `f_op->mmap` with either load"));
        assert!(!md.contains("`rust-remap` reported"));
        // Rust against C, per hook: the default rows and the classic rows apart.
        let rows = crate::targets::rust_c_rows(&r);
        let nodes: Vec<&str> = rows.iter().map(|row| row.1).collect();
        assert_eq!(nodes, ["remap", "remap (f_op->mmap)"]);
        assert!(md.contains("| mmap | remap (f_op->mmap) |"));
    }

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
        let md = super::report(&r, "7.3");
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
