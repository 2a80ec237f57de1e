# SPDX-License-Identifier: GPL-2.0
# User-facing targets (`make help` lists them); kbuild reads Kbuild, not this file. Each target is
# a script in scripts/. KDIR=<kernel build tree> builds the module against another kernel;
# CLIPPY=1 lints it. `scripts/run-vm.sh -h` lists the VM's modes and settings (VM_TIMEOUT, ...).

.PHONY: help module userspace run shell check check-stock check-arm64 stress bench docs lint series rust-analyzer clean
module:
	@scripts/build-module.sh

help:
	@echo 'make [module]        build rust-vmdev.ko (and the C twin) against KDIR or the cached debug kernel'
	@echo 'make userspace       build the static userspace programs (vmdev-demo, vmdev-selftest, ...)'
	@echo 'make run             boot the test VM and run the demo; the terminal shows only its output'
	@echo 'make shell           boot the test VM with the module loaded into a busybox shell; exit powers off'
	@echo 'make check           lints, host unit tests, the selftest suite in the VM, the shell test'
	@echo 'make check-stock     the selftest suite on Debian'"'"'s own 7.3 kernel image'
	@echo 'make check-arm64     the selftest suite on arm64 (QEMU virt) with 4 KiB, then 16 KiB pages: PAGE=4k|16k for one'
	@echo 'make stress          long random workload in the debug VM: STRESS_SECONDS=300 SEED=<now>'
	@echo 'make bench           rust_vmdev against the C twin on a non-debug kernel: BENCHMARKS.md'
	@echo 'make docs            run the demo and write its output into docs/design.md'
	@echo 'make lint            shellcheck, rustfmt and clippy on the scripts, the module and userspace'
	@echo 'make series          the layer and the driver as a patch series for Linux 7.3.4: build/series/patches'
	@echo 'make rust-analyzer   write rust-project.json for the module against the kernel tree'
	@echo 'make clean           remove build/, userspace/target/ and the module build files'

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

# The suite on an arm64 build of the debug kernel (QEMU's virt machine): 4 KiB, then 16 KiB
# pages; PAGE=4k or PAGE=16k runs one.
check-arm64:
	@scripts/check-arm64.sh

# A long random workload under the debug kernel: make stress STRESS_SECONDS=600 SEED=42.
# (Not SECONDS: make exports command-line variables, and SECONDS is bash's clock in the scripts.)
ifeq ($(origin SECONDS),command line)
$(error SECONDS= would set bash's clock in the scripts: make stress takes STRESS_SECONDS=)
endif
STRESS_SECONDS ?= 300
SEED ?= $(shell date +%s)
# Two runs of STRESS_SECONDS each: the three nodes, then the huge node on the 1 GiB reservation.
stress:
	@VM_TIMEOUT=$$((2 * $(STRESS_SECONDS) + 600)) \
	  VM_APPEND="vmdev_stress_seconds=$(STRESS_SECONDS) vmdev_stress_seed=$(SEED)" scripts/run-vm.sh stress

# Rust against the C twin on a non-debug kernel: writes BENCHMARKS.md and bench/chart.svg.
bench:
	@scripts/bench.sh

# Quoted demo output in docs/design.md, from a real run.
docs:
	@scripts/update-docs.sh

lint:
	@scripts/lint.sh

# The layer (rust/kernel/mm/, rust/helpers/, rust/kernel/miscdevice.rs) and the driver
# (samples/rust/rust_vmdev/) as a patch series for Linux 7.3.4, from the module's own files;
# `make check` builds it in the debug kernel and checks it (scripts/series-check.sh).
series:
	@scripts/series.sh

# rust-project.json for rust-analyzer, from the kernel's own `make M=... rust-analyzer`.
rust-analyzer:
	@scripts/rust-analyzer.sh

clean:
	rm -rf build userspace/target
	for d in . c_twin; do \
	  (cd $$d && rm -f *.o *.ko *.mod *.mod.c *.mod.o *.bc .*.cmd modules.order Module.symvers *.rmeta .*.d); \
	done
