//! The folio node's memory over the module's life: module parameter `folio_size` (whole PMD
//! spans, one folio each, zeroed; anything else refused at load, leaving nothing behind), and
//! the unload, which puts the driver's reference to each folio and logs, per node, "freeing N
//! folios, M still referenced elsewhere": M is 0 once every mapping is gone and every pipe
//! closed, and counts the folios a pipe that vmsplice filled still holds, whose pages outlive
//! the module.

use nix::errno::Errno;
use nix::sys::mman::MapFlags;
use vmdev::frames::{KernelView, runs};
use vmdev::uapi;

use crate::common::*;
use crate::folio_gup::everything_once;
use crate::folio_path::{Pmd, expect_counts, fill, folio_map, span_pages, touch};
use crate::gup::SplicedPipe;
use crate::harness::{Context, Device, Module, Outcome, TestResult, diag, ensure, test};

/// The name the node's driver logs it by: the node's file name (`vmdev-folio`, `vmdev_c-folio`).
fn node_name(d: &Device) -> Result<String, String> {
    d.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or(format!("{}: no file name", d.path.display()))
}

/// Reads N and M from "NODE: freeing N folios, M still referenced elsewhere".
fn parse_freeing(line: &str, node: &str) -> Option<(usize, usize)> {
    let rest = line.split(&format!("{node}: freeing ")).nth(1)?;
    let (n, rest) = rest.split_once(" folios, ")?;
    let (m, rest) = rest.split_once(' ')?;
    rest.starts_with("still referenced elsewhere")
        .then_some((n.parse().ok()?, m.parse().ok()?))
}

/// Unloads the module and returns what the folio node's line in the kernel log says: the
/// folios freed and those still referenced elsewhere.
fn unload_counting(m: &Module, node: &str) -> Result<(usize, usize), String> {
    let mut kmsg = Kmsg::from_now()?;
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    let lines = kmsg.new_lines();
    let ours: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("{node}: freeing ")))
        .collect();
    ensure!(
        ours.len() == 1,
        "{} lines \"{node}: freeing ...\" in the kernel log after rmmod: {lines:?}",
        ours.len()
    );
    parse_freeing(ours[0], node).ok_or(format!(
        "{:?} is not \"{node}: freeing N folios, M still referenced elsewhere\"",
        ours[0]
    ))
}

test!(module: unload_puts_folios, Reload);
/// After PMD and PTE mappings, a fork, a split, a private copy, vmsplice and process_vm_readv,
/// everything unmapped and closed: rmmod succeeds and the folio node logs "freeing N folios, 0
/// still referenced elsewhere", N the buffer's folios. Then, loaded afresh, with two pages of
/// one folio left in a pipe by vmsplice past their munmap: rmmod succeeds (a pipe holds pages,
/// not the module), the line says 1 still referenced, and the pipe still reads the bytes the
/// device had. Restores the default load.
fn unload_puts_folios(cx: &Context, m: &Module) -> TestResult {
    let d = &cx.folio;
    m.reload("")?;
    let result = (|| {
        let (span, p) = (pmd_span(), ps());
        let folios = d.size()? / span;
        ensure!(folios >= 2, "{folios} folios: the test needs 2");
        let node = node_name(d)?;
        everything_once(d)?;
        let freed = unload_counting(m, &node)?;
        ensure!(
            freed == (folios, 0),
            "after everything was unmapped: freeing {} folios, {} still referenced; expected \
             {folios} and 0",
            freed.0,
            freed.1
        );
        m.reload("")?;
        let f = d.open(true)?;
        let data = fill(&f, 100, span + 3 * p, 2 * p)?;
        let map = folio_map(&f, span, RW, MapFlags::MAP_SHARED, span)?;
        let pipe = SplicedPipe::splice(&map, 3 * p, 2 * p).map_err(|e| format!("vmsplice: {e}"))?;
        ensure!(pipe.len == 2 * p, "vmsplice took {} bytes", pipe.len);
        drop((map, f));
        let freed = unload_counting(m, &node)?;
        ensure!(
            freed == (folios, 1),
            "with a pipe holding two pages of one folio: freeing {} folios, {} still \
             referenced; expected {folios} and 1",
            freed.0,
            freed.1
        );
        ensure!(
            pipe.read_all()? == data,
            "the pipe read other bytes than the device had, after the unload"
        );
        diag!("rmmod: {folios} folios freed, then again with 1 held by a pipe past the unload");
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

test!(module: param_folio_size, Reload);
/// Module parameter `folio_size`, one and three PMD spans: the folio node's buffer is that
/// size, zeroed, in that many folios (the debug view: contiguous frames per folio, aligned to
/// the span), and its last folio maps by one PMD entry where PMD entries can be; a mapping past
/// it is refused. Restores the default load.
fn param_folio_size(cx: &Context, m: &Module) -> TestResult {
    let d = &cx.folio;
    let (span, sp) = (pmd_span(), span_pages());
    let result = (|| {
        for n in [1, 3] {
            let params = format!("folio_size={}", n * span);
            m.reload(&params)?;
            let info = d.info()?;
            ensure!(
                info.size == (n * span) as u64 && info.backing == uapi::BACKING_FOLIO,
                "{params}: size {:#x}, backing {}",
                info.size,
                info.backing
            );
            let view = KernelView::read(&d.path)?;
            let frames: Vec<u64> = view.pages.iter().map(|&(_, pfn)| pfn).collect();
            ensure!(
                frames.len() == n * sp,
                "{params}: the debug view lists {} pages, expected {}",
                frames.len(),
                n * sp
            );
            for (k, folio) in frames.chunks(sp).enumerate() {
                ensure!(
                    runs(folio).len() == 1 && folio[0] % sp as u64 == 0,
                    "{params}: folio {k}'s frames are not contiguous and aligned to {sp}"
                );
            }
            let f = d.open(true)?;
            ensure!(
                pread(&f, n * span, 0)?.iter().all(|&b| b == 0),
                "{params}: the buffer is not zeroed"
            );
            let pmd = Pmd::of(d)?;
            let last = folio_map(&f, span, RW, MapFlags::MAP_SHARED, (n - 1) * span)?;
            let got = touch(d, &last, [1], true)?;
            expect_counts(
                &format!("{params}: a first write to the last folio"),
                got,
                pmd.span_touch(),
            )?;
            drop(last);
            let live = d.live_vmas()?;
            refused_cleanly(
                d,
                &format!("{params}: mmap of a span past the end"),
                mmap_errno(&f, span, RW, MapFlags::MAP_SHARED, (n * span) as u64),
                Errno::EINVAL,
                live,
            )?;
            pmd.note();
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

test!(module: param_folio_size_refused, Reload);
/// `folio_size` values that are no whole number of PMD spans (0, half a span, a span and a page,
/// a span and a half, the largest number) are refused at load with EINVAL, one that does not
/// parse too; one of whole spans past any memory (2^62 bytes) with ENOMEM. Each refusal leaves
/// no module and no node behind, and logs one line of the module's that says why, and no
/// warning. Restores the default load.
fn param_folio_size_refused(cx: &Context, m: &Module) -> TestResult {
    let span = pmd_span() as u64;
    let cases = [
        ("folio_size=0".to_string(), Errno::EINVAL),
        (format!("folio_size={}", span / 2), Errno::EINVAL),
        (format!("folio_size={}", span + ps() as u64), Errno::EINVAL),
        (format!("folio_size={}", span * 3 / 2), Errno::EINVAL),
        (format!("folio_size={}", u64::MAX), Errno::EINVAL),
        ("folio_size=-1".to_string(), Errno::EINVAL),
        (format!("folio_size={}", 1u64 << 62), Errno::ENOMEM),
    ];
    if m.is_loaded() {
        m.unload().map_err(|e| format!("rmmod: {e}"))?;
    }
    let result = (|| {
        let mut kmsg = Kmsg::from_now()?;
        for (params, want) in &cases {
            let res = m.load(params);
            if res.is_ok() {
                m.unload().map_err(|e| format!("rmmod: {e}"))?;
            }
            expect_errno(&format!("loading with {params}"), res, *want)?;
            ensure!(
                !m.is_loaded() && !cx.nodes_exist(),
                "{params}: refused, but the module or a node is left"
            );
            let lines = kmsg.new_lines();
            let ours: Vec<&String> = lines.iter().filter(|l| l.contains(&m.name)).collect();
            ensure!(
                ours.len() == 1
                    && (ours[0].contains("folio") || ours[0].contains("invalid for parameter")),
                "{params}: expected one line of {} saying why, got {ours:?}",
                m.name
            );
            ensure!(
                !lines
                    .iter()
                    .any(|l| l.contains("WARNING") || l.contains("allocation failure")),
                "{params}: a warning in the kernel log: {lines:?}"
            );
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

#[cfg(test)]
mod tests {
    #[test]
    fn freeing_lines_parse() {
        let p = |l| super::parse_freeing(l, "vmdev-folio");
        assert_eq!(
            p("vmdev-folio: freeing 32 folios, 0 still referenced elsewhere"),
            Some((32, 0))
        );
        assert_eq!(
            p("rust_vmdev: vmdev-folio: freeing 2 folios, 1 still referenced elsewhere"),
            Some((2, 1))
        );
        assert_eq!(p("vmdev-folio: freeing 2 folios"), None);
        assert_eq!(
            p("vmdev-huge: freeing 2 folios, 0 still referenced elsewhere"),
            None
        );
        assert_eq!(
            super::parse_freeing(
                "vmdev_c: vmdev_c-folio: freeing 32 folios, 3 still referenced elsewhere",
                "vmdev_c-folio"
            ),
            Some((32, 3))
        );
    }
}
