//! Faults per page and per-VMA-lock retries per fault, of every source and both drivers.

use std::fmt::Write as _;

use crate::data::Results;

/// The sources of the retry table: the C twin's nodes too.
const RETRY_SOURCES: [(&str, &str); 13] = [
    ("rust-fault", "fault node"),
    ("c-fault", "C fault node"),
    ("rust-remap", "remap node"),
    ("c-remap", "C remap node"),
    ("rust-huge", "huge node"),
    ("c-huge", "C huge node"),
    ("rust-folio", "folio node"),
    ("c-folio", "C folio node"),
    ("udmabuf", "udmabuf"),
    ("heap", "system heap"),
    ("devmem", "/dev/mem"),
    ("anon", "anonymous"),
    ("tmpfs", "tmpfs (memfd)"),
];

pub fn retry_table(md: &mut String, r: &Results) {
    md.push_str(
        "\n## Faults and per-VMA-lock retries\n\n`vma_lock_retry` of `/proc/vmstat` (a fault \
         begun under the per-VMA lock and redone under `mmap_lock`, `CONFIG_PER_VMA_LOCK_STATS`), \
         read before and after each first-touch pass, per minor fault of the pass; faults per \
         4 KiB page beside it.\n\n| source | faults/page, read | retries/fault, read | \
         faults/page, write | retries/fault, write | faults/page, random read | retries/fault, random read |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (label, name) in RETRY_SOURCES {
        let _ = write!(md, "| {name} |");
        for metric in ["first_read_seq", "first_write_seq", "first_read_rand"] {
            match r.get(metric, label) {
                Some(s) if s.faults > 0.0 => {
                    let _ = write!(md, " {:.4} | {:.2} |", s.faults, s.retries_per_fault);
                }
                Some(_) => md.push_str(" 0 | – |"),
                None => md.push_str(" – | – |"),
            }
        }
        md.push('\n');
    }
    md.push_str(
        "\nA `.fault` handler without `.map_pages` (udmabuf) cannot run under the per-VMA lock: \
         the core returns `VM_FAULT_RETRY` (`vmf_can_call_fault()`) and the fault is taken again \
         under `mmap_lock`.\n",
    );
}
