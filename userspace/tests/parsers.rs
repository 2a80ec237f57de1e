//! The /proc parsers against real text captured from the test VM (scripts/capture-fixtures.sh).

use vmdev::maps::{MapsEntry, parse_maps, parse_smaps};

const MAPS: &str = include_str!("fixtures/maps.txt");
const SMAPS: &str = include_str!("fixtures/smaps.txt");

fn entry<'a>(entries: &'a [MapsEntry], path: &str) -> &'a MapsEntry {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in the fixture"))
}

#[test]
fn maps_device_lines() {
    let entries = parse_maps(MAPS).expect("every fixture line parses");
    let remap = entry(&entries, "/dev/vmdev-remap");
    assert_eq!(remap.end - remap.start, 0x4000);
    assert_eq!(remap.perms, "rw-s");
    assert_eq!(remap.offset, 0x2000);
    assert_eq!((remap.major, remap.minor, remap.inode), (0, 8, 597));
    let fault = entry(&entries, "/dev/vmdev-fault");
    assert_eq!(
        (fault.offset, fault.inode, fault.perms.as_str()),
        (0x2000, 598, "rw-s")
    );
    assert!(fault.contains(fault.start) && !fault.contains(fault.end));
}

#[test]
fn maps_anonymous_and_pseudo_paths() {
    let entries = parse_maps(MAPS).expect("every fixture line parses");
    assert_eq!(entry(&entries, "[heap]").perms, "rw-p");
    assert!(
        entries.iter().any(|e| e.path.is_empty() && e.inode == 0),
        "anonymous mappings have no path"
    );
    let vsyscall = entry(&entries, "[vsyscall]");
    assert_eq!(vsyscall.start, 0xffff_ffff_ff60_0000);
}

#[test]
fn maps_rejects_garbage() {
    assert!(MapsEntry::parse("not a maps line").is_none());
    assert!(MapsEntry::parse("1000-2000 rw-s zz 00:08 5 /dev/x").is_none());
    assert!(parse_maps("7f00-7f10 rw-s 0 00:08 5 /dev/x\nbroken").is_err());
}

#[test]
fn smaps_vmflags_and_fields() {
    let entries = parse_smaps(SMAPS).expect("the fixture parses");
    assert_eq!(
        entries.len(),
        parse_maps(MAPS).unwrap().len(),
        "one smaps entry per maps line"
    );
    let remap = entries
        .iter()
        .find(|e| e.map.path == "/dev/vmdev-remap")
        .unwrap();
    for flag in ["io", "pf", "de", "dd", "sh"] {
        assert!(
            remap.has_flag(flag),
            "remap lacks {flag}: {:?}",
            remap.vm_flags
        );
    }
    assert_eq!(remap.fields["Size"], 16);
    assert_eq!(
        remap.fields["Rss"], 0,
        "PFN mappings have no struct page to count"
    );
    let fault = entries
        .iter()
        .find(|e| e.map.path == "/dev/vmdev-fault")
        .unwrap();
    assert!(
        fault.has_flag("de")
            && fault.has_flag("dd")
            && !fault.has_flag("io")
            && !fault.has_flag("pf")
    );
    assert_eq!(
        fault.fields["Rss"], 4,
        "the demo wrote one page of the fault mapping"
    );
}

#[test]
fn smaps_rejects_orphan_fields() {
    assert!(parse_smaps("Rss: 4 kB\n").is_err());
    assert!(parse_smaps("7f00-7f10 rw-s 0 00:08 5 /dev/x\nRss: lots kB\n").is_err());
}

#[test]
fn vmstat_counters() {
    let text = "nr_free_pages 12345\nvma_lock_success 17\nvma_lock_retry 3\nvma_lock_miss 0\n";
    assert_eq!(vmdev::maps::vmstat_counter(text, "vma_lock_retry"), Some(3));
    assert_eq!(vmdev::maps::vmstat_counter(text, "vma_lock"), None);
    assert_eq!(vmdev::maps::vmstat_counter(text, "vma_lock_abort"), None);
    assert_eq!(
        vmdev::maps::vmstat_counter(text, "nr_free_pages"),
        Some(12345)
    );
}
