//! The report's opening: how the run measured, the sources it measured, and the sources it
//! could not.

use std::fmt::Write as _;

use super::reservation;
use crate::data::{HUGE, Results, TWIN, size};

pub fn intro(md: &mut String, r: &Results, kernel: &str) {
    let window = r
        .windows
        .get("rust-fault")
        .map_or("its default window".into(), |&w| format!("the {}", size(w)));
    let _ = write!(
        md,
        "# Benchmarks: rust_vmdev against its C twin and the kernel's peers\n\n\
         Written by `make bench` (`vmdev-report`). Kernel: `{kernel}`, built from \
         `scripts/vm.config` + `scripts/bench.config` (no KASAN, lockdep or kmemleak), booted \
         under QEMU TCG with 2 vCPUs and `-icount shift=4`: these machines have no usable KVM, so \
         guest time counts emulated instructions (16 ns each), not host time. Absolute numbers \
         mean little; ratios taken in the same boot do, so the tables give ratios and the \
         targets are ratios. Every number is nanoseconds per 4 KiB page, the median of {} \
         repetitions (± the larger distance to the fastest or slowest), interleaved: which driver \
         goes first alternates (Rust, C, C, Rust, ...), the peers follow in a rotating order. Each \
         repetition times at least 20 ms of work, repeating a short pass (each time on a fresh \
         mapping): under `-icount` a timer tick costs tens of microseconds, which a single 1 ms \
         pass takes or misses. An untimed warm-up round comes first. The file a source maps (a \
         node, `/dev/mem`) is opened once per repetition, outside the timing; the one row that \
         times `open()` + `close()` of a node, `open_close` (in the table of Rust against C), is \
         in nanoseconds per call.\n\n\
         The sources, all mapped `MAP_SHARED` read-write except anonymous memory:\n\n\
         - **fault node** (`/dev/vmdev-fault`): a 16 MiB vmalloc buffer, mapped on fault, \
         {window} around each fault, aligned (`fault_around_bytes`'s default, as the node \
         reported it; a no-op `map_pages` keeps faults under the per-VMA lock).\n\
         - **remap node** (`/dev/vmdev-remap`): `remap_pfn_range()` of the whole mapping at \
         `mmap()` time; **huge node** (`/dev/vmdev-huge`): the same memory mapped on fault with \
         PMD entries where aligned, PTEs elsewhere. Both serve {huge}, RAM reserved at boot that \
         the driver claims (its `phys_base` and `phys_size` parameters); the C twin's serve \
         {twin}.\n\
         - **folio node** (`/dev/vmdev-folio`): PMD-order folios the driver allocates at load \
         (`folio_alloc()`, 64 MiB by default), mapped on fault with one PMD entry per folio where \
         aligned (`vmf_insert_folio_pmd()`: a reference and an rmap entry per folio), a 4 KiB page \
         per fault elsewhere; ordinary refcounted pages, not `VM_PFNMAP`.\n\
         - **udmabuf**: `UDMABUF_CREATE` on a 16 MiB memfd sealed with `F_SEAL_SHRINK`, the \
         dma-buf mapped; its fault handler inserts the faulting PFN and then every other page of \
         the VMA.\n\
         - **system heap**: `DMA_HEAP_IOCTL_ALLOC` of 16 MiB on `/dev/dma_heap/system`, the \
         dma-buf mapped: `remap_pfn_range()` per scatterlist chunk (1 MiB, 64 KiB or 4 KiB pages) \
         at `mmap()` time.\n\
         - **/dev/mem** over the remap and huge nodes' memory, in {huge} (`STRICT_DEVMEM` off): \
         `mmap_prepare` with `mmap_action_remap_full()`.\n\
         - **anonymous** (private) and **tmpfs** (a fresh memfd each time): the kernel's own \
         memory, allocated and zeroed on first touch.\n\n\
         The C twin (`c_twin/`, nodes `/dev/vmdev_c-*`) runs the same design on every node.\n\n",
        r.reps(),
        huge = reservation(r, HUGE),
        twin = reservation(r, TWIN),
    );
}

pub fn errors(md: &mut String, r: &Results) {
    if r.errors.is_empty() {
        return;
    }
    md.push_str(
        "## Errors\n\nThese sources could not be measured; their rows and targets are missing:\n\n",
    );
    for (label, why) in &r.errors {
        let _ = writeln!(md, "- `{label}`: {why}");
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_reservations_and_prints_only_recorded_addresses() {
        let bench = "bench|mmap|rust-remap|10.0|0|0\n";
        let md = crate::markdown::report(&crate::data::parse(bench).unwrap(), "7.3");
        assert!(md.contains("Both serve the `huge` reservation, RAM reserved at boot"));
        assert!(md.contains("the C twin's serve the `twin` reservation."));
        assert!(!md.contains("0x"), "{md}");
        let log = format!(
            "Kernel command line: vmdev_reserved=huge:0x48000000,0x4000000 \
             vmdev_reserved=twin:0x4c000000,0x4000000\n{bench}"
        );
        let md = crate::markdown::report(&crate::data::parse(&log).unwrap(), "7.3");
        assert!(md.contains("Both serve the `huge` reservation (64 MiB at 0x48000000), RAM"));
        assert!(md.contains("the C twin's serve the `twin` reservation (64 MiB at 0x4c000000)."));
        assert!(md.contains("over the whole of the `huge` reservation (64 MiB at 0x48000000);"));
    }
}
