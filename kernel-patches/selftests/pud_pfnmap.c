// SPDX-License-Identifier: GPL-2.0
/*
 * PUD leaves of a PFN map across the VMA operations that 7.3.4 gets wrong: a split of the VMA
 * inside the leaf (mprotect() of one page) and a move of it (mremap()). Each test maps 1 GiB of
 * a driver that maps PUD entries of PFNs (VM_PFNMAP with vmf_insert_pfn_pud()) at a 1 GiB
 * aligned address, writes once (one fault, one PUD entry), then splits or moves it.
 *
 * Without kernel-patches/0002 the split oopses. Without 0001 the move logs "bad pud": the leaf
 * is cleared instead of moved (so the new address faults), with no TLB flush (so the old
 * address may still reach the device until the TLB entry goes).
 *
 * The driver: rust_vmdev's /dev/vmdev-huge (or vmdev_c's /dev/vmdev_c-huge) loaded on a 1 GiB
 * naturally aligned range reserved at boot, built with VMDEV_CORE_FIXED=y so that it does not
 * work around the bugs itself. PUD_PFNMAP_DEV names another node.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define SZ_1G (1UL << 30)

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

FIXTURE(pud_pfnmap)
{
	int fd;
	char *reserved;	/* 3 GiB of PROT_NONE, given back in teardown */
	char *map;	/* 1 GiB of the device at the first 1 GiB boundary in it */
	size_t page;
};

FIXTURE_SETUP(pud_pfnmap)
{
	const char *dev = getenv("PUD_PFNMAP_DEV") ?: "/dev/vmdev-huge";
	cpu_set_t cpu;
	char *at;

	self->page = getpagesize();
	self->reserved = MAP_FAILED;
	self->fd = open(dev, O_RDWR);
	if (self->fd < 0)
		SKIP(return, "no %s", dev);
	if (lseek(self->fd, 0, SEEK_END) < (off_t)SZ_1G)
		SKIP(return, "%s holds less than 1 GiB", dev);
	/* One CPU: a stale translation lives in the TLB of the CPU that used it. */
	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	ASSERT_EQ(sched_setaffinity(0, sizeof(cpu), &cpu), 0);
	self->reserved = mmap(NULL, 3 * SZ_1G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->reserved, MAP_FAILED);
	at = (char *)(((uintptr_t)self->reserved + SZ_1G - 1) & ~(SZ_1G - 1));
	self->map = mmap(at, SZ_1G, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, self->fd, 0);
	ASSERT_EQ(self->map, at);
	/* One fault: the whole GiB by one PUD entry. */
	self->map[self->page] = 0x5a;
}

FIXTURE_TEARDOWN(pud_pfnmap)
{
	if (self->reserved != MAP_FAILED)
		munmap(self->reserved, 3 * SZ_1G);
	if (self->fd >= 0)
		close(self->fd);
}

/* mprotect() of one page in the middle splits the VMA inside the PUD leaf. */
TEST_F(pud_pfnmap, split_inside_leaf)
{
	char *mid = self->map + SZ_1G / 2 + 5 * self->page;
	char byte;

	ASSERT_EQ(mprotect(mid, self->page, PROT_READ), 0);
	/* Every part faults the device in again. */
	EXPECT_EQ(self->map[self->page], 0x5a);
	self->map[SZ_1G - 1] = 0x3c;
	ASSERT_EQ(pread(self->fd, &byte, 1, SZ_1G - 1), 1);
	EXPECT_EQ(byte, 0x3c);
	ASSERT_EQ(pread(self->fd, &byte, 1, mid - self->map), 1);
	EXPECT_EQ(mid[0], byte);
}

/* mremap() of the whole VMA to the next 1 GiB boundary. */
TEST_F(pud_pfnmap, move_leaves_no_translation)
{
	char *old = self->map, *to = self->map + SZ_1G, *moved, *anon;
	long faults;
	char byte;

	moved = mremap(old, SZ_1G, SZ_1G, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	ASSERT_EQ(moved, to);
	/* The leaf moved with the VMA: the new address reads the device without a fault. */
	faults = minor_faults();
	byte = moved[self->page];
	faults = minor_faults() - faults;
	EXPECT_EQ(byte, 0x5a);
	EXPECT_EQ(faults, 0);
	anon = mmap(old, self->page * 2, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(anon, old);
	/* Zero-filled, unless the old address still translates to the device. */
	EXPECT_EQ(anon[self->page], 0);
	anon[self->page] = 0x11;
	EXPECT_EQ(moved[self->page], 0x5a);
}

TEST_HARNESS_MAIN
