//! The demo's picture: user pages on the left, the physical frames behind them on the right, one
//! row per mapping, the kernel's address of each frame beside it, the copy-on-write page marked.
//!
//! `vmdev-demo` runs in the test VM, which has no way to hand a file to the host but its
//! console: it writes one [`Entry`] per line, `picture|ROW|USER|PFN|KADDR|PAGES|NOTE`, to the
//! console log, and `vmdev-picture` on the host turns the lines of that log into SVG (plain SVG
//! text: boxes, lines and labels, easier to read and change than a chart library's output).

use std::fmt::Write as _;

/// The prefix of a picture line in the console log.
pub const PREFIX: &str = "picture|";

/// One user page (or one huge entry's run of pages) and the frame behind it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The row it belongs to: the mapping, e.g. `/dev/vmdev-fault, MAP_SHARED`.
    pub row: String,
    /// Its user virtual address.
    pub user: u64,
    /// The first page frame number behind it.
    pub pfn: u64,
    /// The kernel's address of the frame, where the driver has one.
    pub kaddr: Option<u64>,
    /// How many pages the entry maps: 1, or a huge entry's pages.
    pub pages: u64,
    /// What is special about it (`copy-on-write: ...`), or empty.
    pub note: String,
}

impl Entry {
    /// The console line that carries it.
    pub fn line(&self) -> String {
        let kaddr = self.kaddr.map_or("-".into(), |a| format!("{a:#x}"));
        let clean = |s: &str| s.replace(['|', '\n'], " ");
        format!(
            "{PREFIX}{}|{:#x}|{:#x}|{kaddr}|{}|{}",
            clean(&self.row),
            self.user,
            self.pfn,
            self.pages,
            clean(&self.note)
        )
    }

    /// Parses a line [`Entry::line`] wrote (after the prefix).
    fn parse(fields: &str) -> Result<Self, String> {
        let f: Vec<&str> = fields.split('|').collect();
        let hex = |s: &str| {
            s.strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or(format!("{s:?}: not 0xHEX"))
        };
        let [row, user, pfn, kaddr, pages, note] = f[..] else {
            return Err(format!("{fields:?}: expected 6 fields"));
        };
        Ok(Self {
            row: row.into(),
            user: hex(user)?,
            pfn: hex(pfn)?,
            kaddr: if kaddr == "-" {
                None
            } else {
                Some(hex(kaddr)?)
            },
            pages: pages
                .parse()
                .map_err(|_| format!("{pages:?}: not a count"))?,
            note: note.into(),
        })
    }
}

/// The picture's entries among the lines of a console log (carriage returns allowed).
pub fn parse_log(log: &str) -> Result<Vec<Entry>, String> {
    let entries = log
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(PREFIX))
        .map(Entry::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(format!("no {PREFIX} lines"));
    }
    Ok(entries)
}

const WIDTH: u32 = 1060;
const ENTRY_H: u32 = 34;
const ROW_GAP: u32 = 34;
const USER_X: u32 = 20;
const FRAME_X: u32 = 470;
const BOX_W: u32 = 230;

/// Where the frames come from: pagemap does not see `VM_PFNMAP` mappings.
const FOOTNOTE: &str = "Frames from /proc/self/pagemap, or for the VM_PFNMAP mappings (remap, huge), \
     which pagemap does not see, from the driver's debug view.";

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG picture of `entries`, rows in the order they first appear.
pub fn svg(entries: &[Entry], title: &str) -> String {
    let mut rows: Vec<&str> = Vec::new();
    for e in entries {
        if !rows.contains(&e.row.as_str()) {
            rows.push(&e.row);
        }
    }
    let height = 70 + rows.len() as u32 * ROW_GAP + entries.len() as u32 * ENTRY_H + 40;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{USER_X}" y="22" font-size="15">{}</text>"#,
        esc(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{USER_X}" y="48" font-weight="bold">user virtual pages (the process)</text><text x="{FRAME_X}" y="48" font-weight="bold">physical frames (pfn), and the kernel's address of each</text>"#
    );
    let mut y = 70;
    for row in rows {
        let _ = writeln!(
            s,
            r#"<text x="{USER_X}" y="{}" font-weight="bold" fill="dimgray">{}</text>"#,
            y + 18,
            esc(row)
        );
        y += ROW_GAP;
        for e in entries.iter().filter(|e| e.row == row) {
            let cow = !e.note.is_empty();
            let (fill, stroke) = if cow {
                ("#ffe0b2", "#e65100")
            } else {
                ("#e3f2fd", "#1565c0")
            };
            let pages = if e.pages > 1 {
                format!(" ({} pages)", e.pages)
            } else {
                String::new()
            };
            let mid = y + ENTRY_H / 2 - 2;
            let _ = writeln!(
                s,
                r#"<rect x="{USER_X}" y="{y}" width="{BOX_W}" height="{}" fill="{fill}" stroke="{stroke}"/><text x="{}" y="{}">{:#x}{pages}</text>"#,
                ENTRY_H - 6,
                USER_X + 8,
                mid + 4,
                e.user
            );
            let _ = writeln!(
                s,
                r#"<line x1="{}" y1="{mid}" x2="{FRAME_X}" y2="{mid}" stroke="{stroke}" stroke-width="1.5"/>"#,
                USER_X + BOX_W
            );
            let frames = if e.pages > 1 {
                format!("{:#x}-{:#x}", e.pfn, e.pfn + e.pages - 1)
            } else {
                format!("{:#x}", e.pfn)
            };
            let _ = writeln!(
                s,
                r#"<rect x="{FRAME_X}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="{stroke}"/><text x="{}" y="{}">pfn {frames}</text>"#,
                BOX_W - 40,
                ENTRY_H - 6,
                FRAME_X + 8,
                mid + 4
            );
            let beside = match (e.kaddr, cow) {
                (Some(a), false) => format!("kernel {a:#x}"),
                (Some(a), true) => format!("kernel {a:#x}: {}", e.note),
                (None, true) => e.note.clone(),
                (None, false) => "no kernel address from the driver".into(),
            };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{stroke}">{}</text>"#,
                FRAME_X + BOX_W - 30,
                mid + 4,
                esc(&beside)
            );
            y += ENTRY_H;
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{USER_X}" y="{}" fill="dimgray">{}</text>"#,
        y + 24,
        esc(FOOTNOTE)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips() {
        let e = Entry {
            row: "/dev/vmdev-fault, MAP_PRIVATE | after fork".into(),
            user: 0x7f00_0000_2000,
            pfn: 0x1234,
            kaddr: None,
            pages: 1,
            note: "copy-on-write".into(),
        };
        let parsed = parse_log(&format!("noise\n{}\r\n", e.line())).unwrap();
        // `|` cannot survive in a field: it separates them.
        let want = Entry {
            row: "/dev/vmdev-fault, MAP_PRIVATE   after fork".into(),
            ..e
        };
        assert_eq!(parsed, [want]);
        assert!(parse_log("nothing here").is_err());
        assert!(parse_log("picture|a|0x1|0x2|-|1").is_err());
    }
}
