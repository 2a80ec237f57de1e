# SPDX-License-Identifier: GPL-2.0
# The sample's C: out-of-line forms of static inline functions its Rust calls.
ccflags-y += -I$(src)/include/uapi

obj-$(CONFIG_SAMPLE_RUST_VMDEV) += rust-vmdev.o
rust-vmdev-y := rust_vmdev.o helpers/vmdev.o
