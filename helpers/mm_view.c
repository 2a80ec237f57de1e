// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of mm_view.rs: what bindgen cannot read or call.
 */
#include <linux/module.h>
#include <linux/sched.h>

/*
 * mm_view.rs: whether an address (a VMA's vm_ops) lies in a module's code or data. The module
 * is the caller's own, so it stays loaded.
 */
bool vmdev_helper_within_module(const void *addr, const void *mod);

bool vmdev_helper_within_module(const void *addr, const void *mod)
{
	return within_module((unsigned long)addr, mod);
}

/*
 * mm_view.rs: the current task's mm, and whether it runs on it (active_mm), read with C's layout
 * of task_struct: bindgen 0.73.2's puts mm 48 bytes early (mm_view.rs says why).
 */
void *vmdev_helper_current_mm(void);
bool vmdev_helper_current_on_own_mm(void);

void *vmdev_helper_current_mm(void)
{
	return current->mm;
}

bool vmdev_helper_current_on_own_mm(void)
{
	return current->active_mm == current->mm;
}
