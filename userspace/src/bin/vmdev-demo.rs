//! `make run`'s demonstration: map the three devices, fork, and show what `/proc/self/maps` and
//! `smaps` say about each mapping, in the parent and in the child.

use std::fs::OpenOptions;
use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};
use vmdev::mapping::{Mapping, page_size};
use vmdev::maps::self_smaps_entry;
use vmdev::uapi;

fn show(who: &str, name: &str, map: &Mapping) -> Result<(), String> {
    let smaps = self_smaps_entry(map.addr())?;
    let line = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| e.to_string())?
        .lines()
        .find(|l| l.starts_with(&format!("{:x}-", map.addr())))
        .unwrap_or_default()
        .to_string();
    println!("{who}: {name}: {line}");
    println!(
        "{who}: {name}:   Rss {} kB, VmFlags: {}",
        smaps.fields.get("Rss").copied().unwrap_or(0),
        smaps.vm_flags.join(" ")
    );
    Ok(())
}

/// Prints this process's `/proc/self/{maps,smaps}`, each line prefixed with `maps|` or
/// `smaps|`, for `scripts/capture-fixtures.sh` to pick out of the console log.
fn dump_proc() -> Result<(), String> {
    for name in ["maps", "smaps"] {
        let text =
            std::fs::read_to_string(format!("/proc/self/{name}")).map_err(|e| e.to_string())?;
        for line in text.lines() {
            println!("{name}|{line}");
        }
    }
    Ok(())
}

fn run(proc_dump: bool) -> Result<(), String> {
    let page = page_size();
    let mut maps = Vec::new();
    for (name, path) in [
        ("remap", uapi::REMAP_PATH),
        ("huge", uapi::HUGE_PATH),
        ("fault", uapi::FAULT_PATH),
    ] {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("{path}: {e}"))?;
        let info = uapi::info(file.as_fd()).map_err(|e| format!("{path}: VMDEV_IOC_INFO: {e}"))?;
        println!(
            "{path}: {} bytes, backing {}, flags {:#x}",
            info.size, info.backing, info.flags
        );
        // Four pages from page 2 on: the maps offset column shows 0x2000, the file offset. The
        // huge device maps all of its buffer, so that a PMD entry can map it.
        let (len, offset) = match name {
            "huge" => (usize::try_from(info.size).map_err(|e| e.to_string())?, 0),
            _ => (4 * page, 2 * page as i64),
        };
        let map =
            Mapping::shared(file.as_fd(), len, offset).map_err(|e| format!("{path}: mmap: {e}"))?;
        show("parent before touching", name, &map)?;
        map.write_bytes(0, format!("hello from {name}").as_bytes());
        show("parent after writing page 0", name, &map)?;
        maps.push((name, path, file, map));
    }
    if proc_dump {
        return dump_proc();
    }
    // SAFETY: Single-threaded, so the child may run any code.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            for (name, _, _, map) in &maps {
                show("child", name, map)?;
                let len = format!("hello from {name}").len();
                let text = String::from_utf8_lossy(&map.read_bytes(0, len)).into_owned();
                println!("child: {name}: reads {text:?} (MAP_SHARED: the parent's bytes)");
            }
            std::process::exit(0);
        }
        ForkResult::Parent { child } => {
            waitpid(child, None).map_err(|e| e.to_string())?;
        }
    }
    for (_, path, file, _) in &maps {
        let info = uapi::info(file.as_fd()).map_err(|e| e.to_string())?;
        println!(
            "{path}: live_vmas {} (the child's copy is gone), faults {}, around_pages {}",
            info.live_vmas, info.faults, info.around_pages
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(std::env::args().any(|a| a == "--proc-dump")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmdev-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
