//! Parsers for `/proc/<pid>/maps` and `/proc/<pid>/smaps`, and the counters of `/proc/vmstat`.
//!
//! A maps line is `start-end perms offset major:minor inode path`, all numbers but the inode
//! in hex; smaps follows each such line with `Key: value kB` lines and a `VmFlags:` line.

use std::collections::BTreeMap;

/// One line of `/proc/<pid>/maps`: one VMA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsEntry {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rwxp` or `rwxs`: read, write, execute, private or shared.
    pub perms: String,
    /// Offset in the mapped file, in bytes (`vm_pgoff << PAGE_SHIFT`).
    pub offset: u64,
    /// Major number of the device of the mapped file.
    pub major: u32,
    /// Minor number of the device of the mapped file.
    pub minor: u32,
    /// Inode number of the mapped file, 0 for none.
    pub inode: u64,
    /// The file's path, or a pseudo path like `[heap]`; empty for anonymous memory.
    pub path: String,
}

impl MapsEntry {
    /// Parses one maps line; `None` if it is not one.
    pub fn parse(line: &str) -> Option<Self> {
        let mut fields = line.splitn(6, ' ');
        let (start, end) = fields.next()?.split_once('-')?;
        let perms = fields.next()?;
        let offset = fields.next()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let inode = fields.next()?;
        if perms.len() != 4 {
            return None;
        }
        Some(Self {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            perms: perms.to_string(),
            offset: u64::from_str_radix(offset, 16).ok()?,
            major: u32::from_str_radix(major, 16).ok()?,
            minor: u32::from_str_radix(minor, 16).ok()?,
            inode: inode.parse().ok()?,
            path: fields.next().unwrap_or("").trim_start().to_string(),
        })
    }

    /// Whether `addr` is inside this VMA.
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }
}

/// Parses a whole maps file, skipping nothing: an unparsable line is an error.
pub fn parse_maps(text: &str) -> Result<Vec<MapsEntry>, String> {
    text.lines()
        .map(|l| MapsEntry::parse(l).ok_or_else(|| format!("not a maps line: {l:?}")))
        .collect()
}

/// One VMA of `/proc/<pid>/smaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmapsEntry {
    /// The VMA's maps line.
    pub map: MapsEntry,
    /// The `Key: N kB` lines, in kB (and the few unitless ones as they are).
    pub fields: BTreeMap<String, u64>,
    /// The two-letter flags of the `VmFlags:` line (`rd wr sh mr mw me ms io pf de dd ...`).
    pub vm_flags: Vec<String>,
}

impl SmapsEntry {
    /// Whether the `VmFlags:` line has `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.vm_flags.iter().any(|f| f == flag)
    }
}

/// Parses a whole smaps file.
pub fn parse_smaps(text: &str) -> Result<Vec<SmapsEntry>, String> {
    let mut entries: Vec<SmapsEntry> = Vec::new();
    for line in text.lines() {
        if let Some(map) = MapsEntry::parse(line) {
            entries.push(SmapsEntry {
                map,
                fields: BTreeMap::new(),
                vm_flags: Vec::new(),
            });
            continue;
        }
        let entry = entries
            .last_mut()
            .ok_or_else(|| format!("smaps starts with {line:?}"))?;
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("not an smaps line: {line:?}"))?;
        if key == "VmFlags" {
            entry.vm_flags = value.split_whitespace().map(str::to_string).collect();
        } else {
            let number = value.split_whitespace().next().unwrap_or("");
            let number = number
                .parse()
                .map_err(|_| format!("not a number in {line:?}"))?;
            entry.fields.insert(key.to_string(), number);
        }
    }
    Ok(entries)
}

/// The VMA of this process that contains `addr`, from `/proc/self/maps`.
pub fn self_maps_entry(addr: u64) -> Result<MapsEntry, String> {
    let text = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    parse_maps(&text)?
        .into_iter()
        .find(|e| e.contains(addr))
        .ok_or_else(|| format!("no VMA contains {addr:#x}"))
}

/// The smaps entry of this process's VMA that contains `addr`.
pub fn self_smaps_entry(addr: u64) -> Result<SmapsEntry, String> {
    let text = std::fs::read_to_string("/proc/self/smaps").map_err(|e| e.to_string())?;
    parse_smaps(&text)?
        .into_iter()
        .find(|e| e.map.contains(addr))
        .ok_or_else(|| format!("no VMA contains {addr:#x}"))
}

/// Counter `name` of a `/proc/vmstat` text (`name value` lines); `None` when the kernel has no
/// such counter (e.g. `vma_lock_retry` without `CONFIG_PER_VMA_LOCK_STATS`).
pub fn vmstat_counter(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (key, value) = l.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Counter `name` of this kernel's `/proc/vmstat`, `None` when it has no such counter.
pub fn vmstat(name: &str) -> Result<Option<u64>, String> {
    let text = std::fs::read_to_string("/proc/vmstat").map_err(|e| format!("/proc/vmstat: {e}"))?;
    Ok(vmstat_counter(&text, name))
}
