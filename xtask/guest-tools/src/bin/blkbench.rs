//! `blkbench`: a block device's throughput and IOPS with direct I/O (`O_DIRECT`, page-aligned
//! buffers: the page cache is not measured), timed by `CLOCK_MONOTONIC`.
//!
//! ```text
//! blkbench seqread DEV MIB     read MIB MiB from offset 0 in 1 MiB requests
//! blkbench seqwrite DEV MIB    write MIB MiB from offset 0 in 1 MiB requests, then fdatasync
//! blkbench randread DEV COUNT  COUNT 4 KiB reads at random 4 KiB-aligned offsets
//! ```
//!
//! Each run prints one line, which `cargo xtask bench` parses (xtask/src/bench/block.rs):
//!
//! ```text
//! BLKBENCH seqread dev=/dev/xvda size=23068672 bytes=16777216 ns=123456789
//! BLKBENCH randread dev=/dev/xvda size=23068672 bytes=1048576 ns=123456789 ops=256
//! BLKBENCH error seqread: open /dev/xvda: errno 2 (ENOENT)
//! ```
//!
//! `size` is the device's (`BLKGETSIZE64`, else `lseek(SEEK_END)`); `ns` covers the I/O
//! only (open and buffer set-up are outside it; the write's `fdatasync` is inside). Random
//! offsets: block `next_u64() % (size / 4096)` of splitmix64 from [`rng::SEED`], the same
//! sequence as dom0's `blkbench randread` and pv-guest's `test=blk-bench`. Exit status 0, 1
//! after an error (the `error` line), 2 for a usage error.

#![no_std]
#![no_main]

use guest_tools::rng::{SplitMix64, SEED};
use guest_tools::sys::{self, Errno, O_CLOEXEC, O_DIRECT, O_RDONLY, O_WRONLY};
use guest_tools::{eprintln, println, time, Args};

guest_tools::entry!(main);

/// Sequential requests: 1 MiB.
const SEQ_BLOCK: usize = 1 << 20;
/// Random reads: 4 KiB.
const RAND_BLOCK: usize = 4096;

const USAGE: &str = "usage: blkbench seqread DEV MIB | seqwrite DEV MIB | randread DEV COUNT";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SeqRead,
    SeqWrite,
    RandRead,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::SeqRead => "seqread",
            Mode::SeqWrite => "seqwrite",
            Mode::RandRead => "randread",
        }
    }
}

fn main(args: &Args) -> i32 {
    let mode = match args.str(1) {
        Some("seqread") => Mode::SeqRead,
        Some("seqwrite") => Mode::SeqWrite,
        Some("randread") => Mode::RandRead,
        _ => return usage(),
    };
    let (Some(dev), Some(n)) = (args.str(2), args.str(3).and_then(|s| s.parse::<u64>().ok()))
    else {
        return usage();
    };
    if args.len() != 4 || n == 0 {
        return usage();
    }
    match run(mode, dev, n) {
        Ok(r) => {
            let ops = match mode {
                Mode::RandRead => OpsField(Some(r.ops)),
                _ => OpsField(None),
            };
            println!(
                "BLKBENCH {} dev={dev} size={} bytes={} ns={}{ops}",
                mode.name(),
                r.size,
                r.bytes,
                r.ns
            );
            0
        }
        Err(e) => {
            println!("BLKBENCH error {}: {e}", mode.name());
            1
        }
    }
}

fn usage() -> i32 {
    eprintln!("{USAGE}");
    2
}

/// ` ops=N` for random reads, nothing otherwise.
struct OpsField(Option<u64>);

impl core::fmt::Display for OpsField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(n) => write!(f, " ops={n}"),
            None => Ok(()),
        }
    }
}

struct Done {
    size: u64,
    bytes: u64,
    ns: u64,
    ops: u64,
}

/// Why a run failed.
enum Fail {
    /// A system call failed.
    Sys(&'static str, Errno),
    /// A read or write failed at this byte offset.
    Io(&'static str, Errno, u64),
    /// A read or write moved fewer bytes than asked, at this offset.
    Short(u64),
    /// The device (this many bytes) is smaller than the run.
    Small(u64),
}

impl core::fmt::Display for Fail {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fail::Sys(step, e) => write!(f, "{step}: {e}"),
            Fail::Io(step, e, at) => write!(f, "{step} at byte {at}: {e}"),
            Fail::Short(at) => write!(f, "short transfer at byte {at}"),
            Fail::Small(size) => write!(f, "the device has {size} bytes, fewer than asked"),
        }
    }
}

fn run(mode: Mode, dev: &str, n: u64) -> Result<Done, Fail> {
    let mut path = [0u8; 256];
    if dev.len() >= path.len() {
        return Err(Fail::Sys("open", Errno(36)));
    }
    path[..dev.len()].copy_from_slice(dev.as_bytes());
    let flags = O_DIRECT
        | O_CLOEXEC
        | if mode == Mode::SeqWrite {
            O_WRONLY
        } else {
            O_RDONLY
        };
    let fd = sys::open(&path[..=dev.len()], flags).map_err(|e| Fail::Sys("open", e))?;
    let r = measure(mode, fd, n);
    let _ = sys::close(fd);
    r
}

fn measure(mode: Mode, fd: usize, n: u64) -> Result<Done, Fail> {
    let size = sys::device_size(fd).map_err(|e| Fail::Sys("size", e))?;
    let block = if mode == Mode::RandRead {
        RAND_BLOCK
    } else {
        SEQ_BLOCK
    };
    let buf = sys::alloc_pages(block).map_err(|e| Fail::Sys("mmap", e))?;
    let now = || time::monotonic_ns().map_err(|e| Fail::Sys("clock_gettime", e));
    match mode {
        Mode::SeqRead | Mode::SeqWrite => {
            let bytes = n.saturating_mul(SEQ_BLOCK as u64);
            if bytes > size {
                return Err(Fail::Small(size));
            }
            if mode == Mode::SeqWrite {
                // Not zeros: nothing on the way may treat the data as a hole.
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = (i as u8) ^ 0x5A;
                }
            }
            let t0 = now()?;
            let mut at = 0u64;
            while at < bytes {
                let r = if mode == Mode::SeqWrite {
                    sys::pwrite(fd, buf, at)
                } else {
                    sys::pread(fd, buf, at)
                };
                match r {
                    Ok(k) if k == SEQ_BLOCK => at += SEQ_BLOCK as u64,
                    Ok(_) => return Err(Fail::Short(at)),
                    Err(e) => {
                        let step = if mode == Mode::SeqWrite {
                            "write"
                        } else {
                            "read"
                        };
                        return Err(Fail::Io(step, e, at));
                    }
                }
            }
            if mode == Mode::SeqWrite {
                sys::fdatasync(fd).map_err(|e| Fail::Sys("fdatasync", e))?;
            }
            let ns = now()? - t0;
            Ok(Done {
                size,
                bytes,
                ns,
                ops: n,
            })
        }
        Mode::RandRead => {
            let blocks = size / RAND_BLOCK as u64;
            if blocks == 0 {
                return Err(Fail::Small(size));
            }
            let mut rng = SplitMix64::new(SEED);
            let t0 = now()?;
            for _ in 0..n {
                let at = rng.next_u64() % blocks * RAND_BLOCK as u64;
                match sys::pread(fd, buf, at) {
                    Ok(k) if k == RAND_BLOCK => {}
                    Ok(_) => return Err(Fail::Short(at)),
                    Err(e) => return Err(Fail::Io("read", e, at)),
                }
            }
            let ns = now()? - t0;
            Ok(Done {
                size,
                bytes: n * RAND_BLOCK as u64,
                ns,
                ops: n,
            })
        }
    }
}
