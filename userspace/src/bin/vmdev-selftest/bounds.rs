//! Bounds: what each node reports, which mmap ranges it accepts and refuses, and read, write
//! and lseek at and past the end of the buffer.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;

use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags};
use vmdev::uapi::{self, VmdevInfo};

use crate::common::*;
use crate::harness::{Context, Device, Kind, Outcome, TestResult, ensure, test};

test!(remap huge fault folio: node_is_char_device);
fn node_is_char_device(_cx: &Context, d: &Device) -> TestResult {
    let st = std::fs::metadata(&d.path).map_err(|e| format!("{}: {e}", d.path.display()))?;
    ensure!(
        st.file_type().is_char_device(),
        "{} is not a character device",
        d.path.display()
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: info_reports_device);
/// `VMDEV_IOC_INFO` names the node's backing, only flags of its kind (`FLAG_MMAP_PREPARE` on
/// every kind), and a size in whole pages; with `--module`, `FLAG_MMAP_PREPARE` says the hook
/// the module was loaded with (module parameter `mmap_prepare`, default on). The fault node's
/// window is a power of two from one page to a page table's span, one page without
/// `FLAG_FAULT_AROUND`; the other nodes' window field is 0. The folio node's size is whole
/// folios, each a PMD span (module parameter `folio_size`).
fn info_reports_device(cx: &Context, d: &Device) -> TestResult {
    let info = d.info()?;
    let backing = d.backing();
    let allowed = uapi::FLAG_MMAP_PREPARE
        | match d.kind {
            Kind::Remap => uapi::FLAG_BOOT_RESERVED,
            Kind::Huge => uapi::FLAG_BOOT_RESERVED | uapi::FLAG_HUGE_PMD | uapi::FLAG_HUGE_PUD,
            Kind::Fault => {
                uapi::FLAG_FAULT_AROUND | uapi::FAULT_WINDOW_MASK << uapi::FAULT_WINDOW_SHIFT
            }
            Kind::Folio => uapi::FLAG_HUGE_PMD,
        };
    ensure!(
        info.backing == backing,
        "backing {} on {}, expected {backing}",
        info.backing,
        d.name()
    );
    ensure!(
        info.flags & !allowed == 0,
        "flags {:#x} has bits a {} device never sets",
        info.flags,
        d.name()
    );
    if d.kind == Kind::Fault {
        let window = uapi::fault_window_bytes(info.flags);
        let around = info.flags & uapi::FLAG_FAULT_AROUND != 0;
        ensure!(
            (ps()..=pmd_span()).contains(&window) && (around || window == ps()),
            "flags {:#x}: a window of {window} bytes{}",
            info.flags,
            if around {
                ""
            } else {
                " without FLAG_FAULT_AROUND"
            }
        );
    }
    if let Some(prepare) = cx.mmap_prepare() {
        let has = info.flags & uapi::FLAG_MMAP_PREPARE != 0;
        ensure!(
            has == prepare,
            "flags {:#x}: FLAG_MMAP_PREPARE {}, but the module was loaded with {} (hook {})",
            info.flags,
            if has { "set" } else { "clear" },
            cx.module_params(),
            if prepare {
                "f_op->mmap_prepare"
            } else {
                "f_op->mmap"
            },
        );
    }
    ensure!(
        info.size > 0 && info.size % ps() as u64 == 0,
        "size {} is not a positive page multiple",
        info.size
    );
    if d.kind == Kind::Folio {
        ensure!(
            info.size % pmd_span() as u64 == 0,
            "size {:#x} is not whole folios of {:#x} bytes (a PMD span)",
            info.size,
            pmd_span()
        );
    }
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: ioctl_unknown_enotty);
fn ioctl_unknown_enotty(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    nix::ioctl_read!(bogus, b'V', 99, u64);
    let mut v = 0u64;
    // SAFETY: `v` is a valid u64 for the (refused) ioctl to write.
    expect_errno(
        "ioctl(_IOR('V', 99, u64))",
        unsafe { bogus(f.as_raw_fd(), &mut v) },
        Errno::ENOTTY,
    )?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: ioctl_bad_pointer_efault);
fn ioctl_bad_pointer_efault(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    for addr in [0usize, 1, usize::MAX - 7] {
        // SAFETY: The kernel must refuse these pointers; the process never dereferences them.
        let res = unsafe { uapi::vmdev_ioc_info(f.as_raw_fd(), addr as *mut VmdevInfo) };
        expect_errno(&format!("VMDEV_IOC_INFO to {addr:#x}"), res, Errno::EFAULT)?;
    }
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mmap_whole);
fn mmap_whole(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    let m = shared(&f, size, 0)?;
    let data = pattern(7, size);
    m.write_bytes(0, &data);
    ensure!(
        m.read_bytes(0, size) == data,
        "the whole mapping does not read back what was written"
    );
    ensure!(
        pread(&f, size, 0)? == data,
        "read() does not see what the mapping wrote"
    );
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mmap_subranges);
fn mmap_subranges(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    let pages = size / ps();
    pwrite(&f, &pattern(11, size), 0).map_err(|e| e.to_string())?;
    let expected = pread(&f, size, 0)?;
    for (first, len) in [
        (0, 1),
        (1, 2),
        (pages / 2, 3.min(pages - pages / 2)),
        (pages - 1, 1),
    ] {
        let m = shared(&f, len * ps(), first * ps())?;
        let got = m.read_bytes(0, len * ps());
        ensure!(
            got[..] == expected[first * ps()..(first + len) * ps()],
            "mapping of pages {first}..{} shows other bytes than the device at that offset",
            first + len
        );
    }
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mmap_len_zero_einval);
fn mmap_len_zero_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: A zero-length mmap changes no memory (the kernel refuses it).
    let res = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            0,
            rw.bits(),
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    let res = if res == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(())
    };
    expect_errno("mmap(length 0)", res, Errno::EINVAL)?;
    ensure!(d.live_vmas()? == live, "live_vmas moved");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: mmap_offset_at_end_einval);
fn mmap_offset_at_end_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let (size, live) = (d.size()?, d.live_vmas()?);
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, size as u64);
    refused_cleanly(d, "mmap(1 page at offset = size)", res, Errno::EINVAL, live)
}

test!(remap huge fault folio: mmap_past_end_einval);
fn mmap_past_end_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let (size, live) = (d.size()?, d.live_vmas()?);
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let res = mmap_errno(&f, 2 * ps(), rw, MapFlags::MAP_SHARED, (size - ps()) as u64);
    refused_cleanly(
        d,
        "mmap(2 pages from the last page)",
        res,
        Errno::EINVAL,
        live,
    )?;
    let res = mmap_errno(&f, size + ps(), rw, MapFlags::MAP_SHARED, 0);
    refused_cleanly(d, "mmap(size + 1 page at 0)", res, Errno::EINVAL, live)
}

test!(remap huge fault folio: mmap_huge_offset_einval);
fn mmap_huge_offset_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let live = d.live_vmas()?;
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // The largest page offset the core passes to the driver: the driver's own range check
    // must refuse it without its arithmetic overflowing.
    let near_max = !(2 * ps() as u64 - 1);
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, near_max);
    refused_cleanly(
        d,
        &format!("mmap(1 page at offset {near_max:#x})"),
        res,
        Errno::EINVAL,
        live,
    )?;
    // One page further, offset + length wraps: the core itself refuses with EOVERFLOW.
    let res = mmap_errno(&f, ps(), rw, MapFlags::MAP_SHARED, !(ps() as u64 - 1));
    refused_cleanly(
        d,
        "mmap(1 page at the last page offset)",
        res,
        Errno::EOVERFLOW,
        live,
    )
}

test!(remap huge fault folio: read_write_boundaries);
fn read_write_boundaries(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()?;
    ensure!(
        pread(&f, 10, size)?.is_empty(),
        "read at the end returned data"
    );
    ensure!(
        pread(&f, 10, size + 5 * ps())?.is_empty(),
        "read past the end returned data"
    );
    expect_errno("write at the end", pwrite(&f, &[1], size), Errno::ENOSPC)?;
    let n =
        pwrite(&f, &[1, 2, 3, 4], size - 2).map_err(|e| format!("write across the end: {e}"))?;
    ensure!(n == 2, "a write across the end wrote {n} bytes, expected 2");
    ensure!(pread(&f, 10, size - 2)? == [1, 2], "read of the last bytes");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: read_advances_position);
fn read_advances_position(_cx: &Context, d: &Device) -> TestResult {
    let mut f = d.open(true)?;
    pwrite(&f, &pattern(66, 200), 0).map_err(|e| e.to_string())?;
    let (mut a, mut b) = ([0u8; 100], [0u8; 100]);
    f.read_exact(&mut a).map_err(|e| e.to_string())?;
    f.read_exact(&mut b).map_err(|e| e.to_string())?;
    ensure!(
        [a, b].concat() == pattern(66, 200),
        "two reads did not return consecutive bytes"
    );
    Ok(Outcome::Pass)
}

// lseek(2): every node seeks like the kernel's fixed_size_llseek() over the buffer's size,
// except that SEEK_DATA, SEEK_HOLE and any other whence are refused. A refused seek leaves the
// position where it was.

/// lseek(2) with any `whence` (nix's `Whence` cannot say an invalid one).
fn lseek(f: &File, offset: i64, whence: i32) -> Result<i64, Errno> {
    // SAFETY: Moves only the position of an fd this test owns.
    let res = unsafe { libc::lseek(f.as_raw_fd(), offset, whence) };
    if res < 0 { Err(Errno::last()) } else { Ok(res) }
}

fn whence_name(whence: i32) -> String {
    match whence {
        libc::SEEK_SET => "SEEK_SET".into(),
        libc::SEEK_CUR => "SEEK_CUR".into(),
        libc::SEEK_END => "SEEK_END".into(),
        libc::SEEK_DATA => "SEEK_DATA".into(),
        libc::SEEK_HOLE => "SEEK_HOLE".into(),
        other => format!("whence {other}"),
    }
}

/// `lseek(offset, whence)`, which must succeed and return `want`.
fn seek_to(f: &File, offset: i64, whence: i32, want: i64) -> Result<(), String> {
    let what = format!("lseek({offset}, {})", whence_name(whence));
    let got = lseek(f, offset, whence).map_err(|e| format!("{what}: {e}"))?;
    ensure!(got == want, "{what} returned {got}, expected {want}");
    Ok(())
}

/// The position, with `lseek(0, SEEK_CUR)`.
fn position(f: &File) -> Result<i64, String> {
    lseek(f, 0, libc::SEEK_CUR).map_err(|e| format!("lseek(0, SEEK_CUR): {e}"))
}

/// `lseek(offset, whence)`, which must fail with EINVAL and leave the position at `at`.
fn refused_seek(f: &File, offset: i64, whence: i32, at: i64) -> Result<(), String> {
    let what = format!("lseek({offset}, {})", whence_name(whence));
    expect_errno(&what, lseek(f, offset, whence), Errno::EINVAL)?;
    let now = position(f)?;
    ensure!(
        now == at,
        "after the refused {what} the position is {now}, was {at}"
    );
    Ok(())
}

test!(remap huge fault folio: lseek_set_cur_end);
/// Each whence moves the position, and read() and write() start where it points.
fn lseek_set_cur_end(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let (size, ps) = (d.size()? as i64, ps() as i64);
    let data = pattern(88, 3 * ps as usize);
    pwrite(&f, &data, 0).map_err(|e| e.to_string())?;
    ensure!(position(&f)? == 0, "a new fd starts at {}", position(&f)?);
    seek_to(&f, 100, libc::SEEK_SET, 100)?;
    seek_to(&f, 0, libc::SEEK_CUR, 100)?;
    seek_to(&f, ps, libc::SEEK_CUR, 100 + ps)?;
    seek_to(&f, -50, libc::SEEK_CUR, 50 + ps)?;
    let mut buf = [0u8; 10];
    (&f).read_exact(&mut buf)
        .map_err(|e| format!("read: {e}"))?;
    let at = (50 + ps) as usize;
    ensure!(
        buf[..] == data[at..at + 10],
        "read() after lseek does not return the bytes at the position"
    );
    ensure!(
        position(&f)? == 60 + ps,
        "read() did not advance the position by 10"
    );
    seek_to(&f, 0, libc::SEEK_END, size)?;
    seek_to(&f, -ps, libc::SEEK_END, size - ps)?;
    let n = nix::unistd::write(&f, &[1, 2, 3, 4]).map_err(|e| format!("write: {e}"))?;
    ensure!(n == 4, "write() wrote {n} of 4 bytes");
    ensure!(
        pread(&f, 4, (size - ps) as usize)? == [1, 2, 3, 4],
        "write() after lseek(SEEK_END) did not land at the position"
    );
    ensure!(
        position(&f)? == size - ps + 4,
        "write() did not advance the position by 4"
    );
    seek_to(&f, size, libc::SEEK_SET, size)?;
    seek_to(&f, -size, libc::SEEK_END, 0)?;
    seek_to(&f, 0, libc::SEEK_SET, 0)?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: lseek_end_read_eof);
/// At the end, read() returns 0 and write() gets ENOSPC, and neither moves the position.
fn lseek_end_read_eof(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let size = d.size()? as i64;
    seek_to(&f, 0, libc::SEEK_END, size)?;
    let mut buf = [0u8; 16];
    let n = nix::unistd::read(&f, &mut buf).map_err(|e| format!("read at the end: {e}"))?;
    ensure!(n == 0, "read() at the end returned {n} bytes");
    ensure!(
        position(&f)? == size,
        "read() at the end moved the position"
    );
    expect_errno(
        "write() at the end",
        nix::unistd::write(&f, &[1]),
        Errno::ENOSPC,
    )?;
    ensure!(
        position(&f)? == size,
        "the refused write() moved the position"
    );
    pwrite(&f, &[0x5e], (size - 1) as usize).map_err(|e| e.to_string())?;
    seek_to(&f, -1, libc::SEEK_END, size - 1)?;
    let n = nix::unistd::read(&f, &mut buf).map_err(|e| format!("read of the last byte: {e}"))?;
    ensure!(
        n == 1 && buf[0] == 0x5e,
        "read() one byte before the end returned {:?}",
        &buf[..n]
    );
    let n = nix::unistd::read(&f, &mut buf).map_err(|e| format!("read at the end: {e}"))?;
    ensure!(n == 0, "read() after reaching the end returned {n} bytes");
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: lseek_past_end_einval);
/// A position past the end, by any whence, is refused.
fn lseek_past_end_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let (size, ps) = (d.size()? as i64, ps() as i64);
    seek_to(&f, ps, libc::SEEK_SET, ps)?;
    refused_seek(&f, size + 1, libc::SEEK_SET, ps)?;
    refused_seek(&f, size + ps, libc::SEEK_SET, ps)?;
    refused_seek(&f, i64::MAX, libc::SEEK_SET, ps)?;
    refused_seek(&f, size - ps + 1, libc::SEEK_CUR, ps)?;
    refused_seek(&f, 1, libc::SEEK_END, ps)?;
    refused_seek(&f, ps, libc::SEEK_END, ps)?;
    // From the end itself, one more byte is too far.
    seek_to(&f, 0, libc::SEEK_END, size)?;
    refused_seek(&f, 1, libc::SEEK_CUR, size)?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: lseek_negative_einval);
/// A negative position, by any whence, is refused.
fn lseek_negative_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let (size, ps) = (d.size()? as i64, ps() as i64);
    seek_to(&f, ps, libc::SEEK_SET, ps)?;
    refused_seek(&f, -1, libc::SEEK_SET, ps)?;
    refused_seek(&f, i64::MIN, libc::SEEK_SET, ps)?;
    refused_seek(&f, -(ps + 1), libc::SEEK_CUR, ps)?;
    refused_seek(&f, -(size + 1), libc::SEEK_END, ps)?;
    Ok(Outcome::Pass)
}

test!(remap huge fault folio: lseek_bad_whence_einval);
/// SEEK_DATA, SEEK_HOLE and whence values that mean nothing are refused.
fn lseek_bad_whence_einval(_cx: &Context, d: &Device) -> TestResult {
    let f = d.open(true)?;
    let ps = ps() as i64;
    seek_to(&f, ps, libc::SEEK_SET, ps)?;
    for whence in [libc::SEEK_DATA, libc::SEEK_HOLE, 5, 99] {
        refused_seek(&f, 0, whence, ps)?;
        refused_seek(&f, ps, whence, ps)?;
    }
    Ok(Outcome::Pass)
}
