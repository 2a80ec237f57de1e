/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmdev_c: the C twin of rust_vmdev. The same ABI (include/uapi/rust_vmdev.h), the same module
 * parameters and the same mmap paths, written the way a careful C driver author would today,
 * on /dev/vmdev_c-remap, /dev/vmdev_c-huge, /dev/vmdev_c-fault and /dev/vmdev_c-folio. The
 * benchmarks compare the two drivers and the selftest suite runs against both.
 *
 * One module (Kbuild) from three files:
 * - main.c: the module parameters and their checks, the nodes' memory, load and unload, and the
 *   debug view;
 * - nodes.c: the nodes' file operations, their mapping hooks and their VMAs' operations;
 * - ioctl.c: the ABI's ioctls, VMDEV_IOC_INFO and VMDEV_IOC_MM (the caller's mm_struct and VMA).
 */
#ifndef VMDEV_C_H
#define VMDEV_C_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>

struct vmdev {
	struct miscdevice misc;
	void *buf;			/* the kernel's mapping of the memory */
	size_t size;
	unsigned long first_pfn;	/* remap device: the memory's first page frame */
	struct page **pages;		/* fault device: each page, looked up once at load */
	struct folio **folios;		/* folio device: its folios, one reference each */
	u32 backing, flags;		/* VMDEV_BACKING_*: which node; VMDEV_FLAG_* */
	atomic64_t live_vmas, faults, around_pages;
};

/*
 * The folio node's memory is folios of PMD order, each one a PMD entry can map whole: PMD_ORDER,
 * not HPAGE_PMD_ORDER, which is a build error without CONFIG_TRANSPARENT_HUGEPAGE (where the
 * node still maps its folios page by page).
 */
#define VMDEV_FOLIO_PAGES BIT(PMD_ORDER)

/* Pages a fault on the fault node maps at most: fault_around_bytes, or 1 without fault_around. */
extern unsigned long vmdev_window_pages;

/* The nodes' two file_operations, one per mapping hook (module parameter mmap_prepare). */
extern const struct file_operations vmdev_prepare_fops, vmdev_mmap_fops;

static inline struct vmdev *file_vmdev(const struct file *file)
{
	/* misc_open() points private_data at the miscdevice. */
	return container_of(file->private_data, struct vmdev, misc);
}

/*
 * The kernel address of byte pos (below size) of a node's memory; *len: how many bytes from there
 * are contiguous in the kernel's mapping: to the end of the buffer, or on the folio node of the
 * folio (folios are not contiguous with one another, and hardened usercopy refuses a copy that
 * crosses the end of one).
 */
static inline void *vmdev_kaddr(const struct vmdev *dev, size_t pos, size_t *len)
{
	struct folio *folio;

	if (!dev->folios) {
		*len = dev->size - pos;
		return dev->buf + pos;
	}
	folio = dev->folios[pos >> PMD_SHIFT];
	*len = folio_size(folio) - offset_in_folio(folio, pos);
	return folio_address(folio) + offset_in_folio(folio, pos);
}

/*
 * Whether the CPU can walk a PUD leaf (x86: 1 GiB pages, "pdpe1gb"): what the kernel's huge
 * vmalloc asks before it maps one. The core asks only the config for PFN maps.
 */
static inline bool pud_leaf_supported(void)
{
	return IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) && arch_vmap_pud_supported(PAGE_KERNEL);
}

long vmdev_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* VMDEV_C_H */
