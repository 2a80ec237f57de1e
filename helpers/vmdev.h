/* SPDX-License-Identifier: GPL-2.0 */
/* The functions of vmdev.c, which memory.rs and debug_view.rs declare again on their side. */
#ifndef VMDEV_HELPERS_H
#define VMDEV_HELPERS_H

#include <linux/types.h>

struct page;

struct page *vmdev_helper_virt_to_page(const void *addr);
unsigned long vmdev_helper_page_to_pfn(const struct page *page);
bool vmdev_helper_boot_reserved(phys_addr_t base, size_t size);
unsigned long vmdev_helper_page_offset(void);
phys_addr_t vmdev_helper_page_offset_phys(void);

#endif
