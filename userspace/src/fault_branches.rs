//! Which branch of the fault handler a first touch takes, recorded by the kernel's function
//! tracer: `handle_mm_fault()` dispatches each fault to one of the functions in
//! [`BRANCHES`] (`mm/memory.c`, `mm/huge_memory.c`), and a driver's own `fault` or `huge_fault`
//! to the core's functions that map what it hands back.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise};

use crate::address_space::{SwapOn, scratch_file};
use crate::frames::{kpageflags, pagemap};
use crate::mapping::{Mapping, page_size};

/// The branches of the fault handler: each fault that reaches the page tables' lowest level
/// ends in one of them.
pub const BRANCHES: &[&str] = &[
    "do_anonymous_page",
    "do_read_fault",
    "do_cow_fault",
    "do_shared_fault",
    "do_wp_page",
    "do_swap_page",
    "do_huge_pmd_anonymous_page",
    "do_huge_pmd_wp_page",
];

/// What the tracer records besides [`BRANCHES`]: the steps inside them, and the functions a
/// driver's handler calls to map.
const STEPS: &[&str] = &[
    "wp_page_copy",
    "__do_fault",
    "vm_insert_pages",
    "vmf_insert_pfn",
    "vmf_insert_pfn_pmd",
    "vmf_insert_pfn_pud",
];

/// Where tracefs is mounted (the test VM's init does).
const TRACEFS: &str = "/sys/kernel/tracing";

/// The function tracer, set to record [`BRANCHES`] and their steps in this process alone.
pub struct FaultTracer {
    on: File,
    trace: File,
    /// Those of the functions this kernel cannot trace (folded into their callers).
    pub untraceable: Vec<&'static str>,
}

impl FaultTracer {
    /// Sets up the tracer; `Err` says why this kernel cannot (no tracefs, no function tracer,
    /// the branches inlined).
    pub fn new() -> Result<Self, String> {
        let path = |f: &str| format!("{TRACEFS}/{f}");
        if !Path::new(&path("trace")).exists() {
            return Err(format!("no tracefs at {TRACEFS}"));
        }
        let read =
            |f: &str| std::fs::read_to_string(path(f)).map_err(|e| format!("{}: {e}", path(f)));
        let write =
            |f: &str, v: &str| std::fs::write(path(f), v).map_err(|e| format!("{}: {e}", path(f)));
        if !read("available_tracers")?
            .split_whitespace()
            .any(|t| t == "function")
        {
            return Err("no function tracer in this kernel (CONFIG_FUNCTION_TRACER)".into());
        }
        write("tracing_on", "0")?;
        write("current_tracer", "nop")?;
        let available = read("available_filter_functions")?;
        let known: std::collections::HashSet<&str> = available
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let (traced, untraceable): (Vec<&'static str>, Vec<&'static str>) = BRANCHES
            .iter()
            .chain(STEPS)
            .partition(|f| known.contains(**f));
        if let Some(b) = BRANCHES.iter().find(|b| untraceable.contains(b)) {
            return Err(format!(
                "{b}() is not a function of its own in this kernel: the compiler folded the \
                 fault handler's branches into handle_pte_fault()"
            ));
        }
        write("set_ftrace_filter", &traced.join("\n"))?;
        write("set_ftrace_pid", &std::process::id().to_string())?;
        write("current_tracer", "function")?;
        let open = |f: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(path(f))
                .map_err(|e| format!("{}: {e}", path(f)))
        };
        Ok(Self {
            on: open("tracing_on")?,
            trace: open("trace")?,
            untraceable,
        })
    }

    /// Runs `touch` with the tracer on, and returns the names of the functions recorded, in
    /// order. Between the two switches nothing runs but `touch`: no allocation, no other fault.
    pub fn record(&mut self, touch: impl FnOnce()) -> Result<Vec<String>, String> {
        let err = |e: std::io::Error| format!("tracefs: {e}");
        self.trace.set_len(0).map_err(err)?;
        self.on.write_all_at(b"1", 0).map_err(err)?;
        touch();
        self.on.write_all_at(b"0", 0).map_err(err)?;
        let mut buf = vec![0u8; 64 << 10];
        let n = self.trace.read_at(&mut buf, 0).map_err(err)?;
        // `  prog-123 [000] .....  12.345678: do_read_fault <-do_pte_missing`
        Ok(String::from_utf8_lossy(&buf[..n])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(": ")?.1.split(" <-").next())
            .map(|f| f.trim().to_string())
            .collect())
    }
}

impl Drop for FaultTracer {
    fn drop(&mut self) {
        // Back to how the kernel boots: nothing traced.
        let _ = self.on.write_all_at(b"0", 0);
        for (f, v) in [
            ("current_tracer", "nop"),
            ("set_ftrace_filter", ""),
            ("set_ftrace_pid", ""),
        ] {
            let _ = std::fs::write(format!("{TRACEFS}/{f}"), v);
        }
    }
}

/// One kind of first touch, and what the tracer saw it do.
pub struct Seen {
    /// The kind of touch.
    pub what: &'static str,
    /// The branch it must take, and the steps it must show.
    pub expected: &'static [&'static str],
    /// Another branch it may take as well (a huge page's fallback to a small one).
    pub fallback: Option<&'static str>,
    /// The functions recorded, in order, repeats folded.
    pub recorded: Vec<String>,
    /// What else the touch showed, checked (e.g. the zero page behind an anonymous read).
    pub note: Result<String, String>,
}

impl Seen {
    /// Whether the touch took its branch, and no other, with the steps expected.
    pub fn holds(&self) -> bool {
        let branches: Vec<&str> = self
            .recorded
            .iter()
            .map(String::as_str)
            .filter(|f| BRANCHES.contains(f))
            .collect();
        self.note.is_ok()
            && self
                .expected
                .iter()
                .all(|e| self.recorded.iter().any(|r| r == e))
            && branches
                .iter()
                .all(|b| self.expected.contains(b) || self.fallback == Some(*b))
    }
}

/// Names a failed system call.
fn err(what: &'static str) -> impl Fn(nix::errno::Errno) -> String {
    move |e| format!("{what}: {e}")
}

fn volatile_read(m: &Mapping, offset: usize) {
    std::hint::black_box(m.read(offset));
}

/// Records each kind of first touch: anonymous read and write, a file page, a private and a
/// shared write to the fault node, a write after `fork()`, a swapped page (when `swap` is
/// given), the fault node's and the huge node's handlers, and an anonymous huge page.
pub fn record_all(
    tracer: &mut FaultTracer,
    fault_node: &Path,
    huge_node: &Path,
    swap: Option<&SwapOn>,
) -> Result<Vec<Seen>, String> {
    let page = page_size();
    let open = |p: &Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let mut seen = Vec::new();
    let mut add = |what, expected, recorded: Vec<String>, note| {
        let mut folded: Vec<String> = recorded;
        folded.dedup();
        seen.push(Seen {
            what,
            expected,
            fallback: None,
            recorded: folded,
            note,
        });
    };

    let anon = Mapping::anonymous(2 * page).map_err(err("mmap(anonymous)"))?;
    let rec = tracer.record(|| volatile_read(&anon, 0))?;
    let zero = pagemap(anon.addr())?.pfn().map(kpageflags).transpose()?;
    let note = match zero {
        Some(f) if f.has(24) => Ok("the shared zero page".into()),
        other => Err(format!("not the zero page: {other:?}")),
    };
    add("anonymous read", &["do_anonymous_page"], rec, note);
    let rec = tracer.record(|| anon.write(page, 1))?;
    add(
        "anonymous write",
        &["do_anonymous_page"],
        rec,
        Ok("a new page".into()),
    );

    let file = scratch_file("vmdev-branches", 1, b'f')?;
    let fmap = Mapping::new(
        file.as_fd(),
        page,
        ProtFlags::PROT_READ,
        MapFlags::MAP_PRIVATE,
        0,
    )
    .map_err(err("mmap(tmpfs file)"))?;
    let rec = tracer.record(|| volatile_read(&fmap, 0))?;
    add(
        "file read",
        &["do_read_fault"],
        rec,
        Ok("the page cache's page".into()),
    );

    let node = open(fault_node)?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let private = Mapping::new(node.as_fd(), page, rw, MapFlags::MAP_PRIVATE, 0)
        .map_err(err("mmap(fault node, MAP_PRIVATE)"))?;
    let rec = tracer.record(|| private.write(0, 1))?;
    add(
        "fault node, private write",
        &["do_cow_fault", "__do_fault"],
        rec,
        Ok("the driver's page, copied".into()),
    );
    let shared = Mapping::new(node.as_fd(), page, rw, MapFlags::MAP_SHARED, page as i64)
        .map_err(err("mmap(fault node, MAP_SHARED)"))?;
    let rec = tracer.record(|| shared.write(0, 1))?;
    add(
        "fault node, shared write",
        &["do_shared_fault", "__do_fault"],
        rec,
        Ok("the driver's page".into()),
    );
    let read = Mapping::new(
        node.as_fd(),
        page,
        ProtFlags::PROT_READ,
        MapFlags::MAP_SHARED,
        2 * page as i64,
    )
    .map_err(err("mmap(fault node)"))?;
    let rec = tracer.record(|| volatile_read(&read, 0))?;
    add(
        "fault node, read (its fault)",
        &["do_read_fault", "__do_fault", "vm_insert_pages"],
        rec,
        Ok("its window".into()),
    );

    // A write to a page a child shares since fork(): the child waits on a pipe meanwhile.
    let cow = Mapping::anonymous(page).map_err(err("mmap(anonymous)"))?;
    cow.write(0, 1);
    let (rx, tx) = nix::unistd::pipe().map_err(err("pipe"))?;
    // SAFETY: The child only blocks on the pipe and exits.
    match unsafe { nix::unistd::fork() }.map_err(err("fork"))? {
        nix::unistd::ForkResult::Child => {
            drop(tx);
            let _ = nix::unistd::read(&rx, &mut [0u8]);
            // SAFETY: Leaves at once, as a child of a possibly threaded parent must.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(rx);
            let rec = tracer.record(|| cow.write(0, 2));
            drop(tx);
            nix::sys::wait::waitpid(child, None).map_err(err("waitpid"))?;
            add(
                "write after fork()",
                &["do_wp_page", "wp_page_copy"],
                rec?,
                Ok("a copy".into()),
            );
        }
    }

    if let Some(swap) = swap {
        let out = Mapping::anonymous(page).map_err(err("mmap(anonymous)"))?;
        swap.page_out(&out, || out.write(0, 7))?;
        let note = match pagemap(out.addr())?.swap_entry() {
            Some((area, offset)) => Ok(format!("swap area {area}, offset {offset:#x}")),
            None => Err("MADV_PAGEOUT left the page in memory".into()),
        };
        let rec = tracer.record(|| volatile_read(&out, 0))?;
        add("swapped page", &["do_swap_page"], rec, note);
    }

    // A PMD entry where the buffer holds a whole span (2 MiB with 4 KiB pages); else, as with
    // 16 KiB pages (32 MiB spans), a PTE.
    let huge = open(huge_node)?;
    let span = page * (page / 8);
    let size = crate::uapi::info(huge.as_fd())
        .map_err(err("VMDEV_IOC_INFO"))?
        .size;
    let (len, what, expected, note): (_, _, &'static [&'static str], _) = if size >= span as u64 {
        (
            span,
            "huge node, read (its huge_fault)",
            &["vmf_insert_pfn_pmd"],
            "one PMD entry",
        )
    } else {
        (
            page,
            "huge node, read (its fault)",
            &["do_read_fault", "__do_fault", "vmf_insert_pfn"],
            "a PTE: the buffer is smaller than a PMD's span",
        )
    };
    let hmap = Mapping::aligned(huge.as_fd(), len, rw, MapFlags::MAP_SHARED, 0, span)
        .map_err(err("mmap(huge node)"))?;
    let rec = tracer.record(|| volatile_read(&hmap, 0))?;
    add(what, expected, rec, Ok(note.into()));

    let thp = Mapping::anonymous(2 * span).map_err(err("mmap(anonymous)"))?;
    let at = (thp.addr() as usize).next_multiple_of(span) - thp.addr() as usize;
    let region = thp.addr() as usize + at;
    // SAFETY: A range inside the mapping `thp` owns.
    unsafe {
        madvise(
            std::ptr::NonNull::new(region as *mut _).ok_or("null")?,
            span,
            MmapAdvise::MADV_HUGEPAGE,
        )
    }
    .map_err(err("madvise(MADV_HUGEPAGE)"))?;
    let rec = tracer.record(|| thp.write(at, 1))?;
    add(
        "anonymous write, PMD-aligned",
        &["do_huge_pmd_anonymous_page"],
        rec,
        Ok("a huge page".into()),
    );
    // Without a free huge page the core falls back to a small one.
    if let Some(last) = seen.last_mut() {
        last.fallback = Some("do_anonymous_page");
    }
    Ok(seen)
}

/// `madvise(MADV_PAGEOUT)` of the whole mapping.
pub fn madvise_pageout(m: &Mapping) -> nix::Result<()> {
    let ptr = std::ptr::NonNull::new(m.addr() as *mut _).ok_or(nix::errno::Errno::EINVAL)?;
    // SAFETY: The range is the mapping's own; paging it out changes no contents.
    unsafe { madvise(ptr, m.len(), MmapAdvise::MADV_PAGEOUT) }
}
