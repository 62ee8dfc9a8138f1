//! `sched_op`: yield, block, shutdown and poll.

use crate::types::DomId;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Yield the CPU.
pub const SCHEDOP_YIELD: u32 = 0;
/// Block until an event arrives (clears the upcall mask).
pub const SCHEDOP_BLOCK: u32 = 1;
/// Shut the calling domain down ([`SchedShutdown`]).
pub const SCHEDOP_SHUTDOWN: u32 = 2;
/// Block until one of some ports is pending or a timeout ([`SchedPoll`]).
pub const SCHEDOP_POLL: u32 = 3;
/// Shut another domain down ([`SchedRemoteShutdown`]).
pub const SCHEDOP_REMOTE_SHUTDOWN: u32 = 4;
/// Record a shutdown code without shutting down ([`SchedShutdown`]).
pub const SCHEDOP_SHUTDOWN_CODE: u32 = 5;
/// Arm/disarm a watchdog.
pub const SCHEDOP_WATCHDOG: u32 = 6;
/// Override vCPU pinning.
pub const SCHEDOP_PIN_OVERRIDE: u32 = 7;

/// Normal exit.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// Restart.
pub const SHUTDOWN_REBOOT: u32 = 1;
/// Suspend (save).
pub const SHUTDOWN_SUSPEND: u32 = 2;
/// The domain crashed.
pub const SHUTDOWN_CRASH: u32 = 3;
/// The watchdog expired.
pub const SHUTDOWN_WATCHDOG: u32 = 4;
/// Soft reset.
pub const SHUTDOWN_SOFT_RESET: u32 = 5;
/// Largest valid reason.
pub const SHUTDOWN_MAX: u32 = 5;

/// A shutdown reason.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u32)]
pub enum ShutdownReason {
    /// Normal exit.
    Poweroff = SHUTDOWN_POWEROFF,
    /// Restart.
    Reboot = SHUTDOWN_REBOOT,
    /// Suspend.
    Suspend = SHUTDOWN_SUSPEND,
    /// Crash.
    Crash = SHUTDOWN_CRASH,
    /// Watchdog expiry.
    Watchdog = SHUTDOWN_WATCHDOG,
    /// Soft reset.
    SoftReset = SHUTDOWN_SOFT_RESET,
}

impl ShutdownReason {
    /// Decodes a raw reason; `None` beyond `SHUTDOWN_MAX`.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            SHUTDOWN_POWEROFF => Self::Poweroff,
            SHUTDOWN_REBOOT => Self::Reboot,
            SHUTDOWN_SUSPEND => Self::Suspend,
            SHUTDOWN_CRASH => Self::Crash,
            SHUTDOWN_WATCHDOG => Self::Watchdog,
            SHUTDOWN_SOFT_RESET => Self::SoftReset,
            _ => return None,
        })
    }
    /// The raw value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
    /// Lower-case name (`"poweroff"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Poweroff => "poweroff",
            Self::Reboot => "reboot",
            Self::Suspend => "suspend",
            Self::Crash => "crash",
            Self::Watchdog => "watchdog",
            Self::SoftReset => "soft_reset",
        }
    }
}

/// Argument of `SCHEDOP_SHUTDOWN` / `SCHEDOP_SHUTDOWN_CODE` (4 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SchedShutdown {
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// Argument of `SCHEDOP_POLL` (24 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SchedPoll {
    /// Guest pointer to an array of `u32` ports.
    pub ports: u64,
    /// Number of ports.
    pub nr_ports: u32,
    /// Padding.
    pub _pad: u32,
    /// Absolute system-time timeout in ns (0 = none).
    pub timeout: u64,
}

/// Argument of `SCHEDOP_REMOTE_SHUTDOWN` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SchedRemoteShutdown {
    /// Target domain.
    pub domain_id: DomId,
    /// Padding.
    pub _pad: u16,
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// Argument of `SCHEDOP_WATCHDOG` (8 B).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SchedWatchdog {
    /// Watchdog id (0 = allocate a new one).
    pub id: u32,
    /// Timeout in seconds (0 = destroy).
    pub timeout: u32,
}

assert_eq_size!(SchedShutdown, [u8; 4]);
assert_eq_size!(SchedPoll, [u8; 24]);
const_assert_eq!(core::mem::offset_of!(SchedPoll, nr_ports), 8);
const_assert_eq!(core::mem::offset_of!(SchedPoll, timeout), 16);
assert_eq_size!(SchedRemoteShutdown, [u8; 8]);
const_assert_eq!(core::mem::offset_of!(SchedRemoteShutdown, reason), 4);
assert_eq_size!(SchedWatchdog, [u8; 8]);
