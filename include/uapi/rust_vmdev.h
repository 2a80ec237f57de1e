/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rust_vmdev: the user-space ABI of /dev/vmdev-remap, /dev/vmdev-huge, /dev/vmdev-fault and
 * /dev/vmdev-folio.
 *
 * Each node holds a zeroed buffer that lives from module load to unload, shared by every
 * open file and process; vmdev-remap and vmdev-huge share one physically contiguous buffer,
 * mapped two ways. The nodes' permissions are the module parameter mode (default
 * 0600; read and write bits only, anything else refuses the load with EINVAL). They support:
 *
 *   mmap(2)   MAP_SHARED on all four; offset page-aligned and offset + length <= size, else
 *             EINVAL. MAP_PRIVATE on vmdev-fault and vmdev-folio is copy-on-write.
 *             MAP_PRIVATE on vmdev-remap and vmdev-huge only read-only (the mapping can never
 *             become writable); a private mapping with PROT_WRITE gets EINVAL. mremap(2) can shrink
 *             or move a mapping, never grow it. Mappings are placed where huge page-table
 *             entries can map them (address congruent to the offset modulo the PMD size).
 *   read(2), write(2), pread(2), pwrite(2)
 *             byte access to the same buffer. Reading at the end returns 0; a write that
 *             starts at the end gets ENOSPC, one that crosses it is short.
 *   lseek(2)  SEEK_SET, SEEK_CUR and SEEK_END within [0, size], as the kernel's
 *             fixed_size_llseek(): lseek(fd, 0, SEEK_END) returns the size. A position
 *             outside that range, or any other whence, is EINVAL and leaves the position
 *             unchanged.
 *   ioctl(2)  VMDEV_IOC_INFO and VMDEV_IOC_MM below; anything else gets ENOTTY, a bad
 *             pointer EFAULT.
 *
 * No physical address is given to user space through the nodes.
 *
 * The debug view, a teaching aid for root alone: with debugfs mounted, the file
 * /sys/kernel/debug/MODULE/NODE (rust_vmdev/vmdev-remap, vmdev_c/vmdev_c-fault, ...), mode 0400,
 * says how the kernel reaches each page of the node's buffer. It prints kernel addresses, which
 * defeat KASLR (the reason for kptr_restrict and %pK): it is not part of the ABI above, and a
 * production driver would not have it. The format, the same for every driver of this ABI, is
 * five "key value" lines, then one line per page:
 *
 *   memory linear              how the kernel maps the buffer: linear (the linear map of all
 *                              RAM), vmalloc (vmalloc()), memremap (memremap() of a boot
 *                              reservation outside System RAM)
 *   page_size 4096             bytes per page
 *   page_offset 0x...          PAGE_OFFSET, the start of the linear map (hex)
 *   page_offset_phys 0x...     the physical address mapped there (hex; 0 on x86_64): a linear
 *                              address a maps a - page_offset + page_offset_phys
 *   pages N                    how many page lines follow
 *   I 0xADDR 0xPFN             page I (decimal, 0..N-1): its kernel address and the page frame
 *                              number of the memory behind it (hex)
 */
#ifndef _UAPI_RUST_VMDEV_H
#define _UAPI_RUST_VMDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VMDEV_REMAP_PATH "/dev/vmdev-remap"
#define VMDEV_FAULT_PATH "/dev/vmdev-fault"
#define VMDEV_HUGE_PATH "/dev/vmdev-huge"
#define VMDEV_FOLIO_PATH "/dev/vmdev-folio"

/* vmdev_info.backing */
#define VMDEV_BACKING_REMAP 1 /* physically contiguous, remap_pfn_range at mmap time */
#define VMDEV_BACKING_FAULT 2 /* vmalloc, mapped page by page on fault */
/*
 * The remap buffer, mapped on fault with the largest entries that fit: PUD or PMD where the range
 * is aligned, else PTE
 */
#define VMDEV_BACKING_HUGE 3
/*
 * PMD-order folios allocated at load (module parameter folio_size), mapped on fault: one PMD
 * entry per folio where the mapping is aligned and covers it, else the faulting page by a PTE.
 * Ordinary refcounted pages: get_user_pages(), O_DIRECT and copy-on-write work on them.
 */
#define VMDEV_BACKING_FOLIO 4

/*
 * vmdev_info.flags. With FAULT_AROUND (module parameter fault_around, the default) a fault
 * maps the naturally aligned window of the mapping around it, fault_around_bytes (module
 * parameter: a power of two from one page to the span of a page table, 2 MiB with 4 KiB pages;
 * default 32 pages, 128 KiB with 4 KiB pages); without it, one page. A write to a private
 * mapping always copies one page.
 */
#define VMDEV_FLAG_FAULT_AROUND (1U << 0) /* a fault maps the window around it */
/* Memory reserved at boot (reserve_mem=, memmap=, a device tree's no-map node) */
#define VMDEV_FLAG_BOOT_RESERVED (1U << 1)
/* vmdev-huge, vmdev-folio: the kernel can map PMD entries */
#define VMDEV_FLAG_HUGE_PMD (1U << 2)
#define VMDEV_FLAG_HUGE_PUD (1U << 3) /* vmdev-huge: the kernel and the CPU can map PUD entries */
/*
 * The node's mapping hook is f_op->mmap_prepare (module parameter mmap_prepare, the default);
 * without it, the deprecated f_op->mmap. The ABI is the same either way.
 */
#define VMDEV_FLAG_MMAP_PREPARE (1U << 4)
/*
 * Bits 26-31 of vmdev_info.flags of vmdev-fault: log2 of the bytes one fault maps at most, the
 * window above (the page size without FAULT_AROUND), as MAP_HUGE_SHIFT puts a page size in
 * mmap(2)'s flags; 0 on the other nodes.
 */
#define VMDEV_FAULT_WINDOW_SHIFT 26
#define VMDEV_FAULT_WINDOW_MASK 0x3fU
#define VMDEV_FAULT_WINDOW_BYTES(flags) \
	(1UL << (((flags) >> VMDEV_FAULT_WINDOW_SHIFT) & VMDEV_FAULT_WINDOW_MASK))

struct vmdev_info {
	__u64 size;         /* bytes of the buffer */
	__u32 backing;      /* VMDEV_BACKING_* */
	__u32 flags;        /* VMDEV_FLAG_* */
	__u64 live_vmas;    /* VMAs mapping the device now, in all processes */
	/*
	 * Faulting pages the fault handlers mapped since load (on vmdev-huge: page-table entries,
	 * each one fault)
	 */
	__u64 faults;
	/*
	 * Pages mapped together with a faulting one since load (a PMD entry of 4 KiB pages: 1
	 * fault, 511 around)
	 */
	__u64 around_pages;
};

#define VMDEV_IOC_INFO _IOR('V', 1, struct vmdev_info)

/*
 * VMDEV_IOC_MM: the kernel's own view of the calling process's address space: its mm_struct and
 * one of its VMAs, read by the driver under mmap_read_lock() (the /proc files show the same
 * through other code). Any node answers it, about the caller's mm only; it returns no kernel
 * address: a VMA's file and operations are reported as VMDEV_VMA_* flags.
 *
 * Versioned by size, as DRM's ioctls: the command carries sizeof(struct vmdev_mm), and the
 * driver takes any size from VMDEV_MM_SIZE_VER0 up. It reads the first min(size, its own) bytes
 * (the inputs), writes back as many, and sets `size` to that count; bytes past it are left as
 * they were. A later version only appends fields. A smaller size, or an unknown `request`, is
 * EINVAL.
 */
#define VMDEV_MM_LOOKUP 0 /* vmdev_mm.request: the VMA containing addr, as vma_lookup() */
/*
 * vmdev_mm.request: the first VMA ending above addr, as find_vma(): from addr = 0, each vm_end in
 * turn walks the VMA tree
 */
#define VMDEV_MM_FIND 1

/* vmdev_mm.mm_flags */
/*
 * current->active_mm is current->mm (always, for a process; a kernel thread has no mm and borrows
 * one)
 */
#define VMDEV_MM_ACTIVE (1U << 0)

/* vmdev_mm.vma: what the VMA found at addr is; 0 when there is none */
#define VMDEV_VMA_FOUND (1U << 0)
#define VMDEV_VMA_FILE (1U << 1)       /* vm_file is set: a file (or device) mapping */
#define VMDEV_VMA_DRIVER_FILE (1U << 2) /* vm_file is a node of the driver answering */
#define VMDEV_VMA_DRIVER_OPS (1U << 3)  /* vm_ops are that driver's */
/* anon_vma is set: the VMA has had private anonymous pages (a write to MAP_PRIVATE) */
#define VMDEV_VMA_ANON_VMA (1U << 4)

struct vmdev_mm {
	__u32 size;        /* out: bytes the driver filled in */
	__u32 request;     /* in: VMDEV_MM_LOOKUP or VMDEV_MM_FIND */
	__u64 addr;        /* in: the address of the request */
	/* The mm_struct (mm->...) */
	/*
	 * Users of the address space: one per thread, plus short-lived references (a /proc reader's
	 * mmget())
	 */
	__u32 mm_users;
	/* References to the struct itself: 1 for all the users, plus lazy-TLB borrowers */
	__u32 mm_count;
	__u32 map_count;   /* VMAs in the tree */
	__u32 mm_flags;    /* VMDEV_MM_* */
	__u64 total_vm;    /* pages mapped (VmSize); the next five are pages too */
	__u64 locked_vm;   /* mlock()ed (VmLck) */
	__u64 pinned_vm;   /* pinned by drivers for long (VmPin) */
	__u64 data_vm;     /* private writable, not stack (VmData) */
	__u64 exec_vm;     /* executable, not writable, not stack (VmExe + VmLib) */
	__u64 stack_vm;    /* stack (VmStk) */
	__u64 start_code, end_code, start_data, end_data;
	__u64 start_brk, brk, start_stack;
	__u64 arg_start, arg_end, env_start, env_end;
	__u64 mmap_base;   /* where top-down mmap() placement starts */
	/* The VMA of the request (vma->...); all 0 when there is none */
	__u64 vm_start, vm_end;
	__u64 vm_pgoff;    /* offset of vm_start in the file, in pages */
	__u64 vm_flags;    /* the VM_* flags (bits 0-63 of the VMA's flags bitmap) */
	__u32 vma;         /* VMDEV_VMA_* */
	__u32 pad;         /* 0 */
};

#define VMDEV_MM_SIZE_VER0 216 /* sizeof the first version */

#define VMDEV_IOC_MM _IOWR('V', 2, struct vmdev_mm)

#endif /* _UAPI_RUST_VMDEV_H */
