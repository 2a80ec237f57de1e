//! A kselftest-style runner: each test in its own child process, with a timeout, reported as
//! KTAP version 1 (the kernel's Documentation/dev-tools/ktap.rst).
//!
//! A run is one suite, its tests indented as subtests, so that several runs in one console log
//! (the module, then its C twin) make one document that the kernel's own parser
//! (`tools/testing/kunit/kunit.py parse`) reads whole. A standalone run prints all of it:
//!
//! ```text
//! KTAP version 1
//! 1..1
//!     KTAP version 1
//!     # Subtest: rust_vmdev
//!     1..3
//!     ok 1 remap.mmap_whole
//!     # what went wrong
//!     not ok 2 fault.mmap_whole
//!     ok 3 module.load # SKIP needs --module
//! not ok 1 rust_vmdev
//! # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0
//! 1 passed, 1 failed, 1 skipped
//! ```
//!
//! Run as suite N of a document its caller began (`KTAP version 1`, `1..M`), it leaves out the
//! first two lines and numbers its result line N.

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

    /// kselftest's totals line (`ksft_print_cnts()`).
    pub fn totals(&self) -> String {
        format!(
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0",
            self.passed, self.failed, self.skipped
        )
    }

    /// The closing line CI reads: `N passed, N failed, N skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// How far a suite's lines are indented in the document (one level of nesting).
const INDENT: &str = "    ";

/// Prints a line of the document and waits until it has left (on the VM's serial console, a
/// kernel message printed meanwhile could otherwise split it).
fn emit(line: &str) {
    println!("{line}");
    let out = std::io::stdout();
    let _ = out.lock().flush();
    // ENOTTY when stdout is a pipe or a file: nothing to wait for.
    let _ = nix::sys::termios::tcdrain(&out);
}

/// Prints `text` as diagnostic lines (`# ...`) of the running suite; tests use it for what
/// they measured.
pub fn diag(text: &str) {
    for line in text.lines() {
        emit(&format!("{INDENT}# {line}"));
    }
}

/// One run of tests, printed as it goes.
pub struct Suite {
    name: String,
    number: usize,
    next: usize,
    summary: Summary,
}

impl Suite {
    /// Starts suite `name` of `count` tests; `number` is its place in a document the caller
    /// began, `None` for a standalone document.
    pub fn begin(name: &str, count: usize, number: Option<usize>) -> Self {
        if number.is_none() {
            emit("KTAP version 1");
            emit("1..1");
        }
        emit(&format!("{INDENT}KTAP version 1"));
        emit(&format!("{INDENT}# Subtest: {name}"));
        emit(&format!("{INDENT}1..{count}"));
        Self {
            name: name.to_string(),
            number: number.unwrap_or(1),
            next: 1,
            summary: Summary::default(),
        }
    }

    /// Runs `body` in a forked child so that a crash (SIGSEGV, SIGBUS) or a hang is reported
    /// as this test's failure; prints its result line.
    pub fn run(&mut self, name: &str, timeout: Duration, body: impl FnOnce() -> TestResult) {
        let (verdict, detail) = match run_in_child(timeout, body) {
            Ok(v) => v,
            Err(e) => (Verdict::Fail, format!("harness error: {e}")),
        };
        let number = self.next;
        self.next += 1;
        match verdict {
            Verdict::Pass => {
                self.summary.passed += 1;
                emit(&format!("{INDENT}ok {number} {name}"));
            }
            Verdict::Skip => {
                self.summary.skipped += 1;
                let why = detail.lines().next().unwrap_or("");
                emit(&format!("{INDENT}ok {number} {name} # SKIP {why}"));
            }
            Verdict::Fail => {
                self.summary.failed += 1;
                diag(&detail);
                emit(&format!("{INDENT}not ok {number} {name}"));
            }
        }
    }

    /// Prints the suite's result line, the totals and the closing line; returns the totals.
    pub fn end(self) -> Summary {
        let ok = if self.summary.failed == 0 {
            "ok"
        } else {
            "not ok"
        };
        emit(&format!("{ok} {} {}", self.number, self.name));
        emit(&self.summary.totals());
        emit(&self.summary.line());
        self.summary
    }
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
        let mut suite = Suite::begin("one", 1, Some(1));
        suite.run("t", Duration::from_secs(10), body);
        suite.end()
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
        assert_eq!(
            s.totals(),
            "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
        );
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
        let mut suite = Suite::begin("hang", 1, None);
        suite.run("hang", Duration::from_millis(200), || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(Outcome::Pass)
        });
        let s = suite.end();
        assert_eq!(s.failed, 1, "a test past its timeout must fail");
    }
}
