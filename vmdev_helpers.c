// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers for static inline functions and macros that bindgen cannot turn
 * into callable Rust, in the style of the kernel's rust/helpers/. Each is a one-line
 * forward; their only callers are the safe wrappers in memory.rs and vma_ops.rs, which
 * declare them.
 */
#include <linux/build_bug.h>
#include <linux/mm.h>
#include <rust_vmdev.h>

/* rust_vmdev.rs asserts the same size for its VmdevInfo: both sides agree with the header. */
static_assert(sizeof(struct vmdev_info) == 40);
/* vma_ops.rs computes the orders of huge entries as one and two page tables of 8-byte entries. */
static_assert(PMD_ORDER == PAGE_SHIFT - 3);
static_assert(PUD_ORDER == 2 * (PAGE_SHIFT - 3));

struct page *vmdev_helper_virt_to_page(const void *addr);
unsigned long vmdev_helper_page_to_pfn(const struct page *page);
void vmdev_helper_get_page(struct page *page);
void vmdev_helper_set_page_reserved(struct page *page);
void vmdev_helper_clear_page_reserved(struct page *page);

struct page *vmdev_helper_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

unsigned long vmdev_helper_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

void vmdev_helper_get_page(struct page *page)
{
	get_page(page);
}

void vmdev_helper_set_page_reserved(struct page *page)
{
	SetPageReserved(page);
}

void vmdev_helper_clear_page_reserved(struct page *page)
{
	ClearPageReserved(page);
}
