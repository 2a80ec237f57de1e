//! The module's boot-reserved memory: `phys_base`/`phys_size` over the range the kernel
//! command line names `remap` (`vmdev::boot`): served by the remap and huge nodes, zeroed at
//! load, claimed in /proc/iomem while loaded, and refused where it is not whole pages of reserved
//! memory or is busy; and `reserve_mem=1` over the RAM that `reserve_mem=` reserved under the
//! module's name.

use nix::errno::Errno;
use vmdev::boot::{self, Reservation};
use vmdev::maps::self_maps_entry;
use vmdev::uapi;

use crate::common::*;
use crate::harness::{Context, Module, Outcome, TestResult, diag, ensure, test};

test!(module: param_boot_reserved, Reload);
fn param_boot_reserved(cx: &Context, m: &Module) -> TestResult {
    let remap = &cx.remap;
    let Reservation { base, size } = match reservation(boot::REMAP)? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
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
    let Reservation { base, size } = match reservation(boot::REMAP)? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
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
    let Reservation { base, size } = match reservation(boot::REMAP)? {
        Ok(r) => r,
        Err(skip) => return Ok(skip),
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
