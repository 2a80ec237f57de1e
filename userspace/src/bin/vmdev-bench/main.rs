//! vmdev-bench: times the mmap paths of rust_vmdev (the remap, huge, fault and folio nodes)
//! against its C twin, against the kernel's peers that map memory into a process (udmabuf, the
//! dma-buf system heap, /dev/mem) and against the kernel's own anonymous and tmpfs memory, in one
//! boot. It loads the modules itself and prints one line per repetition (see `measure`);
//! `vmdev-report` turns those into BENCHMARKS.md and a chart. The nodes run with the drivers'
//! default mapping hook, `f_op->mmap_prepare`, except the last rows: the remap node's `mmap`
//! with the drivers loaded with `mmap_prepare=0` (the classic `f_op->mmap`), labelled
//! `rust-remap (f_op->mmap)` and `c-remap (f_op->mmap)`; `hook|label|hook` lines say which hook
//! each remap source's node reported. Before those, the fault node's window curve: the drivers
//! reloaded with each `fault_around_bytes` from one page to a page table's span (`window_64k`
//! rows: the sequential first read; `sparse_64k` rows and `mapped|` lines: a sparse first touch
//! and the pages it left mapped, udmabuf's as the reference); `window|label|bytes` lines say each
//! fault node's default window.
//!
//! The drivers' remap and huge nodes serve ranges reserved at boot, which the kernel command line
//! names (`vmdev::boot`): the module the `huge` range, which `/dev/mem` maps too, the C twin the
//! `twin` range. Their folio nodes serve the PMD-order folios each allocates at load (its default
//! `folio_size`); `entries|label|sizes` lines say which entries each huge and folio node can
//! map.
//!
//! Repetitions are interleaved, and which driver goes first alternates (Rust, C, C, Rust, ...),
//! with the peers after them in an order that rotates, so that drift in the host (TCG: no KVM
//! here) and order effects spread evenly; compare ratios taken in the same boot, not absolute
//! times. Each sample repeats its pass until it timed 20 ms, and each phase starts with an
//! untimed warm-up round. A peer that cannot be set up is reported (`error|label|why`) and
//! left out; the report shows the error and fails.

mod measure;
mod sources;

use std::path::PathBuf;

use clap::Parser;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use vmdev::device::{Device, Kind};
use vmdev::mapping::{Mapping, page_size, set_fault_around_bytes};
use vmdev::{boot, kmod, uapi};

use measure::{Pattern, Probe, Sample, emit, first_touch, map_read_unmap, map_unmap};
use sources::Source;

const MIB: usize = 1 << 20;
/// The sparse touch of the window curve reads one page in each aligned group of this many pages
/// (256 KiB with 4 KiB pages): a window smaller than that maps a part of each group, a larger one
/// the whole group.
const SPARSE_GROUP: usize = 64;
/// The span of a PMD entry: the huge node's setup touches one byte per this.
const PMD: usize = 2 * MIB;

#[derive(Parser)]
#[command(about = "Benchmarks rust_vmdev against its C twin and the kernel's peers")]
struct Args {
    /// The Rust module.
    #[arg(long)]
    rust: PathBuf,
    /// The C twin.
    #[arg(long)]
    c: PathBuf,
    /// Repetitions of each measurement (interleaved).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Bytes each source maps in the comparison of every path (the fault buffer's default size).
    #[arg(long, default_value_t = 16 * MIB)]
    len: usize,
}

/// A module under test and its four nodes.
struct Driver {
    module: PathBuf,
    params: String,
    fault: Source,
    remap: Source,
    huge: Source,
    folio: Source,
    /// The remap node again, for the rows measured with the module loaded with
    /// `mmap_prepare=0`: its classic `f_op->mmap` hook instead of the default
    /// `f_op->mmap_prepare`.
    remap_classic: Source,
}

/// The module parameter that makes the nodes register `f_op->mmap` instead of the default
/// `f_op->mmap_prepare`.
const CLASSIC_HOOK: &str = "mmap_prepare=0";

impl Driver {
    fn new(lang: &str, module: PathBuf, prefix: &str, params: &str) -> Self {
        let node = |name: &str, kind| Source::Node {
            label: format!("{lang}-{name}"),
            dev: Device {
                kind,
                path: format!("/dev/{prefix}-{name}").into(),
            },
        };
        Driver {
            module,
            params: params.into(),
            fault: node("fault", Kind::Fault),
            remap: node("remap", Kind::Remap),
            remap_classic: node("remap", Kind::Remap).relabel(format!("{lang}-remap (f_op->mmap)")),
            huge: node("huge", Kind::Huge),
            folio: node("folio", Kind::Folio),
        }
    }

    /// (Re)loads the module with its parameters plus `extra`.
    fn load(&self, extra: &str) -> Result<(), String> {
        let name = kmod::module_name(&self.module);
        if kmod::is_loaded(&name) {
            kmod::unload(&name).map_err(|e| format!("rmmod {name}: {e}"))?;
        }
        kmod::load(&self.module, &format!("{} {extra}", self.params))
    }

    fn unload(&self) -> Result<(), String> {
        let name = kmod::module_name(&self.module);
        kmod::unload(&name).map_err(|e| format!("rmmod {name}: {e}"))
    }

    /// The classic-hook remap source, once the module is loaded with [`CLASSIC_HOOK`]: none
    /// (and an `error|` line) when its node still reports the prepare hook.
    fn classic(&self) -> Result<Vec<&Source>, String> {
        let src = &self.remap_classic;
        if !hook(src)? {
            return Ok(vec![src]);
        }
        println!(
            "error|{}|loaded with {CLASSIC_HOOK}, {} still reports VMDEV_FLAG_MMAP_PREPARE",
            src.label(),
            kmod::module_name(&self.module)
        );
        Ok(vec![])
    }

    fn nodes(&self) -> [&Source; 4] {
        [&self.fault, &self.remap, &self.huge, &self.folio]
    }
}

/// The order of repetition `rep`: the drivers' sources (Rust first in even repetitions, C first
/// in odd ones, since whichever goes first measured a few percent slower), then the peers,
/// rotated by one each repetition.
fn in_turn<'a>(
    rust: &[&'a Source],
    c: &[&'a Source],
    peers: &[&'a Source],
    rep: usize,
) -> Vec<&'a Source> {
    let (first, second) = if rep.is_multiple_of(2) {
        (rust, c)
    } else {
        (c, rust)
    };
    let mut rotated = peers.to_vec();
    if !rotated.is_empty() {
        rotated.rotate_left(rep % peers.len());
    }
    first
        .iter()
        .chain(second)
        .chain(&rotated)
        .copied()
        .collect()
}

fn set_fault_around(on: bool) -> Result<(), String> {
    set_fault_around_bytes(if on { 65536 } else { page_size() }).map(drop)
}

/// Times a long step of the run on stderr (the console), so a slow run shows where it is.
fn step<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let start = std::time::Instant::now();
    eprintln!("vmdev-bench: {what}");
    let r = f();
    eprintln!(
        "vmdev-bench: {what}: {:.1} s (guest time)",
        start.elapsed().as_secs_f64()
    );
    r
}

/// Runs `round` once as a warm-up, its lines left out (first-time costs such as the huge zero
/// page's allocation land there), then once for each repetition.
fn rounds(reps: usize, mut round: impl FnMut(usize) -> Result<(), String>) -> Result<(), String> {
    measure::set_quiet(true);
    let warm_up = round(reps);
    measure::set_quiet(false);
    warm_up?;
    (0..reps).try_for_each(round)
}

/// Sets up a peer, or reports why it could not be.
fn peer(make: impl FnOnce() -> Result<Source, String>, label: &str) -> Option<Source> {
    make().inspect_err(|e| println!("error|{label}|{e}")).ok()
}

fn run(args: &Args) -> Result<(), String> {
    // Each driver's remap and huge nodes serve a range reserved at boot, since each claims its
    // own: the module the `huge` range, which /dev/mem maps too, the C twin the `twin` range.
    let range = |name| {
        boot::reserved(name)?
            .ok_or_else(|| format!("no vmdev_reserved={name}:BASE,SIZE on the kernel command line"))
    };
    let (ours, twins) = (range(boot::HUGE)?, range(boot::TWIN)?);
    if ours.size != twins.size {
        return Err(format!(
            "the {} range {ours} and the {} range {twins} differ in size: the drivers would \
             not map the same bytes",
            boot::HUGE,
            boot::TWIN
        ));
    }
    let rust = Driver::new("rust", args.rust.clone(), "vmdev", &ours.params());
    let c = Driver::new("c", args.c.clone(), "vmdev_c", &twins.params());
    let drivers = [&rust, &c];
    for d in drivers {
        d.load("")?;
    }
    for d in drivers {
        entry_sizes(&d.huge, uapi::BACKING_HUGE)?;
        entry_sizes(&d.folio, uapi::BACKING_FOLIO)?;
        hook(&d.remap)?;
        println!("window|{}|{}", d.fault.label(), window_bytes(&d.fault)?);
    }
    let len = args.len;
    let whole = ours.size as usize;
    let peers: Vec<Source> = [
        peer(|| Source::udmabuf(len), "udmabuf"),
        peer(|| Source::heap(len), "heap"),
        peer(|| Source::devmem(ours.base), "devmem"),
        Some(Source::Anon),
        Some(Source::Tmpfs),
    ]
    .into_iter()
    .flatten()
    .collect();
    let peer_refs: Vec<&Source> = peers.iter().collect();
    let devmem: Vec<&Source> = peers.iter().filter(|p| p.label() == "devmem").collect();
    let kernel_own: Vec<&Source> = peers
        .iter()
        .filter(|p| matches!(p, Source::Anon | Source::Tmpfs))
        .collect();
    // Written once now, so that no `pread()` below takes the buffer's own first-touch faults.
    let mut buf = vec![1u8; len.max(whole)];

    // Every path, the same `len` bytes: mmap + munmap, the first read or write of every page,
    // the whole job (mmap, first read, munmap), and streaming through a warm mapping.
    set_fault_around(true)?;
    step("every path and peer", || {
        rounds(args.reps, |rep| {
            for src in in_turn(&rust.nodes(), &c.nodes(), &peer_refs, rep) {
                map_unmap(("mmap_munmap", Some("mmap")), src, len, None)?;
                measure::open_close(src)?;
                for pattern in [Pattern::SeqRead, Pattern::SeqWrite, Pattern::RandRead] {
                    first_touch(pattern.name(), src, len, pattern, None)?;
                }
                map_read_unmap(src, len)?;
                measure::stream_mapping("stream_mapping", src, len)?;
                if !matches!(src.label(), "rust-huge" | "c-huge") {
                    measure::stream_read(src, len, &mut buf)?;
                }
            }
            Ok(())
        })
    })?;

    // Without fault-around: the drivers map one page per fault (module parameter
    // fault_around=0; their window is their own, mapped from the fault handler), and the
    // kernel's fault-around, which tmpfs reads follow, is one page.
    set_fault_around(false)?;
    for d in drivers {
        d.load("fault_around=0")?;
    }
    step("first touch without fault-around", || {
        rounds(args.reps, |rep| {
            for src in in_turn(&[&rust.fault], &[&c.fault], &kernel_own, rep) {
                for pattern in [Pattern::SeqRead, Pattern::SeqWrite, Pattern::RandRead] {
                    let metric = format!("{}_around_off", pattern.name());
                    first_touch(&metric, src, len, pattern, None)?;
                }
            }
            Ok(())
        })
    })?;
    set_fault_around(true)?;
    for d in drivers {
        d.load("")?;
    }

    // The whole reserved range: the huge node against remap_pfn_range (and /dev/mem).
    step("the huge node over the whole reserved range", || {
        rounds(args.reps, |rep| {
            let (r, cc) = ([&rust.remap, &rust.huge], [&c.remap, &c.huge]);
            for src in in_turn(&r, &cc, &devmem, rep) {
                huge_rows(src, whole)?;
            }
            Ok(())
        })
    })?;

    // Growth: is the per-page first-touch cost flat from 1 to 64 MiB?
    step("growth of the fault buffer", || {
        for size_mib in [1, 4, 16, 64] {
            for d in drivers {
                d.load(&format!("fault_size={}", size_mib * MIB))?;
            }
            for rep in 0..args.reps {
                for src in in_turn(&[&rust.fault], &[&c.fault], &[], rep) {
                    let metric = format!("growth_{size_mib}mib");
                    first_touch(&metric, src, size_mib * MIB, Pattern::SeqRead, None)?;
                }
            }
        }
        Ok(())
    })?;
    for d in drivers {
        d.load("")?;
    }

    // One process touching the whole fault buffer, or two touching disjoint halves at once.
    step("one and two processes", || {
        for rep in 0..args.reps {
            for src in in_turn(&[&rust.fault], &[&c.fault], &[], rep) {
                for procs in [1, 2] {
                    parallel_touch(&format!("procs_{procs}"), src, len, procs)?;
                }
            }
        }
        Ok(())
    })?;

    // The fault node's window curve: the drivers reloaded with each window W (module parameter
    // fault_around_bytes), the powers of two from one page to what one page table maps (its
    // page_size / 8 entries; the drivers refuse more, as the core caps its own
    // fault_around_bytes there). Per W, the sequential first read (one fault per W), and a
    // sparse touch with the pages it left mapped: the memory a wider window costs a process
    // that touches little. udmabuf maps its whole VMA on its first fault whatever W: its sparse
    // touch, measured once per repetition here, is the reference (its sequential first read is
    // the comparison of every path's).
    let ps = page_size();
    let windows: Vec<usize> = std::iter::successors(Some(ps), |w| Some(w * 2))
        .take_while(|&w| w <= ps * (ps / 8))
        .collect();
    let sparse = measure::sparse_offsets(len, SPARSE_GROUP);
    let udmabuf: Vec<&Source> = peers.iter().filter(|p| p.label() == "udmabuf").collect();
    step("the fault node's window curve", || {
        for &w in &windows {
            for d in drivers {
                d.load(&format!("fault_around_bytes={w}"))?;
                let got = window_bytes(&d.fault)?;
                if got != w {
                    return Err(format!(
                        "{}: loaded with fault_around_bytes={w}, reports a {got}-byte window",
                        d.fault.label()
                    ));
                }
            }
            let kib = w / 1024;
            rounds(args.reps, |rep| {
                for src in in_turn(&[&rust.fault], &[&c.fault], &[], rep) {
                    first_touch(&format!("window_{kib}k"), src, len, Pattern::SeqRead, None)?;
                    measure::sparse_touch(&format!("sparse_{kib}k"), src, len, &sparse)?;
                }
                Ok(())
            })?;
        }
        rounds(args.reps, |_| {
            udmabuf
                .iter()
                .try_for_each(|src| measure::sparse_touch("sparse", src, len, &sparse))
        })
    })?;
    for d in drivers {
        d.load("")?;
    }

    // The remap node's mmap with the classic hook: the drivers loaded with mmap_prepare=0, the
    // same rows as in the comparison of every path, under labels of their own. A driver whose
    // node still reports the prepare hook is reported and left out.
    for d in drivers {
        d.load(CLASSIC_HOOK)?;
    }
    let (r, cc) = (rust.classic()?, c.classic()?);
    step("the remap node with f_op->mmap", || {
        rounds(args.reps, |rep| {
            for src in in_turn(&r, &cc, &[], rep) {
                map_unmap(("mmap_munmap", Some("mmap")), src, len, None)?;
            }
            Ok(())
        })
    })?;
    drop(peers);
    for d in drivers {
        d.unload()?;
    }
    Ok(())
}

/// Prints `hook|label|hook` for a driver node: the mapping hook it registered
/// (`VMDEV_FLAG_MMAP_PREPARE` of `vmdev_info.flags`), `f_op->mmap_prepare` or `f_op->mmap`;
/// returns whether it is the prepare hook.
fn hook(src: &Source) -> Result<bool, String> {
    let info = src.info()?.ok_or("not a driver node")?;
    let prepare = info.flags & uapi::FLAG_MMAP_PREPARE != 0;
    let name = if prepare {
        "f_op->mmap_prepare"
    } else {
        "f_op->mmap"
    };
    println!("hook|{}|{name}", src.label());
    Ok(prepare)
}

/// The fault node's window: the bytes one fault maps at most (`vmdev_info.flags`).
fn window_bytes(fault: &Source) -> Result<usize, String> {
    let info = fault.info()?.ok_or("not a driver node")?;
    Ok(uapi::fault_window_bytes(info.flags))
}

/// Prints `entries|label|sizes`: the entry sizes the huge or folio node says it can map
/// (`vmdev_info.flags`), largest first; fails unless the node reports `backing`.
fn entry_sizes(node: &Source, backing: u32) -> Result<(), String> {
    let info = node.info()?.ok_or("not a driver node")?;
    if info.backing != backing {
        return Err(format!(
            "{}: backing {}, not {backing}",
            node.label(),
            info.backing,
        ));
    }
    let sizes: Vec<&str> = [(uapi::FLAG_HUGE_PUD, "PUD"), (uapi::FLAG_HUGE_PMD, "PMD")]
        .into_iter()
        .filter(|(flag, _)| info.flags & flag != 0)
        .map(|(_, name)| name)
        .chain(["PTE"])
        .collect();
    println!("entries|{}|{}", node.label(), sizes.join(","));
    Ok(())
}

/// The rows of the huge node's comparison, over `len` bytes (the whole reserved range):
/// building and tearing down the mapping (mmap, one read per 2 MiB, munmap); the first read of
/// every page with the entries in place (after those reads on the huge node, after mmap on the
/// others) and of a fresh mapping (the huge node's faults included); streaming when warm.
fn huge_rows(src: &Source, len: usize) -> Result<(), String> {
    let huge = matches!(src.label(), "rust-huge" | "c-huge");
    map_unmap(("setup_whole", None), src, len, Some(PMD))?;
    first_touch(
        "first_read_whole",
        src,
        len,
        Pattern::SeqRead,
        huge.then_some(PMD),
    )?;
    if huge {
        first_touch("fresh_read_whole", src, len, Pattern::SeqRead, None)?;
    }
    measure::stream_mapping("stream_whole", src, len)
}

/// `procs` processes each first-touch (sequential read) their share of one mapping at once;
/// emits the wall time per page of the whole buffer.
fn parallel_touch(metric: &str, src: &Source, len: usize, procs: usize) -> Result<(), String> {
    let ps = page_size();
    let m: Mapping = src.map(len)?;
    let share = len / ps / procs;
    let probe = Probe::start()?;
    let mut children = Vec::new();
    for i in 0..procs {
        // SAFETY: Single-threaded; the child only reads the mapping and exits.
        match unsafe { fork() }.map_err(|e| e.to_string())? {
            ForkResult::Child => {
                let mut sum = 0u64;
                for p in i * share..(i + 1) * share {
                    sum += u64::from(m.read(p * ps));
                }
                std::hint::black_box(sum);
                // SAFETY: Ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => children.push(child),
        }
    }
    for c in children {
        waitpid(c, None).map_err(|e| e.to_string())?;
    }
    // (The children's faults are theirs: the parent's count stays 0 here.)
    let mut s = Sample::default();
    probe.stop(len, &mut s)?;
    emit(metric, src.label(), &s);
    Ok(())
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("vmdev-bench: {e}");
        println!("error|vmdev-bench|{e}");
        std::process::exit(1);
    }
}
