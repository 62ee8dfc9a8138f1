//! dom0's block-device commands, as busybox has them: `lsblk` (the disks and their GPT
//! partitions), `hexdump -C [-s OFFSET] [-n LENGTH] DEVICE` and `dd if= of= [bs=] [count=]
//! [skip=] [seek=]` (devices, `/dev/zero` and `/dev/null`; whole sectors only).

use crate::block::{BlockDevice, Disks, SECTOR};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::fmt::Write;

/// The most `hexdump` prints without `-n`... and at all.
pub const HEXDUMP_MAX: u64 = 1 << 20;
/// The largest `bs` of `dd`.
pub const DD_MAX_BS: u64 = 1 << 20;

/// Sizes as lsblk prints them (1024-based, one decimal).
pub fn human(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// `lsblk`.
pub fn lsblk(disks: &Disks, out: &mut dyn Write) {
    let _ = writeln!(out, "NAME       SECTORS     SIZE RO TYPE");
    for (name, sectors, part, ro) in disks.list_all() {
        let _ = writeln!(
            out,
            "{name:<8} {sectors:>9} {:>8}  {} {}",
            human(sectors * SECTOR as u64),
            u8::from(ro),
            if part { "part" } else { "disk" }
        );
    }
}

fn number(s: &str, what: &str) -> Result<u64, String> {
    let (digits, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'M')) => (&s[..i], 1 << 20),
        _ => (s, 1),
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => digits.parse(),
    };
    v.ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| format!("invalid {what} '{s}'"))
}

/// Reads `len` bytes at byte `offset` of `dev` (any alignment) into `buf`.
fn read_bytes(dev: &mut dyn BlockDevice, offset: u64, buf: &mut [u8]) -> Result<(), String> {
    let first = offset / SECTOR as u64;
    let end = (offset + buf.len() as u64).div_ceil(SECTOR as u64);
    let mut tmp = vec![0u8; ((end - first) as usize) * SECTOR];
    dev.read(first, &mut tmp).map_err(|e| format!("{e}"))?;
    let skip = (offset % SECTOR as u64) as usize;
    buf.copy_from_slice(&tmp[skip..skip + buf.len()]);
    Ok(())
}

/// `hexdump -C [-s OFFSET] [-n LENGTH] DEVICE` (identical lines squeezed to `*`).
pub fn hexdump(disks: &mut Disks, args: &[&str], out: &mut dyn Write) {
    if let Err(e) = hexdump_inner(disks, args, out) {
        let _ = writeln!(out, "hexdump: {e}");
    }
}

fn hexdump_inner(disks: &mut Disks, args: &[&str], out: &mut dyn Write) -> Result<(), String> {
    let (mut skip, mut len, mut file) = (0u64, None, None);
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        match a {
            "-C" => {}
            "-s" => skip = number(it.next().ok_or("-s needs an OFFSET")?, "offset")?,
            "-n" => len = Some(number(it.next().ok_or("-n needs a LENGTH")?, "length")?),
            f if !f.starts_with('-') && file.is_none() => file = Some(f),
            _ => {
                return Err(String::from(
                    "usage: hexdump -C [-s OFFSET] [-n LENGTH] DEVICE",
                ))
            }
        }
    }
    let file = file.ok_or("usage: hexdump -C [-s OFFSET] [-n LENGTH] DEVICE")?;
    let mut dev = disks
        .open(file)
        .ok_or_else(|| format!("{file}: no such device"))?;
    let size = dev.sectors() * SECTOR as u64;
    let len = len
        .unwrap_or(size.saturating_sub(skip))
        .min(size.saturating_sub(skip));
    if len > HEXDUMP_MAX {
        return Err(format!(
            "{len} bytes is more than hexdump prints at once ({HEXDUMP_MAX}): give -n LENGTH"
        ));
    }
    let mut data = vec![0u8; len as usize];
    read_bytes(&mut dev, skip, &mut data)?;
    let mut last: Option<&[u8]> = None;
    let mut squeezed = false;
    for (i, line) in data.chunks(16).enumerate() {
        if line.len() == 16 && last == Some(line) {
            if !squeezed {
                let _ = writeln!(out, "*");
                squeezed = true;
            }
            continue;
        }
        squeezed = false;
        last = Some(line);
        let mut hex = String::new();
        for (j, b) in line.iter().enumerate() {
            let _ = write!(hex, "{b:02x} ");
            if j == 7 {
                hex.push(' ');
            }
        }
        let text: String = line
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let _ = writeln!(out, "{:08x}  {hex:<49} |{text}|", skip + i as u64 * 16);
    }
    let _ = writeln!(out, "{:08x}", skip + len);
    Ok(())
}

/// What `dd` reads from or writes to.
enum End {
    Zero,
    Null,
    Dev(String),
}

/// `dd if=SRC of=DST [bs=N] [count=N] [skip=N] [seek=N]`; `now` tells the time (ns) for the
/// rate it reports.
pub fn dd(
    disks: &mut Disks,
    args: &[&str],
    now: &mut dyn FnMut() -> Option<u64>,
    out: &mut dyn Write,
) {
    if let Err(e) = dd_inner(disks, args, now, out) {
        let _ = writeln!(out, "dd: {e}");
    }
}

fn dd_inner(
    disks: &mut Disks,
    args: &[&str],
    now: &mut dyn FnMut() -> Option<u64>,
    out: &mut dyn Write,
) -> Result<(), String> {
    let (mut src, mut dst) = (None, None);
    let (mut bs, mut count, mut skip, mut seek) = (SECTOR as u64, None, 0u64, 0u64);
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("invalid argument '{a}'"))?;
        let end = |v: &str| match v {
            "/dev/zero" => End::Zero,
            "/dev/null" => End::Null,
            d => End::Dev(String::from(d)),
        };
        match k {
            "if" => src = Some(end(v)),
            "of" => dst = Some(end(v)),
            "bs" => bs = number(v, "bs")?,
            "count" => count = Some(number(v, "count")?),
            "skip" => skip = number(v, "skip")?,
            "seek" => seek = number(v, "seek")?,
            _ => return Err(format!("unknown operand '{k}'")),
        }
    }
    if bs == 0 || !bs.is_multiple_of(SECTOR as u64) || bs > DD_MAX_BS {
        return Err(format!(
            "bs={bs}: block devices take whole 512-byte sectors, at most {DD_MAX_BS} bytes"
        ));
    }
    let src = src.ok_or("if= is required (a device or /dev/zero)")?;
    let dst = dst.ok_or("of= is required (a device or /dev/null)")?;
    if matches!(src, End::Null) || matches!(dst, End::Zero) {
        return Err(String::from(
            "/dev/null cannot be read nor /dev/zero written",
        ));
    }
    let per = bs / SECTOR as u64;
    let size_of = |disks: &mut Disks, e: &End| -> Result<Option<u64>, String> {
        match e {
            End::Dev(d) => disks
                .open(d)
                .map(|dev| Some(dev.sectors()))
                .ok_or_else(|| format!("{d}: no such device")),
            _ => Ok(None),
        }
    };
    let src_sectors = size_of(disks, &src)?;
    let dst_sectors = size_of(disks, &dst)?;
    let blocks = match (count, src_sectors) {
        (Some(c), _) => c,
        (None, Some(s)) => s.saturating_sub(skip.saturating_mul(per)) / per,
        (None, None) => return Err(String::from("count= is required with if=/dev/zero")),
    };
    let fits = |sectors: Option<u64>, from: u64, what: &str, name: &End| match (sectors, name) {
        (Some(n), End::Dev(d)) => {
            let end = from
                .checked_add(blocks)
                .and_then(|b| b.checked_mul(per))
                .unwrap_or(u64::MAX);
            if end > n {
                return Err(format!(
                    "{what} '{d}' past its end: {d} has {n} sectors, this reaches sector {end}"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    };
    fits(src_sectors, skip, "reading", &src)?;
    fits(dst_sectors, seek, "writing", &dst)?;
    let t0 = now();
    let mut buf = vec![0u8; bs as usize];
    let mut done = 0u64;
    let mut err = None;
    for i in 0..blocks {
        if let End::Dev(d) = &src {
            let mut dev = disks.open(d).ok_or("the input went away")?;
            let at = skip.saturating_add(i).saturating_mul(per);
            if let Err(e) = dev.read(at, &mut buf) {
                err = Some(format!("error reading '{d}' at sector {at}: {e}"));
                break;
            }
        }
        if let End::Dev(d) = &dst {
            let mut dev = disks.open(d).ok_or("the output went away")?;
            let at = seek.saturating_add(i).saturating_mul(per);
            if let Err(e) = dev.write(at, &buf) {
                err = Some(format!("error writing '{d}' at sector {at}: {e}"));
                break;
            }
        }
        done += 1;
    }
    if let End::Dev(d) = &dst {
        if let Some(mut dev) = disks.open(d) {
            dev.flush().map_err(|e| format!("flushing '{d}': {e}"))?;
        }
    }
    let bytes = done * bs;
    let _ = writeln!(out, "{done}+0 records in\n{done}+0 records out");
    let secs = match (t0, now()) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / 1e9),
        _ => None,
    };
    let _ = match secs {
        Some(s) if s > 0.0 => writeln!(
            out,
            "{bytes} bytes ({}) copied, {s:.6} seconds, {}/s",
            human(bytes),
            human((bytes as f64 / s) as u64)
        ),
        _ => writeln!(out, "{bytes} bytes ({}) copied", human(bytes)),
    };
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemDisk;
    use alloc::boxed::Box;

    fn disks_with(bytes: alloc::vec::Vec<u8>) -> Disks {
        let mut d = Disks::new();
        let _ = d.add("vda", Box::new(MemDisk::from_bytes(bytes)));
        d
    }

    fn run(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn hexdump_prints_as_busybox_squeezing_repeats() {
        let mut bytes = vec![0u8; 4096];
        bytes[512..520].copy_from_slice(b"EFI PART");
        let mut d = disks_with(bytes);
        let out = run(|o| hexdump(&mut d, &["-C", "-s", "512", "-n", "64", "/dev/vda"], o));
        assert_eq!(
            out,
            "00000200  45 46 49 20 50 41 52 54  00 00 00 00 00 00 00 00  |EFI PART........|\n\
             00000210  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n\
             *\n\
             00000240\n"
        );
        // An unaligned start and a short last line.
        let out = run(|o| hexdump(&mut d, &["-C", "-s", "0x204", "-n", "6", "vda"], o));
        assert_eq!(
            out,
            "00000204  50 41 52 54 00 00                                 |PART..|\n0000020a\n"
        );
    }

    #[test]
    fn hexdump_refuses_what_it_cannot_do_naming_why() {
        let mut d = disks_with(vec![0u8; 4 << 20]);
        for (args, want) in [
            (&["vdb"][..], "hexdump: vdb: no such device\n"),
            (&["-n"][..], "hexdump: -n needs a LENGTH\n"),
            (&["-n", "x", "vda"][..], "hexdump: invalid length 'x'\n"),
            (
                &["vda"][..],
                "hexdump: 4194304 bytes is more than hexdump prints at once (1048576): give -n LENGTH\n",
            ),
            (&[][..], "hexdump: usage: hexdump -C [-s OFFSET] [-n LENGTH] DEVICE\n"),
        ] {
            assert_eq!(run(|o| hexdump(&mut d, args, o)), want, "{args:?}");
        }
        // Past the end: nothing beyond it is printed.
        let out = run(|o| hexdump(&mut d, &["-s", "4194300", "-n", "100", "vda"], o));
        assert!(out.ends_with("00400000\n"), "{out}");
    }

    #[test]
    fn dd_copies_between_devices_and_reports_as_busybox() {
        let mut bytes = vec![0u8; 64 * 1024];
        bytes[..4096].fill(0xAB);
        let mut d = disks_with(bytes);
        let mut t = 0u64;
        let mut clock = || {
            t += 500_000_000;
            Some(t)
        };
        let out = run(|o| {
            dd(
                &mut d,
                &["if=vda", "of=vda", "bs=4k", "count=1", "seek=2"],
                &mut clock,
                o,
            )
        });
        assert_eq!(
            out,
            "1+0 records in\n1+0 records out\n4096 bytes (4.0K) copied, 0.500000 seconds, 8.0K/s\n"
        );
        let mut dev = d.open("vda").unwrap();
        let mut b = vec![0u8; 4096];
        dev.read(16, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0xAB));
        // Zeros over it again; reading the whole disk to /dev/null counts every block.
        let out = run(|o| {
            dd(
                &mut d,
                &[
                    "if=/dev/zero",
                    "of=/dev/vda",
                    "bs=4096",
                    "count=1",
                    "seek=2",
                ],
                &mut || None,
                o,
            )
        });
        assert_eq!(
            out,
            "1+0 records in\n1+0 records out\n4096 bytes (4.0K) copied\n"
        );
        let mut dev = d.open("vda").unwrap();
        dev.read(16, &mut b).unwrap();
        assert!(b.iter().all(|&x| x == 0));
        let out = run(|o| {
            dd(
                &mut d,
                &["if=vda", "of=/dev/null", "bs=8k"],
                &mut || None,
                o,
            )
        });
        assert!(
            out.starts_with("8+0 records in\n8+0 records out\n65536 bytes"),
            "{out}"
        );
    }

    #[test]
    fn dd_refuses_bad_operands_and_never_writes_past_the_end() {
        let mut d = disks_with(vec![0u8; 8192]);
        for (args, want) in [
            (&["if=vda", "of=/dev/null", "bs=100"][..], "dd: bs=100: block devices take whole 512-byte sectors, at most 1048576 bytes\n"),
            (&["if=vda", "of=/dev/null", "bs=2M"][..], "dd: bs=2097152: block devices take whole 512-byte sectors, at most 1048576 bytes\n"),
            (&["of=/dev/null"][..], "dd: if= is required (a device or /dev/zero)\n"),
            (&["if=/dev/zero", "of=vda"][..], "dd: count= is required with if=/dev/zero\n"),
            (&["if=/dev/null", "of=vda"][..], "dd: /dev/null cannot be read nor /dev/zero written\n"),
            (&["if=vdz", "of=/dev/null"][..], "dd: vdz: no such device\n"),
            (&["if=vda", "of=/dev/null", "bogus=1"][..], "dd: unknown operand 'bogus'\n"),
            (&["if=vda", "of=/dev/null", "count"][..], "dd: invalid argument 'count'\n"),
            (
                &["if=/dev/zero", "of=vda", "count=17"][..],
                "dd: writing 'vda' past its end: vda has 16 sectors, this reaches sector 17\n",
            ),
            (
                &["if=vda", "of=/dev/null", "skip=20", "count=1"][..],
                "dd: reading 'vda' past its end: vda has 16 sectors, this reaches sector 21\n",
            ),
            (
                &["if=/dev/zero", "of=vda", "count=1", "seek=18446744073709551615"][..],
                "dd: writing 'vda' past its end: vda has 16 sectors, this reaches sector 18446744073709551615\n",
            ),
        ] {
            assert_eq!(run(|o| dd(&mut d, args, &mut || None, o)), want, "{args:?}");
        }
    }

    #[test]
    fn lsblk_lists_disks_with_sizes() {
        let d = disks_with(vec![0u8; 128 << 10]);
        let out = run(|o| lsblk(&d, o));
        assert_eq!(
            out,
            "NAME       SECTORS     SIZE RO TYPE\nvda            256   128.0K  0 disk\n"
        );
        assert_eq!(human(511), "511B");
        assert_eq!(human(128 << 20), "128.0M");
        assert_eq!(human(3 << 29), "1.5G");
    }
}
