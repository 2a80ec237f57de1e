//! What touching a mapping of the huge node costs, counted (`Cost`: the driver's faults and
//! the pages its entries mapped around them, from `vmdev_info`, and the process's minor
//! faults), and the PMD spans of the buffer the huge tests map: the tools `huge_path`,
//! `huge_split`, `huge_split_matrix` and `frames` measure with.

use std::fmt;
use std::ops::Range;

use nix::sys::mman::{MapFlags, MlockAllFlags, mlockall, munlockall};
use vmdev::mapping::{Mapping, minor_faults};
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Device, Outcome, ensure};

/// The PMD spans of `d`'s buffer, or why the test is skipped: the kernel cannot map PMD
/// entries, or the buffer holds fewer than two spans (pages larger than 4 KiB).
pub fn pmd_spans(d: &Device) -> Result<Result<usize, Outcome>, String> {
    let info = d.info()?;
    if info.flags & uapi::FLAG_HUGE_PMD == 0 {
        return Ok(Err(Outcome::Skip(format!(
            "this kernel cannot map PMD entries of PFNs (vmdev_info.flags {:#x} without \
             VMDEV_FLAG_HUGE_PMD: no CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)",
            info.flags
        ))));
    }
    let (size, span) = (info.size as usize, pmd_span());
    if size / span < 2 || size % span != 0 {
        return Ok(Err(Outcome::Skip(format!(
            "the buffer ({size:#x} bytes) is not two or more whole {span:#x}-byte PMD spans"
        ))));
    }
    Ok(Ok(size / span))
}

/// The PMD spans of the device, or returns the skip from the test.
macro_rules! spans_or_skip {
    ($d:expr) => {
        match $crate::huge_cost::pmd_spans($d)? {
            Ok(spans) => spans,
            Err(skip) => return Ok(skip),
        }
    };
}
pub(crate) use spans_or_skip;

/// Pages of one PMD span.
pub fn span_pages() -> usize {
    pmd_span() / ps()
}

/// What touches cost: faults of the driver, pages its entries mapped around the faulting
/// ones, minor faults of the process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cost {
    pub faults: u64,
    pub around: u64,
    pub minor: u64,
}

impl Cost {
    /// `entries` entries of `pages` pages each and `ptes` PTE faults, one minor fault each.
    pub fn of(entries: usize, pages: usize, ptes: usize) -> Self {
        let faults = (entries + ptes) as u64;
        Self {
            faults,
            around: (entries * (pages - 1)) as u64,
            minor: faults,
        }
    }

    /// The first touch of every page of a fresh mapping of `len` bytes at file offset
    /// `offset`, placed congruent to it: one PMD entry per whole span inside, a PTE per page
    /// outside them.
    pub fn first_touch(offset: usize, len: usize) -> Self {
        let first = offset.next_multiple_of(pmd_span());
        let whole = (offset + len).saturating_sub(first) / pmd_span();
        Self::of(whole, span_pages(), len / ps() - whole * span_pages())
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "faults +{}, around_pages +{}, minor faults +{}",
            self.faults, self.around, self.minor
        )
    }
}

/// Touches byte `o` of `m` for every `o` in `offsets`, writing back the byte read if `write`,
/// and returns what that cost `d` and the process.
pub fn touch(d: &Device, m: &Mapping, offsets: &[usize], write: bool) -> Result<Cost, String> {
    // The test runs in a fresh child, which takes a minor fault for each page of the program
    // it touches first: make every page present now (mlock populates, munlock keeps them), so
    // the faults counted are the mapping's. VM_PFNMAP mappings are left alone.
    mlockall(MlockAllFlags::MCL_CURRENT).map_err(|e| format!("mlockall: {e}"))?;
    munlockall().map_err(|e| format!("munlockall: {e}"))?;
    let before = d.info()?;
    let minor = minor_faults()?;
    for &o in offsets {
        let byte = m.read(o);
        if write {
            m.write(o, byte);
        }
    }
    let minor = minor_faults()? - minor;
    let after = d.info()?;
    Ok(Cost {
        faults: after.faults - before.faults,
        around: after.around_pages - before.around_pages,
        minor: minor as u64,
    })
}

/// Fails unless `got` is `want`.
pub fn expect_cost(what: &str, got: Cost, want: Cost) -> Result<(), String> {
    ensure!(got == want, "{what}: {got}; expected {want}");
    Ok(())
}

/// An offset in each page of `pages`.
pub fn pages(pages: Range<usize>) -> Vec<usize> {
    pages.map(|p| p * ps()).collect()
}

/// Offset `at` of each PMD span of `spans`.
pub fn in_spans(spans: Range<usize>, at: usize) -> Vec<usize> {
    spans.map(|s| s * pmd_span() + at).collect()
}

/// The whole buffer, filled with a pattern, and a shared mapping of it placed for PMD entries.
pub fn whole_mapped(
    d: &Device,
    spans: usize,
    seed: u8,
) -> Result<(std::fs::File, Vec<u8>, Mapping), String> {
    let f = d.open(true)?;
    let len = spans * pmd_span();
    let data = pattern(seed, len);
    pwrite(&f, &data, 0).map_err(|e| format!("pwrite: {e}"))?;
    let m = map_congruent(&f, len, RW, MapFlags::MAP_SHARED, 0, pmd_span())?;
    Ok((f, data, m))
}
