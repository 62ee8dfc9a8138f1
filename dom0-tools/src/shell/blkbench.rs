//! `blkbench randread DEV COUNT`: dom0's own random-read rate on one of its block devices,
//! the baseline of the block rows of `cargo xtask bench` (xtask/src/bench/block.rs; dom0's
//! sequential rows use `dd`). COUNT reads of 4 KiB at 4 KiB-aligned offsets from the same
//! fixed-seed sequence as the Linux guests' `/bin/blkbench` (xtask/guest-tools) and
//! pv-guest's `test=blk-bench`: block `next() % (size / 4096)` of splitmix64 from [`SEED`].
//! It prints one line, as the Linux program does:
//!
//! ```text
//! BLKBENCH randread dev=vda3 size=23068672 bytes=1048576 ns=123456789 ops=256
//! BLKBENCH error randread: vdz: no such device
//! ```

use crate::block::{BlockDevice, Disks, SECTOR};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;

/// The fixed seed of the random reads (the same as xtask/guest-tools/src/rng.rs).
pub const SEED: u64 = 0x5EED_B10C;
/// One random read.
pub const BLOCK: usize = 4096;
/// The most reads one command makes.
pub const MAX_COUNT: u64 = 1 << 20;

const USAGE: &str = "usage: blkbench randread DEV COUNT";

/// splitmix64 (Steele, Lea, Flood), as xtask/guest-tools/src/rng.rs.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The shell's `blkbench`, timed by the hypervisor's system time.
pub fn run<H: Hypervisor>((hv, disks): (&mut H, &mut Disks), args: &[&str], out: &mut dyn Write) {
    randread(disks, args, &mut || hv.now_ns(), out);
}

/// `blkbench randread DEV COUNT` with `now` telling the time in ns.
pub fn randread(
    disks: &mut Disks,
    args: &[&str],
    now: &mut dyn FnMut() -> Option<u64>,
    out: &mut dyn Write,
) {
    let (dev, count) = match args {
        ["randread", dev, n] => match n.parse::<u64>() {
            Ok(c) if (1..=MAX_COUNT).contains(&c) => (*dev, c),
            _ => {
                let _ = writeln!(out, "blkbench: COUNT is 1..={MAX_COUNT}, not '{n}'");
                return;
            }
        },
        _ => {
            let _ = writeln!(out, "{USAGE}");
            return;
        }
    };
    let _ = match measure(disks, dev, count, now) {
        Ok((size, ns)) => writeln!(
            out,
            "BLKBENCH randread dev={} size={size} bytes={} ns={ns} ops={count}",
            dev.strip_prefix("/dev/").unwrap_or(dev),
            count * BLOCK as u64
        ),
        Err(e) => writeln!(out, "BLKBENCH error randread: {e}"),
    };
}

/// The device's size in bytes and the ns the reads took.
fn measure(
    disks: &mut Disks,
    dev: &str,
    count: u64,
    now: &mut dyn FnMut() -> Option<u64>,
) -> Result<(u64, u64), String> {
    let mut d = disks
        .open(dev)
        .ok_or_else(|| format!("{dev}: no such device"))?;
    let size = d.sectors() * SECTOR as u64;
    let blocks = size / BLOCK as u64;
    if blocks == 0 {
        return Err(format!("{dev}: {size} bytes, smaller than one 4 KiB block"));
    }
    let mut buf = alloc::vec![0u8; BLOCK];
    let mut rng = SplitMix64::new(SEED);
    let t0 = now().ok_or("no clock: the hypervisor does not tell the time")?;
    for _ in 0..count {
        let block = rng.next_u64() % blocks;
        let sector = block * (BLOCK / SECTOR) as u64;
        d.read(sector, &mut buf)
            .map_err(|e| format!("reading {dev} at byte {}: {e}", block * BLOCK as u64))?;
    }
    let t1 = now().ok_or("no clock: the hypervisor does not tell the time")?;
    Ok((size, t1.saturating_sub(t0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockError;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    /// The documented first values (xtask/guest-tools/src/rng.rs): the Linux program and
    /// this command read the same blocks.
    #[test]
    fn the_sequence_is_the_linux_programs() {
        let mut r = SplitMix64::new(SEED);
        assert_eq!(
            [r.next_u64(), r.next_u64(), r.next_u64()],
            [
                0x3672_0bf9_58dc_9587,
                0x29c7_9469_6297_dec5,
                0x22f4_fdd5_558a_af69
            ]
        );
    }

    /// A disk that records the sectors read.
    struct Recorder {
        sectors: u64,
        reads: Log,
        fail_at: Option<usize>,
    }

    impl BlockDevice for Recorder {
        fn sectors(&self) -> u64 {
            self.sectors
        }
        fn read_only(&self) -> bool {
            true
        }
        fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
            crate::block::check(self.sectors, sector, buf.len())?;
            let mut r = self.reads.borrow_mut();
            if Some(r.len()) == self.fail_at {
                return Err(BlockError::Io);
            }
            r.push((sector, buf.len()));
            Ok(())
        }
        fn write(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
            Err(BlockError::ReadOnly)
        }
        fn flush(&mut self) -> Result<(), BlockError> {
            Ok(())
        }
    }

    type Log = alloc::rc::Rc<core::cell::RefCell<Vec<(u64, usize)>>>;

    fn disks(sectors: u64, fail_at: Option<usize>) -> (Disks, Log) {
        let reads = alloc::rc::Rc::default();
        let mut d = Disks::new();
        let _ = d.add(
            "vdb",
            Box::new(Recorder {
                sectors,
                reads: alloc::rc::Rc::clone(&reads),
                fail_at,
            }),
        );
        // Disks::add looked for a GPT: only the command's reads count.
        reads.borrow_mut().clear();
        (d, reads)
    }

    fn clock() -> impl FnMut() -> Option<u64> {
        let mut t = 1_000;
        move || {
            t += 250_000;
            Some(t)
        }
    }

    #[test]
    fn reads_4k_blocks_of_the_sequence_and_prints_one_line() {
        // 100 blocks of 4 KiB.
        let (mut d, reads) = disks(800, None);
        let mut out = String::new();
        randread(
            &mut d,
            &["randread", "/dev/vdb", "5"],
            &mut clock(),
            &mut out,
        );
        assert_eq!(
            out,
            "BLKBENCH randread dev=vdb size=409600 bytes=20480 ns=250000 ops=5\n"
        );
        let mut r = SplitMix64::new(SEED);
        let want: Vec<(u64, usize)> = (0..5).map(|_| (r.next_u64() % 100 * 8, 4096)).collect();
        assert_eq!(*reads.borrow(), want);
    }

    #[test]
    fn errors_are_one_line_naming_why() {
        let (mut d, _) = disks(800, Some(2));
        for (args, want) in [
            (
                &["randread", "vdb", "5"][..],
                "BLKBENCH error randread: reading vdb at byte ",
            ),
            (
                &["randread", "vdz", "5"][..],
                "BLKBENCH error randread: vdz: no such device\n",
            ),
            (
                &["randread", "vdb", "0"][..],
                "blkbench: COUNT is 1..=1048576, not '0'\n",
            ),
            (
                &["randread", "vdb", "x"][..],
                "blkbench: COUNT is 1..=1048576, not 'x'\n",
            ),
            (
                &["seqread", "vdb", "5"][..],
                "usage: blkbench randread DEV COUNT\n",
            ),
            (&[][..], "usage: blkbench randread DEV COUNT\n"),
        ] {
            let mut out = String::new();
            randread(&mut d, args, &mut clock(), &mut out);
            assert!(out.starts_with(want), "{args:?}: {out:?}");
        }
        let (mut small, _) = disks(7, None);
        let mut out = String::new();
        randread(
            &mut small,
            &["randread", "vdb", "1"],
            &mut clock(),
            &mut out,
        );
        assert_eq!(
            out,
            "BLKBENCH error randread: vdb: 3584 bytes, smaller than one 4 KiB block\n"
        );
        let (mut d, _) = disks(800, None);
        let mut out = String::new();
        randread(&mut d, &["randread", "vdb", "1"], &mut || None, &mut out);
        assert_eq!(
            out,
            "BLKBENCH error randread: no clock: the hypervisor does not tell the time\n"
        );
    }
}
