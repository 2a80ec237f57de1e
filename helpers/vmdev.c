// SPDX-License-Identifier: GPL-2.0
/*
 * The driver's C: out-of-line forms of static inline functions and macros that bindgen cannot
 * turn into callable Rust, in the style of the kernel's rust/helpers/, for memory.rs and
 * debug_view.rs, which declare them. (The layer's are in vma_ops.c and mm_view.c beside this.)
 */
#include <linux/build_bug.h>
#include <linux/ioport.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_address.h>
#include <rust_vmdev.h>

#include "vmdev.h"

/* uapi.rs asserts the same sizes: both sides agree with the header. */
static_assert(sizeof(struct vmdev_info) == 40);
static_assert(sizeof(struct vmdev_mm) == VMDEV_MM_SIZE_VER0);

struct page *vmdev_helper_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

unsigned long vmdev_helper_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

/*
 * Whether [base, base + size) is memory the firmware reserved at boot and the kernel leaves
 * alone: disjoint from System RAM, and wholly inside either an e820 "Reserved" range (x86;
 * memmap=SIZE$ADDR makes one) or one /reserved-memory region of the device tree marked no-map
 * (arm64 and other device-tree machines, which have no memmap=; /proc/iomem lists such a
 * region as "reserved", but with no IORES_DESC_RESERVED, which only x86's e820 code sets).
 * Not a forward of one inline function like the others: the device-tree walk needs its macros.
 */
bool vmdev_helper_boot_reserved(phys_addr_t base, size_t size)
{
	struct device_node *parent;
	struct resource res;
	bool inside = false;

	if (region_intersects(base, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT)
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
	/* The kernel honoured the no-map: in iomem ("reserved"), outside System RAM. */
	return inside &&
	       region_intersects(base, size, IORESOURCE_MEM, IORES_DESC_NONE) == REGION_INTERSECTS;
}

/*
 * The debug view (debug_view.rs): PAGE_OFFSET, where the linear map starts (a variable on x86_64,
 * randomised with KASLR), and the physical address it maps there (0 on x86_64, PHYS_OFFSET, the
 * start of RAM, on arm64): a linear-map address a maps physical a - PAGE_OFFSET + that.
 */
unsigned long vmdev_helper_page_offset(void)
{
	return PAGE_OFFSET;
}

phys_addr_t vmdev_helper_page_offset_phys(void)
{
	return __pa(PAGE_OFFSET);
}
