//! Time: `clock_gettime(CLOCK_MONOTONIC)` by the system call itself (no vDSO: there is no
//! libc to find it), in nanoseconds.

use crate::sys::{nr, syscall6, Errno};

/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: usize = 1;

/// The monotonic clock in nanoseconds.
pub fn monotonic_ns() -> Result<u64, Errno> {
    let mut ts = [0i64; 2];
    // SAFETY: the kernel writes one `struct timespec` (two i64) at the pointer, `ts`.
    unsafe {
        syscall6(
            nr::CLOCK_GETTIME,
            [CLOCK_MONOTONIC, ts.as_mut_ptr() as usize, 0, 0, 0, 0],
        )?;
    }
    Ok(ts[0] as u64 * 1_000_000_000 + ts[1] as u64)
}
