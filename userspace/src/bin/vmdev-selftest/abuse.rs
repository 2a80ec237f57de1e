//! Abuse: short seeded runs of the random workload (`vmdev::stress`), and MADV_DONTNEED racing
//! read faults. Injected allocation failures: `fault_injection`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::mman::{MapFlags, MmapAdvise};
use vmdev::stress;

use crate::common::*;
use crate::harness::{Context, Device, Kind, Outcome, TestResult, diag, ensure, test};

/// Operations per worker of the suite's short stress runs over every node: the same work on any
/// machine, enough that each node's share of them covers [`STRESS_COVERS`] (with four nodes,
/// about a quarter).
const STRESS_OPS: u64 = 600;

/// The same for a run over one node, which gets all of them.
const STRESS_OPS_ONE_NODE: u64 = 400;

/// The time a short stress run may take at most, well inside the test's timeout: a cap for a
/// machine too slow to finish its operations, never a verdict.
const STRESS_CAP_SECONDS: u64 = 90;

/// The kinds of operation a short run must have made on each node of huge entries it runs on,
/// the huge and folio nodes (when it made all it planned): their mappings, touches, and each way
/// of splitting them; and forks.
const STRESS_COVERS: [&str; 7] = [
    "mmap",
    "touch",
    "munmap_part",
    "mprotect_part",
    "madv_dontfork_part",
    "mremap_shrink",
    "mremap_move_part",
];

/// Whether the faults of `d`, the huge or folio node, can map huge entries here: the kernel can
/// (`VMDEV_FLAG_HUGE_PMD`), the buffer has a whole PMD span (not the default buffers with
/// 16 KiB pages, whose span is 32 MiB), and for the folio node's pages THP is not `never` in
/// sysfs.
fn maps_huge_entries(d: &Device) -> Result<bool, String> {
    let possible = d.info()?.flags & vmdev::uapi::FLAG_HUGE_PMD != 0 && d.size()? >= pmd_span();
    Ok(possible && (d.kind != Kind::Folio || crate::folio_path::Pmd::of(d)?.on))
}

/// A short run of the random workload with a fixed seed over `nodes` (`vmdev-stress` runs long
/// ones): no broken invariant; and unless the time cap cut it short, forks and every kind of
/// [`STRESS_COVERS`] among its operations on each of the huge and folio nodes it ran on, and
/// huge entries mapped on those that can map them.
fn stress_fixed_seed(nodes: Vec<Device>, seed: u64) -> TestResult {
    let huge: Vec<Device> = nodes
        .iter()
        .filter(|d| matches!(d.kind, Kind::Huge | Kind::Folio))
        .cloned()
        .collect();
    let max_ops = if nodes.len() == 1 {
        STRESS_OPS_ONE_NODE
    } else {
        STRESS_OPS
    };
    let cfg = stress::Config {
        nodes,
        seed,
        seconds: STRESS_CAP_SECONDS,
        max_ops,
        procs: 2,
        threads: 2,
    };
    let report = stress::run(&cfg)?;
    diag!(
        "stress seed {seed}: {} operations ({})",
        report.total(),
        report.summary()
    );
    diag!(
        "stress seed {seed}: the faults mapped {}",
        report.mapped_summary()
    );
    if report.total() < cfg.planned_ops() {
        diag!(
            "stress seed {seed}: stopped by the {STRESS_CAP_SECONDS} s cap after {} of {} \
             operations: what they cover is not checked",
            report.total(),
            cfg.planned_ops()
        );
        return Ok(Outcome::Pass);
    }
    ensure!(
        report.count_of("fork") > 0,
        "stress seed {seed}: no fork among the operations"
    );
    for d in &huge {
        for kind in STRESS_COVERS {
            let kind = format!("{}.{kind}", d.name());
            ensure!(
                report.count_of(&kind) > 0,
                "stress seed {seed}: no {kind} among the operations"
            );
        }
        let mapped = report.mapped.get(d.name()).copied().unwrap_or_default();
        if maps_huge_entries(d)? {
            ensure!(
                mapped.pages > mapped.entries,
                "stress seed {seed}: the {} node mapped no huge entry ({} entries, {} pages)",
                d.name(),
                mapped.entries,
                mapped.pages
            );
        }
    }
    Ok(Outcome::Pass)
}

test!(stress: seed_1, Abuse);
fn seed_1(cx: &Context) -> TestResult {
    let nodes = cx.devices().map(Device::clone).to_vec();
    stress_fixed_seed(nodes, 1)
}

test!(stress: seed_2, Abuse);
fn seed_2(cx: &Context) -> TestResult {
    let nodes = cx.devices().map(Device::clone).to_vec();
    stress_fixed_seed(nodes, 2)
}

test!(stress: pud_range_seed_3, Reload);
/// The short run over the huge node alone, with the module on 1 GiB reserved at boot and
/// naturally aligned, one PUD span: its mappings are placed for a PUD entry, and split, moved
/// and forked over it. Restores the default load.
fn pud_range_seed_3(cx: &Context) -> TestResult {
    let Some(m) = &cx.module else {
        return Ok(Outcome::Skip(
            "needs --module, to load the module on the 1 GiB reservation".into(),
        ));
    };
    let flags = cx.huge.info()?.flags;
    if flags & vmdev::uapi::FLAG_HUGE_PUD == 0 {
        return Ok(Outcome::Skip(format!(
            "this kernel cannot map PUD entries of PFNs (vmdev_info.flags {flags:#x} without \
             VMDEV_FLAG_HUGE_PUD)"
        )));
    }
    let pud = pud_span();
    let params = match pud_reservation()? {
        Ok(range) => range.params(),
        Err(skip) => return Ok(skip),
    };
    m.reload(&params)?;
    let result = cx.huge.size().and_then(|got| {
        ensure!(
            got == pud,
            "the huge node's buffer is {got:#x} bytes on the {pud:#x}-byte reservation"
        );
        stress_fixed_seed(vec![cx.huge.clone()], 3)
    });
    m.reload("")?;
    result
}

/// The word the DONTNEED race writes at byte `offset` (a multiple of 8) of the device: never
/// zero, different for every word.
fn race_word(offset: usize) -> u64 {
    (offset as u64 / 8 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How long the DONTNEED race runs.
const RACE: Duration = Duration::from_secs(30);

test!(fault folio: dontneed_vs_read_faults, Abuse);
/// MADV_DONTNEED of whole PMD-span ranges (naturally aligned) of a shared mapping, in one
/// thread, against read faults of the same ranges in three others, for 30 seconds. The memory is
/// the device's, so DONTNEED only drops page table entries (on the folio node, whole folios'
/// PMD entries, which the readers' faults map again): every DONTNEED must succeed and every
/// word read must be the one written before with pwrite().
fn dontneed_vs_read_faults(cx: &Context, d: &Device) -> TestResult {
    let span = pmd_span();
    if d.size()? >= span {
        return dontneed_race(d, span);
    }
    // A PMD spans 32 MiB with 16 KiB pages, more than the default 16 MiB device: with the
    // module at hand, reload it with a fault device of two spans for this test.
    let Some(m) = &cx.module else {
        return Ok(Outcome::Skip(format!(
            "the device is smaller than one {span}-byte PMD span, and there is no --module to reload it larger"
        )));
    };
    m.reload(&format!("fault_size={}", 2 * span))?;
    let result = dontneed_race(d, span);
    m.reload("")?;
    result
}

/// The race of [`dontneed_vs_read_faults`] over the whole spans of `d`.
fn dontneed_race(d: &Device, span: usize) -> TestResult {
    let spans = d.size()? / span;
    ensure!(spans > 0, "the device is smaller than one {span}-byte span");
    let len = spans * span;
    let f = d.open(true)?;
    let data: Vec<u8> = (0..len)
        .step_by(8)
        .flat_map(|o| race_word(o).to_ne_bytes())
        .collect();
    let n = pwrite(&f, &data, 0).map_err(|e| format!("pwrite: {e}"))?;
    ensure!(n == len, "pwrite wrote {n} of {len} bytes");
    drop(data);
    let m = map_aligned(&f, len, MapFlags::MAP_SHARED, 0, span)?;
    if d.kind == Kind::Folio {
        crate::folio_path::advise_huge(&m)?;
    }
    let before = d.info()?;
    let failed = AtomicBool::new(false);
    let deadline = Instant::now() + RACE;
    let go_on = || Instant::now() < deadline && !failed.load(Ordering::Relaxed);
    let (zaps, reads) = std::thread::scope(|s| {
        let zapper = s.spawn(|| {
            let mut zaps = 0u64;
            while go_on() {
                let at = (zaps as usize % spans) * span;
                if let Err(e) = madvise_range(&m, at, span, MmapAdvise::MADV_DONTNEED) {
                    failed.store(true, Ordering::Relaxed);
                    return Err(format!("MADV_DONTNEED of {span} bytes at {at:#x}: {e}"));
                }
                zaps += 1;
            }
            Ok(zaps)
        });
        let readers: Vec<_> = (0..3)
            .map(|t| {
                let (m, failed, go_on) = (&m, &failed, &go_on);
                s.spawn(move || {
                    let mut words = 0u64;
                    let mut round = t;
                    while go_on() {
                        let base = (round % spans) * span;
                        for at in (base..base + span).step_by(8) {
                            let got = m.read_u64(at);
                            if got != race_word(at) {
                                failed.store(true, Ordering::Relaxed);
                                return Err(format!(
                                    "word at {at:#x} reads {got:#x}, {:#x} was written",
                                    race_word(at)
                                ));
                            }
                        }
                        words += (span / 8) as u64;
                        round += 1;
                    }
                    Ok(words)
                })
            })
            .collect();
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<u64, String>>| {
            h.join().unwrap_or_else(|_| Err("a thread panicked".into()))
        };
        let zaps = join(zapper);
        let reads: Result<Vec<u64>, String> = readers.into_iter().map(join).collect();
        (zaps, reads)
    });
    let (zaps, words) = (zaps?, reads?.iter().sum::<u64>());
    let after = d.info()?;
    diag!(
        "{zaps} DONTNEEDs of {span}-byte spans, {} MiB read by 3 threads, faults +{}, \
         around_pages +{}",
        (words * 8) >> 20,
        after.faults - before.faults,
        after.around_pages - before.around_pages
    );
    ensure!(
        zaps > 0 && words > 0,
        "{zaps} DONTNEEDs and {words} words read"
    );
    Ok(Outcome::Pass)
}
