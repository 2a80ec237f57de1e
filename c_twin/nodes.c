// SPDX-License-Identifier: GPL-2.0
/*
 * The nodes of vmdev_c: their file operations and VMA operations.
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
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/uio.h>
#include <rust_vmdev.h>

#include "vmdev_c.h"

/*
 * Copies len bytes between the iterator and the node's memory from pos (len bytes fit in it), one
 * contiguous run at a time (vmdev_kaddr(): the whole buffer, or one folio), up to the first short
 * copy (a fault on the user's buffer). Returns the bytes copied.
 */
static size_t vmdev_copy(struct vmdev *dev, size_t pos, size_t len, struct iov_iter *iter,
			 bool to_dev)
{
	size_t done = 0;

	while (done < len) {
		size_t run, copied;
		void *kaddr = vmdev_kaddr(dev, pos + done, &run);

		run = min(run, len - done);
		copied = to_dev ? copy_from_iter(kaddr, run, iter) : copy_to_iter(kaddr, run, iter);
		done += copied;
		if (copied < run)
			break;
	}
	return done;
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
	done = vmdev_copy(dev, pos, min_t(size_t, want, dev->size - pos), to, false);
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
	done = vmdev_copy(dev, pos, min_t(size_t, want, dev->size - pos), from, true);
	if (!done)
		return -EFAULT;
	iocb->ki_pos += done;
	return done;
}

static loff_t vmdev_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, file_vmdev(file)->size);
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
	pgoff_t first = max(vmf->pgoff - vmf->pgoff % vmdev_window_pages, vma->vm_pgoff);
	pgoff_t end = min(first + vmdev_window_pages, vma->vm_pgoff + vma_pages(vma));
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
 * retried under mmap_lock (vmf_can_call_fault()). The folio node has it for that alone.
 */
static vm_fault_t vmdev_map_nothing(struct vm_fault *vmf, pgoff_t start_pgoff, pgoff_t end_pgoff)
{
	return 0;
}

/*
 * The folio node's fault of one page, where no PMD entry maps it: the page at the file offset,
 * handed back the classic way, with a reference of its own (get_page() of a subpage takes it on
 * the folio). The core locks the folio and maps that one page by a PTE, which keeps the
 * reference (the zap drops it), or, for a write to a private mapping, a copy of it, and drops
 * the reference; on a lost race it drops it too. One page, not the whole folio by PTEs or a PMD:
 * finish_fault() maps no folio across the file's size, and a device node's inode has size 0.
 */
static vm_fault_t vmdev_folio_fault(struct vm_fault *vmf)
{
	struct vmdev *dev = vmf->vma->vm_private_data;
	struct page *page;

	if (!dev || vmf->pgoff >= dev->size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	page = folio_page(dev->folios[vmf->pgoff / VMDEV_FOLIO_PAGES],
			  vmf->pgoff % VMDEV_FOLIO_PAGES);
	get_page(page);
	vmf->page = page;
	atomic64_inc(&dev->faults);
	return 0;
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/*
 * The folio node's PMD entries. The core asks for PMD_ORDER alone (a PUD is past the orders of a
 * file VMA), and only with THP, which vmf_insert_folio_pmd() needs. It maps the folio at the
 * faulting address's PMD span whole, by one entry: vmf_insert_folio_pmd() takes the entry's
 * reference and rmap entry of the whole folio, which its zap or split drops. Where that cannot
 * be, VM_FAULT_FALLBACK, and the core maps the one page by PTE through ->fault: a write to a
 * private mapping (copy-on-write copies one page), a span not wholly inside the VMA, or one whose
 * file offset does not start a folio (a MAP_FIXED address not congruent to it), or past the
 * buffer.
 */
static vm_fault_t vmdev_folio_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmdev *dev = vma->vm_private_data;
	unsigned long addr = vmf->address & PMD_MASK;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	pgoff_t pgoff;
	vm_fault_t ret;

	if (!dev)
		return VM_FAULT_SIGBUS;
	if (order != PMD_ORDER || (write && !(vma->vm_flags & VM_SHARED)))
		return VM_FAULT_FALLBACK;
	if (addr < vma->vm_start || addr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;
	pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	if (!IS_ALIGNED(pgoff, VMDEV_FOLIO_PAGES) || pgoff >= dev->size >> PAGE_SHIFT)
		return VM_FAULT_FALLBACK;
	ret = vmf_insert_folio_pmd(vmf, dev->folios[pgoff / VMDEV_FOLIO_PAGES], write);
	if (ret == VM_FAULT_NOPAGE) {
		atomic64_inc(&dev->faults);
		atomic64_add(VMDEV_FOLIO_PAGES - 1, &dev->around_pages);
	}
	return ret;
}

#define FOLIO_HUGE_FAULT vmdev_folio_huge_fault
#else
#define FOLIO_HUGE_FAULT NULL
#endif

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

/* No ->access: the folio node's pages are ordinary pages, which get_user_pages() reaches. */
VMDEV_VM_OPS(folio_vm_ops, folio_prepare_vm_ops,
	     .open = vmdev_vma_open,
	     .close = vmdev_vma_close,
	     .fault = vmdev_folio_fault,
	     .huge_fault = FOLIO_HUGE_FAULT,
	     .map_pages = vmdev_map_nothing);

/*
 * Whether the node's VMAs map frames, not pages (VM_PFNMAP): the remap and huge nodes. The fault
 * and folio nodes map struct pages, which a private mapping can copy on write.
 */
static bool vmdev_pfn_mapped(const struct vmdev *dev)
{
	return dev->backing == VMDEV_BACKING_REMAP || dev->backing == VMDEV_BACKING_HUGE;
}

static int vmdev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vmdev *dev = file_vmdev(file);
	unsigned long end;
	int ret;

	if (check_add_overflow(vma->vm_pgoff, vma_pages(vma), &end) || end > dev->size >> PAGE_SHIFT)
		return -EINVAL;
	if (vmdev_pfn_mapped(dev) && !(vma->vm_flags & VM_SHARED)) {
		/* Copy-on-write of a PFN mapping would put the PFN in vm_pgoff: refuse it. */
		if (vma->vm_flags & VM_WRITE)
			return -EINVAL;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	if (dev->backing == VMDEV_BACKING_HUGE) {
		vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP);
		vma->vm_ops = &huge_vm_ops;
	} else if (dev->backing == VMDEV_BACKING_REMAP) {
		ret = remap_pfn_range(vma, vma->vm_start, dev->first_pfn + vma->vm_pgoff,
				      vma->vm_end - vma->vm_start, vma->vm_page_prot);
		if (ret)
			return ret;
		vma->vm_ops = &remap_vm_ops;
	} else if (dev->backing == VMDEV_BACKING_FOLIO) {
		/*
		 * Its pages are ordinary pages: neither VM_PFNMAP nor VM_MIXEDMAP (nor VM_IO).
		 * VM_DONTEXPAND also makes the VMA special, which mlock() leaves alone: it would
		 * mark PG_mlocked folios that are on no LRU and that the driver frees. Since 7.3
		 * the THP setting governs a file VMA's PMD entries too: VM_HUGEPAGE asks for them
		 * where it is "madvise", as MADV_HUGEPAGE would.
		 */
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP | VM_HUGEPAGE);
		vma->vm_ops = &folio_vm_ops;
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
	if (vmdev_pfn_mapped(dev) && !vma_desc_test(desc, VMA_SHARED_BIT)) {
		/* Copy-on-write of a PFN mapping would put the PFN in vm_pgoff: refuse it. */
		if (vma_desc_test(desc, VMA_WRITE_BIT))
			return -EINVAL;
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
	}
	if (dev->backing == VMDEV_BACKING_HUGE) {
		vma_desc_set_flags(desc, VMA_PFNMAP_BIT, VMA_IO_BIT, VMA_DONTEXPAND_BIT,
				   VMA_DONTDUMP_BIT);
		desc->vm_ops = &huge_prepare_vm_ops;
	} else if (dev->backing == VMDEV_BACKING_REMAP) {
		/* The core sets VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP, then maps it all. */
		mmap_action_remap_full(desc, dev->first_pfn + desc->pgoff);
		desc->vm_ops = &remap_prepare_vm_ops;
	} else if (dev->backing == VMDEV_BACKING_FOLIO) {
		/* The same VMA as vmdev_mmap()'s: no VM_PFNMAP, VM_MIXEDMAP or VM_IO. */
		vma_desc_set_flags(desc, VMA_DONTEXPAND_BIT, VMA_DONTDUMP_BIT, VMA_HUGEPAGE_BIT);
		desc->vm_ops = &folio_prepare_vm_ops;
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

const struct file_operations vmdev_prepare_fops =
	VMDEV_FOPS(.mmap_prepare = vmdev_mmap_prepare);
const struct file_operations vmdev_mmap_fops = VMDEV_FOPS(.mmap = vmdev_mmap);
