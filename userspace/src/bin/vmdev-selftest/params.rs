//! Module parameters: sizes, fault-around, the mapping hook, node permissions, and the values
//! that must be refused at load. Boot-reserved memory: `boot_memory`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use nix::errno::Errno;
use nix::sys::mman::MapFlags;
use nix::unistd::{Uid, setuid};
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Device, Module, Outcome, TestResult, diag, ensure, test};

test!(module: param_sizes, Reload);
fn param_sizes(cx: &Context, m: &Module) -> TestResult {
    m.reload(&format!("remap_size={} fault_size={}", 8 * ps(), 20 * ps()))?;
    let (r, h, f) = (cx.remap.info()?, cx.huge.info()?, cx.fault.info()?);
    m.reload("")?;
    // The huge node maps the remap node's memory: remap_size is its size too.
    ensure!(
        r.size == 8 * ps() as u64 && h.size == r.size && f.size == 20 * ps() as u64,
        "sizes {} (remap), {} (huge) and {} (fault), loaded with remap_size={} fault_size={}",
        r.size,
        h.size,
        f.size,
        8 * ps(),
        20 * ps()
    );
    Ok(Outcome::Pass)
}

test!(module: param_fault_around_off, Reload);
fn param_fault_around_off(cx: &Context, m: &Module) -> TestResult {
    let fault = &cx.fault;
    m.reload("fault_around=0")?;
    let result = (|| {
        let info = fault.info()?;
        ensure!(
            info.flags & uapi::FLAG_FAULT_AROUND == 0,
            "flags {:#x} still say fault-around",
            info.flags
        );
        let f = fault.open(true)?;
        let k = 40;
        let map = shared(&f, 64 * ps(), 0)?;
        for i in 0..k {
            map.read(i * ps());
        }
        let after = fault.info()?;
        ensure!(
            after.faults - info.faults == k as u64,
            "{k} first reads moved faults by {}",
            after.faults - info.faults
        );
        // Writes to a shared mapping are not batched either: one page per fault.
        let writes = 8;
        for i in 48..48 + writes {
            map.write(i * ps(), 1);
        }
        let last = fault.info()?;
        ensure!(
            last.faults - after.faults == writes as u64,
            "{writes} first writes moved faults by {}",
            last.faults - after.faults
        );
        ensure!(
            last.around_pages == 0,
            "around_pages {} with fault_around=0",
            last.around_pages
        );
        let mapped = rss_pages(&map)?;
        ensure!(
            mapped == (k + writes) as u64,
            "Rss {mapped} pages after {k} reads and {writes} writes of single pages"
        );
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

test!(module: param_fault_around_bytes, Reload);
/// Module parameter `fault_around_bytes` sizes the fault node's window, from one page to a page
/// table's span: the node reports it in `vmdev_info.flags`, and the first read of a fresh
/// mapping maps exactly the aligned window around the page (clamped to the buffer), with one
/// fault; `fault_around=0` makes it one page whatever its size.
fn param_fault_around_bytes(cx: &Context, m: &Module) -> TestResult {
    let fault = &cx.fault;
    let result = (|| {
        for (params, want) in [
            (format!("fault_around_bytes={}", ps()), ps()),
            (format!("fault_around_bytes={}", 2 * ps()), 2 * ps()),
            (format!("fault_around_bytes={}", pmd_span()), pmd_span()),
            (
                format!("fault_around=0 fault_around_bytes={}", pmd_span()),
                ps(),
            ),
        ] {
            m.reload(&params)?;
            let info = fault.info()?;
            let window = uapi::fault_window_bytes(info.flags);
            ensure!(
                window == want,
                "{params}: the node reports a window of {window} bytes, expected {want}"
            );
            // A mapping of two windows, or of the whole buffer where that is less; a read of
            // the second window's first page, or of page 0 where there is no second window.
            let size = usize::try_from(info.size).map_err(|e| e.to_string())?;
            let (w, pages) = (want / ps(), (2 * want).min(size) / ps());
            let page = if 2 * w <= pages { w } else { 0 };
            let expect = w.min(pages - page) as u64;
            let f = fault.open(true)?;
            let map = map_aligned(&f, pages * ps(), MapFlags::MAP_SHARED, 0, want)?;
            map.read(page * ps());
            let after = fault.info()?;
            let mapped = rss_pages(&map)?;
            ensure!(
                after.faults - info.faults == 1
                    && after.around_pages - info.around_pages == expect - 1
                    && mapped == expect,
                "{params}: a first read of page {page} took {} faults, mapped {} around, Rss \
                 {mapped} pages; expected 1 fault mapping {expect} pages",
                after.faults - info.faults,
                after.around_pages - info.around_pages
            );
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

test!(module: bad_params_refused, Reload);
fn bad_params_refused(cx: &Context, m: &Module) -> TestResult {
    let cases = [
        "remap_size=0".to_string(),
        format!("remap_size={}", ps() + 1),
        format!("remap_size={}", 2 * max_alloc()?),
        format!("remap_size={}", usize::MAX - ps() + 1),
        "remap_size=-1".to_string(),
        "fault_size=0".to_string(),
        "fault_size=12345".to_string(),
        format!("fault_size={}", 1u64 << 40),
        format!("fault_size={}", 1u64 << 63),
        "fault_around=maybe".to_string(),
        "fault_around_bytes=0".to_string(),
        format!("fault_around_bytes={}", ps() / 2),
        format!("fault_around_bytes={}", 3 * ps()),
        format!("fault_around_bytes={}", 2 * pmd_span()),
        "fault_around_bytes=-1".to_string(),
        format!("fault_around=0 fault_around_bytes={}", ps() + 1),
    ];
    if m.is_loaded() {
        m.unload().map_err(|e| format!("rmmod: {e}"))?;
    }
    let mut kmsg = Kmsg::from_now()?;
    for params in &cases {
        let res = m.load(params);
        ensure!(res.is_err() && !m.is_loaded(), "{params}: loaded ({res:?})");
        ensure!(
            !cx.nodes_exist(),
            "{params}: refused, but a device node is left"
        );
        let ours: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| l.contains(&m.name))
            .collect();
        ensure!(
            ours.len() == 1
                && (ours[0].contains("refused") || ours[0].contains("invalid for parameter")),
            "{params}: expected one line saying why, got {ours:?}"
        );
    }
    m.reload("")?;
    Ok(Outcome::Pass)
}

test!(module: mmap_hook, Reload);
/// Module parameter `mmap_prepare` chooses the nodes' mapping hook: loaded with
/// `mmap_prepare=0` every node registers the classic `f_op->mmap`, with `mmap_prepare=1`
/// `f_op->mmap_prepare`, and says which in `FLAG_MMAP_PREPARE`. With either, a shared mapping of
/// each node is written, `read()` returns what it wrote, and `live_vmas` counts it until its
/// `munmap`, then is 0 again. The module is reloaded with the suite's parameters last.
fn mmap_hook(cx: &Context, m: &Module) -> TestResult {
    let result = (|| {
        for (seed, params, prepare, hook) in [
            (41, "mmap_prepare=0", false, "f_op->mmap"),
            (42, "mmap_prepare=1", true, "f_op->mmap_prepare"),
        ] {
            m.reload(params)?;
            for d in cx.devices() {
                let info = d.info()?;
                ensure!(
                    (info.flags & uapi::FLAG_MMAP_PREPARE != 0) == prepare,
                    "{params}: {} node's flags {:#x} {} FLAG_MMAP_PREPARE (expected hook {hook})",
                    d.name(),
                    info.flags,
                    if prepare { "lack" } else { "have" }
                );
                ensure!(
                    info.live_vmas == 0,
                    "{params}: {} node: live_vmas {} before any mapping",
                    d.name(),
                    info.live_vmas
                );
                let size = usize::try_from(info.size).map_err(|e| e.to_string())?;
                let f = d.open(true)?;
                let map = shared(&f, size, 0)?;
                let live = d.live_vmas()?;
                ensure!(
                    live == 1,
                    "{params}: {} node: live_vmas {live} with one mapping",
                    d.name()
                );
                let data = pattern(seed, size);
                map.write_bytes(0, &data);
                ensure!(
                    pread(&f, size, 0)? == data,
                    "{params}: read() of the {} node misses what its mapping wrote",
                    d.name()
                );
                drop(map);
                let live = d.live_vmas()?;
                ensure!(
                    live == 0,
                    "{params}: {} node: live_vmas {live} after munmap",
                    d.name()
                );
            }
            diag!("{params}: {hook} on every node: mapped, written, read back, unmapped");
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

/// The permission bits of a node, which must be a character device.
fn node_mode(d: &Device) -> Result<u32, String> {
    let st = std::fs::metadata(&d.path).map_err(|e| format!("{}: {e}", d.path.display()))?;
    ensure!(
        st.file_type().is_char_device(),
        "{} is not a character device",
        d.path.display()
    );
    Ok(st.mode() & 0o7777)
}

test!(module: mode_default_0600, Reload);
/// Loaded with default parameters, every node is root's alone: mode 0600.
fn mode_default_0600(cx: &Context, m: &Module) -> TestResult {
    m.reload("")?;
    for d in cx.devices() {
        let mode = node_mode(d)?;
        ensure!(
            mode == 0o600,
            "{} has mode {mode:04o}, expected 0600",
            d.path.display()
        );
    }
    Ok(Outcome::Pass)
}

test!(module: mode_0666_lets_nonroot_map, Reload);
/// With mode=0666 a user other than root opens every node read-write, reads it and maps it
/// shared; reloading with the defaults makes them 0600 again.
fn mode_0666_lets_nonroot_map(cx: &Context, m: &Module) -> TestResult {
    m.reload("mode=0666")?;
    let result = (|| {
        for d in cx.devices() {
            let mode = node_mode(d)?;
            ensure!(
                mode == 0o666,
                "{} has mode {mode:04o} after loading with mode=0666",
                d.path.display()
            );
            pwrite(&d.open(true)?, &[0x3d], 7).map_err(|e| format!("pwrite: {e}"))?;
        }
        child_ok(|| {
            setuid(Uid::from_raw(65534)).map_err(|e| format!("setuid(nobody): {e}"))?;
            for d in cx.devices() {
                let f = d.open(true)?;
                ensure!(
                    pread(&f, 1, 7)? == [0x3d],
                    "as nobody, read() of {} misses root's byte",
                    d.path.display()
                );
                let map = shared(&f, ps(), 0)?;
                ensure!(
                    map.read(7) == 0x3d,
                    "as nobody, a mapping of {} misses root's byte",
                    d.path.display()
                );
                map.write(8, 0x3e);
            }
            Ok(())
        })?;
        for d in cx.devices() {
            ensure!(
                pread(&d.open(false)?, 1, 8)? == [0x3e],
                "nobody's write through a mapping did not reach {}",
                d.path.display()
            );
        }
        Ok(())
    })();
    m.reload("")?;
    result?;
    for d in cx.devices() {
        let mode = node_mode(d)?;
        ensure!(
            mode == 0o600,
            "{} has mode {mode:04o} after reloading with the defaults",
            d.path.display()
        );
    }
    Ok(Outcome::Pass)
}

test!(module: mode_bad_refused, Reload);
/// A mode with bits outside 0666 is refused at load: EINVAL, one line of the module's in the
/// kernel log that names `mode`, and no node.
fn mode_bad_refused(cx: &Context, m: &Module) -> TestResult {
    if m.is_loaded() {
        m.unload().map_err(|e| format!("rmmod: {e}"))?;
    }
    let result = (|| {
        let mut kmsg = Kmsg::from_now()?;
        for mode in ["0777", "01666", "0100", "07000"] {
            let params = format!("mode={mode}");
            let res = m.load(&params);
            if res.is_ok() {
                m.unload().map_err(|e| format!("rmmod: {e}"))?;
            }
            expect_errno(&format!("loading with {params}"), res, Errno::EINVAL)?;
            ensure!(
                !cx.nodes_exist(),
                "{params}: refused, but a device node is left"
            );
            let ours: Vec<String> = kmsg
                .new_lines()
                .into_iter()
                .filter(|l| l.contains(&m.name))
                .collect();
            ensure!(
                ours.len() == 1 && ours[0].contains("mode"),
                "{params}: expected one line of {} about mode in the kernel log, got {ours:?}",
                m.name
            );
        }
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}
