//! Module parameters: sizes, fault-around, boot-reserved memory, node permissions, and the
//! values that must be refused at load.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use nix::errno::Errno;
use nix::sys::mman::MapFlags;
use nix::unistd::{Uid, setuid};
use vmdev::maps::self_maps_entry;
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

test!(module: param_boot_reserved, Reload);
fn param_boot_reserved(cx: &Context, m: &Module) -> TestResult {
    let remap = &cx.remap;
    let Some(&(base, size)) = boot_reserved()?.first() else {
        return Ok(Outcome::Skip(
            "no vmdev_reserved=BASE,SIZE on the kernel command line".into(),
        ));
    };
    m.reload(&format!("phys_base={base:#x} phys_size={size:#x}"))?;
    let result = (|| {
        for d in [remap, &cx.huge] {
            let info = d.info()?;
            ensure!(
                info.size == size && info.flags & uapi::FLAG_BOOT_RESERVED != 0,
                "{}: info {info:?} for the boot-reserved range",
                d.name()
            );
        }
        let f = remap.open(true)?;
        ensure!(
            pread(&f, ps(), 0)?.iter().all(|&b| b == 0),
            "the reserved range is not zeroed at load"
        );
        let data = pattern(77, 3 * ps());
        let map = shared(&f, 3 * ps(), ps())?;
        map.write_bytes(0, &data);
        ensure!(
            pread(&f, 3 * ps(), ps())? == data,
            "read() does not see the mapping's writes"
        );
        let e = self_maps_entry(map.addr())?;
        ensure!(
            e.offset == ps() as u64,
            "maps offset {:#x}: expected the mmap offset, never a physical address",
            e.offset
        );
        // The huge node maps the same reserved memory.
        let huge = shared(&cx.huge.open(true)?, 3 * ps(), ps())?;
        ensure!(
            huge.read_bytes(0, 3 * ps()) == data,
            "the huge node's mapping of the reserved range misses the remap mapping's writes"
        );
        Ok(())
    })();
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

/// The size of the range `reserve_mem=SIZE:ALIGN:NAME` on the kernel command line reserves
/// under `name` (SIZE with an optional K, M or G), or `None` when it reserves none.
fn reserve_mem_size(name: &str) -> Result<Option<u64>, String> {
    let cmdline =
        std::fs::read_to_string("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
    let Some(size) = cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("reserve_mem="))
        .filter_map(|r| r.rsplit_once(':'))
        .find(|(_, n)| *n == name)
        .and_then(|(rest, _)| rest.split(':').next())
    else {
        return Ok(None);
    };
    let (digits, shift) = match size.as_bytes().last() {
        Some(b'K' | b'k') => (&size[..size.len() - 1], 10),
        Some(b'M' | b'm') => (&size[..size.len() - 1], 20),
        Some(b'G' | b'g') => (&size[..size.len() - 1], 30),
        _ => (size, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|e| format!("reserve_mem={size}:...:{name}: {e}"))?;
    Ok(Some(n << shift))
}

test!(module: param_reserve_mem, Reload);
/// `reserve_mem=1`: the remap and huge nodes serve the RAM that `reserve_mem=SIZE:ALIGN:NAME`
/// reserved at boot under the module's name, zeroed at load, mapped and read back through both
/// nodes, its frames `PG_reserved` (memblock's); with `phys_base` as well, the load is refused
/// with `EINVAL` and leaves no node. Restores the default load.
fn param_reserve_mem(cx: &Context, m: &Module) -> TestResult {
    let Some(size) = reserve_mem_size(&m.name)? else {
        return Ok(Outcome::Skip(format!(
            "no reserve_mem=SIZE:ALIGN:{} on the kernel command line",
            m.name
        )));
    };
    m.reload("reserve_mem=1")?;
    let result = (|| {
        for d in [&cx.remap, &cx.huge] {
            let info = d.info()?;
            ensure!(
                info.size == size && info.flags & uapi::FLAG_BOOT_RESERVED != 0,
                "{}: info {info:?} for the {size:#x}-byte reserve_mem= range",
                d.name()
            );
        }
        let f = cx.remap.open(true)?;
        ensure!(
            pread(&f, ps(), 0)?.iter().all(|&b| b == 0),
            "the reserve_mem= range is not zeroed at load"
        );
        let data = pattern(91, 2 * ps());
        let map = shared(&f, 2 * ps(), ps())?;
        map.write_bytes(0, &data);
        ensure!(
            pread(&f, 2 * ps(), ps())? == data,
            "read() misses the mapping's writes"
        );
        let huge = shared(&cx.huge.open(true)?, 2 * ps(), ps())?;
        ensure!(
            huge.read_bytes(0, 2 * ps()) == data,
            "the huge node's mapping misses the remap mapping's writes"
        );
        let view = vmdev::frames::KernelView::read(&cx.remap.path)?;
        for &(_, pfn) in &view.pages {
            let flags = vmdev::frames::kpageflags(pfn)?;
            ensure!(
                flags.has(32),
                "frame {pfn:#x} of the reserve_mem= range is not PG_reserved: {}",
                flags.names()
            );
        }
        Ok(())
    })();
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    let params = "reserve_mem=1 phys_base=0x40000000 phys_size=0x400000";
    expect_errno(
        &format!("loading with {params}"),
        m.load(params),
        Errno::EINVAL,
    )?;
    ensure!(!cx.nodes_exist(), "{params}: refused, but a node is left");
    m.reload("")?;
    result.map(|()| Outcome::Pass)
}

test!(module: param_boot_reserved_refuses_others, Reload);
fn param_boot_reserved_refuses_others(_cx: &Context, m: &Module) -> TestResult {
    let Some(&(base, size)) = boot_reserved()?.first() else {
        return Ok(Outcome::Skip(
            "no vmdev_reserved=BASE,SIZE on the kernel command line".into(),
        ));
    };
    let (ram, ps) = (system_ram()?.0.next_multiple_of(ps() as u64), ps() as u64);
    let cases = [
        (
            format!("phys_base={ram:#x} phys_size={:#x}", 16 * ps),
            "System RAM",
        ),
        (
            "phys_base=0x100000000000 phys_size=0x100000".to_string(),
            "neither RAM nor reserved",
        ),
        (
            format!("phys_base={:#x} phys_size={:#x}", base + size - ps, 2 * ps),
            "past the reservation",
        ),
        (format!("phys_base={base:#x} phys_size=0"), "empty"),
        (
            format!("phys_base={:#x} phys_size={ps:#x}", base + ps / 2),
            "unaligned",
        ),
        (
            format!(
                "phys_base={:#x} phys_size={:#x}",
                0u64.wrapping_sub(ps),
                2 * ps
            ),
            "wrapping",
        ),
    ];
    for (params, what) in cases {
        let res = m.reload(&params);
        ensure!(
            res.is_err() && !m.is_loaded(),
            "{params} ({what}) loaded: {res:?}"
        );
    }
    m.reload("")?;
    Ok(Outcome::Pass)
}

/// The entries of /proc/iomem (root sees real addresses): nesting depth, first and last byte,
/// name.
fn iomem() -> Result<Vec<(usize, u64, u64, String)>, String> {
    let text = std::fs::read_to_string("/proc/iomem").map_err(|e| format!("/proc/iomem: {e}"))?;
    text.lines()
        .map(|l| {
            let depth = (l.len() - l.trim_start().len()) / 2;
            let (range, name) = l.trim_start().split_once(" : ").ok_or(l)?;
            let (a, b) = range.split_once('-').ok_or(l)?;
            let hex = |x| u64::from_str_radix(x, 16).map_err(|_| l);
            Ok((depth, hex(a)?, hex(b)?, name.to_string()))
        })
        .collect::<Result<_, &str>>()
        .map_err(|l| format!("/proc/iomem: cannot read {l:?}"))
}

/// The ranges of /proc/iomem named `name`.
fn iomem_claims(name: &str) -> Result<Vec<(u64, u64)>, String> {
    Ok(iomem()?
        .into_iter()
        .filter(|e| e.3 == name)
        .map(|e| (e.1, e.2))
        .collect())
}

/// Whole pages, as `(base, size)`, of a range the kernel holds busy inside a top-level range
/// reserved at boot: on x86 a firmware area, such as the System ROM inside the e820
/// "Reserved" range below 1 MiB; `None` where there is none.
fn busy_in_reserved() -> Result<Option<(u64, u64)>, String> {
    let entries = iomem()?;
    let ps = ps() as u64;
    Ok(entries.windows(2).find_map(|w| {
        let (parent, child) = (&w[0], &w[1]);
        let base = child.1.next_multiple_of(ps);
        let end = (child.2 + 1) / ps * ps;
        (parent.0 == 0 && parent.3.eq_ignore_ascii_case("reserved") && child.0 == 1 && base < end)
            .then_some((base, end - base))
    }))
}

test!(module: param_boot_reserved_claimed, Reload);
/// The boot-reserved range is claimed in /proc/iomem under the module's name while it is
/// loaded, and released at unload. A range some of which is busy, claimed by another driver
/// (`--peer`) or held by the kernel (a firmware area inside a reserved range), is refused with
/// `EBUSY` and one line saying why, leaving no node and no claim behind.
fn param_boot_reserved_claimed(cx: &Context, m: &Module) -> TestResult {
    let Some(&(base, size)) = boot_reserved()?.first() else {
        return Ok(Outcome::Skip(
            "no vmdev_reserved=BASE,SIZE on the kernel command line".into(),
        ));
    };
    let ours = format!("phys_base={base:#x} phys_size={size:#x}");
    m.reload(&ours)?;
    let claims = iomem_claims(&m.name)?;
    ensure!(
        claims == [(base, base + size - 1)],
        "/proc/iomem entries named {}: {claims:x?}, expected the range {base:#x}+{size:#x}",
        m.name
    );
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    let claims = iomem_claims(&m.name)?;
    ensure!(claims.is_empty(), "claims left after rmmod: {claims:x?}");

    let mut busy = Vec::new();
    if let Some(peer) = &cx.peer {
        busy.push((ours.clone(), format!("claimed by {}", peer.name)));
    }
    if let Some((b, s)) = busy_in_reserved()? {
        busy.push((
            format!("phys_base={b:#x} phys_size={s:#x}"),
            "busy in /proc/iomem".to_string(),
        ));
    }
    if busy.is_empty() {
        return Ok(Outcome::Skip(
            "no --peer driver to claim the range, and no busy range inside a boot reservation"
                .into(),
        ));
    }
    for (params, what) in &busy {
        let peer = cx.peer.as_ref().filter(|_| what.starts_with("claimed"));
        if let Some(peer) = peer {
            peer.load(params)
                .map_err(|e| format!("{} {params}: {e}", peer.name))?;
        }
        let mut kmsg = Kmsg::from_now()?;
        let res = m.load(params);
        let lines: Vec<String> = kmsg
            .new_lines()
            .into_iter()
            .filter(|l| l.contains(&m.name))
            .collect();
        let left = (m.is_loaded(), cx.nodes_exist(), iomem_claims(&m.name)?);
        if let Some(peer) = peer {
            peer.unload()
                .map_err(|e| format!("rmmod {}: {e}", peer.name))?;
        }
        expect_errno(&format!("{params} ({what})"), res, Errno::EBUSY)?;
        ensure!(
            left == (false, false, vec![]),
            "{params} ({what}): refused, but left (loaded, nodes, claims) {left:x?}"
        );
        ensure!(
            lines.len() == 1 && lines[0].contains("refused") && lines[0].contains("busy"),
            "{params} ({what}): expected one line saying it is busy, got {lines:?}"
        );
        diag!("{params} ({what}): refused with EBUSY");
    }
    m.reload("")?;
    Ok(Outcome::Pass)
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
