//! The address space around the driver's mappings, from the kernel's side: the `mm_struct` and
//! the VMA tree as the driver reads them (`VMDEV_IOC_MM`) beside `/proc`, threads and `fork()`,
//! the heap's `brk()`, swap, and the fault handler's branch for each kind of first touch,
//! recorded by the function tracer.

use std::os::fd::AsFd;
use std::path::Path;

use vmdev::address_space::{self, Fact, SwapOn};
use vmdev::fault_branches::{FaultTracer, record_all};
use vmdev::uapi;

use crate::{Node, Res, check};

fn show(facts: Vec<Fact>) -> Res {
    for f in facts {
        check(f.holds, f.what)?;
    }
    Ok(())
}

pub fn run(nodes: &[Node]) -> Res {
    let fd = nodes[0].file.as_fd();
    let paths: Vec<&Path> = nodes.iter().map(|n| Path::new(n.path)).collect();
    println!(
        "== this process's mm_struct, as the driver reads it (VMDEV_IOC_MM), beside /proc/self"
    );
    show(address_space::mm_against_proc(fd)?)?;
    println!("== mm_users: threads share the mm, a child of fork() gets its own");
    show(address_space::users_threads_fork(fd)?)?;
    println!(
        "== the VMA tree (a maple tree), walked by the kernel with find_vma(), beside /proc/self/maps"
    );
    let (lines, facts) = address_space::vma_walk(fd, &paths)?;
    println!("  the kernel's vm_start-vm_end, flags, vm_pgoff (an anonymous VMA's is its start in");
    println!("  pages), file / driver (its file and vm_ops) / anon_vma; then the path maps prints");
    for l in lines {
        println!("  {l}");
    }
    show(facts)?;
    println!("== the heap: brk() moves mm->brk and the end of [heap]");
    show(address_space::heap(fd)?)?;
    println!(
        "== swap: anonymous memory goes out to a zram device and comes back; the device's pages stay"
    );
    let swap = match SwapOn::zram() {
        Ok(on) => {
            show(address_space::swap(&on, &paths)?)?;
            Some(on)
        }
        Err(why) => {
            println!("  (not shown: {why})");
            None
        }
    };
    println!("== the fault handler's branch for each first touch, recorded by the function tracer");
    match FaultTracer::new() {
        Ok(mut tracer) => {
            let fault = Path::new(uapi::FAULT_PATH);
            let huge = Path::new(uapi::HUGE_PATH);
            for s in record_all(&mut tracer, fault, huge, swap.as_ref())? {
                let note = s.note.clone().unwrap_or_else(|e| e);
                check(
                    s.holds(),
                    format!("{:<32} {}: {note}", s.what, s.recorded.join(" ")),
                )?;
            }
        }
        Err(why) => println!("  (not shown: {why})"),
    }
    Ok(())
}
