# SPDX-License-Identifier: GPL-2.0
# User-facing targets; kbuild reads Kbuild, not this file. Each target is a script in scripts/.
# KDIR=<kernel build tree> builds the module against another kernel; CLIPPY=1 lints it.

.PHONY: module userspace run shell check check-stock stress bench lint clean
module:
	@scripts/build-module.sh

userspace:
	@scripts/build-userspace.sh

# The main job: boot the test VM, load the module, map, fork, show /proc/self/maps, unload.
# Quiet: the terminal shows the demo's output; the whole console is in build/vm-demo.log.
run:
	@scripts/run-vm.sh demo

# A shell in the test VM with the module loaded and the tools in /bin; exit powers off.
shell:
	@scripts/run-vm.sh shell

# The tests: lints, host-side unit tests, the kselftest-style suite in the test VM, `make shell`.
check:
	@scripts/check.sh

# The suite on Debian's own 7.3 kernel image, with the module built by Debian's toolchain.
check-stock:
	@scripts/check-stock.sh

# A long random workload under the debug kernel: make stress SECONDS=600 SEED=42.
SECONDS ?= 300
SEED ?= $(shell date +%s)
stress:
	@VM_TIMEOUT=$$(($(SECONDS) + 600)) \
	  VM_APPEND="vmdev_stress_seconds=$(SECONDS) vmdev_stress_seed=$(SEED)" scripts/run-vm.sh stress

# Rust against the C twin on a non-debug kernel: writes BENCHMARKS.md and bench/chart.svg.
bench:
	@scripts/bench.sh

lint:
	@scripts/lint.sh

clean:
	rm -rf build userspace/target
	for d in . c_twin; do \
	  (cd $$d && rm -f *.o *.ko *.mod *.mod.c *.mod.o .*.cmd modules.order Module.symvers *.rmeta .*.d); \
	done
