//! The page walkers over the folio node's mappings: smaps, pagemap, mincore, numa_maps and
//! `/proc/kpagecount` walk a VMA of ordinary pages (not a VM_PFNMAP one, which `walk_page_test()`
//! skips), through PMD entries (`pmd_trans_huge_lock()`) and PTEs alike, and must agree on which
//! pages are mapped, and on which frames. The tools: `folio_path`.

use nix::sys::mman::MapFlags;
use vmdev::frames::{kpagecounts, pagemap_frames};

use crate::common::*;
use crate::folio_path::{
    Counts, Pmd, device_frames, expect_counts, fill, folio_map, folios_or_skip, mincore, pages_set,
    pmd_mapped, smaps_bytes, span_pages, touch,
};
use crate::harness::{Context, Device, Outcome, TestResult, diag, ensure, test};

/// numa_maps' line of the VMA at `start`, or `None` without CONFIG_NUMA (no such file).
fn numa_maps_line(start: u64) -> Result<Option<String>, String> {
    let text = match std::fs::read_to_string("/proc/self/numa_maps") {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("/proc/self/numa_maps: {e}")),
    };
    let key = format!("{start:08x} ");
    text.lines()
        .find(|l| l.starts_with(&key))
        .map(|l| Some(l.to_string()))
        .ok_or(format!("no line for {start:#x} in /proc/self/numa_maps"))
}

/// The pages a numa_maps line counts: the sum of its `N<node>=` fields.
fn numa_pages(line: &str) -> u64 {
    line.split_whitespace()
        .filter(|w| w.starts_with('N'))
        .filter_map(|w| w.split_once('=')?.1.parse::<u64>().ok())
        .sum()
}

/// What the page walkers say of a mapping, for comparing two readings.
#[derive(PartialEq, Debug)]
struct Walk {
    frames: Vec<Option<u64>>,
    resident: Vec<u8>,
    rss: u64,
    pmd: u64,
    counts: Vec<u64>,
}

test!(folio: walkers_agree);
/// A mapping of folio 0's whole span and eight pages of folio 1, its first page read (a PMD
/// entry) and three of the eight (PTEs): smaps (`Rss`, `FilePmdMapped`), pagemap (present, the
/// device's frames, file pages), mincore (resident), numa_maps (pages per node, with
/// CONFIG_NUMA) and `/proc/kpagecount` (1 mapped, 0 not) all say which pages are mapped, and
/// agree; reading them again gives the same answers, and changes nothing: touching the mapped
/// pages again takes no fault.
fn walkers_agree(_cx: &Context, d: &Device) -> TestResult {
    folios_or_skip!(d, 2);
    let pmd = Pmd::of(d)?;
    let (span, sp, p) = (pmd_span(), span_pages(), ps());
    let f = d.open(true)?;
    fill(&f, 83, 0, span + 8 * p)?;
    let pages = sp + 8;
    let m = folio_map(&f, pages * p, RW, MapFlags::MAP_SHARED, 0)?;
    let tail = [sp, sp + 2, sp + 4];
    let got = touch(d, &m, [0].into_iter().chain(tail), false)?;
    expect_counts(
        "a read of the first page, and of three past the span",
        got,
        pmd.span_touch().plus(Counts::ptes(3)),
    )?;
    let mut mapped: Vec<usize> = if pmd.on { (0..sp).collect() } else { vec![0] };
    mapped.extend(tail);
    let set = pages_set(pages, &mapped);
    let frames = device_frames(d, 0, pages)?;
    let walk = || -> Result<Walk, String> {
        let mut counts = kpagecounts(frames[0], sp)?;
        counts.extend(kpagecounts(frames[sp], 8)?);
        Ok(Walk {
            frames: pagemap_frames(m.addr(), pages)?,
            resident: mincore(m.addr(), pages)?,
            rss: smaps_bytes(m.addr(), "Rss")?,
            pmd: pmd_mapped(m.addr())?,
            counts,
        })
    };
    let first = walk()?;
    for i in 0..pages {
        let want = set[i].then_some(frames[i]);
        ensure!(
            first.frames[i] == want
                && first.resident[i] == u8::from(set[i])
                && first.counts[i] == u64::from(set[i]),
            "page {i}: pagemap frame {:x?}, mincore {}, kpagecount {}; expected {want:x?}, {}, {}",
            first.frames[i],
            first.resident[i],
            first.counts[i],
            u8::from(set[i]),
            u64::from(set[i])
        );
    }
    let want_pmd = if pmd.on { span as u64 } else { 0 };
    ensure!(
        first.rss == (mapped.len() * p) as u64 && first.pmd == want_pmd,
        "smaps: Rss {:#x}, FilePmdMapped {:#x}; expected {:#x} and {want_pmd:#x}",
        first.rss,
        first.pmd,
        mapped.len() * p
    );
    match numa_maps_line(m.addr())? {
        Some(line) => {
            let n = numa_pages(&line);
            ensure!(
                n == mapped.len() as u64 && line.contains(&format!("file={}", d.path.display())),
                "numa_maps counts {n} pages of {}: {line}",
                mapped.len()
            );
            diag!("numa_maps: {line}");
        }
        None => diag!("no /proc/self/numa_maps (a kernel without CONFIG_NUMA)"),
    }
    let again = walk()?;
    ensure!(
        again == first,
        "a second reading differs: {again:x?}, first {first:x?}"
    );
    let got = touch(d, &m, mapped.iter().copied(), false)?;
    expect_counts(
        "touching the mapped pages after the walks",
        got,
        Counts::NONE,
    )?;
    pmd.note();
    Ok(Outcome::Pass)
}
