//! vmdev-bench: times the two mmap paths of rust_vmdev against its C twin and against the
//! kernel's own anonymous and tmpfs memory, in one boot. It loads the modules itself and prints
//! one `bench|metric|implementation|ns_per_page|faults_per_page` line per repetition;
//! `vmdev-report` turns those into BENCHMARKS.md and a chart.
//!
//! Repetitions are interleaved, and which driver goes first alternates (Rust, C, C, Rust, ...),
//! so that drift in the host (TCG: no KVM here) and order effects spread evenly; compare ratios
//! taken in the same boot, not absolute times.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use vmdev::device::{Device, Kind};
use vmdev::kmod;
use vmdev::mapping::{Mapping, minor_faults, page_size, set_fault_around_bytes};

#[derive(Parser)]
#[command(about = "Benchmarks rust_vmdev against its C twin")]
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
}

/// A driver under test: its module and node names.
struct Driver {
    label: &'static str,
    module: PathBuf,
    remap: Device,
    fault: Device,
}

fn node(kind: Kind, path: &str) -> Device {
    Device {
        kind,
        path: path.into(),
    }
}

impl Driver {
    fn load(&self, params: &str) -> Result<(), String> {
        let name = kmod::module_name(&self.module);
        if kmod::is_loaded(&name) {
            kmod::unload(&name).map_err(|e| format!("rmmod {name}: {e}"))?;
        }
        kmod::load(&self.module, params)
    }
}

/// The drivers in the order of repetition `rep`: Rust first in even ones, C first in odd ones,
/// since whichever goes first measured a few percent slower.
fn in_turn(drivers: &[Driver; 2], rep: usize) -> [&Driver; 2] {
    if rep.is_multiple_of(2) {
        [&drivers[0], &drivers[1]]
    } else {
        [&drivers[1], &drivers[0]]
    }
}

/// Where a first-touch measurement gets its memory.
#[derive(Clone, Copy)]
enum Source<'a> {
    Device(&'a Device),
    Anonymous,
    Tmpfs,
}

fn tmpfs_file(len: usize) -> Result<OwnedFd, String> {
    let fd = nix::sys::memfd::memfd_create("vmdev-bench", nix::sys::memfd::MFdFlags::empty())
        .map_err(|e| e.to_string())?;
    nix::unistd::ftruncate(&fd, len as i64).map_err(|e| e.to_string())?;
    Ok(fd)
}

fn map(src: Source, len: usize) -> Result<Mapping, String> {
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    match src {
        Source::Device(dev) => Mapping::shared(dev.open(true)?.as_fd(), len, 0),
        Source::Tmpfs => Mapping::shared(tmpfs_file(len)?.as_fd(), len, 0),
        Source::Anonymous => {
            let nz = std::num::NonZeroUsize::new(len).ok_or("empty")?;
            // SAFETY: A new anonymous mapping touches nothing else.
            let ptr =
                unsafe { nix::sys::mman::mmap_anonymous(None, nz, rw, MapFlags::MAP_PRIVATE) }
                    .map_err(|e| e.to_string())?;
            // SAFETY: The mapping was just made and is owned from now on.
            Ok(unsafe { Mapping::from_raw(ptr, len) })
        }
    }
    .map_err(|e| e.to_string())
}

/// How a first-touch pass visits the pages.
#[derive(Clone, Copy)]
enum Pattern {
    SeqRead,
    SeqWrite,
    RandRead,
}

/// Touches every page of a fresh mapping once; returns ns and minor faults per page.
fn first_touch(src: Source, len: usize, pattern: Pattern) -> Result<(f64, f64), String> {
    let ps = page_size();
    let pages = len / ps;
    let mut order: Vec<usize> = (0..pages).collect();
    if let Pattern::RandRead = pattern {
        order.shuffle(&mut StdRng::seed_from_u64(pages as u64));
    }
    let m = map(src, len)?;
    let faults = minor_faults()?;
    let start = Instant::now();
    let mut sum = 0u64;
    for &p in &order {
        match pattern {
            Pattern::SeqWrite => m.write(p * ps, 1),
            _ => sum += u64::from(m.read(p * ps)),
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    let faults = (minor_faults()? - faults) as f64;
    std::hint::black_box(sum);
    Ok((ns / pages as f64, faults / pages as f64))
}

/// Reads every byte of a warm mapping, 8 at a time; returns ns per page.
fn stream_mapping(m: &Mapping) -> f64 {
    let ps = page_size();
    let start = Instant::now();
    let mut sum = 0u64;
    let base = m.addr() as *const u64;
    for i in 0..m.len() / 8 {
        // SAFETY: In bounds of the live mapping, aligned (the mapping is page-aligned).
        sum = sum.wrapping_add(unsafe { base.add(i).read_volatile() });
    }
    std::hint::black_box(sum);
    start.elapsed().as_nanos() as f64 / (m.len() / ps) as f64
}

fn stream_read(f: &File, len: usize, buf: &mut [u8]) -> Result<f64, String> {
    let start = Instant::now();
    let mut off = 0;
    while off < len {
        let n = nix::sys::uio::pread(f, &mut buf[..len - off], off as i64)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("short read".into());
        }
        off += n;
    }
    std::hint::black_box(&buf);
    Ok(start.elapsed().as_nanos() as f64 / (len / page_size()) as f64)
}

fn emit(metric: &str, label: &str, ns: f64, faults: f64) {
    println!("bench|{metric}|{label}|{ns:.1}|{faults:.3}");
}

fn set_fault_around(on: bool) -> Result<(), String> {
    set_fault_around_bytes(if on { 65536 } else { page_size() }).map(drop)
}

fn run(args: &Args) -> Result<(), String> {
    let drivers = [
        Driver {
            label: "rust",
            module: args.rust.clone(),
            remap: node(Kind::Remap, "/dev/vmdev-remap"),
            fault: node(Kind::Fault, "/dev/vmdev-fault"),
        },
        Driver {
            label: "c",
            module: args.c.clone(),
            remap: node(Kind::Remap, "/dev/vmdev_c-remap"),
            fault: node(Kind::Fault, "/dev/vmdev_c-fault"),
        },
    ];
    let ps = page_size();
    let mib = 1 << 20;
    for d in &drivers {
        d.load("")?;
    }
    let fault_len = 16 * mib;

    // First touch over the whole fault buffer, and the kernel's own memory touched the same way.
    for (around, suffix) in [(true, "around_on"), (false, "around_off")] {
        set_fault_around(around)?;
        for (pattern, name) in [
            (Pattern::SeqRead, "seq_read"),
            (Pattern::SeqWrite, "seq_write"),
            (Pattern::RandRead, "rand_read"),
        ] {
            let metric = format!("first_touch_{name}_{suffix}");
            for rep in 0..args.reps {
                for d in in_turn(&drivers, rep) {
                    let (ns, faults) = first_touch(Source::Device(&d.fault), fault_len, pattern)?;
                    emit(&metric, d.label, ns, faults);
                }
                for (src, label) in [(Source::Anonymous, "anon"), (Source::Tmpfs, "tmpfs")] {
                    let (ns, faults) = first_touch(src, fault_len, pattern)?;
                    emit(&metric, label, ns, faults);
                }
            }
        }
    }
    set_fault_around(true)?;

    // The remap device: mmap + munmap of the whole buffer (remap_pfn_range writes every entry),
    // then the first access to each page of a fresh mapping (nothing faults).
    for rep in 0..args.reps {
        for d in in_turn(&drivers, rep) {
            let f = d.remap.open(true)?;
            let len = 4 * mib;
            let start = Instant::now();
            drop(Mapping::shared(f.as_fd(), len, 0).map_err(|e| e.to_string())?);
            emit(
                "remap_mmap_munmap",
                d.label,
                start.elapsed().as_nanos() as f64 / (len / ps) as f64,
                0.0,
            );
            let (ns, faults) = first_touch(Source::Device(&d.remap), len, Pattern::SeqRead)?;
            emit("remap_first_access", d.label, ns, faults);
        }
    }

    // Streaming 16 MiB: through a warm mapping versus read() into a user buffer.
    let mut buf = vec![0u8; fault_len];
    for rep in 0..args.reps {
        for d in in_turn(&drivers, rep) {
            for (dev, len) in [(&d.fault, fault_len), (&d.remap, 4 * mib)] {
                let f = dev.open(true)?;
                let m = Mapping::shared(f.as_fd(), len, 0).map_err(|e| e.to_string())?;
                for p in 0..len / ps {
                    m.read(p * ps);
                }
                emit(
                    &format!("stream_{}_mapping", dev.name()),
                    d.label,
                    stream_mapping(&m),
                    0.0,
                );
                emit(
                    &format!("stream_{}_read", dev.name()),
                    d.label,
                    stream_read(&f, len, &mut buf)?,
                    0.0,
                );
            }
        }
    }

    // Growth: is the per-page first-touch cost flat from 1 to 64 MiB?
    for size_mib in [1, 4, 16, 64] {
        for d in &drivers {
            d.load(&format!("fault_size={}", size_mib * mib))?;
        }
        for rep in 0..args.reps {
            for d in in_turn(&drivers, rep) {
                let (ns, faults) =
                    first_touch(Source::Device(&d.fault), size_mib * mib, Pattern::SeqRead)?;
                emit(&format!("growth_{size_mib}mib"), d.label, ns, faults);
            }
        }
    }
    for d in &drivers {
        d.load("")?;
    }

    // One process touching the whole buffer, or two touching disjoint halves at once.
    for rep in 0..args.reps {
        for d in in_turn(&drivers, rep) {
            for procs in [1, 2] {
                let ns = parallel_touch(&d.fault, fault_len, procs)?;
                emit(&format!("procs_{procs}"), d.label, ns, 0.0);
            }
        }
    }
    for d in &drivers {
        kmod::unload(&kmod::module_name(&d.module)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `procs` processes each first-touch (sequential read) their share of one mapping at once;
/// returns the wall time per page of the whole buffer.
fn parallel_touch(dev: &Device, len: usize, procs: usize) -> Result<f64, String> {
    let ps = page_size();
    let f = dev.open(true)?;
    let m = Mapping::shared(f.as_fd(), len, 0).map_err(|e| e.to_string())?;
    let share = len / ps / procs;
    let start = Instant::now();
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
    Ok(start.elapsed().as_nanos() as f64 / (len / ps) as f64)
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("vmdev-bench: {e}");
        std::process::exit(1);
    }
}
