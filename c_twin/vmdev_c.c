// SPDX-License-Identifier: GPL-2.0
/*
 * vmdev_c: the C twin of rust_vmdev. The same ABI (include/uapi/rust_vmdev.h), the same module
 * parameters and the same mmap paths, written the way a careful C driver author would today,
 * on /dev/vmdev_c-remap, /dev/vmdev_c-huge and /dev/vmdev_c-fault. The benchmarks compare the
 * two drivers and the selftest suite runs against both.
 *
 * Each node's mapping hook is one of two, picked at load by the module parameter mmap_prepare
 * (a file_operations may not have both: file_has_valid_mmap_hooks() warns):
 * - f_op->mmap_prepare (the default), vmdev_mmap_prepare(): it checks and describes the mapping
 *   (flags, vm_ops, for the remap node a remap action the core carries out after it) before any
 *   VMA exists, and changes no state; the VMA is counted in vm_ops->mapped, vmdev_vma_mapped(),
 *   once the core has set it up.
 * - the deprecated f_op->mmap, vmdev_mmap(): it is handed the new VMA, maps the remap node's
 *   memory itself with remap_pfn_range(), and counts the VMA there.
 * The ABI is the same either way; vmdev_info.flags has VMDEV_FLAG_MMAP_PREPARE with the first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/of_address.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <rust_vmdev.h>

static unsigned long remap_size = 4 << 20;
module_param(remap_size, ulong, 0444);
MODULE_PARM_DESC(remap_size, "Bytes of /dev/vmdev_c-remap's contiguous buffer (page multiple, max one buddy block: 4 MiB with 4 KiB pages)");
static unsigned long fault_size = 16 << 20;
module_param(fault_size, ulong, 0444);
MODULE_PARM_DESC(fault_size, "Bytes of /dev/vmdev_c-fault's vmalloc buffer (page multiple)");
static bool fault_around = true;
module_param(fault_around, bool, 0444);
MODULE_PARM_DESC(fault_around, "A fault on /dev/vmdev_c-fault maps the fault_around_bytes around it, not one page");
/* 32 pages: where the first touch of the node overtakes udmabuf's (README). */
static unsigned long fault_around_bytes = 32 * PAGE_SIZE;
module_param(fault_around_bytes, ulong, 0444);
MODULE_PARM_DESC(fault_around_bytes, "Bytes a fault on /dev/vmdev_c-fault maps with fault_around: a power of two from one page to one page table's span (2 MiB with 4 KiB pages); default 32 pages");
static bool reserve_mem;
module_param(reserve_mem, bool, 0444);
MODULE_PARM_DESC(reserve_mem, "Serve /dev/vmdev_c-remap and -huge from the RAM reserved by reserve_mem=SIZE:ALIGN:vmdev_c on the kernel command line");

/* x86 has a global phys_base: the variables get other names than the parameters. */
static unsigned long long base_param;
module_param_named(phys_base, base_param, ullong, 0444);
MODULE_PARM_DESC(phys_base, "Serve /dev/vmdev_c-remap from this boot-reserved physical address");
static unsigned long long size_param;
module_param_named(phys_size, size_param, ullong, 0444);
MODULE_PARM_DESC(phys_size, "Size in bytes of the phys_base range");
static unsigned int mode = 0600;
module_param(mode, uint, 0444);
MODULE_PARM_DESC(mode, "Permissions of both device nodes, octal, read/write bits only (<= 0666)");
static bool mmap_prepare = true;
module_param(mmap_prepare, bool, 0444);
MODULE_PARM_DESC(mmap_prepare, "Register the nodes' mapping hook as f_op->mmap_prepare (default); 0: the deprecated f_op->mmap");

/* Pages a fault on the fault node maps at most: fault_around_bytes, or 1 without fault_around. */
static unsigned long window_pages;

struct vmdev {
	struct miscdevice misc;
	void *buf;			/* the kernel's mapping of the memory */
	size_t size;
	unsigned long first_pfn;	/* remap device: the memory's first page frame */
	struct page **pages;		/* fault device: each page, looked up once at load */
	u32 backing, flags;
	atomic64_t live_vmas, faults, around_pages;
};

/* huge_dev maps remap_dev's memory on fault, with the largest page-table entries that fit. */
static struct vmdev remap_dev, huge_dev, fault_dev;

static struct vmdev *file_vmdev(const struct file *file)
{
	/* misc_open() points private_data at the miscdevice. */
	return container_of(file->private_data, struct vmdev, misc);
}

static ssize_t vmdev_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct vmdev *dev = file_vmdev(iocb->ki_filp);
	loff_t pos = iocb->ki_pos;
	size_t want = iov_iter_count(to), done;

	if (pos < 0)
		return -EINVAL;
	if (pos >= dev->size || !want)
		return 0;
	done = copy_to_iter(dev->buf + pos, min_t(size_t, want, dev->size - pos), to);
	if (!done)
		return -EFAULT;
	iocb->ki_pos += done;
	return done;
}

static ssize_t vmdev_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct vmdev *dev = file_vmdev(iocb->ki_filp);
	loff_t pos = iocb->ki_pos;
	size_t want = iov_iter_count(from), done;

	if (pos < 0)
		return -EINVAL;
	if (!want)
		return 0;
	if (pos >= dev->size)
		return -ENOSPC;
	done = copy_from_iter(dev->buf + pos, min_t(size_t, want, dev->size - pos), from);
	if (!done)
		return -EFAULT;
	iocb->ki_pos += done;
	return done;
}

static loff_t vmdev_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, file_vmdev(file)->size);
}

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

static long vmdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
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

static void vmdev_vma_open(struct vm_area_struct *vma)
{
	struct vmdev *dev = vma->vm_private_data;

	/* A copy of a VMA that was never mapped (see VMDEV_VM_OPS) is not counted either. */
	if (!dev)
		return;
	atomic64_inc(&dev->live_vmas);
}

/*
 * Counts a VMA that vmdev_mmap_prepare() set up, once the core has set it up (the remap node's
 * memory mapped) and nothing can fail any more, and points it at its node: until then its
 * vm_private_data is NULL. The hook itself counts nothing: the core may still fail the mapping
 * after it. Special VMAs (VM_DONTEXPAND) never merge, so every VMA of a node gets here.
 */
static int vmdev_vma_mapped(unsigned long start, unsigned long end, pgoff_t pgoff,
			    const struct file *file, void **vm_private_data)
{
	struct vmdev *dev = file_vmdev(file);

	*vm_private_data = dev;
	atomic64_inc(&dev->live_vmas);
	return 0;
}

static void vmdev_vma_close(struct vm_area_struct *vma)
{
	struct vmdev *dev = vma->vm_private_data;

	/*
	 * A VMA from vmdev_mmap_prepare() that ->mapped never counted: the core's remap action
	 * failed (a page table could not be allocated, say), so mmap_action_finish() skipped
	 * ->mapped and do_munmap()s the new VMA, which calls ->close. Decrementing here would
	 * drop a count never taken, the imbalance drivers/hwtracing/stm/core.c has (its ->close
	 * puts a runtime-PM reference its ->mapped never got).
	 */
	if (!dev)
		return;
	atomic64_dec(&dev->live_vmas);
}

static struct page *vmdev_page(struct vmdev *dev, pgoff_t pgoff)
{
	return dev->pages[pgoff];
}

/*
 * Map the aligned window of pages around the faulting one (one page without fault_around) with
 * vm_insert_pages(), which takes the mapping's page references, skipping pages mapped already.
 * Here, unlike in ->map_pages, page tables may be allocated. Returns whether the faulting page is
 * mapped now; counts what it inserted.
 */
static bool vmdev_map_window(struct vm_fault *vmf, struct vmdev *dev)
{
	struct vm_area_struct *vma = vmf->vma;
	pgoff_t first = max(vmf->pgoff - vmf->pgoff % window_pages, vma->vm_pgoff);
	pgoff_t end = min(first + window_pages, vma->vm_pgoff + vma_pages(vma));
	/* vm_insert_pages() reads the window's pages from the buffer's own array. */
	struct page **pages = dev->pages + first;
	unsigned long n = end - first, next = 0;
	bool fault_mapped = false, fault_inserted = false;
	unsigned long inserted = 0;

	while (next < n) {
		unsigned long left = n - next;
		unsigned long addr = vma->vm_start + ((first + next - vma->vm_pgoff) << PAGE_SHIFT);
		int ret = vm_insert_pages(vma, addr, pages + next, &left);
		unsigned long done = n - next - left;

		if (vmf->pgoff >= first + next && vmf->pgoff < first + next + done)
			fault_mapped = fault_inserted = true;
		inserted += done;
		next += done;
		if (ret != -EBUSY)
			break;
		/* The entry at next exists already: skip it. */
		if (vmf->pgoff == first + next)
			fault_mapped = true;
		next++;
	}
	atomic64_add(fault_inserted, &dev->faults);
	atomic64_add(inserted - fault_inserted, &dev->around_pages);
	return fault_mapped;
}

static vm_fault_t vmdev_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmdev *dev = vma->vm_private_data;
	bool cow = (vmf->flags & FAULT_FLAG_WRITE) && !(vma->vm_flags & VM_SHARED);
	struct page *page;

	if (!dev || vmf->pgoff >= dev->size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	/* A write to a private mapping: the core maps a copy of the one page returned below. */
	if (!cow && vmdev_map_window(vmf, dev))
		return VM_FAULT_NOPAGE;
	page = vmdev_page(dev, vmf->pgoff);
	get_page(page);
	vmf->page = page;
	atomic64_inc(&dev->faults);
	return 0;
}

/*
 * ->map_pages runs under rcu_read_lock(), where vm_insert_pages() must not be called: it
 * allocates a page table when the PMD has none, and MADV_DONTNEED can free an emptied one
 * (CONFIG_PT_RECLAIM) after any check here. So it maps nothing; the window is mapped by
 * ->fault. It must exist all the same: without it, a fault taken under the per-VMA lock is
 * retried under mmap_lock (vmf_can_call_fault()).
 */
static vm_fault_t vmdev_map_nothing(struct vm_fault *vmf, pgoff_t start_pgoff, pgoff_t end_pgoff)
{
	return 0;
}

/*
 * Whether the CPU can walk a PUD leaf (x86: 1 GiB pages, "pdpe1gb"): what the kernel's huge
 * vmalloc asks before it maps one. The core asks only the config for PFN maps.
 */
static bool pud_leaf_supported(void)
{
	return IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) && arch_vmap_pud_supported(PAGE_KERNEL);
}

/*
 * One entry of 2^order pages (PTE, PMD or PUD) at the faulting address, onto the frames of the
 * buffer at the same offset: only if the entry lies in the VMA and the buffer and its frames are
 * aligned to its size, else VM_FAULT_FALLBACK (the core tries the next smaller size).
 */
static vm_fault_t vmdev_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmdev *dev = vma->vm_private_data;
	unsigned long nr = 1UL << order, addr = ALIGN_DOWN(vmf->address, PAGE_SIZE << order);
	unsigned long pfn;
	pgoff_t pgoff;
	vm_fault_t ret;

	if (!dev)
		return VM_FAULT_SIGBUS;

	if (addr < vma->vm_start || addr + (PAGE_SIZE << order) > vma->vm_end)
		return VM_FAULT_FALLBACK;
	pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	if (pgoff + nr > dev->size >> PAGE_SHIFT)
		return order ? VM_FAULT_FALLBACK : VM_FAULT_SIGBUS;
	pfn = dev->first_pfn + pgoff;
	if (!IS_ALIGNED(pfn, nr))
		return VM_FAULT_FALLBACK;
	if (!order)
		ret = vmf_insert_pfn(vma, addr, pfn);
#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
	else if (order == PMD_ORDER)
		ret = vmf_insert_pfn_pmd(vmf, pfn, vmf->flags & FAULT_FLAG_WRITE);
#endif
#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
	else if (order == PUD_ORDER && pud_leaf_supported())
		ret = vmf_insert_pfn_pud(vmf, pfn, vmf->flags & FAULT_FLAG_WRITE);
#endif
	else
		return VM_FAULT_FALLBACK;
	if (ret == VM_FAULT_NOPAGE) {
		atomic64_inc(&dev->faults);
		atomic64_add(nr - 1, &dev->around_pages);
	}
	return ret;
}

static vm_fault_t vmdev_huge_pte_fault(struct vm_fault *vmf)
{
	return vmdev_huge_fault(vmf, 0);
}

#if defined(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) && !defined(VMDEV_CORE_FIXED)
/*
 * Ways around two 7.3.4 core bugs with PUD leaves of PFN maps, which kernel-patches/ fixes at
 * their source; VMDEV_CORE_FIXED (Kbuild: the suite's build for a kernel with those patches)
 * leaves them out.
 */
/*
 * ->open of the huge node's VMAs. mremap() moving a VMA calls it on the copy, from copy_vma(),
 * before move_page_tables(), which in 7.3.4 cannot move a PUD leaf of a PFN map: get_old_pud()
 * clears it as a bad entry without a TLB flush, and the old address stays mapped onto the
 * buffer through the TLB. So zap the PUD spans of the VMAs of this mm with the copy's file and
 * operations that map any of its pages (the one being moved is among them), write-locked first
 * so that no fault maps them again before the move. For a split's copy and fork's (whose mm has
 * no entries yet; its tree still holds the parent's VMAs, skipped by their vm_mm) that costs a
 * refault at most.
 */
static void vmdev_huge_open(struct vm_area_struct *copy)
{
	pgoff_t first = copy->vm_pgoff, end = first + vma_pages(copy);
	VMA_ITERATOR(vmi, copy->vm_mm, 0);
	struct vm_area_struct *vma;

	if (!pud_leaf_supported())
		goto open;
	mmap_assert_write_locked(copy->vm_mm);
	for_each_vma(vmi, vma) {
		pgoff_t from, to;
		unsigned long addr, stop;

		if (vma == copy || vma->vm_mm != copy->vm_mm || vma->vm_ops != copy->vm_ops ||
		    vma->vm_file != copy->vm_file)
			continue;
		from = max(first, vma->vm_pgoff);
		to = min(end, vma->vm_pgoff + vma_pages(vma));
		if (from >= to)
			continue;
		addr = ALIGN_DOWN(vma->vm_start + ((from - vma->vm_pgoff) << PAGE_SHIFT), PUD_SIZE);
		stop = vma->vm_start + ((to - vma->vm_pgoff) << PAGE_SHIFT);
		vma_start_write(vma);
		for (; addr < stop; addr += PUD_SIZE)
			if (range_in_vma(vma, addr, addr + PUD_SIZE))
				zap_special_vma_range(vma, addr, PUD_SIZE);
	}
open:
	vmdev_vma_open(copy);
}

/*
 * The core is about to split the VMA at addr. In 7.3.4 its split (__split_vma() ->
 * vma_adjust_trans_huge()) breaks up a PMD entry across the boundary but not a PUD entry, which
 * split_huge_pmd_address() takes for a PMD table: an oops. So zap the PUD span around a boundary
 * that is not PUD-aligned; its next touch maps it with PMD entries. Write-lock the VMA first:
 * may_split runs before __split_vma() does, and a fault under the per-VMA lock could map the span
 * again in between.
 */
static int vmdev_huge_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long start = ALIGN_DOWN(addr, PUD_SIZE);

	if (start != addr && range_in_vma(vma, start, start + PUD_SIZE) && pud_leaf_supported()) {
		vma_start_write(vma);
		zap_special_vma_range(vma, start, PUD_SIZE);
	}
	return 0;
}
#endif

/*
 * ->access: how ptrace(PTRACE_PEEKDATA/POKEDATA), /proc/<pid>/mem and debuggers reach a VM_PFNMAP
 * VMA, which get_user_pages() refuses. Through the buffer's own kernel mapping, at the file
 * offset addr maps, to the end of that page at most (the core calls again for the next):
 * generic_access_phys(), /dev/mem's, would ioremap() the frames, which arm64 refuses for RAM.
 * A write only where the VMA is writable; -EINVAL otherwise, as generic_access_phys() answers.
 */
static int vmdev_pfn_access(struct vm_area_struct *vma, unsigned long addr, void *buf, int len,
			    int write)
{
	struct vmdev *dev = vma->vm_private_data;
	/* vm_pgoff + the VMA's pages fit in the buffer: vmdev_mmap(_prepare)() checked them. */
	unsigned long offset = ((vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT)) << PAGE_SHIFT) +
			       offset_in_page(addr);

	if (!dev || len <= 0 || offset >= dev->size || (write && !(vma->vm_flags & VM_WRITE)))
		return -EINVAL;
	len = min3((unsigned long)len, PAGE_SIZE - offset_in_page(addr), dev->size - offset);
	if (write)
		memcpy(dev->buf + offset, buf, len);
	else
		memcpy(buf, dev->buf + offset, len);
	return len;
}

#ifdef CONFIG_ARCH_SUPPORTS_HUGE_PFNMAP
#define HUGE_FAULT vmdev_huge_fault
#else
#define HUGE_FAULT NULL
#endif
#if defined(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) && !defined(VMDEV_CORE_FIXED)
#define HUGE_MAY_SPLIT vmdev_huge_may_split
#define HUGE_OPEN vmdev_huge_open
#else
#define HUGE_MAY_SPLIT NULL
#define HUGE_OPEN vmdev_vma_open
#endif

/*
 * Each node has two vm_ops tables, the same but for ->mapped: mmap_name's for the VMAs that
 * vmdev_mmap() sets up, prepare_name's, with ->mapped, for those of vmdev_mmap_prepare().
 * ->mapped is valid only from f_op->mmap_prepare (include/linux/mm.h): the 7.3 core calls it
 * only after a mmap_prepare hook, so one installed by f_op->mmap would never run.
 *
 * None of the callbacks can run on a VMA before its ->mapped (the core write-locks the new VMA
 * and holds mmap_lock for writing from its creation through ->mapped), but a VMA whose remap
 * action failed may never get one and still live on: mmap_action_finish() ignores the error of
 * the do_munmap() that should remove it, and that can fail with -ENOMEM. So every callback that
 * reads vm_private_data (->open on fork, ->fault, ->huge_fault, ->access from /proc/<pid>/mem,
 * ->close) takes NULL as a VMA that maps nothing.
 */
#define VMDEV_VM_OPS(mmap_name, prepare_name, ...)					\
	static const struct vm_operations_struct mmap_name = { __VA_ARGS__ };		\
	static const struct vm_operations_struct prepare_name = { __VA_ARGS__,		\
								  .mapped = vmdev_vma_mapped }

VMDEV_VM_OPS(huge_vm_ops, huge_prepare_vm_ops,
	     .open = HUGE_OPEN,
	     .close = vmdev_vma_close,
	     .access = vmdev_pfn_access,
	     .fault = vmdev_huge_pte_fault,
	     .huge_fault = HUGE_FAULT,
	     .map_pages = vmdev_map_nothing,
	     .may_split = HUGE_MAY_SPLIT);

VMDEV_VM_OPS(remap_vm_ops, remap_prepare_vm_ops,
	     .open = vmdev_vma_open,
	     .close = vmdev_vma_close,
	     .access = vmdev_pfn_access);

VMDEV_VM_OPS(fault_vm_ops, fault_prepare_vm_ops,
	     .open = vmdev_vma_open,
	     .close = vmdev_vma_close,
	     .fault = vmdev_fault,
	     .map_pages = vmdev_map_nothing);

static int vmdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vmdev *dev = file_vmdev(file);
	unsigned long end;
	int ret;

	if (check_add_overflow(vma->vm_pgoff, vma_pages(vma), &end) || end > dev->size >> PAGE_SHIFT)
		return -EINVAL;
	if (dev != &fault_dev && !(vma->vm_flags & VM_SHARED)) {
		/* Copy-on-write of a PFN mapping would put the PFN in vm_pgoff: refuse it. */
		if (vma->vm_flags & VM_WRITE)
			return -EINVAL;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	if (dev == &huge_dev) {
		vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP);
		vma->vm_ops = &huge_vm_ops;
	} else if (dev == &remap_dev) {
		ret = remap_pfn_range(vma, vma->vm_start, dev->first_pfn + vma->vm_pgoff,
				      vma->vm_end - vma->vm_start, vma->vm_page_prot);
		if (ret)
			return ret;
		vma->vm_ops = &remap_vm_ops;
	} else {
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_MIXEDMAP);
		vma->vm_ops = &fault_vm_ops;
	}
	vma->vm_private_data = dev;
	/* The core calls ->open only for copies of a VMA; count this first one here. */
	vmdev_vma_open(vma);
	return 0;
}

/*
 * vmdev_mmap()'s checks and errors, on the descriptor of a VMA still to be made. Nothing is
 * counted here, and vm_private_data stays NULL: the core may still fail the mapping after this
 * returns (its remap action on the remap node); vmdev_vma_mapped() counts the VMA once it exists.
 */
static int vmdev_mmap_prepare(struct vm_area_desc *desc)
{
	struct vmdev *dev = file_vmdev(desc->file);
	unsigned long end;

	if (check_add_overflow(desc->pgoff, vma_desc_pages(desc), &end) ||
	    end > dev->size >> PAGE_SHIFT)
		return -EINVAL;
	if (dev != &fault_dev && !vma_desc_test(desc, VMA_SHARED_BIT)) {
		/* Copy-on-write of a PFN mapping would put the PFN in vm_pgoff: refuse it. */
		if (vma_desc_test(desc, VMA_WRITE_BIT))
			return -EINVAL;
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
	}
	if (dev == &huge_dev) {
		vma_desc_set_flags(desc, VMA_PFNMAP_BIT, VMA_IO_BIT, VMA_DONTEXPAND_BIT,
				   VMA_DONTDUMP_BIT);
		desc->vm_ops = &huge_prepare_vm_ops;
	} else if (dev == &remap_dev) {
		/* The core sets VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP, then maps it all. */
		mmap_action_remap_full(desc, dev->first_pfn + desc->pgoff);
		desc->vm_ops = &remap_prepare_vm_ops;
	} else {
		vma_desc_set_flags(desc, VMA_DONTEXPAND_BIT, VMA_DONTDUMP_BIT, VMA_MIXEDMAP_BIT);
		desc->vm_ops = &fault_prepare_vm_ops;
	}
	return 0;
}

/*
 * The two tables differ only in the mapping hook, the one parameter mmap_prepare picks.
 * get_unmapped_area: where huge entries can map a mapping, the address congruent to the offset
 * mod PMD_SIZE.
 */
#define VMDEV_FOPS(hook) {								\
	.owner = THIS_MODULE,								\
	.get_unmapped_area = thp_get_unmapped_area,					\
	.llseek = vmdev_llseek,								\
	.read_iter = vmdev_read_iter,							\
	.write_iter = vmdev_write_iter,							\
	hook,										\
	.unlocked_ioctl = vmdev_ioctl,							\
	.compat_ioctl = compat_ptr_ioctl,						\
}

static const struct file_operations vmdev_prepare_fops =
	VMDEV_FOPS(.mmap_prepare = vmdev_mmap_prepare);
static const struct file_operations vmdev_mmap_fops = VMDEV_FOPS(.mmap = vmdev_mmap);

/*
 * Whether [base, base + size) is memory the firmware reserved at boot and the kernel leaves
 * alone: disjoint from System RAM, and wholly inside either an e820 "Reserved" range (x86;
 * memmap=SIZE$ADDR makes one) or one /reserved-memory region of the device tree marked no-map
 * (arm64, which has no memmap=; /proc/iomem lists it as "reserved", without IORES_DESC_RESERVED).
 */
static bool boot_reserved(phys_addr_t base, size_t size)
{
	struct device_node *parent;
	struct resource res;
	bool inside = false;

	if (region_intersects(base, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) != REGION_DISJOINT)
		return false;
	if (region_intersects(base, size, IORESOURCE_MEM, IORES_DESC_RESERVED) == REGION_INTERSECTS)
		return true;
	parent = of_find_node_by_path("/reserved-memory");
	for_each_available_child_of_node_scoped(parent, np) {
		if (!of_property_read_bool(np, "no-map") || of_address_to_resource(np, 0, &res))
			continue;
		if (base >= res.start && size <= resource_size(&res) &&
		    base - res.start <= resource_size(&res) - size) {
			inside = true;
			break;
		}
	}
	of_node_put(parent);
	return inside &&
	       region_intersects(base, size, IORESOURCE_MEM, IORES_DESC_NONE) == REGION_INTERSECTS;
}

/* Maps a range reserved at boot for the remap node, zeroed; false if memremap() fails. */
static bool take_over(phys_addr_t start, size_t size)
{
	remap_dev.buf = memremap(start, size, MEMREMAP_WB);
	if (!remap_dev.buf)
		return false;
	memset(remap_dev.buf, 0, size);
	remap_dev.size = size;
	remap_dev.first_pfn = PHYS_PFN(start);
	remap_dev.flags = VMDEV_FLAG_BOOT_RESERVED;
	return true;
}

static int remap_memory(void)
{
	phys_addr_t start, size;

	if (reserve_mem) {
		if (base_param || size_param) {
			pr_err("reserve_mem=1 with phys_base or phys_size: refused: choose one\n");
			return -EINVAL;
		}
		/* The name is the claim: memblock keeps the range from the page allocator for it. */
		if (!reserve_mem_find_by_name(KBUILD_MODNAME, &start, &size) ||
		    !PAGE_ALIGNED(start) || !size || !PAGE_ALIGNED(size)) {
			pr_err("reserve_mem=1: refused: the kernel command line must reserve a page-aligned range as reserve_mem=SIZE:ALIGN:" KBUILD_MODNAME "\n");
			return -ENOENT;
		}
		if (!take_over(start, size)) {
			pr_err("reserve_mem=1: refused: memremap failed\n");
			return -ENOMEM;
		}
		return 0;
	}
	if (base_param || size_param) {
		if (!size_param || !PAGE_ALIGNED(base_param) || !PAGE_ALIGNED(size_param) ||
		    base_param + size_param < base_param ||
		    !boot_reserved(base_param, size_param)) {
			pr_err("phys_base=%#llx phys_size=%#llx: refused: the range must be non-empty, page-aligned, not wrap, and lie wholly in memory reserved at boot, outside System RAM\n",
			       base_param, size_param);
			return -EINVAL;
		}
		/* Reserved means no one uses it as memory; the claim, that no one else uses it at all. */
		if (!request_mem_region(base_param, size_param, KBUILD_MODNAME)) {
			pr_err("phys_base=%#llx phys_size=%#llx: refused: part of the range is busy, claimed by another driver or by the kernel (see /proc/iomem)\n",
			       base_param, size_param);
			return -EBUSY;
		}
		if (!take_over(base_param, size_param)) {
			release_mem_region(base_param, size_param);
			pr_err("phys_base=%#llx phys_size=%#llx: refused: memremap failed\n", base_param, size_param);
			return -ENOMEM;
		}
		return 0;
	}
	if (!remap_size || !PAGE_ALIGNED(remap_size) || remap_size > (PAGE_SIZE << MAX_PAGE_ORDER)) {
		pr_err("remap_size=%lu: refused: it must be a non-zero multiple of %lu no larger than %lu bytes\n",
		       remap_size, PAGE_SIZE, PAGE_SIZE << MAX_PAGE_ORDER);
		return -EINVAL;
	}
	remap_dev.buf = alloc_pages_exact(remap_size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
	if (!remap_dev.buf) {
		pr_err("remap_size=%lu: refused: no physically contiguous run of that size is free\n", remap_size);
		return -ENOMEM;
	}
	/*
	 * Not PG_reserved: remap_pfn_range() and vmf_insert_pfn*() write special entries, through
	 * which the core never touches the pages, and reserved pages would let VFIO pin them into an
	 * IOMMU without a reference, past their free.
	 */
	remap_dev.size = remap_size;
	remap_dev.first_pfn = page_to_pfn(virt_to_page(remap_dev.buf));
	return 0;
}

static void remap_memory_free(void)
{
	if (remap_dev.flags & VMDEV_FLAG_BOOT_RESERVED) {
		memunmap(remap_dev.buf);
		/* A reserve_mem= range stays reserved under its name for the next load. */
		if (!reserve_mem)
			release_mem_region(base_param, size_param);
		return;
	}
	free_pages_exact(remap_dev.buf, remap_dev.size);
}

/* The debug view, at the end of this file. */
static void vmdev_debugfs_init(void);
static struct dentry *vmdev_debugfs;

static int __init vmdev_init(void)
{
	const struct file_operations *fops = mmap_prepare ? &vmdev_prepare_fops : &vmdev_mmap_fops;
	u32 hook_flag = mmap_prepare ? VMDEV_FLAG_MMAP_PREPARE : 0;
	unsigned long i;
	int ret;

	if (!mode || mode & ~0666) {
		pr_err("mode=%#o: refused: it must be non-zero and have only read and write bits (at most 0666)\n",
		       mode);
		return -EINVAL;
	}
	/* At most a page table's worth: the cap the core puts on its own fault_around_bytes. */
	if (!is_power_of_2(fault_around_bytes) || fault_around_bytes < PAGE_SIZE ||
	    fault_around_bytes > PMD_SIZE) {
		pr_err("fault_around_bytes=%lu: refused: it must be a power of two from %lu (one page) to %lu (what one page table maps)\n",
		       fault_around_bytes, PAGE_SIZE, PMD_SIZE);
		return -EINVAL;
	}
	window_pages = fault_around ? fault_around_bytes >> PAGE_SHIFT : 1;
	ret = remap_memory();
	if (ret)
		return ret;
	ret = -EINVAL;
	if (!fault_size || !PAGE_ALIGNED(fault_size))
		goto refuse_fault;
	ret = -ENOMEM;
	fault_dev.buf = __vmalloc(fault_size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
	if (!fault_dev.buf)
		goto refuse_fault;
	fault_dev.size = fault_size;
	fault_dev.pages = kvmalloc_array(fault_size >> PAGE_SHIFT, sizeof(*fault_dev.pages), GFP_KERNEL);
	if (!fault_dev.pages)
		goto free_fault;
	for (i = 0; i < fault_size >> PAGE_SHIFT; i++)
		fault_dev.pages[i] = vmalloc_to_page(fault_dev.buf + (i << PAGE_SHIFT));
	fault_dev.flags = (fault_around ? VMDEV_FLAG_FAULT_AROUND : 0) | hook_flag |
		(ilog2(window_pages) + PAGE_SHIFT) << VMDEV_FAULT_WINDOW_SHIFT;

	remap_dev.backing = VMDEV_BACKING_REMAP;
	remap_dev.flags |= hook_flag;
	remap_dev.misc = (struct miscdevice){ .minor = MISC_DYNAMIC_MINOR, .name = "vmdev_c-remap",
					      .fops = fops, .mode = mode };
	huge_dev.buf = remap_dev.buf;
	huge_dev.size = remap_dev.size;
	huge_dev.first_pfn = remap_dev.first_pfn;
	huge_dev.backing = VMDEV_BACKING_HUGE;
	huge_dev.flags = remap_dev.flags |
		(IS_ENABLED(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP) ? VMDEV_FLAG_HUGE_PMD : 0) |
		(pud_leaf_supported() ? VMDEV_FLAG_HUGE_PUD : 0);
	huge_dev.misc = (struct miscdevice){ .minor = MISC_DYNAMIC_MINOR, .name = "vmdev_c-huge",
					     .fops = fops, .mode = mode };
	fault_dev.backing = VMDEV_BACKING_FAULT;
	fault_dev.misc = (struct miscdevice){ .minor = MISC_DYNAMIC_MINOR, .name = "vmdev_c-fault",
					      .fops = fops, .mode = mode };
	ret = misc_register(&remap_dev.misc);
	if (ret)
		goto free_fault;
	ret = misc_register(&huge_dev.misc);
	if (ret)
		goto deregister_remap;
	ret = misc_register(&fault_dev.misc);
	if (ret)
		goto deregister_huge;
	pr_info("vmdev_c-remap: %zu bytes, physically contiguous%s, mapped by remap_pfn_range\n",
		remap_dev.size, size_param ? ", reserved at boot" : "");
	pr_info("vmdev_c-huge: the same memory, mapped on fault with the largest entries that fit\n");
	pr_info("vmdev_c-fault: %zu bytes, vmalloc, mapped on fault, %lu bytes per fault\n",
		fault_dev.size, window_pages << PAGE_SHIFT);
	vmdev_debugfs_init();
	return 0;

deregister_huge:
	misc_deregister(&huge_dev.misc);
deregister_remap:
	misc_deregister(&remap_dev.misc);
free_fault:
	kvfree(fault_dev.pages);
	vfree(fault_dev.buf);
	remap_memory_free();
	return ret;
refuse_fault:
	pr_err("fault_size=%lu: refused: it must be a non-zero multiple of %lu that vmalloc can give\n",
	       fault_size, PAGE_SIZE);
	remap_memory_free();
	return ret;
}

static void __exit vmdev_exit(void)
{
	debugfs_remove_recursive(vmdev_debugfs);
	misc_deregister(&fault_dev.misc);
	misc_deregister(&huge_dev.misc);
	misc_deregister(&remap_dev.misc);
	kvfree(fault_dev.pages);
	vfree(fault_dev.buf);
	remap_memory_free();
}

module_init(vmdev_init);
module_exit(vmdev_exit);
MODULE_DESCRIPTION("C twin of rust_vmdev: remap_pfn_range and page-fault mmap paths");
MODULE_LICENSE("GPL");

/*
 * The debug view (include/uapi/rust_vmdev.h, the same format as rust_vmdev's): how the kernel
 * reaches each page of a node's buffer. A teaching aid that prints kernel addresses unhashed
 * (which %p would hash, and %pK hide under kptr_restrict): root's alone, mode 0400 in debugfs.
 */
static int vmdev_view_show(struct seq_file *m, void *unused)
{
	struct vmdev *dev = m->private;
	unsigned long i, pages = dev->size >> PAGE_SHIFT;
	const char *memory = dev->pages ? "vmalloc" :
			     dev->flags & VMDEV_FLAG_BOOT_RESERVED ? "memremap" : "linear";

	/* 0x by hand: %#x prints 0 without it, where Rust's {:#x} prints 0x0. */
	seq_printf(m, "memory %s\npage_size %lu\npage_offset 0x%lx\npage_offset_phys 0x%llx\npages %lu\n",
		   memory, PAGE_SIZE, PAGE_OFFSET, (u64)__pa(PAGE_OFFSET), pages);
	for (i = 0; i < pages; i++) {
		/* The vmalloc buffer's frames are found page by page, the others' are contiguous. */
		unsigned long pfn = dev->pages ? page_to_pfn(dev->pages[i]) : dev->first_pfn + i;

		seq_printf(m, "%lu 0x%lx 0x%lx\n", i, (unsigned long)dev->buf + (i << PAGE_SHIFT), pfn);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmdev_view);

/* debugfs failures are not errors: the nodes work without their view. */
static void vmdev_debugfs_init(void)
{
	vmdev_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file(remap_dev.misc.name, 0400, vmdev_debugfs, &remap_dev, &vmdev_view_fops);
	debugfs_create_file(huge_dev.misc.name, 0400, vmdev_debugfs, &huge_dev, &vmdev_view_fops);
	debugfs_create_file(fault_dev.misc.name, 0400, vmdev_debugfs, &fault_dev, &vmdev_view_fops);
}
