//! The demo's `fork()`: the child of a process with the nodes mapped shared maps the same
//! frames, and a private mapping of the fault node is copied on write, each side then seeing its
//! own page.

use std::os::fd::AsFd;

use nix::sys::mman::{MapFlags, ProtFlags};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use vmdev::frames::{KernelView, kpagecount, kpageflags, pagemap};
use vmdev::mapping::{Mapping, page_size};
use vmdev::uapi;

use crate::{Node, Picture, Res, check};

/// Runs `body` in a child process; fails unless it succeeds.
fn in_child(body: impl FnOnce() -> Res) -> Res {
    // SAFETY: Single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let code = match body() {
                Ok(()) => 0,
                Err(e) => {
                    println!("child: {e}");
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => match waitpid(child, None).map_err(|e| e.to_string())? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(format!("the child ended with {other:?}")),
        },
    }
}

/// `fork()` with the shared mappings: the child's page tables map the same frames.
pub fn shared(nodes: &[Node]) -> Res {
    println!("== fork(): the child inherits the MAP_SHARED mappings");
    in_child(|| {
        for n in nodes {
            // Read first: fork need not copy every entry (the child would fault it in).
            let text =
                String::from_utf8_lossy(&n.map.read_bytes(0, 11 + n.name.len())).into_owned();
            if n.pfnmap() {
                check(
                    text == format!("hello from {}", n.name),
                    format!("child: {}: reads {text:?}, the parent's bytes", n.name),
                )?;
                continue;
            }
            let pfn = n.user_pfn(0)?.ok_or("not present in the child")?;
            check(
                pfn == n.kernel(0)?.1,
                format!(
                    "child: {}: pfn {pfn:#x}, the parent's frame, kpagecount {}; reads {text:?}",
                    n.name,
                    kpagecount(pfn)?
                ),
            )?;
        }
        Ok(())
    })?;
    let live = nodes
        .iter()
        .map(|n| Ok(format!("{} {}", n.name, n.info()?.live_vmas)))
        .collect::<Res<Vec<_>>>()?;
    println!(
        "after the child exited: live_vmas {}: its copies are gone",
        live.join(", ")
    );
    Ok(())
}

/// Copy-on-write across `fork()` on a private mapping of the fault node.
pub fn private(fault: &Node, pic: &mut Picture) -> Res {
    let page = page_size();
    println!(
        "== copy-on-write: MAP_PRIVATE of {}, page 2, across fork()",
        fault.path
    );
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let map = Mapping::new(
        fault.file.as_fd(),
        page,
        rw,
        MapFlags::MAP_PRIVATE,
        2 * page as i64,
    )
    .map_err(|e| format!("mmap(MAP_PRIVATE): {e}"))?;
    let device_text = map.read_bytes(0, 16);
    let shown = String::from_utf8_lossy(&device_text).into_owned();
    let entry = pagemap(map.addr())?;
    let parent_pfn = entry.pfn().ok_or("not present after a read")?;
    let (kaddr, driver_pfn) = fault.kernel(0)?;
    let file = if entry.file_or_shared() {
        "file page"
    } else {
        "?"
    };
    println!("parent read it: pfn {parent_pfn:#x}, the device's page, mapped read-only ({file})");
    check(parent_pfn == driver_pfn, "it is the driver's page 2".into())?;
    let row = "/dev/vmdev-fault, MAP_PRIVATE, page 2: parent, then child";
    pic.add(row, map.addr(), parent_pfn, Some(kaddr), 1, "");
    in_child(|| {
        map.read(0);
        let before = pagemap(map.addr())?
            .pfn()
            .ok_or("not present in the child")?;
        check(
            before == parent_pfn,
            format!("child before writing: pfn {before:#x}, the same frame"),
        )?;
        map.write_bytes(0, b"the child's copy");
        let after = pagemap(map.addr())?
            .pfn()
            .ok_or("not present after the write")?;
        let flags = kpageflags(after)?;
        check(
            after != parent_pfn && flags.anon(),
            format!("child wrote: pfn {after:#x}, a new anonymous page"),
        )?;
        println!("      its kpageflags: {}", flags.names());
        pic.add(
            row,
            map.addr(),
            after,
            None,
            1,
            "copy-on-write: the child's new anonymous page",
        );
        Ok(())
    })?;
    let now = pagemap(map.addr())?.pfn();
    check(
        now == Some(parent_pfn) && map.read_bytes(0, 16) == device_text,
        format!("parent after the child's write: pfn {parent_pfn:#x}, reads {shown:?}: unchanged"),
    )?;
    let mut buf = vec![0u8; 16];
    let n =
        nix::sys::uio::pread(&fault.file, &mut buf, 2 * page as i64).map_err(|e| e.to_string())?;
    let view = KernelView::read(fault.path.as_ref())?;
    check(
        buf[..n] == device_text[..] && view.pages.get(2).map(|p| p.1) == Some(driver_pfn),
        format!(
            "the device: read() gives {shown:?}; the driver's page 2 is still pfn {driver_pfn:#x}"
        ),
    )?;
    for path in [uapi::REMAP_PATH, uapi::HUGE_PATH] {
        let (f, _) = Node::open(path)?;
        let res = Mapping::new(f.as_fd(), page, rw, MapFlags::MAP_PRIVATE, 0);
        check(
            res.as_ref().err() == Some(&nix::errno::Errno::EINVAL),
            format!(
                "{path}: mmap(PROT_WRITE, MAP_PRIVATE) gets {}: no copy-on-write of PFNs",
                res.err().map_or("success".into(), |e| format!("{e:?}"))
            ),
        )?;
    }
    Ok(())
}
