// SPDX-License-Identifier: GPL-2.0
/*
 * vmdev_c (vmdev_c.h): the module parameters and their checks, the nodes' memory, load and
 * unload, and the debug view.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/of.h>
#include <linux/of_address.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <rust_vmdev.h>

#include "vmdev_c.h"

static unsigned long remap_size = 4 << 20;
module_param(remap_size, ulong, 0444);
MODULE_PARM_DESC(remap_size, "Bytes of /dev/vmdev_c-remap's contiguous buffer (page multiple, max one buddy block: 4 MiB with 4 KiB pages)");
static unsigned long fault_size = 16 << 20;
module_param(fault_size, ulong, 0444);
MODULE_PARM_DESC(fault_size, "Bytes of /dev/vmdev_c-fault's vmalloc buffer (page multiple)");
static bool fault_around = true;
module_param(fault_around, bool, 0444);
MODULE_PARM_DESC(fault_around, "A fault on /dev/vmdev_c-fault maps the fault_around_bytes around it, not one page");
/*
 * Why a window: each fault has a fixed cost (the trap, the core's fault path, the handler), which
 * a window shares among its pages; a wider window also maps more pages that a sparse touch never
 * uses. The default lies between the two, as the core's own fault_around_bytes does for the page
 * cache; make bench measures every window (README, "The fault node's window").
 */
static unsigned long fault_around_bytes = 32 * PAGE_SIZE;
module_param(fault_around_bytes, ulong, 0444);
MODULE_PARM_DESC(fault_around_bytes, "Bytes a fault on /dev/vmdev_c-fault maps with fault_around: a power of two from one page to one page table's span (2 MiB with 4 KiB pages); default 32 pages");
/* folio_size() is the kernel's: the variable gets another name than the parameter. */
static unsigned long folio_bytes = SZ_64M;
module_param_named(folio_size, folio_bytes, ulong, 0444);
MODULE_PARM_DESC(folio_size, "Bytes of /dev/vmdev_c-folio's memory, in folios of PMD order: a non-zero multiple of the PMD size (2 MiB with 4 KiB pages, 32 MiB with 16 KiB pages)");
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
MODULE_PARM_DESC(mode, "Permissions of the four device nodes, octal, read/write bits only (<= 0666)");
static bool mmap_prepare = true;
module_param(mmap_prepare, bool, 0444);
MODULE_PARM_DESC(mmap_prepare, "Register the nodes' mapping hook as f_op->mmap_prepare (default); 0: the deprecated f_op->mmap");

unsigned long vmdev_window_pages;

/* huge_dev maps remap_dev's memory on fault, with the largest page-table entries that fit. */
static struct vmdev remap_dev, huge_dev, fault_dev, folio_dev;

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

/*
 * The folio node's memory: folio_size / PMD_SIZE folios of PMD order, zeroed. folio_alloc(), not
 * alloc_pages(): a large folio that the core can map by PTEs and by a PMD entry, with the rmap
 * and reference counts of the whole folio. The driver holds the one reference each folio comes
 * with until folio_memory_free(); each mapping of a folio or of one of its pages holds one more,
 * and so can anything that took one through a mapping (get_user_pages(), a pipe that vmsplice()
 * filled), which may outlive the module: the last put frees the folio. Unwinds on failure.
 */
static int folio_memory(void)
{
	unsigned long i, n = folio_bytes >> PMD_SHIFT;

	/* __GFP_NOWARN: a folio_size past any memory must fail the load, not warn (kvmalloc). */
	folio_dev.folios = kvcalloc(n, sizeof(*folio_dev.folios), GFP_KERNEL | __GFP_NOWARN);
	if (!folio_dev.folios)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		folio_dev.folios[i] = folio_alloc(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN,
						  PMD_ORDER);
		if (!folio_dev.folios[i])
			goto put_folios;
	}
	folio_dev.size = folio_bytes;
	return 0;

put_folios:
	while (i--)
		folio_put(folio_dev.folios[i]);
	kvfree(folio_dev.folios);
	folio_dev.folios = NULL;
	return -ENOMEM;
}

/*
 * Drops the driver's reference to each folio, which frees those that nothing else holds; says
 * how many something else still held just before (a pipe, say, that vmsplice() filled): they are
 * freed by their last put, later.
 */
static void folio_memory_free(void)
{
	unsigned long i, n = folio_dev.size >> PMD_SHIFT, held = 0;

	for (i = 0; i < n; i++) {
		if (folio_ref_count(folio_dev.folios[i]) > 1)
			held++;
		folio_put(folio_dev.folios[i]);
	}
	pr_info("vmdev_c-folio: freeing %lu folios, %lu still referenced elsewhere\n", n, held);
	kvfree(folio_dev.folios);
}

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
		size_t run;
		void *kaddr = vmdev_kaddr(dev, i << PAGE_SHIFT, &run);
		unsigned long pfn;

		/*
		 * The vmalloc buffer's frames are found page by page, a folio's are contiguous, as
		 * are those of the remap node's buffer.
		 */
		if (dev->pages)
			pfn = page_to_pfn(dev->pages[i]);
		else if (dev->folios)
			pfn = folio_pfn(dev->folios[i / VMDEV_FOLIO_PAGES]) + i % VMDEV_FOLIO_PAGES;
		else
			pfn = dev->first_pfn + i;
		seq_printf(m, "%lu 0x%lx 0x%lx\n", i, (unsigned long)kaddr, pfn);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vmdev_view);

static struct dentry *vmdev_debugfs;

/* debugfs failures are not errors: the nodes work without their view. */
static void vmdev_debugfs_init(void)
{
	vmdev_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file(remap_dev.misc.name, 0400, vmdev_debugfs, &remap_dev, &vmdev_view_fops);
	debugfs_create_file(huge_dev.misc.name, 0400, vmdev_debugfs, &huge_dev, &vmdev_view_fops);
	debugfs_create_file(fault_dev.misc.name, 0400, vmdev_debugfs, &fault_dev, &vmdev_view_fops);
	debugfs_create_file(folio_dev.misc.name, 0400, vmdev_debugfs, &folio_dev, &vmdev_view_fops);
}

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
	if (!folio_bytes || !IS_ALIGNED(folio_bytes, PMD_SIZE)) {
		pr_err("folio_size=%lu: refused: it must be a non-zero multiple of %lu (what one PMD entry maps)\n",
		       folio_bytes, PMD_SIZE);
		return -EINVAL;
	}
	vmdev_window_pages = fault_around ? fault_around_bytes >> PAGE_SHIFT : 1;
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
		(ilog2(vmdev_window_pages) + PAGE_SHIFT) << VMDEV_FAULT_WINDOW_SHIFT;
	ret = folio_memory();
	if (ret) {
		pr_err("folio_size=%lu: refused: %lu folios of %lu bytes could not be allocated\n",
		       folio_bytes, folio_bytes >> PMD_SHIFT, PMD_SIZE);
		goto free_fault;
	}

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
	folio_dev.backing = VMDEV_BACKING_FOLIO;
	/* Only with THP can the core map a PMD entry of pages (vmf_insert_folio_pmd()). */
	folio_dev.flags = (IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ? VMDEV_FLAG_HUGE_PMD : 0) |
		hook_flag;
	folio_dev.misc = (struct miscdevice){ .minor = MISC_DYNAMIC_MINOR, .name = "vmdev_c-folio",
					      .fops = fops, .mode = mode };
	ret = misc_register(&remap_dev.misc);
	if (ret)
		goto free_folio;
	ret = misc_register(&huge_dev.misc);
	if (ret)
		goto deregister_remap;
	ret = misc_register(&fault_dev.misc);
	if (ret)
		goto deregister_huge;
	ret = misc_register(&folio_dev.misc);
	if (ret)
		goto deregister_fault;
	pr_info("vmdev_c-remap: %zu bytes, physically contiguous%s, mapped by remap_pfn_range\n",
		remap_dev.size, size_param ? ", reserved at boot" : "");
	pr_info("vmdev_c-huge: the same memory, mapped on fault with the largest entries that fit\n");
	pr_info("vmdev_c-fault: %zu bytes, vmalloc, mapped on fault, %lu bytes per fault\n",
		fault_dev.size, vmdev_window_pages << PAGE_SHIFT);
	pr_info("vmdev_c-folio: %zu bytes, %zu folios of %lu bytes, mapped on fault by %s\n",
		folio_dev.size, folio_dev.size >> PMD_SHIFT, PMD_SIZE,
		IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ?
		"a PMD entry per folio where one fits, else by page" : "page (no THP)");
	vmdev_debugfs_init();
	return 0;

deregister_fault:
	misc_deregister(&fault_dev.misc);
deregister_huge:
	misc_deregister(&huge_dev.misc);
deregister_remap:
	misc_deregister(&remap_dev.misc);
free_folio:
	folio_memory_free();
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
	misc_deregister(&folio_dev.misc);
	misc_deregister(&fault_dev.misc);
	misc_deregister(&huge_dev.misc);
	misc_deregister(&remap_dev.misc);
	folio_memory_free();
	kvfree(fault_dev.pages);
	vfree(fault_dev.buf);
	remap_memory_free();
}

module_init(vmdev_init);
module_exit(vmdev_exit);
MODULE_DESCRIPTION("C twin of rust_vmdev: remap_pfn_range and page-fault mmap paths");
MODULE_LICENSE("GPL");
