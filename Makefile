# SPDX-License-Identifier: GPL-2.0
# User-facing targets; kbuild reads Kbuild, not this file. Each target is a script in scripts/.
# KDIR=<kernel build tree> builds the module against another kernel; CLIPPY=1 lints it.

.PHONY: module userspace run check lint clean
module:
	@scripts/build-module.sh

userspace:
	@scripts/build-userspace.sh

# The main job: boot the test VM, load the module, map, fork, show /proc/self/maps, unload.
run:
	@scripts/run-vm.sh demo

# The tests: host-side unit tests, lints, then the kselftest-style suite in the test VM.
check:
	@scripts/check.sh

lint:
	@scripts/lint.sh

clean:
	rm -rf build userspace/target
	rm -f *.o *.ko *.mod *.mod.c *.mod.o .*.cmd modules.order Module.symvers *.rmeta .*.d
