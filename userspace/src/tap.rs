//! A kselftest-style runner: each test in its own child process, with a timeout, reported
//! as KTAP (`TAP version 13`, `ok N name`, `not ok N name`, `# SKIP reason`).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};

/// What a test body returns: `Ok(Pass)`, `Ok(Skip(reason))` or `Err(why it failed)`.
pub type TestResult = Result<Outcome, String>;

/// A test that did not fail.
pub enum Outcome {
    /// Every assertion held.
    Pass,
    /// The test does not apply here; the reason is printed.
    Skip(String),
}

/// Exit status of a kselftest binary whose tests were all skipped.
pub const KSFT_SKIP: i32 = 4;

/// Totals of one run.
#[derive(Default)]
pub struct Summary {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed, crashed or timed out.
    pub failed: usize,
    /// Tests that were skipped.
    pub skipped: usize,
}

impl Summary {
    /// The kselftest exit status: 1 on any failure, 4 when everything was skipped, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.failed > 0 {
            1
        } else if self.passed == 0 && self.skipped > 0 {
            KSFT_SKIP
        } else {
            0
        }
    }

    /// The closing line CI reads: `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Prints the KTAP header for `count` tests.
pub fn header(count: usize) {
    println!("TAP version 13");
    println!("1..{count}");
}

/// Runs `body` in a forked child so that a crash (SIGSEGV, SIGBUS) or a hang is reported as
/// this test's failure; prints the `ok`/`not ok` line and adds it to `summary`.
pub fn run(
    number: usize,
    name: &str,
    timeout: Duration,
    summary: &mut Summary,
    body: impl FnOnce() -> TestResult,
) {
    let (verdict, detail) = match run_in_child(timeout, body) {
        Ok(v) => v,
        Err(e) => (Verdict::Fail, format!("harness error: {e}")),
    };
    match verdict {
        Verdict::Pass => {
            summary.passed += 1;
            println!("ok {number} {name}");
        }
        Verdict::Skip => {
            summary.skipped += 1;
            println!("ok {number} {name} # SKIP {detail}");
        }
        Verdict::Fail => {
            summary.failed += 1;
            for line in detail.lines() {
                println!("# {line}");
            }
            println!("not ok {number} {name}");
        }
    }
    let _ = std::io::stdout().flush();
}

enum Verdict {
    Pass,
    Skip,
    Fail,
}

fn run_in_child(
    timeout: Duration,
    body: impl FnOnce() -> TestResult,
) -> nix::Result<(Verdict, String)> {
    let _ = std::io::stdout().flush();
    let (read_end, write_end) = pipe()?;
    // SAFETY: the runner is single-threaded when it forks, so the child may run Rust code.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read_end);
            let (code, text) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(Outcome::Pass)) => (0, String::new()),
                Ok(Ok(Outcome::Skip(why))) => (KSFT_SKIP, why),
                Ok(Err(why)) => (1, why),
                Err(_) => (1, "test panicked".to_string()),
            };
            let mut w = std::fs::File::from(write_end);
            let _ = w.write_all(text.as_bytes());
            std::process::exit(code)
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let deadline = Instant::now() + timeout;
            let status = loop {
                match waitpid(child, Some(WaitPidFlag::WNOHANG))? {
                    WaitStatus::StillAlive if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    WaitStatus::StillAlive => {
                        let _ = kill(child, Signal::SIGKILL);
                        waitpid(child, None)?;
                        return Ok((
                            Verdict::Fail,
                            format!("timed out after {} s", timeout.as_secs()),
                        ));
                    }
                    status => break status,
                }
            };
            let text = read_all(read_end);
            Ok(match status {
                WaitStatus::Exited(_, 0) => (Verdict::Pass, text),
                WaitStatus::Exited(_, KSFT_SKIP) => (Verdict::Skip, text),
                WaitStatus::Exited(_, code) => (Verdict::Fail, format!("{text} (exit {code})")),
                WaitStatus::Signaled(_, sig, _) => {
                    (Verdict::Fail, format!("{text}killed by {sig:?}"))
                }
                other => (
                    Verdict::Fail,
                    format!("{text}unexpected child status {other:?}"),
                ),
            })
        }
    }
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: impl FnOnce() -> TestResult) -> Summary {
        let mut s = Summary::default();
        run(1, "t", Duration::from_secs(10), &mut s, body);
        s
    }

    #[test]
    fn verdicts_are_counted() {
        let s = one(|| Ok(Outcome::Pass));
        assert_eq!((s.passed, s.failed, s.skipped, s.exit_code()), (1, 0, 0, 0));
        let s = one(|| Ok(Outcome::Skip("n/a".into())));
        assert_eq!(
            (s.passed, s.failed, s.skipped, s.exit_code()),
            (0, 0, 1, KSFT_SKIP)
        );
        let s = one(|| Err("broken".into()));
        assert_eq!((s.failed, s.exit_code()), (1, 1));
        assert_eq!(s.line(), "0 passed, 1 failed, 0 skipped");
    }

    #[test]
    fn a_crash_or_hang_is_a_failure() {
        let s = one(|| {
            let len = std::num::NonZeroUsize::new(4096).unwrap();
            let (prot, flags) = (
                nix::sys::mman::ProtFlags::PROT_NONE,
                nix::sys::mman::MapFlags::MAP_PRIVATE,
            );
            // SAFETY: A new anonymous mapping affects nothing else.
            let page = unsafe { nix::sys::mman::mmap_anonymous(None, len, prot, flags) }.unwrap();
            // SAFETY: Deliberately reads a PROT_NONE page: the child dies of SIGSEGV.
            unsafe { page.cast::<u8>().as_ptr().read_volatile() };
            Ok(Outcome::Pass)
        });
        assert_eq!(s.failed, 1, "a test killed by SIGSEGV must fail");
        let mut s = Summary::default();
        run(1, "hang", Duration::from_millis(200), &mut s, || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(Outcome::Pass)
        });
        assert_eq!(s.failed, 1, "a test past its timeout must fail");
    }
}
