// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of the VMA layer: out-of-line forms of static inline functions and macros that
 * bindgen cannot turn into callable Rust.
 */
#include <linux/mm.h>
#include <linux/vmalloc.h>

/* The layer computes the orders of huge entries as one and two tables of 8-byte entries. */
static_assert(PAGE_SHIFT - 3 == PMD_ORDER);
static_assert(2 * (PAGE_SHIFT - 3) == PUD_ORDER);

void vmdev_helper_get_page(struct page *page);
bool vmdev_helper_pud_leaf_supported(void);
void vmdev_helper_vma_start_write(struct vm_area_struct *vma);
void vmdev_helper_zap_pud_spans_of_sources(struct vm_area_struct *copy);
void vmdev_helper_mmap_action_remap_full(struct vm_area_desc *desc, unsigned long pfn);
void vmdev_helper_vma_set_flags_unlocked(struct vm_area_struct *vma, vm_flags_t set);
vm_flags_t vmdev_helper_vma_desc_flags(const struct vm_area_desc *desc);
void vmdev_helper_vma_desc_set_flags(struct vm_area_desc *desc, vm_flags_t set);
void vmdev_helper_vma_desc_clear_flags(struct vm_area_desc *desc, vm_flags_t clear);
struct folio *vmdev_helper_folio_alloc(gfp_t gfp, unsigned int order);
void vmdev_helper_folio_put(struct folio *folio);
void *vmdev_helper_folio_address(const struct folio *folio);
unsigned long vmdev_helper_folio_pfn(const struct folio *folio);
int vmdev_helper_folio_ref_count(const struct folio *folio);
struct page *vmdev_helper_folio_page(struct folio *folio, size_t index);

void vmdev_helper_get_page(struct page *page)
{
	get_page(page);
}

/*
 * Whether the CPU can walk a PUD leaf: what the kernel's own huge vmalloc asks before it maps one
 * (x86: 1 GiB pages, cpuinfo "pdpe1gb"). Nothing in mm/ asks it for PFN maps.
 */
bool vmdev_helper_pud_leaf_supported(void)
{
	return arch_vmap_pud_supported(PAGE_KERNEL);
}

void vmdev_helper_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
/*
 * For ->open of a copy of a VMA that PUD entries may map. mremap() moving a VMA calls it from
 * copy_vma() before move_page_tables(), which in 7.3.4 cannot move a PUD leaf of a PFN map:
 * get_old_pud() takes the leaf for a bad table entry and clears it without a TLB flush, so the
 * old address stays mapped through the TLB, over whatever is mapped there next. So this zaps
 * the PUD spans of every VMA of the copy's mm with the copy's file and operations that maps
 * any of the copy's file pages (the VMA being moved is one), write-locked first so that no
 * fault under its per-VMA lock maps a span again before the move; the next touch maps it again,
 * in the new place. The copy of a split (whose ->may_split removed the PUD entry across the
 * boundary) and fork's copy (in an mm without entries yet, whose tree still holds the parent's
 * VMAs, skipped by their vm_mm) cost entries that the next touch maps again, nothing else.
 * Called with the copy's mm write-locked, as every ->open is.
 */
void vmdev_helper_zap_pud_spans_of_sources(struct vm_area_struct *copy)
{
	VMA_ITERATOR(vmi, copy->vm_mm, 0);
	pgoff_t first = copy->vm_pgoff, end = first + vma_pages(copy);
	struct vm_area_struct *vma;

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
}
#endif

void vmdev_helper_mmap_action_remap_full(struct vm_area_desc *desc, unsigned long pfn)
{
	mmap_action_remap_full(desc, pfn);
}

/* For a VMA that f_op->mmap is setting up: not in the VMA tree yet, so no lock to take. */
void vmdev_helper_vma_set_flags_unlocked(struct vm_area_struct *vma, vm_flags_t set)
{
	__vm_flags_mod(vma, set, 0);
}

/*
 * A vm_area_desc's flags are a bitmap (vma_flags_t); these read and change its first word, the
 * one that holds the VM_* flags, as mm_types.h's helpers do.
 */
vm_flags_t vmdev_helper_vma_desc_flags(const struct vm_area_desc *desc)
{
	return vma_flags_to_legacy(desc->vma_flags);
}

void vmdev_helper_vma_desc_set_flags(struct vm_area_desc *desc, vm_flags_t set)
{
	vma_flags_set_word(&desc->vma_flags, set);
}

void vmdev_helper_vma_desc_clear_flags(struct vm_area_desc *desc, vm_flags_t clear)
{
	vma_flags_clear_word(&desc->vma_flags, clear);
}

struct folio *vmdev_helper_folio_alloc(gfp_t gfp, unsigned int order)
{
	return folio_alloc(gfp, order);
}

void vmdev_helper_folio_put(struct folio *folio)
{
	folio_put(folio);
}

void *vmdev_helper_folio_address(const struct folio *folio)
{
	return folio_address(folio);
}

unsigned long vmdev_helper_folio_pfn(const struct folio *folio)
{
	return folio_pfn(folio);
}

int vmdev_helper_folio_ref_count(const struct folio *folio)
{
	return folio_ref_count(folio);
}

struct page *vmdev_helper_folio_page(struct folio *folio, size_t index)
{
	return folio_page(folio, index);
}
