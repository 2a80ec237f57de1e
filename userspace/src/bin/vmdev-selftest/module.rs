//! Module lifetime: loading, unloading while in use, reloading, and leaks.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use vmdev::kmod;

use crate::common::*;
use crate::harness::{Context, Module, Outcome, TestResult, diag, ensure, test};

test!(module: load, First);
fn load(_cx: &Context, m: &Module) -> TestResult {
    if kmod::kmemleak_available() {
        // Only leaks from here on concern this module.
        kmod::kmemleak_clear().map_err(|e| e.to_string())?;
    }
    m.reload("")?;
    ensure!(m.is_loaded(), "not in /proc/modules after loading");
    Ok(Outcome::Pass)
}

test!(module: kunit, First);
/// The module's own KUnit suites (`#[kunit_tests]` beside the code in `vma_ops/`: the
/// arithmetic of the fault, split and access paths) pass, every case; or, with `--kunit`, the
/// suites of the kernel whose names start with one of its prefixes (the layer in-tree, where its
/// suites and the kernel crate's doctests are built into the kernel). The test VM boots with
/// `kunit.autorun=0`, so each is run here, through `/sys/kernel/debug/kunit/SUITE/run` (it runs
/// at load where KUnit autoruns), and its KTAP read from `results` beside it; each case is
/// listed by name. A module without a `.kunit_test_suites` section (the C twin) has none.
fn kunit(cx: &Context, m: &Module) -> TestResult {
    let section = format!("/sys/module/{}/sections/.kunit_test_suites", m.name);
    if cx.kunit.is_empty() && !std::path::Path::new(&section).exists() {
        return Ok(Outcome::Skip(format!(
            "{} has no KUnit suites ({section})",
            m.name
        )));
    }
    let prefixes = if cx.kunit.is_empty() {
        std::slice::from_ref(&m.name)
    } else {
        &cx.kunit[..]
    };
    let dir = "/sys/kernel/debug/kunit";
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            return Ok(Outcome::Skip(format!(
                "{dir}: {e} (no CONFIG_KUNIT_DEBUGFS)"
            )));
        }
    };
    let mut suites = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{dir}: {e}"))?;
        let suite = entry.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| suite.starts_with(p.as_str())) {
            continue;
        }
        let run = entry.path().join("run");
        std::fs::write(&run, "1").map_err(|e| format!("{run:?}: {e}"))?;
        let path = entry.path().join("results");
        let ktap = std::fs::read_to_string(&path).map_err(|e| format!("{path:?}: {e}"))?;
        let verdicts: Vec<(bool, &str)> = ktap
            .lines()
            .map(str::trim)
            .filter_map(|l| match l.strip_prefix("not ok ") {
                Some(rest) => Some((false, rest)),
                None => l.strip_prefix("ok ").map(|rest| (true, rest)),
            })
            .collect();
        // The last verdict is the suite's, the others its cases'.
        let Some((&(suite_ok, _), cases)) = verdicts.split_last() else {
            return Err(format!("{path:?} has no result:\n{ktap}"));
        };
        for (ok, case) in cases {
            diag!(
                "kunit {suite}: {} {case}",
                if *ok { "ok" } else { "not ok" }
            );
        }
        ensure!(
            suite_ok && !cases.is_empty() && cases.iter().all(|(ok, _)| *ok),
            "KUnit suite {suite} failed:\n{ktap}"
        );
        suites += 1;
    }
    ensure!(
        suites > 0,
        "{dir} shows no KUnit suite named {}*",
        prefixes.join("*, ")
    );
    Ok(Outcome::Pass)
}

test!(module: rmmod_refused_while_in_use, Reload);
fn rmmod_refused_while_in_use(cx: &Context, m: &Module) -> TestResult {
    for d in cx.devices() {
        let f = d.open(true)?;
        expect_errno(
            &format!("rmmod with {} open", d.path.display()),
            m.unload(),
            Errno::EWOULDBLOCK,
        )?;
        let mapping = shared(&f, ps(), 0)?;
        drop(f);
        expect_errno(
            &format!("rmmod with {} mapped, fd closed", d.path.display()),
            m.unload(),
            Errno::EWOULDBLOCK,
        )?;
        mapping.write(0, 1);
        ensure!(m.is_loaded(), "the module went away while in use");
    }
    Ok(Outcome::Pass)
}

test!(module: reload_gives_zeroed_buffers, Reload);
fn reload_gives_zeroed_buffers(cx: &Context, m: &Module) -> TestResult {
    for d in cx.devices() {
        let size = d.size()?;
        pwrite(&d.open(true)?, &vec![0xff; size], 0).map_err(|e| e.to_string())?;
    }
    m.reload("")?;
    for d in cx.devices() {
        let size = d.size()?;
        let f = d.open(true)?;
        ensure!(
            pread(&f, size, 0)?.iter().all(|&b| b == 0),
            "{} is not zeroed after reload",
            d.path.display()
        );
        let map = shared(&f, size, 0)?;
        ensure!(
            (0..size).step_by(ps()).all(|i| map.read(i) == 0),
            "{} mapping is not zeroed after reload",
            d.path.display()
        );
    }
    Ok(Outcome::Pass)
}

test!(module: rmmod_waits_for_last_unmap, Reload);
fn rmmod_waits_for_last_unmap(cx: &Context, m: &Module) -> TestResult {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).map_err(|e| e.to_string())?;
    let (r, h, f, fo) = (&cx.remap, &cx.huge, &cx.fault, &cx.folio);
    // The holder maps the four devices (fds closed; the huge and folio mappings touched, so
    // mapped with PMD entries where they can be), says 'r'eady, drops three mappings, and says
    // 'l'ast just before it drops the last one.
    // SAFETY: The test process is single-threaded when it forks.
    let child = match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let hold = || -> Result<(), String> {
                let maps = (
                    shared(&r.open(true)?, ps(), 0)?,
                    shared(&h.open(true)?, h.size()?, 0)?,
                    shared(&f.open(true)?, ps(), 0)?,
                    shared(&fo.open(true)?, fo.size()?, 0)?,
                );
                maps.1.write(0, 1);
                maps.3.write(0, 1);
                nix::unistd::write(&write_end, b"r").map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(1000));
                drop(maps.0);
                std::thread::sleep(Duration::from_millis(1000));
                drop(maps.1);
                std::thread::sleep(Duration::from_millis(1000));
                drop(maps.3);
                std::thread::sleep(Duration::from_millis(1000));
                nix::unistd::write(&write_end, b"l").map_err(|e| e.to_string())?;
                drop(maps.2);
                Ok(())
            };
            std::process::exit(i32::from(hold().is_err()));
        }
        ForkResult::Parent { child } => child,
    };
    drop(write_end);
    let mut said = Vec::new();
    let hear = |said: &mut Vec<u8>| {
        let mut buf = [0u8; 4];
        while let Ok(n @ 1..) = nix::unistd::read(&read_end, &mut buf) {
            said.extend_from_slice(&buf[..n]);
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !said.contains(&b'r') {
        ensure!(
            Instant::now() < deadline,
            "the holder never mapped the devices"
        );
        std::thread::sleep(Duration::from_millis(10));
        hear(&mut said);
    }
    let mut refused = 0;
    loop {
        match m.unload() {
            Err(Errno::EWOULDBLOCK) => refused += 1,
            Ok(()) => {
                // The last mapping was gone, so the holder had said 'l' before dropping it.
                hear(&mut said);
                ensure!(
                    said.contains(&b'l'),
                    "rmmod succeeded while the holder still had a mapping"
                );
                break;
            }
            Err(e) => return Err(format!("rmmod: {e}")),
        }
        ensure!(
            Instant::now() < deadline,
            "rmmod still refused 30 s on ({said:?} from the holder)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = waitpid(child, None).map_err(|e| e.to_string())?;
    ensure!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "the holder ended with {status:?}"
    );
    diag!("rmmod refused {refused} times while mappings were alive, then succeeded");
    ensure!(
        refused >= 10,
        "only {refused} attempts while the holder held mappings"
    );
    m.reload("")?;
    Ok(Outcome::Pass)
}

test!(module: unload, Last);
fn unload(_cx: &Context, m: &Module) -> TestResult {
    m.unload().map_err(|e| format!("rmmod: {e}"))?;
    ensure!(!m.is_loaded(), "still in /proc/modules after unloading");
    Ok(Outcome::Pass)
}

test!(module: kmemleak_clean, Last);
fn kmemleak_clean(_cx: &Context, _m: &Module) -> TestResult {
    if !kmod::kmemleak_available() {
        return Ok(Outcome::Skip("no /sys/kernel/debug/kmemleak".into()));
    }
    // An object is reported once it is older than 5 s and unreferenced in a scan.
    std::thread::sleep(Duration::from_secs(6));
    let report = kmod::kmemleak_scan().map_err(|e| e.to_string())?;
    ensure!(report.trim().is_empty(), "kmemleak:\n{report}");
    Ok(Outcome::Pass)
}
