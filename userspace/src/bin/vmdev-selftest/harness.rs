//! The harness, after kselftest_harness.h: the fixture every test gets ([`Context`]: the four
//! devices, and the module with `--module`), the variants a per-device test runs on (the
//! devices), and a registry that each test joins where it is defined, with [`test!`] next to
//! its function. A test's name is `variant.function` (`remap.mmap_whole`, `huge.mmap_whole`,
//! `fault.mmap_whole`, `folio.mmap_whole`) or `group.function` (`module.load`, `stress.seed_1`),
//! made from the function's name.

use std::time::Duration;

pub use vmdev::device::{Device, Kind};
pub use vmdev::kmod::Module;
use vmdev::ktap::Suite;
pub use vmdev::ktap::{Outcome, TestResult};

/// How long one test may run before it is killed and failed: a guard against hangs only, far
/// above the slowest test measured (`module.inject_load`, about 100 s on a 2-core machine busy
/// with two other jobs), so that no verdict depends on the machine's speed.
const TIMEOUT: Duration = Duration::from_secs(600);

/// What every test gets: kselftest's FIXTURE.
pub struct Context {
    /// The remap device (physically contiguous, `remap_pfn_range`).
    pub remap: Device,
    /// The huge device (the remap device's memory, mapped on fault with huge entries).
    pub huge: Device,
    /// The fault device (vmalloc, mapped on fault).
    pub fault: Device,
    /// The folio device (folios of PMD order, mapped on fault by a PMD entry or page by page).
    pub folio: Device,
    /// The module under test (`--module`); the tests that need it are skipped without.
    pub module: Option<Module>,
    /// Another driver of the same ABI (`--peer`), loaded by the test of the boot range's claim.
    pub peer: Option<Module>,
    /// The KUnit suites of the code under test that are built into the kernel (`--kunit`, name
    /// prefixes): where the layer is in-tree, its cases and the kernel crate's doctests. Empty:
    /// the module's own suites.
    pub kunit: Vec<String>,
}

impl Context {
    /// The four devices, in the variants' order: remap, huge, fault, folio.
    pub fn devices(&self) -> [&Device; 4] {
        [&self.remap, &self.huge, &self.fault, &self.folio]
    }

    /// The device of `kind`.
    pub fn device(&self, kind: Kind) -> &Device {
        match kind {
            Kind::Remap => &self.remap,
            Kind::Huge => &self.huge,
            Kind::Fault => &self.fault,
            Kind::Folio => &self.folio,
        }
    }

    /// Whether any device node exists (after a refused load: none may).
    pub fn nodes_exist(&self) -> bool {
        self.devices().iter().any(|d| d.path.exists())
    }

    /// The KTAP suite name of this run: the module's name, or `vmdev` without `--module`; with
    /// `--module-params`, the module's name, a dot and the parameters, joined by commas
    /// (`rust_vmdev.mmap_prepare=0`), so that the runs of one driver with each mapping hook
    /// have names of their own. No spaces and no `#`, which KTAP reads as a directive.
    pub fn suite_name(&self) -> String {
        let Some(m) = &self.module else {
            return "vmdev".to_string();
        };
        let params: Vec<String> = m
            .params
            .split_whitespace()
            .map(|p| p.replace('#', "_"))
            .collect();
        if params.is_empty() {
            m.name.clone()
        } else {
            format!("{}.{}", m.name, params.join(","))
        }
    }

    /// The parameters every load of the module starts with, for messages: `mmap_prepare=0`,
    /// or `no parameters`.
    pub fn module_params(&self) -> String {
        match self.module.as_ref().map(|m| m.params.as_str()) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => "no parameters".to_string(),
        }
    }

    /// Whether the nodes registered `f_op->mmap_prepare` (`true`) or `f_op->mmap`, as far as
    /// the suite knows: with `--module`, which loads the module, it is the hook of the
    /// parameters every load starts with (module parameter `mmap_prepare`, default on);
    /// without, whatever loaded the driver chose, so `None`.
    pub fn mmap_prepare(&self) -> Option<bool> {
        self.module
            .as_ref()
            .map(|m| vmdev::kmod::bool_param(&m.params, "mmap_prepare").unwrap_or(true))
    }
}

/// When a test runs. Stages run in this order; within a stage the remap device's tests come
/// first, then the huge device's, the fault device's, the folio device's, then the others, each
/// in file order (file name, line).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Stage {
    /// Before anything else: loads the module.
    First,
    /// The tests of each device, against the module as first loaded.
    Device,
    /// Long or hostile runs: fault injection, stress.
    Abuse,
    /// Tests that reload the module with other parameters (and restore the defaults).
    Reload,
    /// Unloads the module, then looks for leaks.
    Last,
}

/// What a test runs, and on what.
pub enum Body {
    /// Once per device listed (the variants), as `remap.NAME`, `huge.NAME`, `fault.NAME`,
    /// `folio.NAME`.
    Device(&'static [Kind], fn(&Context, &Device) -> TestResult),
    /// With the module, as `module.NAME`; skipped without `--module`.
    Module(fn(&Context, &Module) -> TestResult),
    /// With the fixture alone, as `GROUP.NAME`.
    Context(&'static str, fn(&Context) -> TestResult),
}

/// A registered test: what [`test!`] puts in [`TESTS`].
pub struct Test {
    /// The function's name, the last part of the test's name.
    pub function: &'static str,
    /// When it runs.
    pub stage: Stage,
    /// What it runs.
    pub body: Body,
    /// Where it is defined (orders tests within a stage).
    pub file: &'static str,
    /// The line of its registration.
    pub line: u32,
}

/// Every test of the suite, in no particular order ([`cases`] sorts them).
#[linkme::distributed_slice]
pub static TESTS: [Test];

/// Registers the function named, defined right below, as a test:
///
/// - `test!(remap huge fault folio: f)`: `f(&Context, &Device)`, run on each device listed (any
///   of `remap`, `huge`, `fault`, `folio`, at least one) as `remap.f`, `huge.f`, `fault.f`,
///   `folio.f`; e.g. `test!(remap huge: f)` on the two `VM_PFNMAP` nodes, `test!(fault folio: f)`
///   on the two that map ordinary pages, `test!(huge: f)` on one;
/// - `test!(module: f, Stage)`: `f(&Context, &Module)` as `module.f`, skipped without `--module`;
/// - `test!(group: f, Stage)`: `f(&Context)` as `group.f`.
///
/// The stage (a [`Stage`] variant) is `Device` unless given.
macro_rules! test {
    // The devices, one word each, gathered as `Kind` variants until the colon.
    (remap $($rest:tt)+) => { $crate::harness::test!(@kinds [] remap $($rest)+); };
    (huge $($rest:tt)+) => { $crate::harness::test!(@kinds [] huge $($rest)+); };
    (fault $($rest:tt)+) => { $crate::harness::test!(@kinds [] fault $($rest)+); };
    (folio $($rest:tt)+) => { $crate::harness::test!(@kinds [] folio $($rest)+); };
    (@kinds [$($k:ident)*] remap $($rest:tt)+) => {
        $crate::harness::test!(@kinds [$($k)* Remap] $($rest)+);
    };
    (@kinds [$($k:ident)*] huge $($rest:tt)+) => {
        $crate::harness::test!(@kinds [$($k)* Huge] $($rest)+);
    };
    (@kinds [$($k:ident)*] fault $($rest:tt)+) => {
        $crate::harness::test!(@kinds [$($k)* Fault] $($rest)+);
    };
    (@kinds [$($k:ident)*] folio $($rest:tt)+) => {
        $crate::harness::test!(@kinds [$($k)* Folio] $($rest)+);
    };
    (@kinds [$($k:ident)+] : $f:ident $(, $stage:ident)?) => {
        $crate::harness::test!(@register $f, $($stage)?;
            Device(&[$($crate::harness::Kind::$k),+], $f));
    };
    (module: $f:ident, $stage:ident) => {
        $crate::harness::test!(@register $f, $stage; Module($f));
    };
    ($group:ident: $f:ident, $stage:ident) => {
        $crate::harness::test!(@register $f, $stage; Context(stringify!($group), $f));
    };
    (@register $f:ident, $($stage:ident)?; $($body:tt)+) => {
        const _: () = {
            #[::linkme::distributed_slice($crate::harness::TESTS)]
            static TEST: $crate::harness::Test = $crate::harness::Test {
                function: stringify!($f),
                stage: $crate::harness::test!(@stage $($stage)?),
                body: $crate::harness::Body::$($body)+,
                file: file!(),
                line: line!(),
            };
        };
    };
    (@stage) => { $crate::harness::Stage::Device };
    (@stage $stage:ident) => { $crate::harness::Stage::$stage };
}
pub(crate) use test;

/// Fails the test with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;

/// Prints a diagnostic line (`# ...`) of the running suite: what a test measured.
macro_rules! diag {
    ($($fmt:tt)+) => {
        vmdev::ktap::diag(&format!($($fmt)+))
    };
}
pub(crate) use diag;

/// One test as it runs: a registered test on one of its devices.
pub struct Case {
    /// `variant.function` or `group.function`.
    pub name: String,
    test: &'static Test,
    device: Option<Kind>,
}

impl Case {
    /// Runs the test (in the runner's child process).
    fn run(&self, cx: &Context) -> TestResult {
        match (&self.test.body, self.device) {
            (Body::Device(_, f), Some(kind)) => f(cx, cx.device(kind)),
            (Body::Module(f), _) => match &cx.module {
                Some(m) => f(cx, m),
                None => Ok(Outcome::Skip("needs --module".into())),
            },
            (Body::Context(_, f), _) => f(cx),
            (Body::Device(..), None) => Err("a device test without its device".into()),
        }
    }

    /// The sort key: stage, then remap, huge, fault, folio, no device, then file and line.
    fn key(&self) -> (Stage, u8, &'static str, u32) {
        let variant = match self.device {
            Some(Kind::Remap) => 0,
            Some(Kind::Huge) => 1,
            Some(Kind::Fault) => 2,
            Some(Kind::Folio) => 3,
            None => 4,
        };
        (self.test.stage, variant, self.test.file, self.test.line)
    }
}

/// Every test case, in the order they run.
pub fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for test in TESTS.iter() {
        match &test.body {
            Body::Device(kinds, _) => cases.extend(kinds.iter().map(|&kind| Case {
                name: format!("{}.{}", kind.name(), test.function),
                test,
                device: Some(kind),
            })),
            Body::Module(_) => cases.push(Case {
                name: format!("module.{}", test.function),
                test,
                device: None,
            }),
            Body::Context(group, _) => cases.push(Case {
                name: format!("{group}.{}", test.function),
                test,
                device: None,
            }),
        }
    }
    cases.sort_by_key(Case::key);
    cases
}

/// The cases whose names start with one of `prefixes` (all of them when there is none) and with
/// none of `skips`; an error names a prefix or skip that matches no test.
pub fn select<'a>(
    cases: &'a [Case],
    prefixes: &[String],
    skips: &[String],
) -> Result<Vec<&'a Case>, String> {
    let starts = |c: &Case, p: &[String]| p.iter().any(|p| c.name.starts_with(p.as_str()));
    if let Some(p) = prefixes
        .iter()
        .chain(skips)
        .find(|p| !cases.iter().any(|c| c.name.starts_with(p.as_str())))
    {
        return Err(format!("no test name starts with {p:?} (see --list)"));
    }
    Ok(cases
        .iter()
        .filter(|c| (prefixes.is_empty() || starts(c, prefixes)) && !starts(c, skips))
        .collect())
}

/// Runs `cases` as one KTAP suite (suite `number` of a document the caller began, or a
/// standalone document); returns the kselftest exit status.
pub fn run(cx: &Context, cases: &[&Case], name: &str, number: Option<usize>) -> i32 {
    let mut suite = Suite::begin(name, cases.len(), number);
    for case in cases {
        suite.run(&case.name, TIMEOUT, || case.run(cx));
    }
    suite.end().exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        cases().into_iter().map(|c| c.name).collect()
    }

    fn position(names: &[String], name: &str) -> usize {
        names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no test {name}"))
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate test names");
        for n in &names {
            let (variant, function) = n.split_once('.').expect("variant.function");
            assert!(
                ["remap", "huge", "fault", "folio", "module", "stress", "mm"].contains(&variant),
                "{n}"
            );
            assert!(
                function
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
            // "fault" is the device: a device's tests do not repeat its name (the fault
            // handler's own group, mm, may), and fault injection is called inject.
            assert!(
                variant == "mm"
                    || ["fault_", "remap_", "huge_", "folio_"]
                        .iter()
                        .all(|device| !function.starts_with(device)),
                "{n}"
            );
            assert!(!function.contains("fault_inject"), "{n}");
        }
        assert!(names.len() > 100, "{} tests", names.len());
    }

    #[test]
    fn order_is_load_devices_abuse_reload_unload() {
        let names = names();
        assert_eq!(names[0], "module.load");
        let n = names.len();
        assert_eq!(names[n - 2..], ["module.unload", "module.kmemleak_clean"]);
        let last_device = position(&names, "folio.mmap_whole");
        let first_remap = position(&names, "remap.mmap_whole");
        let huge = position(&names, "huge.mmap_whole");
        let fault = position(&names, "fault.mmap_whole");
        assert!(first_remap < huge && huge < fault && fault < last_device);
        // Within a stage: every remap test, then every huge test, every fault test, every folio
        // test.
        let variant = |name: &str| {
            ["remap.", "huge.", "fault.", "folio."]
                .iter()
                .position(|v| name.starts_with(v))
        };
        let device_stage: Vec<usize> = cases()
            .iter()
            .filter(|c| c.test.stage == Stage::Device)
            .filter_map(|c| variant(&c.name))
            .collect();
        assert!(
            device_stage.is_sorted(),
            "device tests out of variant order"
        );
        for c in cases() {
            let at = position(&names, &c.name);
            if c.test.stage == Stage::Reload {
                assert!(at > last_device, "{} runs before the device tests", c.name);
            }
        }
        // Deterministic: the same order every time.
        assert_eq!(names, self::names());
    }

    #[test]
    fn per_device_tests_run_on_the_devices_listed() {
        let names = names();
        let has = |name: &str| names.iter().any(|n| n == name);
        for name in [
            "mmap_whole",
            "lseek_set_cur_end",
            "nonroot_cannot_open",
            "smaps_vmflags",
        ] {
            for device in ["remap", "huge", "fault", "folio"] {
                assert!(has(&format!("{device}.{name}")), "no {device}.{name}");
            }
        }
        // `test!(remap huge: f)`: the two VM_PFNMAP nodes, not the fault and folio devices.
        for name in [
            "private_writable_einval",
            "populate",
            "gup_process_vm_readv_efault",
        ] {
            assert!(
                has(&format!("remap.{name}")) && has(&format!("huge.{name}")),
                "{name}"
            );
            assert!(!has(&format!("fault.{name}")), "fault.{name}");
            assert!(!has(&format!("folio.{name}")), "folio.{name}");
        }
        // `test!(fault folio: f)`: the two nodes of ordinary pages; `test!(huge: f)`: one.
        assert!(has("fault.private_is_cow") && has("folio.private_is_cow"));
        assert!(!has("remap.private_is_cow") && !has("huge.private_is_cow"));
        assert!(has("folio.pmd_maps_whole_folio"));
        assert!(!has("fault.pmd_maps_whole_folio") && !has("huge.pmd_maps_whole_folio"));
        assert!(has("huge.pmd_one_fault_per_span"));
        assert!(!has("remap.pmd_one_fault_per_span") && !has("fault.pmd_one_fault_per_span"));
    }

    #[test]
    fn device_bodies_name_their_devices_once_each() {
        for test in TESTS.iter() {
            if let Body::Device(kinds, _) = &test.body {
                assert!(!kinds.is_empty(), "{}", test.function);
                for (i, k) in kinds.iter().enumerate() {
                    assert!(
                        !kinds[i + 1..].contains(k),
                        "{} lists {k:?} twice",
                        test.function
                    );
                }
            }
        }
    }

    fn context(module: Option<Module>) -> Context {
        let dev = |kind: Kind| Device {
            kind,
            path: format!("/dev/x-{}", kind.name()).into(),
        };
        Context {
            remap: dev(Kind::Remap),
            huge: dev(Kind::Huge),
            fault: dev(Kind::Fault),
            folio: dev(Kind::Folio),
            module,
            peer: None,
            kunit: Vec::new(),
        }
    }

    #[test]
    fn suite_names_tell_the_hooks_apart() {
        let rust = || Module::new("/lib/modules/rust-vmdev.ko".into());
        let cx = context(None);
        assert_eq!((cx.suite_name(), cx.mmap_prepare()), ("vmdev".into(), None));
        let cx = context(Some(rust()));
        assert_eq!(
            (cx.suite_name(), cx.mmap_prepare()),
            ("rust_vmdev".into(), Some(true))
        );
        assert_eq!(cx.module_params(), "no parameters");
        let cx = context(Some(rust().with_params("mmap_prepare=0")));
        assert_eq!(
            (cx.suite_name(), cx.mmap_prepare()),
            ("rust_vmdev.mmap_prepare=0".into(), Some(false))
        );
        for off in ["mmap_prepare=n", "mmap_prepare=N"] {
            assert_eq!(
                context(Some(rust().with_params(off))).mmap_prepare(),
                Some(false)
            );
        }
        let cx = context(Some(
            Module::new("vmdev_c.ko".into()).with_params("mmap_prepare=1  fault_around=0 #x"),
        ));
        assert_eq!(cx.suite_name(), "vmdev_c.mmap_prepare=1,fault_around=0,_x");
        assert_eq!(cx.mmap_prepare(), Some(true));
        // KTAP: no spaces, and no `#` (a directive) in a suite's name.
        assert!(!cx.suite_name().contains([' ', '#']));
    }

    #[test]
    fn prefixes_select() {
        let all = cases();
        let fault = select(&all, &["fault.".into()], &[]).unwrap();
        assert!(!fault.is_empty() && fault.iter().all(|c| c.name.starts_with("fault.")));
        let two = select(&all, &["module.load".into(), "stress.".into()], &[]).unwrap();
        assert!(two.iter().any(|c| c.name == "module.load"));
        assert!(two.iter().any(|c| c.name == "stress.seed_1"));
        assert_eq!(select(&all, &[], &[]).unwrap().len(), all.len());
        assert!(select(&all, &["nosuch".into()], &[]).is_err());
        assert!(select(&all, &[], &["nosuch".into()]).is_err());
        let but_one = select(&all, &["fault.".into()], &["fault.dontneed_".into()]).unwrap();
        assert_eq!(but_one.len(), fault.len() - 1);
        assert!(
            but_one
                .iter()
                .all(|c| !c.name.starts_with("fault.dontneed_"))
        );
    }
}
