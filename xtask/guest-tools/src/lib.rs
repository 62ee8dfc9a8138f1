//! Static Linux programs for the Linux guests, without libc: the runtime they share.
//!
//! - [`sys`]: Linux x86_64 system calls by `syscall` in inline assembly, each returning
//!   `Result<usize, Errno>`;
//! - [`rt`]: the process entry (`_start` from [`entry!`]), the argument vector, exit and the
//!   panic handler;
//! - [`out`]: formatted output to a file descriptor (`core::fmt`), with [`println!`];
//! - [`time`]: `CLOCK_MONOTONIC` by the `clock_gettime` system call (not the vDSO);
//! - [`rng`]: the fixed-seed generator of the benchmarks' random offsets;
//! - `mem`: `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`, `strlen`, which `core` calls
//!   and no libc provides here.
//!
//! Programs: `src/bin/blkbench.rs` (block-device throughput and IOPS, issue 15). A program is
//! a `#![no_std] #![no_main]` binary that invokes [`entry!`] with its `main`.

#![no_std]

mod mem;
pub mod out;
pub mod rng;
pub mod rt;
pub mod sys;
pub mod time;

pub use rt::Args;
pub use sys::Errno;
