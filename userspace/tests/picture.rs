//! The picture writer against the `picture|` lines of a real demo run, captured from the test VM
//! by scripts/capture-fixtures.sh: no VM needed.

use vmdev::picture::{Entry, parse_log, svg};

const LOG: &str = include_str!("fixtures/picture.txt");

fn entries() -> Vec<Entry> {
    parse_log(LOG).expect("the captured lines parse")
}

#[test]
fn the_run_has_every_row() {
    let e = entries();
    let row =
        |prefix: &str| -> Vec<&Entry> { e.iter().filter(|x| x.row.starts_with(prefix)).collect() };
    let remap = row("/dev/vmdev-remap");
    assert_eq!(remap.len(), 4, "the remap mapping's 4 pages");
    assert!(
        remap.windows(2).all(|w| w[1].pfn == w[0].pfn + 1),
        "remap frames contiguous"
    );
    let huge = row("/dev/vmdev-huge");
    assert_eq!(huge.len(), 1, "one huge entry");
    assert!(huge[0].pages > 1, "the huge entry maps more than a page");
    assert!(!row("/dev/vmdev-fault, MAP_SHARED").is_empty());
    let cow = row("/dev/vmdev-fault, MAP_PRIVATE");
    assert_eq!(cow.len(), 2, "the parent's page and the child's copy");
    assert_eq!(cow[0].user, cow[1].user, "the same user page in both");
    assert_ne!(cow[0].pfn, cow[1].pfn, "the child's copy is another frame");
    assert!(cow[0].note.is_empty() && cow[1].note.contains("copy-on-write"));
    assert!(
        cow[1].kaddr.is_none(),
        "the driver has no address for the copy"
    );
}

#[test]
fn svg_draws_every_entry() {
    let e = entries();
    let s = svg(&e, "title & <test>");
    assert!(s.starts_with("<svg ") && s.ends_with("</svg>\n"));
    assert!(s.contains("title &amp; &lt;test&gt;"), "text is escaped");
    // A background, then a user box and a frame box per entry.
    assert_eq!(s.matches("<rect").count(), 1 + 2 * e.len());
    assert_eq!(s.matches("<line").count(), e.len());
    for x in &e {
        assert!(s.contains(&format!("{:#x}", x.user)), "user {:#x}", x.user);
        assert!(s.contains(&format!("pfn {:#x}", x.pfn)), "pfn {:#x}", x.pfn);
        if let Some(k) = x.kaddr {
            assert!(s.contains(&format!("kernel {k:#x}")), "kernel {k:#x}");
        }
        assert!(s.contains(&x.row), "row {}", x.row);
    }
    // The copy-on-write page alone is marked: its two boxes.
    assert_eq!(s.matches("#ffe0b2").count(), 2);
    assert!(
        s.contains("copy-on-write: the child&apos;s") || s.contains("copy-on-write: the child's")
    );
}
