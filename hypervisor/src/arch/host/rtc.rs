//! The modelled real-time clock.

/// The wall clock at boot: 2026-12-07 00:00:00 UTC.
pub const BOOT_UNIX_TIME: u64 = 1_796_601_600;

/// Seconds since the epoch.
pub fn read_unix_time() -> Option<u64> {
    Some(BOOT_UNIX_TIME)
}
