//! The timed steps, and what each prints: `bench|metric|label|ns/page|faults/page|retries/page`,
//! where faults are this process's minor faults and retries `vma_lock_retry` of /proc/vmstat
//! (faults begun under the per-VMA lock and redone under mmap_lock), both counted around the
//! timed parts; and `counters|metric|label|faults|around_pages|bytes` from a driver node's
//! `vmdev_info` over the sample. A sample repeats its pass until it timed 20 ms (`sample`), on
//! a file opened once per sample (`Source::open`): no timed part opens or closes one, but
//! `open_close`, which times just that, in ns per call.
//! The sparse touch (`sparse_touch`) adds `mapped|metric|label|touched|present|pages|how`: of a
//! mapping of `pages` pages, `touched` read once, how many were `present` after, counted `how`
//! (`pagemap` or `faults`, see `present_pages`).

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use vmdev::frames::pagemap_entries;
use vmdev::mapping::{Mapping, minor_faults, page_size};
use vmdev::maps::self_smaps_entry;
use vmdev::uapi::VmdevInfo;

use crate::sources::Source;

/// `vma_lock_retry` of /proc/vmstat (needs CONFIG_PER_VMA_LOCK_STATS).
fn vma_lock_retries() -> Result<u64, String> {
    let vmstat =
        std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix("vma_lock_retry "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no vma_lock_retry in /proc/vmstat (CONFIG_PER_VMA_LOCK_STATS)".into())
}

/// A sample: what its timed passes cost in total, over how many pages.
#[derive(Clone, Copy, Default)]
pub struct Sample {
    ns: f64,
    faults: f64,
    retries: f64,
    pages: f64,
}

/// Each sample times at least this much work, repeating its pass (each on a fresh mapping)
/// until then: under `-icount` a timer tick costs tens of microseconds, which a 1 ms pass
/// either takes or misses, so single short passes came out bimodal.
const MIN_SAMPLE_NS: f64 = 20e6;
/// ... but no more passes than this.
const MAX_PASSES: usize = 256;

/// Runs `pass` (which adds its timed part to the sample) until the sample is long enough.
fn sample(mut pass: impl FnMut(&mut Sample) -> Result<(), String>) -> Result<Sample, String> {
    let mut s = Sample::default();
    for _ in 0..MAX_PASSES {
        pass(&mut s)?;
        if s.ns >= MIN_SAMPLE_NS {
            break;
        }
    }
    Ok(s)
}

/// The counters at the start of a timed part. The counters are read outside the timed part.
pub struct Probe {
    faults: i64,
    retries: u64,
    start: Instant,
}

impl Probe {
    pub fn start() -> Result<Self, String> {
        // /proc/vmstat first: reading it allocates, which may fault, outside the window.
        let retries = vma_lock_retries()?;
        let faults = minor_faults()?;
        Ok(Self {
            faults,
            retries,
            start: Instant::now(),
        })
    }

    /// Ends the timed part, which covered `bytes` of memory, and adds it to `s`.
    pub fn stop(self, bytes: usize, s: &mut Sample) -> Result<(), String> {
        let ns = self.start.elapsed().as_nanos() as f64;
        let faults = minor_faults()?;
        let retries = vma_lock_retries()?;
        s.ns += ns;
        s.faults += (faults - self.faults) as f64;
        s.retries += (retries - self.retries) as f64;
        s.pages += (bytes / page_size()) as f64;
        Ok(())
    }
}

/// Whether the lines are left out (a warm-up round).
static QUIET: AtomicBool = AtomicBool::new(false);

/// Leaves out the lines of a warm-up round (`true`), or prints them again.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Relaxed);
}

/// Prints a sample per 4 KiB page.
pub fn emit(metric: &str, label: &str, s: &Sample) {
    if QUIET.load(Relaxed) {
        return;
    }
    let p = s.pages.max(1.0);
    println!(
        "bench|{metric}|{label}|{:.1}|{:.5}|{:.5}",
        s.ns / p,
        s.faults / p,
        s.retries / p
    );
}

fn emit_counters(metric: &str, src: &Source, before: Option<VmdevInfo>, s: &Sample) {
    if QUIET.load(Relaxed) {
        return;
    }
    if let Some(before) = before
        && let Ok(Some(after)) = src.info()
    {
        println!(
            "counters|{metric}|{}|{}|{}|{}",
            src.label(),
            after.faults - before.faults,
            after.around_pages - before.around_pages,
            s.pages as usize * page_size()
        );
    }
}

/// How a first-touch pass visits the pages.
#[derive(Clone, Copy)]
pub enum Pattern {
    SeqRead,
    SeqWrite,
    RandRead,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::SeqRead => "first_read_seq",
            Pattern::SeqWrite => "first_write_seq",
            Pattern::RandRead => "first_read_rand",
        }
    }
}

/// The page offsets a pass visits, in order.
fn order(len: usize, pattern: Pattern) -> Vec<usize> {
    let ps = page_size();
    let mut order: Vec<usize> = (0..len / ps).map(|p| p * ps).collect();
    if let Pattern::RandRead = pattern {
        let seed = order.len() as u64;
        order.shuffle(&mut StdRng::seed_from_u64(seed));
    }
    order
}

fn touch(m: &Mapping, offsets: &[usize], pattern: Pattern) {
    let mut sum = 0u64;
    for &off in offsets {
        match pattern {
            Pattern::SeqWrite => m.write(off, 1),
            _ => sum += u64::from(m.read(off)),
        }
    }
    std::hint::black_box(sum);
}

/// One read per `step` bytes: builds a huge node's entries (one fault per 2 MiB).
fn touch_every(m: &Mapping, step: usize) {
    let mut sum = 0u64;
    for off in (0..m.len()).step_by(step) {
        sum += u64::from(m.read(off));
    }
    std::hint::black_box(sum);
}

/// One page offset in each aligned group of `group` pages of `len` bytes, the page in the group
/// drawn from a generator with a fixed seed, so every source and window gets the same pages: a
/// touch at a group's first page alone would always land where an aligned window starts.
pub fn sparse_offsets(len: usize, group: usize) -> Vec<usize> {
    let ps = page_size();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    (0..len / ps / group)
        .map(|g| (g * group + rng.random_range(0..group)) * ps)
        .collect()
}

/// How many of a mapping's pages a page-table entry maps, and how that was counted. pagemap
/// (bit 63) where it can see the mapping; it skips a `VM_PFNMAP` mapping (udmabuf's) as a hole,
/// so there: the pages less the faults a read of every page then takes, an upper bound, exact
/// when that read takes no fault (every page was present).
fn present_pages(m: &Mapping) -> Result<(usize, &'static str), String> {
    let pages = m.len() / page_size();
    if !self_smaps_entry(m.addr())?.has_flag("pf") {
        let entries = pagemap_entries(m.addr(), pages)?;
        return Ok((entries.iter().filter(|e| e.present()).count(), "pagemap"));
    }
    let before = minor_faults()?;
    touch(m, &order(m.len(), Pattern::SeqRead), Pattern::SeqRead);
    let faults = usize::try_from(minor_faults()? - before).map_err(|e| e.to_string())?;
    Ok((pages.saturating_sub(faults), "faults"))
}

/// The sparse first touch of a fresh mapping: one read at each of `offsets`, timed per page
/// touched; then, outside the timed part and on the first pass only (every pass touches the
/// same pages), the pages the touch left mapped, the memory it cost.
pub fn sparse_touch(
    metric: &str,
    src: &Source,
    len: usize,
    offsets: &[usize],
) -> Result<(), String> {
    let mut present = None;
    let opened = src.open()?;
    let s = sample(|s| {
        let m = opened.map(len)?;
        let probe = Probe::start()?;
        touch(&m, offsets, Pattern::SeqRead);
        probe.stop(offsets.len() * page_size(), s)?;
        if present.is_none() {
            present = Some(present_pages(&m)?);
        }
        Ok(())
    })?;
    emit(metric, src.label(), &s);
    if let Some((pages, how)) = present
        && !QUIET.load(Relaxed)
    {
        println!(
            "mapped|{metric}|{}|{}|{pages}|{}|{how}",
            src.label(),
            offsets.len(),
            len / page_size()
        );
    }
    Ok(())
}

/// Touches every page of a fresh mapping once (the mapping's `mmap` and `munmap` not timed);
/// with `prefault`, one read per that many bytes first, not timed either.
pub fn first_touch(
    metric: &str,
    src: &Source,
    len: usize,
    pattern: Pattern,
    prefault: Option<usize>,
) -> Result<(), String> {
    let offsets = order(len, pattern);
    let info = src.info()?;
    let opened = src.open()?;
    let s = sample(|s| {
        let m = opened.map(len)?;
        if let Some(step) = prefault {
            touch_every(&m, step);
        }
        let probe = Probe::start()?;
        touch(&m, &offsets, pattern);
        probe.stop(len, s)
    })?;
    emit(metric, src.label(), &s);
    emit_counters(metric, src, info, &s);
    Ok(())
}

/// `mmap` + `munmap` as `metric`, with one read per `step` bytes in between if given; the `mmap`
/// call alone as `mmap_metric`, if given.
pub fn map_unmap(
    (metric, mmap_metric): (&str, Option<&str>),
    src: &Source,
    len: usize,
    step: Option<usize>,
) -> Result<(), String> {
    let info = src.info()?;
    let mut mmap = Sample::default();
    let opened = src.open()?;
    let s = sample(|s| {
        let probe = Probe::start()?;
        let m = opened.map(len)?;
        mmap.ns += probe.start.elapsed().as_nanos() as f64;
        mmap.pages += (len / page_size()) as f64;
        if let Some(step) = step {
            touch_every(&m, step);
        }
        drop(m);
        probe.stop(len, s)
    })?;
    emit(metric, src.label(), &s);
    emit_counters(metric, src, info, &s);
    if let Some(mmap_metric) = mmap_metric {
        emit(mmap_metric, src.label(), &mmap);
    }
    Ok(())
}

/// `open()` + `close()` of a driver's node, as `open_close`, in ns per call (the sample's
/// "page"): the part of mapping a node that the other rows leave out.
pub fn open_close(src: &Source) -> Result<(), String> {
    let Some(dev) = src.device() else {
        return Ok(());
    };
    let s = sample(|s| {
        let probe = Probe::start()?;
        drop(dev.open(true)?);
        probe.stop(page_size(), s)
    })?;
    emit("open_close", src.label(), &s);
    Ok(())
}

/// The whole job: `mmap`, a sequential first read of every page, `munmap`.
pub fn map_read_unmap(src: &Source, len: usize) -> Result<(), String> {
    let offsets = order(len, Pattern::SeqRead);
    let opened = src.open()?;
    let s = sample(|s| {
        let probe = Probe::start()?;
        let m = opened.map(len)?;
        touch(&m, &offsets, Pattern::SeqRead);
        drop(m);
        probe.stop(len, s)
    })?;
    emit("map_read_unmap", src.label(), &s);
    Ok(())
}

/// Reads every byte of a mapping made warm first (every page written once), 8 at a time.
pub fn stream_mapping(metric: &str, src: &Source, len: usize) -> Result<(), String> {
    let m = src.map(len)?;
    touch(&m, &order(len, Pattern::SeqWrite), Pattern::SeqWrite);
    let s = sample(|s| {
        let probe = Probe::start()?;
        let mut sum = 0u64;
        let base = m.addr() as *const u64;
        for i in 0..m.len() / 8 {
            // SAFETY: In bounds of the live mapping, aligned (the mapping is page-aligned).
            sum = sum.wrapping_add(unsafe { base.add(i).read_volatile() });
        }
        std::hint::black_box(sum);
        probe.stop(len, s)
    })?;
    emit(metric, src.label(), &s);
    Ok(())
}

/// `pread()` of `len` bytes of a driver node into `buf`.
pub fn stream_read(src: &Source, len: usize, buf: &mut [u8]) -> Result<(), String> {
    let Some(dev) = src.device() else {
        return Ok(());
    };
    let f: File = dev.open(false)?;
    let s = sample(|s| {
        let probe = Probe::start()?;
        let mut off = 0;
        while off < len {
            let n = nix::sys::uio::pread(&f, &mut buf[off..len], off as i64)
                .map_err(|e| format!("{}: pread: {e}", dev.path.display()))?;
            if n == 0 {
                return Err(format!("{}: short read at {off}", dev.path.display()));
            }
            off += n;
        }
        std::hint::black_box(&buf);
        probe.stop(len, s)
    })?;
    emit("stream_read", src.label(), &s);
    Ok(())
}
