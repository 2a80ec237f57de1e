// SPDX-License-Identifier: GPL-2.0

//! The kernel's view of a process's address space: the counters and layout of its `mm_struct`,
//! and its VMAs, found by address under the mmap read lock.
//!
//! Upstream's `kernel::mm` has the address space of a process ([`MmWithUser`]), its mmap read
//! lock ([`MmapReadGuard`]) and `vma_lookup()`, and [`MmReadLocked`] holds them. Its way in,
//! `current!().mm()`, is not used: it reads `task->mm` through bindgen's layout of
//! `struct task_struct`, and the bindgen that builds the test kernels (0.73.2) gets that layout
//! wrong. It drops the padding before `stats`, an empty `struct sched_statistics` aligned to 64
//! bytes when `CONFIG_SCHEDSTATS` is off, so every field from there on sits 48 bytes early (`mm`
//! at byte 936, where C has it at 984; measured, and 0.72.1 pads it right). The pointer comes
//! from C instead. What this adds is what a reader of the structures wants to see: the fields of
//! `struct mm_struct` ([`MmFields`]; every offset read here checked equal to C's) and
//! `find_vma()`, with which the VMA tree (a maple tree since 6.1) is walked in address order.

use kernel::{
    bindings,
    mm::{virt::VmaRef, MmWithUser, MmapReadGuard},
    task::CurrentTask,
    ThisModule,
};

extern "C" {
    // (`struct mm_struct` and `struct module` are not FFI-safe to the compiler: they hold empty
    // structs.)
    fn vmdev_helper_current_mm() -> *mut core::ffi::c_void;
    fn vmdev_helper_current_on_own_mm() -> bool;
    fn vmdev_helper_within_module(
        addr: *const core::ffi::c_void,
        module: *const core::ffi::c_void,
    ) -> bool;
}

/// The current task's address space with its mmap lock held for reading.
///
/// # Examples
///
/// A walk of the calling process's VMAs in address order, as `/proc/self/maps` lists them:
///
/// ```
/// use kernel::mm::mm_view::MmReadLocked;
///
/// /// How many VMAs the calling process has, and how many bytes they span.
/// fn count_vmas() -> Option<(usize, usize)> {
///     let task = current!();
///     // `None` in a kernel thread, which has no address space.
///     let mm = MmReadLocked::current(task)?;
///     let (mut count, mut bytes, mut addr) = (0, 0, 0);
///     // The first VMA that ends above `addr`: from 0, each VMA's end finds the next one.
///     while let Some(vma) = mm.find_vma(addr) {
///         count += 1;
///         bytes += vma.end() - vma.start();
///         addr = vma.end();
///     }
///     // `mm` is dropped on return, and the lock released with it.
///     Some((count, bytes))
/// }
/// ```
///
/// # Invariants
///
/// `guard` holds the mmap read lock of `mm`.
pub(crate) struct MmReadLocked<'a> {
    mm: &'a MmWithUser,
    guard: MmapReadGuard<'a>,
}

/// The fields of a `struct mm_struct`, read at one moment under its mmap read lock: what
/// `/proc/<pid>/stat` and `status` print, and the reference counts they do not.
///
/// The counts of pages (`total_vm` ... `stack_vm`) are in pages; the rest are addresses.
///
/// # Examples
///
/// ```
/// use kernel::mm::mm_view::{MmFields, MmReadLocked};
///
/// /// The size of the calling process's heap, in bytes: from `start_brk` to the break.
/// fn heap_bytes() -> Option<u64> {
///     let task = current!();
///     // A copy, taken under the lock, which is released at the end of the statement.
///     let fields: MmFields = MmReadLocked::current(task)?.fields();
///     Some(fields.brk - fields.start_brk)
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MmFields {
    /// Users of the address space (`mm_users`): the threads, plus short-lived references.
    pub(crate) mm_users: u32,
    /// References to the `struct mm_struct` itself (`mm_count`).
    pub(crate) mm_count: u32,
    /// VMAs in the tree (`map_count`).
    pub(crate) map_count: u32,
    /// Pages mapped in all (`total_vm`: `VmSize` in `/proc/<pid>/status`).
    pub(crate) total_vm: u64,
    /// Pages locked in memory by `mlock()` (`locked_vm`: `VmLck`).
    pub(crate) locked_vm: u64,
    /// Pages pinned by drivers, as RDMA does (`pinned_vm`: `VmPin`).
    pub(crate) pinned_vm: u64,
    /// Pages of private writable mappings, not stacks (`data_vm`: `VmData`).
    pub(crate) data_vm: u64,
    /// Pages of executable mappings, not stacks (`exec_vm`: `VmExe` and `VmLib`).
    pub(crate) exec_vm: u64,
    /// Pages of stack mappings (`stack_vm`: `VmStk`).
    pub(crate) stack_vm: u64,
    /// Where the program text begins (`start_code`).
    pub(crate) start_code: u64,
    /// Where the program text ends (`end_code`).
    pub(crate) end_code: u64,
    /// Where the program's initialised data begins (`start_data`).
    pub(crate) start_data: u64,
    /// Where the program's initialised data ends (`end_data`).
    pub(crate) end_data: u64,
    /// Where the heap begins (`start_brk`).
    pub(crate) start_brk: u64,
    /// The program break, where the heap ends now (`brk`).
    pub(crate) brk: u64,
    /// The top of the main thread's stack at `exec()` (`start_stack`).
    pub(crate) start_stack: u64,
    /// Where the command line begins (`arg_start`).
    pub(crate) arg_start: u64,
    /// Where the command line ends (`arg_end`).
    pub(crate) arg_end: u64,
    /// Where the environment begins (`env_start`).
    pub(crate) env_start: u64,
    /// Where the environment ends (`env_end`).
    pub(crate) env_end: u64,
    /// Where `mmap()` places mappings from, top down (`mmap_base`).
    pub(crate) mmap_base: u64,
}

impl<'a> MmReadLocked<'a> {
    /// Takes the mmap read lock of the current task's address space, until the value is
    /// dropped; `None` for a kernel thread, which has no address space.
    ///
    /// `_task`, the proof that this runs as the current task, bounds the value's life. It sleeps;
    /// no fault handler may call it (a fault may hold the VMA's lock alone, and the mmap lock is
    /// taken before VMA locks).
    pub(crate) fn current(_task: &'a CurrentTask) -> Option<Self> {
        // SAFETY: Reads the current task's `mm`, which only the task itself changes (at `exec()`).
        let mm = unsafe { vmdev_helper_current_mm() }.cast::<bindings::mm_struct>();
        if mm.is_null() {
            return None;
        }
        // SAFETY: The current task holds a user of its `mm` while it runs, and `'a`, the borrow of
        // the `CurrentTask`, ends before the task can leave this context.
        let mm = unsafe { MmWithUser::from_raw(mm) };
        // INVARIANT: the guard is `mm`'s.
        Some(Self {
            mm,
            guard: mm.mmap_read_lock(),
        })
    }

    /// The VMA containing `addr` (`vma_lookup()`, upstream's).
    pub(crate) fn vma_lookup(&self, addr: usize) -> Option<&VmaRef> {
        self.guard.vma_lookup(addr)
    }

    /// The first VMA that ends above `addr` (`find_vma()`): it may start above `addr` too. From
    /// 0, each VMA's end in turn visits every VMA in address order.
    pub(crate) fn find_vma(&self, addr: usize) -> Option<&VmaRef> {
        // SAFETY: `mm` has users, so it is a valid address space, and its mmap read lock is held
        // (type invariants): what `find_vma()` asks. Any address is valid.
        let vma = unsafe { bindings::find_vma(self.mm.as_raw(), addr) };
        // SAFETY: A VMA found under the mmap read lock stays valid while the lock is held, and
        // the result borrows `self`, which holds it.
        (!vma.is_null()).then(|| unsafe { VmaRef::from_raw(vma) })
    }

    /// The fields of the `mm_struct`.
    pub(crate) fn fields(&self) -> MmFields {
        let mm = self.mm.as_raw();
        // The reads are `READ_ONCE()`s: the mmap read lock keeps the layout and the VMA counts
        // still, but the reference counts are atomics, `pinned_vm` is changed without the lock,
        // and `arg_start`..`env_end` under `arg_lock`. Each field is read whole; two of them
        // may be a moment apart.
        // SAFETY: `mm` is valid (it has users), and each pointer below is to one of its fields,
        // read with the atomic or volatile read of its type.
        unsafe {
            let f = &raw const (*mm).__bindgen_anon_1;
            let word = |p: *const usize| p.read_volatile() as u64;
            MmFields {
                mm_users: bindings::atomic_read(&raw const (*f).mm_users) as u32,
                mm_count: bindings::atomic_read(&raw const (*f).__bindgen_anon_1.mm_count) as u32,
                map_count: (&raw const (*f).map_count).read_volatile() as u32,
                total_vm: word(&raw const (*f).total_vm),
                locked_vm: word(&raw const (*f).locked_vm),
                pinned_vm: bindings::atomic64_read(&raw const (*f).pinned_vm) as u64,
                data_vm: word(&raw const (*f).data_vm),
                exec_vm: word(&raw const (*f).exec_vm),
                stack_vm: word(&raw const (*f).stack_vm),
                start_code: word(&raw const (*f).start_code),
                end_code: word(&raw const (*f).end_code),
                start_data: word(&raw const (*f).start_data),
                end_data: word(&raw const (*f).end_data),
                start_brk: word(&raw const (*f).start_brk),
                brk: word(&raw const (*f).brk),
                start_stack: word(&raw const (*f).start_stack),
                arg_start: word(&raw const (*f).arg_start),
                arg_end: word(&raw const (*f).arg_end),
                env_start: word(&raw const (*f).env_start),
                env_end: word(&raw const (*f).env_end),
                mmap_base: word(&raw const (*f).mmap_base),
            }
        }
    }
}

/// Whether the current task runs on its own address space: `current->active_mm == current->mm`.
/// True of every process; a kernel thread has no `mm` and borrows the last one (`active_mm`) to
/// spare a TLB flush.
pub(crate) fn current_on_own_mm(_task: &CurrentTask) -> bool {
    // SAFETY: Reads two pointers of the current task, which only it and the scheduler on its CPU
    // change.
    unsafe { vmdev_helper_current_on_own_mm() }
}

/// What a VMA is, beyond its range and flags: the fields of `struct vm_area_struct` that say
/// whose it is, reported as facts rather than as the kernel pointers they hold.
///
/// # Examples
///
/// ```
/// use kernel::mm::mm_view::{MmReadLocked, VmaIdentity};
/// use kernel::ThisModule;
///
/// /// Whether `addr` of the calling process lies in a mapping of a file of `module`'s (a
/// /// device node it registered, say) that has `module`'s VMA operations.
/// fn mapped_by(module: &ThisModule, addr: usize) -> bool {
///     let task = current!();
///     let Some(mm) = MmReadLocked::current(task) else {
///         return false;
///     };
///     mm.vma_lookup(addr)
///         .is_some_and(|vma| vma.file_of(module) && vma.ops_of(module))
/// }
/// ```
pub(crate) trait VmaIdentity {
    /// `vm_file` is set: a mapping of a file or device, not anonymous memory.
    fn has_file(&self) -> bool;

    /// `vm_file` is a file of `module`'s (its `file_operations` are `module`'s).
    fn file_of(&self, module: &ThisModule) -> bool;

    /// `vm_ops` are `module`'s.
    fn ops_of(&self, module: &ThisModule) -> bool;

    /// `anon_vma` is set: the VMA has had anonymous pages (a private copy of a page).
    fn has_anon_vma(&self) -> bool;
}

impl VmaIdentity for VmaRef {
    fn has_file(&self) -> bool {
        // SAFETY: The VMA is valid (type invariants of `VmaRef`); `vm_file` is set when the VMA
        // is made and changes only under the mmap write lock, which excludes this read lock.
        !unsafe { (*self.as_ptr()).vm_file }.is_null()
    }

    fn file_of(&self, module: &ThisModule) -> bool {
        // SAFETY: As in `has_file`.
        let file = unsafe { (*self.as_ptr()).vm_file };
        // SAFETY: A VMA's file is referenced by it, and a file's `f_op` never changes once open.
        !file.is_null() && unsafe { (*(*file).f_op).owner } == module.as_ptr()
    }

    fn ops_of(&self, module: &ThisModule) -> bool {
        // SAFETY: As in `has_file`; `vm_ops` is set with the mapping, before the VMA is visible.
        let ops = unsafe { (*self.as_ptr()).vm_ops };
        // SAFETY: Any address may be asked about; `module` is loaded (it is running this code).
        !ops.is_null() && unsafe { vmdev_helper_within_module(ops.cast(), module.as_ptr().cast()) }
    }

    fn has_anon_vma(&self) -> bool {
        // SAFETY: The VMA is valid. `anon_vma` is set at the first private copy, under the
        // VMA's read lock alone, so it is read with `READ_ONCE()`'s volatile read.
        !unsafe { (&raw const (*self.as_ptr()).anon_vma).read_volatile() }.is_null()
    }
}
