/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rust_vmdev: the user-space ABI of /dev/vmdev-remap and /dev/vmdev-fault.
 *
 * Both nodes hold a zeroed buffer that lives from module load to unload, shared by every
 * open file and process. They support:
 *
 *   mmap(2)   MAP_SHARED on both; offset page-aligned and offset + length <= size, else
 *             EINVAL. MAP_PRIVATE on vmdev-fault is copy-on-write. MAP_PRIVATE on
 *             vmdev-remap only read-only (the mapping can never become writable); a private
 *             mapping with PROT_WRITE gets EINVAL. mremap(2) can shrink or move a mapping,
 *             never grow it.
 *   read(2), write(2), pread(2), pwrite(2)
 *             byte access to the same buffer. Reading at the end returns 0; a write that
 *             starts at the end gets ENOSPC, one that crosses it is short. lseek(2) gets
 *             ESPIPE (the 7.3 misc-device API has no llseek hook): use pread/pwrite.
 *   ioctl(2)  VMDEV_IOC_INFO below; anything else gets ENOTTY, a bad pointer EFAULT.
 *
 * No physical address is ever given to user space.
 */
#ifndef _UAPI_RUST_VMDEV_H
#define _UAPI_RUST_VMDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VMDEV_REMAP_PATH "/dev/vmdev-remap"
#define VMDEV_FAULT_PATH "/dev/vmdev-fault"

/* vmdev_info.backing */
#define VMDEV_BACKING_REMAP 1 /* physically contiguous, remap_pfn_range at mmap time */
#define VMDEV_BACKING_FAULT 2 /* vmalloc, mapped page by page on fault */

/* vmdev_info.flags */
#define VMDEV_FLAG_FAULT_AROUND (1U << 0) /* a read fault maps its neighbours too */
#define VMDEV_FLAG_BOOT_RESERVED (1U << 1) /* memory reserved at boot (memmap=) */

struct vmdev_info {
	__u64 size;         /* bytes of the buffer */
	__u32 backing;      /* VMDEV_BACKING_* */
	__u32 flags;        /* VMDEV_FLAG_* */
	__u64 live_vmas;    /* VMAs mapping the device now, in all processes */
	__u64 faults;       /* pages mapped by the fault handler since load */
	__u64 around_pages; /* pages mapped by fault-around since load */
};

#define VMDEV_IOC_INFO _IOR('V', 1, struct vmdev_info)

#endif /* _UAPI_RUST_VMDEV_H */
