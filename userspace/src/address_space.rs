//! A process's address space from both sides: what the kernel holds (`VMDEV_IOC_MM`: the
//! `mm_struct` and the VMA tree) beside what `/proc/self/{stat,status,maps}` print, threads and
//! `fork()`, the walk of the VMA tree, the heap's `brk()`, and swap (`swap`).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsFd;
use std::path::Path;

use crate::uapi::{self, VmdevMm};

mod swap;
pub use swap::{SwapOn, swap};

/// The kernel's walk of the caller's VMA tree: `find_vma()` from 0, then from each VMA's end.
pub fn kernel_vmas(fd: impl AsFd) -> Result<Vec<VmdevMm>, String> {
    let mut vmas = Vec::with_capacity(64);
    let mut addr = 0;
    loop {
        let m =
            uapi::mm(fd.as_fd(), uapi::MM_FIND, addr).map_err(|e| format!("VMDEV_IOC_MM: {e}"))?;
        if m.vma & uapi::VMA_FOUND == 0 {
            return Ok(vmas);
        }
        addr = m.vm_end;
        vmas.push(m);
    }
}

/// `VM_READ`, `VM_WRITE`, `VM_EXEC` and `VM_MAYSHARE` of `vm_flags` as maps prints them (`rwxs`).
pub fn perms(vm_flags: u64) -> String {
    let bit = |b: u64, c: char| if vm_flags & b != 0 { c } else { '-' };
    [
        bit(0x1, 'r'),
        bit(0x2, 'w'),
        bit(0x4, 'x'),
        if vm_flags & 0x80 != 0 { 's' } else { 'p' },
    ]
    .iter()
    .collect()
}

/// The numbered fields of `/proc/self/stat` (`proc_pid_stat(5)`: 1 is the pid, 2 the command),
/// `None` for field 2, which may hold spaces.
pub fn stat_fields(text: &str) -> Result<Vec<Option<u64>>, String> {
    let close = text.rfind(')').ok_or("stat: no ')' after the command")?;
    let pid = text[..close].split(' ').next().and_then(|p| p.parse().ok());
    let mut fields = vec![None, pid, None];
    // Field 3 (the state) is a letter: `None` too.
    fields.extend(text[close + 1..].split_whitespace().map(|f| f.parse().ok()));
    Ok(fields)
}

/// The value of `Key:` in `/proc/self/status` (in kB for the `Vm*` lines).
pub fn status_value(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The `brk()` system call: asks for the program break at `addr` (0 asks nothing) and returns
/// where it is. Raw, not `sbrk()`: the C library's own break-keeping is not involved.
pub fn brk(addr: u64) -> u64 {
    // SAFETY: `brk` moves the heap's end; its caller shrinks only what it grew itself.
    unsafe { libc::syscall(libc::SYS_brk, addr) as u64 }
}

/// The major page faults this process has taken so far.
pub fn major_faults() -> Result<i64, String> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF);
    Ok(usage.map_err(|e| e.to_string())?.major_page_faults())
}

/// A file in a RAM file system holding `pages` pages of `byte`, for a file mapping.
pub fn scratch_file(name: &str, pages: usize, byte: u8) -> Result<File, String> {
    let path = format!("/tmp/{name}");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("{path}: {e}"))?;
    f.write_all(&vec![byte; pages * crate::mapping::page_size()])
        .map_err(|e| format!("{path}: {e}"))?;
    std::fs::remove_file(&path).map_err(|e| format!("{path}: {e}"))?;
    Ok(f)
}

/// One fact the running system shows, and whether it held: `make run` prints each as a
/// checked line, the suite requires each.
#[derive(Debug, Clone)]
pub struct Fact {
    /// Whether it held.
    pub holds: bool,
    /// What it says, with the numbers seen.
    pub what: String,
}

fn fact(holds: bool, what: String) -> Fact {
    Fact { holds, what }
}

/// The `mm_struct` fields of a `VMDEV_IOC_MM` answer, to tell two answers apart.
fn mm_part(m: &VmdevMm) -> VmdevMm {
    VmdevMm {
        size: 0,
        request: 0,
        addr: 0,
        vm_start: 0,
        vm_end: 0,
        vm_pgoff: 0,
        vm_flags: 0,
        vma: 0,
        ..*m
    }
}

/// `VMDEV_IOC_MM` (`MM_LOOKUP` of `addr`), as an error message on failure.
fn ask(fd: impl AsFd, addr: u64) -> Result<VmdevMm, String> {
    uapi::mm(fd, uapi::MM_LOOKUP, addr).map_err(|e| format!("VMDEV_IOC_MM: {e}"))
}

/// Runs `read` between two answers of the driver until they agree, so that what `read` saw of
/// `/proc` and the answer describe one moment (the C library may map memory in between).
fn between<T>(
    fd: impl AsFd,
    mut read: impl FnMut() -> Result<T, String>,
) -> Result<(VmdevMm, T), String> {
    for _ in 0..20 {
        let a = ask(fd.as_fd(), 0)?;
        let seen = read()?;
        let b = ask(fd.as_fd(), 0)?;
        if mm_part(&a) == mm_part(&b) {
            return Ok((a, seen));
        }
    }
    Err("the address space kept changing while /proc was read".into())
}

fn proc_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// The `mm_struct` fields of this process beside `/proc/self/stat` and `status`: each equal
/// where `/proc` shows it.
pub fn mm_against_proc(fd: impl AsFd) -> Result<Vec<Fact>, String> {
    let page = crate::mapping::page_size() as u64;
    let (m, (stat, status, maps)) = between(fd.as_fd(), || {
        Ok((
            proc_file("/proc/self/stat")?,
            proc_file("/proc/self/status")?,
            proc_file("/proc/self/maps")?,
        ))
    })?;
    let stat = stat_fields(&stat)?;
    let st = |n: usize| stat.get(n).copied().flatten();
    let kb = |k: &str| status_value(&status, k);
    let pages_kb = |p: u64| p * page / 1024;
    let mut facts = vec![
        fact(
            m.mm_users == 1 && m.mm_flags & uapi::MM_ACTIVE != 0,
            format!(
                "mm_users {}, mm_count {}: one thread uses the mm; active_mm is this mm",
                m.mm_users, m.mm_count
            ),
        ),
        fact(
            Some(pages_kb(m.total_vm)) == kb("VmSize") && st(23) == Some(m.total_vm * page),
            format!(
                "total_vm {} pages = status VmSize {} kB = stat vsize",
                m.total_vm,
                pages_kb(m.total_vm)
            ),
        ),
        fact(
            Some(pages_kb(m.data_vm)) == kb("VmData") && Some(pages_kb(m.stack_vm)) == kb("VmStk"),
            format!(
                "data_vm {} pages = VmData, stack_vm {} = VmStk",
                m.data_vm, m.stack_vm
            ),
        ),
        fact(
            kb("VmExe").zip(kb("VmLib")).map(|(e, l)| e + l) == Some(pages_kb(m.exec_vm))
                && Some(pages_kb(m.locked_vm)) == kb("VmLck")
                && Some(pages_kb(m.pinned_vm)) == kb("VmPin"),
            format!(
                "exec_vm {} pages = VmExe + VmLib; locked_vm {} = VmLck; pinned_vm {} = VmPin",
                m.exec_vm, m.locked_vm, m.pinned_vm
            ),
        ),
        fact(
            st(26) == Some(m.start_code) && st(27) == Some(m.end_code),
            format!(
                "start_code-end_code {:#x}-{:#x} = stat startcode, endcode",
                m.start_code, m.end_code
            ),
        ),
        fact(
            st(45) == Some(m.start_data) && st(46) == Some(m.end_data),
            format!(
                "start_data-end_data {:#x}-{:#x} = stat start_data, end_data",
                m.start_data, m.end_data
            ),
        ),
        fact(
            st(28) == Some(m.start_stack)
                && st(48) == Some(m.arg_start)
                && st(49) == Some(m.arg_end)
                && st(50) == Some(m.env_start)
                && st(51) == Some(m.env_end),
            format!(
                "start_stack {:#x}, argv {:#x}-{:#x}, env to {:#x} = stat's",
                m.start_stack, m.arg_start, m.arg_end, m.env_end
            ),
        ),
    ];
    // The bytes at arg_start are the program's argv, NUL-separated, on its stack.
    let argv: Vec<u8> = std::env::args_os()
        .flat_map(|a| a.into_encoded_bytes().into_iter().chain([0]))
        .collect();
    let len = usize::try_from(m.arg_end.saturating_sub(m.arg_start)).unwrap_or(0);
    // SAFETY: arg_start..arg_end is this process's own readable stack, where exec() put argv.
    let at_arg = unsafe { std::slice::from_raw_parts(m.arg_start as *const u8, len) };
    facts.push(fact(
        at_arg == argv,
        format!("the {len} bytes at arg_start are argv, each ended by a NUL"),
    ));
    let entries = crate::maps::parse_maps(&maps)?;
    // The heap may be more than one VMA (brk() after a fork() adds one); maps names each.
    let heap: Vec<_> = entries.iter().filter(|e| e.path == "[heap]").collect();
    let stack = entries.iter().find(|e| e.path == "[stack]");
    let (first, last) = (heap.first(), heap.last());
    facts.push(fact(
        st(47) == Some(m.start_brk)
            && match (first, last) {
                (Some(f), Some(l)) => {
                    f.start == m.start_brk && l.end == m.brk.next_multiple_of(page)
                }
                _ => m.brk == m.start_brk,
            },
        format!(
            "start_brk {:#x} = stat's; brk {:#x}; [heap] {}",
            m.start_brk,
            m.brk,
            first
                .zip(last)
                .map_or("absent (brk = start_brk)".into(), |(f, l)| format!(
                    "{:#x}-{:#x}",
                    f.start, l.end
                ))
        ),
    ));
    facts.push(fact(
        stack.is_some_and(|s| s.contains(m.start_stack))
            && m.brk < m.mmap_base
            && stack.is_some_and(|s| m.mmap_base <= s.start),
        format!(
            "mmap_base {:#x}: mmap() places top-down below it (no /proc file shows it)",
            m.mmap_base
        ),
    ));
    Ok(facts)
}

/// `mm_users` as threads start and stop (1, 3, 1), a child's own `mm` after `fork()`, and a
/// kernel thread's lack of one.
pub fn users_threads_fork(fd: impl AsFd + Sync) -> Result<Vec<Fact>, String> {
    use std::sync::{Arc, Barrier};
    let before = ask(fd.as_fd(), 0)?;
    let barrier = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&barrier);
            std::thread::spawn(move || {
                b.wait();
                b.wait();
            })
        })
        .collect();
    barrier.wait();
    // (On an error the threads are let go first.)
    let seen = between(fd.as_fd(), || proc_file("/proc/self/status"));
    barrier.wait();
    for t in threads {
        t.join().map_err(|_| "a thread panicked")?;
    }
    // join() returns once a thread has cleared its tid, before the kernel drops its user of the
    // mm (exit_mm()); the thread leaves `Threads:` after that (release_task()), so wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while status_value(&proc_file("/proc/self/status")?, "Threads") != Some(1) {
        if std::time::Instant::now() > deadline {
            return Err("the two threads are still counted 60 s after they were joined".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let (during, status) = seen?;
    let after = ask(fd.as_fd(), 0)?;
    let threads_line = status_value(&status, "Threads");
    let mut facts = vec![
        fact(
            before.mm_users == 1
                && during.mm_users == 3
                && threads_line == Some(3)
                && after.mm_users == 1,
            format!(
                "mm_users {} -> {} -> {} as two threads come and go (Threads: {}); \
                 mm_count {}: one for all users",
                before.mm_users,
                during.mm_users,
                after.mm_users,
                threads_line.unwrap_or(0),
                during.mm_count
            ),
        ),
        fact(
            during.total_vm > before.total_vm,
            format!(
                "total_vm {} -> {} pages with them: their stacks and malloc arenas, VMAs of one mm",
                before.total_vm, during.total_vm
            ),
        ),
    ];

    // The child reports its own answers through a pipe: mm_users, then total_vm before and
    // after it maps 16 pages.
    let (rx, tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: The child only asks the driver, maps, writes to the pipe and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            drop(rx);
            let a = ask(fd.as_fd(), 0).unwrap_or_default();
            let m = crate::mapping::Mapping::anonymous(16 * crate::mapping::page_size());
            let b = ask(fd.as_fd(), 0).unwrap_or_default();
            let words = [u64::from(a.mm_users), a.total_vm, b.total_vm];
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
            let _ = nix::unistd::write(&tx, &bytes);
            drop(m);
            // SAFETY: Leaves at once, as a child of a threaded parent must.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(tx);
            let mut buf = [0u8; 24];
            let n = nix::unistd::read(&rx, &mut buf).map_err(|e| format!("pipe: {e}"))?;
            nix::sys::wait::waitpid(child, None).map_err(|e| format!("waitpid: {e}"))?;
            let w =
                |i: usize| u64::from_ne_bytes(buf[8 * i..8 * i + 8].try_into().unwrap_or_default());
            let parent = ask(fd.as_fd(), 0)?;
            facts.push(fact(
                n == 24 && w(0) == 1 && w(2) == w(1) + 16 && parent.total_vm == after.total_vm,
                format!(
                    "fork(): the child's own mm: mm_users {}, total_vm {} -> {} (+16 pages); \
                     parent's {}",
                    w(0),
                    w(1),
                    w(2),
                    parent.total_vm
                ),
            ));
        }
    }
    let kthread = proc_file("/proc/2/status")?;
    facts.push(fact(
        status_value(&kthread, "VmSize").is_none() && kthread.contains("Name:\tkthreadd"),
        "kthreadd (pid 2), a kernel thread, has no mm: its status has no Vm lines".into(),
    ));
    Ok(facts)
}

/// The kernel's walk of the VMA tree beside `/proc/self/maps`: a line for each VMA, and the
/// facts that the two agree. `nodes` are the device nodes of the driver answering, whose VMAs
/// it must recognise as its own.
pub fn vma_walk(
    fd: impl AsFd,
    nodes: &[&std::path::Path],
) -> Result<(Vec<String>, Vec<Fact>), String> {
    let page = crate::mapping::page_size() as u64;
    let mut tries = 0;
    let (walk, maps, m) = loop {
        let (m, (walk, maps)) = between(fd.as_fd(), || {
            Ok((kernel_vmas(fd.as_fd())?, proc_file("/proc/self/maps")?))
        })?;
        if kernel_vmas(fd.as_fd())? == walk {
            break (walk, crate::maps::parse_maps(&maps)?, m);
        }
        tries += 1;
        if tries == 20 {
            return Err("the VMA tree kept changing while it was walked".into());
        }
    };
    let mut lines = Vec::new();
    let mut unmatched = Vec::new();
    let mut driver_ok = true;
    for v in &walk {
        let line = maps
            .iter()
            .find(|e| e.start == v.vm_start && e.end == v.vm_end);
        let mut tags = Vec::new();
        if v.vma & uapi::VMA_FILE != 0 {
            tags.push("file");
        }
        if v.vma & (uapi::VMA_DRIVER_FILE | uapi::VMA_DRIVER_OPS) != 0 {
            tags.push("driver");
        }
        if v.vma & uapi::VMA_ANON_VMA != 0 {
            tags.push("anon_vma");
        }
        let path = line.map_or("(no maps line)", |l| l.path.as_str());
        lines.push(format!(
            "{:x}-{:x} {} {:<11x} {:<18} {path}",
            v.vm_start,
            v.vm_end,
            perms(v.vm_flags),
            v.vm_pgoff,
            tags.join("+")
        ));
        let matches = line.is_some_and(|l| {
            l.perms == perms(v.vm_flags)
                && (v.vma & uapi::VMA_FILE == 0 || l.offset == v.vm_pgoff * page)
                && (v.vma & uapi::VMA_FILE != 0) == (l.inode != 0 || l.path.starts_with('/'))
        });
        if !matches {
            unmatched.push(format!("{:x}-{:x}", v.vm_start, v.vm_end));
        }
        let ours = line.is_some_and(|l| nodes.iter().any(|n| Path::new(&l.path) == *n));
        let both = uapi::VMA_DRIVER_FILE | uapi::VMA_DRIVER_OPS;
        driver_ok &= ours == (v.vma & both == both) && (v.vma & both == 0 || v.vma & both == both);
    }
    let outside: Vec<&str> = maps
        .iter()
        .filter(|e| !walk.iter().any(|v| v.vm_start == e.start))
        .map(|e| e.path.as_str())
        .collect();
    let facts = vec![
        fact(
            unmatched.is_empty(),
            format!(
                "each of the {} VMAs the kernel walked is a maps line: range, rwxp, offset",
                walk.len()
            ),
        ),
        fact(
            outside.iter().all(|p| *p == "[vsyscall]") && m.map_count as usize == walk.len(),
            format!(
                "map_count {} = VMAs walked; maps has {} more: {}",
                m.map_count,
                outside.len(),
                if outside.is_empty() {
                    "none".to_string()
                } else {
                    format!("{} (the gate area, outside the tree)", outside.join(" "))
                }
            ),
        ),
        fact(
            driver_ok,
            "the driver's file and vm_ops are on exactly the VMAs maps shows for its nodes".into(),
        ),
    ];
    Ok((lines, facts))
}

/// `brk()` moving `mm->brk` and the end of the `[heap]` VMA, up by four pages and back.
pub fn heap(fd: impl AsFd) -> Result<Vec<Fact>, String> {
    let page = crate::mapping::page_size() as u64;
    // Read before the break moves, so that nothing between the two brk() calls allocates: the
    // C library's malloc() moves the break too.
    let mut maps_buf = Vec::with_capacity(64 << 10);
    let b0 = brk(0);
    let before = ask(fd.as_fd(), 0)?;
    let b1 = brk(b0 + 4 * page);
    let grown = ask(fd.as_fd(), b0)?;
    maps_buf.clear();
    let maps_ok = std::io::Read::read_to_end(
        &mut File::open("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?,
        &mut maps_buf,
    );
    let untouched = brk(0) == b1;
    let b2 = if untouched { brk(b0) } else { brk(0) };
    let back = ask(fd.as_fd(), 0)?;
    maps_ok.map_err(|e| format!("/proc/self/maps: {e}"))?;
    let maps = String::from_utf8_lossy(&maps_buf);
    // brk() extends the heap's last VMA, or adds one where it cannot merge (after a fork(), say):
    // maps names each VMA between start_brk and brk `[heap]`.
    let heap_line = maps
        .lines()
        .filter(|l| l.ends_with("[heap]"))
        .filter_map(crate::maps::MapsEntry::parse)
        .find(|h| h.start == grown.vm_start);
    Ok(vec![
        fact(
            before.brk == b0
                && grown.brk == b1
                && b1 == b0 + 4 * page
                && grown.vma & uapi::VMA_FOUND != 0
                && grown.vm_end == b1.next_multiple_of(page)
                && heap_line
                    .as_ref()
                    .is_some_and(|h| h.end == grown.vm_end && h.start == grown.vm_start),
            format!(
                "brk(+4 pages): mm->brk {b0:#x} -> {:#x}; its VMA and [heap] end at {}",
                grown.brk,
                heap_line.map_or("? (no such [heap] line)".into(), |h| format!(
                    "{:#x}",
                    h.end
                ))
            ),
        ),
        fact(
            untouched && b2 == b0 && back.brk == b0,
            format!(
                "brk({b0:#x}): mm->brk back to {:#x}, the four pages unmapped",
                back.brk
            ),
        ),
    ])
}
