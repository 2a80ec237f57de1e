// SPDX-License-Identifier: GPL-2.0
/* The ioctls of vmdev_c's nodes (include/uapi/rust_vmdev.h). */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/module.h>
#include <linux/uaccess.h>
#include <rust_vmdev.h>

#include "vmdev_c.h"

static_assert(sizeof(struct vmdev_mm) == VMDEV_MM_SIZE_VER0);

/*
 * VMDEV_IOC_MM, versioned by size as DRM's ioctls: cmd carries the caller's sizeof(struct
 * vmdev_mm), of which the first min(that, ours) bytes are read and written back. Everything is
 * read under mmap_read_lock(), which keeps the VMA from being unmapped, split or merged as it is
 * read; only anon_vma can still be set meanwhile, by a fault. Nothing read is a kernel address.
 */
static long vmdev_ioc_mm(unsigned int cmd, void __user *uarg)
{
	size_t n = min_t(size_t, _IOC_SIZE(cmd), sizeof(struct vmdev_mm));
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct vmdev_mm m = {};

	if (_IOC_SIZE(cmd) < VMDEV_MM_SIZE_VER0)
		return -EINVAL;
	if (copy_from_user(&m, uarg, n))
		return -EFAULT;
	/* As the Rust driver: an address the kernel's unsigned long cannot hold is refused. */
	if ((m.request != VMDEV_MM_LOOKUP && m.request != VMDEV_MM_FIND) ||
	    m.addr != (unsigned long)m.addr)
		return -EINVAL;
	/* Only a kernel thread has none, and it cannot hold a file of ours to ask. */
	if (!mm)
		return -EINVAL;

	mmap_read_lock(mm);
	/* The reference counts and pinned_vm move without mmap_lock: a snapshot, read once. */
	m.mm_users = atomic_read(&mm->mm_users);
	m.mm_count = atomic_read(&mm->mm_count);
	m.map_count = READ_ONCE(mm->map_count);
	m.mm_flags = current->active_mm == mm ? VMDEV_MM_ACTIVE : 0;
	m.total_vm = READ_ONCE(mm->total_vm);
	m.locked_vm = READ_ONCE(mm->locked_vm);
	m.pinned_vm = atomic64_read(&mm->pinned_vm);
	m.data_vm = READ_ONCE(mm->data_vm);
	m.exec_vm = READ_ONCE(mm->exec_vm);
	m.stack_vm = READ_ONCE(mm->stack_vm);
	/* prctl(PR_SET_MM) changes these under the read lock (and arg_lock), as we read. */
	m.start_code = READ_ONCE(mm->start_code);
	m.end_code = READ_ONCE(mm->end_code);
	m.start_data = READ_ONCE(mm->start_data);
	m.end_data = READ_ONCE(mm->end_data);
	m.start_brk = READ_ONCE(mm->start_brk);
	m.brk = READ_ONCE(mm->brk);
	m.start_stack = READ_ONCE(mm->start_stack);
	m.arg_start = READ_ONCE(mm->arg_start);
	m.arg_end = READ_ONCE(mm->arg_end);
	m.env_start = READ_ONCE(mm->env_start);
	m.env_end = READ_ONCE(mm->env_end);
	m.mmap_base = READ_ONCE(mm->mmap_base);

	vma = m.request == VMDEV_MM_LOOKUP ? vma_lookup(mm, m.addr) : find_vma(mm, m.addr);
	if (vma) {
		m.vm_start = vma->vm_start;
		m.vm_end = vma->vm_end;
		m.vm_pgoff = vma->vm_pgoff;
		m.vm_flags = vma->vm_flags;
		/* Ours if the file's f_op, or vm_ops, are this module's; no pointer goes out. */
		m.vma = VMDEV_VMA_FOUND |
			(vma->vm_file ? VMDEV_VMA_FILE : 0) |
			(vma->vm_file && vma->vm_file->f_op->owner == THIS_MODULE ?
			 VMDEV_VMA_DRIVER_FILE : 0) |
			(vma->vm_ops && within_module((unsigned long)vma->vm_ops, THIS_MODULE) ?
			 VMDEV_VMA_DRIVER_OPS : 0) |
			(READ_ONCE(vma->anon_vma) ? VMDEV_VMA_ANON_VMA : 0);
	}
	mmap_read_unlock(mm);

	m.size = n;
	return copy_to_user(uarg, &m, n) ? -EFAULT : 0;
}

long vmdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vmdev *dev = file_vmdev(file);
	struct vmdev_info info = {
		.size = dev->size,
		.backing = dev->backing,
		.flags = dev->flags,
		.live_vmas = atomic64_read(&dev->live_vmas),
		.faults = atomic64_read(&dev->faults),
		.around_pages = atomic64_read(&dev->around_pages),
	};

	/* VMDEV_IOC_MM of any size: the size is checked there. */
	if ((cmd & ~IOCSIZE_MASK) == (VMDEV_IOC_MM & ~IOCSIZE_MASK))
		return vmdev_ioc_mm(cmd, (void __user *)arg);
	if (cmd != VMDEV_IOC_INFO)
		return -ENOTTY;
	return copy_to_user((void __user *)arg, &info, sizeof(info)) ? -EFAULT : 0;
}
