//! `test=blk-bench [mib=M] [count=C] [reps=R]`: pv-guest's figures for the block rows of
//! `cargo xtask bench` (xtask/src/bench/block.rs), measured the way the Linux guests'
//! `/bin/blkbench` and dom0's `blkbench` measure them, on the first disk (xvda): per rep,
//! write the first M MiB, read them back (128 KiB requests, indirect when the back end offers
//! it, up to 8 in flight), then C reads of 4 KiB at the offsets of the shared fixed-seed
//! sequence (`dom0_tools::shell::blkbench`), 8 in flight; each timed with the hypervisor's
//! system time and printed as one line:
//!
//! ```text
//! BLKBENCH seqwrite dev=xvda size=23068672 bytes=8388608 ns=123456789
//! BLKBENCH randread dev=xvda size=23068672 bytes=1048576 ns=123456789 ops=256
//! BLKBENCH error seqread: <why>
//! BLKBENCH done
//! ```

use super::device::{Blkfront, Limits, Shape, SubmitError};
use crate::cmdline;
use crate::println;
use crate::xenbus::XsClient;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use dom0_tools::shell::blkbench::{SplitMix64, BLOCK, SEED};
use guest_abi::io::blkif::BLKIF_SECTOR_SIZE;
use guest_abi::start_info::StartInfo;

/// xvda.
const DISK: u32 = 51712;
/// Requests in flight at once.
const WINDOW: usize = 8;
/// Sectors of a sequential request (128 KiB).
const SEQ_SECTORS: usize = 256;
/// The longest a batch may take.
const BATCH_NS: u64 = 30_000_000_000;

fn num(cmd: &str, key: &str, default: u64) -> u64 {
    cmdline::param(cmd, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `test=blk-bench` if the command line names it; false if not.
pub fn run(cmd: &str, si: &StartInfo, xs: Option<&mut XsClient>) -> bool {
    if cmdline::param(cmd, "test") != Some("blk-bench") {
        return false;
    }
    let Some(xs) = xs else {
        println!("BLKBENCH error connect: no XenStore");
        println!("BLKBENCH done");
        return true;
    };
    let (mib, count, reps) = (
        num(cmd, "mib", 8),
        num(cmd, "count", 256),
        num(cmd, "reps", 1),
    );
    let mut dev = match Blkfront::connect(xs, si, DISK, Limits::default()) {
        Ok(d) => d,
        Err(e) => {
            println!("BLKBENCH error connect: {e}");
            println!("BLKBENCH done");
            return true;
        }
    };
    let size = dev.disk.sectors * BLKIF_SECTOR_SIZE as u64;
    for _ in 0..reps {
        for mode in ["seqwrite", "seqread", "randread"] {
            let r = match mode {
                "randread" => randread(&mut dev, count),
                m => sequential(&mut dev, mib, m == "seqwrite"),
            };
            match r {
                Ok((bytes, ns, ops)) => {
                    let ops = if mode == "randread" {
                        format!(" ops={ops}")
                    } else {
                        String::new()
                    };
                    println!(
                        "BLKBENCH {mode} dev={} size={size} bytes={bytes} ns={ns}{ops}",
                        dev.name
                    );
                }
                Err(e) => println!("BLKBENCH error {mode}: {e}"),
            }
        }
    }
    if let Err(e) = dev.close(xs) {
        println!("BLKBENCH error disconnect: {e}");
    }
    println!("BLKBENCH done");
    true
}

/// Queues `req` (sector, sectors, data) into the window, waiting for it to drain when full;
/// the requests done so far.
fn queue(
    dev: &mut Blkfront,
    in_flight: &mut usize,
    sector: u64,
    sectors: usize,
    data: Option<&[u8]>,
    shape: Shape,
) -> Result<(), String> {
    loop {
        if *in_flight < WINDOW {
            match dev.submit(sector, 0, sectors, data, shape) {
                Ok(_) => {
                    *in_flight += 1;
                    return Ok(());
                }
                Err(SubmitError::RingFull | SubmitError::NoPages) => {}
                Err(e) => return Err(format!("{e}")),
            }
        }
        drain(dev, in_flight)?;
    }
}

/// Waits for every request in flight; an error if one failed.
fn drain(dev: &mut Blkfront, in_flight: &mut usize) -> Result<(), String> {
    let done = dev.wait_all(BATCH_NS).map_err(|e| format!("{e}"))?;
    *in_flight = 0;
    for d in done {
        d.ok()?;
    }
    Ok(())
}

/// Writes or reads the first `mib` MiB: (bytes, ns, requests).
fn sequential(dev: &mut Blkfront, mib: u64, write: bool) -> Result<(u64, u64, u64), String> {
    let sectors = (mib << 20) / BLKIF_SECTOR_SIZE as u64;
    if sectors > dev.disk.sectors {
        return Err(format!(
            "{mib} MiB is more than the disk's {} sectors",
            dev.disk.sectors
        ));
    }
    let shape = if dev.neg.indirect_segments >= SEQ_SECTORS / 8 {
        Shape::Indirect
    } else {
        Shape::Direct
    };
    let per = match shape {
        Shape::Indirect => SEQ_SECTORS,
        Shape::Direct => 11 * 8,
    };
    let data = vec![0xA5u8; per * BLKIF_SECTOR_SIZE];
    let mut in_flight = 0;
    let t0 = crate::time::now();
    let (mut at, mut reqs) = (0u64, 0u64);
    while at < sectors {
        let n = per.min((sectors - at) as usize);
        let d = write.then(|| &data[..n * BLKIF_SECTOR_SIZE]);
        queue(dev, &mut in_flight, at, n, d, shape)?;
        at += n as u64;
        reqs += 1;
    }
    drain(dev, &mut in_flight)?;
    let ns = crate::time::now().saturating_sub(t0);
    Ok((sectors * BLKIF_SECTOR_SIZE as u64, ns, reqs))
}

/// `count` reads of 4 KiB at the shared sequence's offsets: (bytes, ns, reads).
fn randread(dev: &mut Blkfront, count: u64) -> Result<(u64, u64, u64), String> {
    let blocks = dev.disk.sectors * BLKIF_SECTOR_SIZE as u64 / BLOCK as u64;
    if blocks == 0 {
        return Err(String::from("the disk is smaller than one 4 KiB block"));
    }
    let per = BLOCK / BLKIF_SECTOR_SIZE;
    let mut rng = SplitMix64::new(SEED);
    let mut in_flight = 0;
    let t0 = crate::time::now();
    for _ in 0..count {
        let sector = (rng.next_u64() % blocks) * per as u64;
        queue(dev, &mut in_flight, sector, per, None, Shape::Direct)?;
    }
    drain(dev, &mut in_flight)?;
    let ns = crate::time::now().saturating_sub(t0);
    Ok((count * BLOCK as u64, ns, count))
}
