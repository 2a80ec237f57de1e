//! The ranges of physical memory reserved at boot for the drivers, looked up by name.
//!
//! The VM runner reserves each range (`memmap=` on x86, a `/reserved-memory` node in the device
//! tree on arm64) and announces it to the guest with one kernel command-line word,
//! `vmdev_reserved=NAME:BASE,SIZE` (hex), e.g. `vmdev_reserved=huge:0x48000000,0x4000000`.
//! Userspace finds a range by its name, never by its place on the line or by its size.

use std::fmt;

/// 4 MiB for the module's boot-reserved mode (`phys_base`) and the tests of its checks.
pub const REMAP: &str = "remap";
/// 64 MiB for huge PMD mappings; in `make bench` the module's range, which `/dev/mem` maps too.
pub const HUGE: &str = "huge";
/// 1 GiB for a huge PUD mapping (one PUD span with 4 KiB pages; announced with any page size).
pub const PUD: &str = "pud";
/// 64 MiB in `make bench` only: the C twin's range.
pub const TWIN: &str = "twin";

const WORD: &str = "vmdev_reserved=";

/// One range reserved at boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Its physical address.
    pub base: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl Reservation {
    /// The module parameters that serve a driver's remap and huge nodes from this range.
    pub fn params(&self) -> String {
        format!("phys_base={:#x} phys_size={:#x}", self.base, self.size)
    }
}

impl fmt::Display for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}+{:#x}", self.base, self.size)
    }
}

/// The range named `name` on the kernel command line `cmdline`: `None` when no word names it,
/// an error when a `vmdev_reserved=` word is malformed or two name the same range.
pub fn reserved_in(cmdline: &str, name: &str) -> Result<Option<Reservation>, String> {
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
    };
    let mut found = None;
    for word in cmdline.split_whitespace() {
        let Some(value) = word.strip_prefix(WORD) else {
            continue;
        };
        let (named, base, size) = value
            .split_once(':')
            .and_then(|(n, r)| r.split_once(',').map(|(b, s)| (n, b, s)))
            .and_then(|(n, b, s)| Some((n, hex(b)?, hex(s)?)))
            .filter(|&(n, _, _)| !n.is_empty())
            .ok_or_else(|| format!("{word}: expected {WORD}NAME:BASE,SIZE, in hex"))?;
        if size == 0 || base.checked_add(size).is_none() {
            return Err(format!("{word}: not a range of physical addresses"));
        }
        if named != name {
            continue;
        }
        if found.is_some() {
            return Err(format!("the kernel command line names {WORD}{name}: twice"));
        }
        found = Some(Reservation { base, size });
    }
    Ok(found)
}

/// The range named `name` on this kernel's command line (`/proc/cmdline`), as [`reserved_in`].
pub fn reserved(name: &str) -> Result<Option<Reservation>, String> {
    let cmdline =
        std::fs::read_to_string("/proc/cmdline").map_err(|e| format!("/proc/cmdline: {e}"))?;
    reserved_in(&cmdline, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "console=ttyS0 memmap=4M$0x40000000 \
                        vmdev_reserved=remap:0x40000000,0x400000 \
                        vmdev_reserved=huge:0x48000000,0x4000000 vmdev_mode=check \
                        vmdev_reserved=pud:0x80000000,0x40000000";

    #[test]
    fn finds_each_name_wherever_it_stands() {
        assert_eq!(
            reserved_in(LINE, REMAP),
            Ok(Some(Reservation {
                base: 0x4000_0000,
                size: 0x40_0000
            }))
        );
        assert_eq!(
            reserved_in(LINE, HUGE),
            Ok(Some(Reservation {
                base: 0x4800_0000,
                size: 0x400_0000
            }))
        );
        assert_eq!(
            reserved_in(LINE, PUD),
            Ok(Some(Reservation {
                base: 0x8000_0000,
                size: 0x4000_0000
            }))
        );
    }

    #[test]
    fn an_absent_name_is_none() {
        assert_eq!(reserved_in(LINE, TWIN), Ok(None));
        assert_eq!(reserved_in("", HUGE), Ok(None));
        // A name is matched whole, not as a prefix.
        assert_eq!(reserved_in(LINE, "hug"), Ok(None));
    }

    #[test]
    fn a_malformed_word_is_an_error_whatever_is_asked() {
        for word in [
            "vmdev_reserved=0x40000000,0x400000",
            "vmdev_reserved=:0x40000000,0x400000",
            "vmdev_reserved=remap:0x40000000",
            "vmdev_reserved=remap:40000000,400000",
            "vmdev_reserved=remap:0x40000000,0xg",
            "vmdev_reserved=remap:0x40000000,0x0",
            "vmdev_reserved=remap:0xffffffffffffffff,0x2",
        ] {
            let line = format!("{LINE} {word}");
            let err = reserved_in(&line, HUGE).expect_err(word);
            assert!(err.starts_with(word), "{word}: {err}");
        }
    }

    #[test]
    fn a_name_given_twice_is_an_error() {
        let line = format!("{LINE} vmdev_reserved=huge:0x4c000000,0x4000000");
        assert!(reserved_in(&line, HUGE).is_err());
        assert!(reserved_in(&line, REMAP).is_ok());
    }

    #[test]
    fn params_name_the_range() {
        let r = Reservation {
            base: 0x4800_0000,
            size: 0x400_0000,
        };
        assert_eq!(r.params(), "phys_base=0x48000000 phys_size=0x4000000");
        assert_eq!(r.to_string(), "0x48000000+0x4000000");
    }
}
