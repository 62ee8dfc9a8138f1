//! `callback_op`: registering the guest's event, failsafe and syscall entry
//! points.

use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Event upcall entry point.
pub const CALLBACKTYPE_EVENT: u16 = 0;
/// Failsafe entry (a bad segment on return to the guest).
pub const CALLBACKTYPE_FAILSAFE: u16 = 1;
/// `syscall` from guest user mode.
pub const CALLBACKTYPE_SYSCALL: u16 = 2;
/// Deprecated sysenter type.
pub const CALLBACKTYPE_SYSENTER_DEPRECATED: u16 = 3;
/// NMI entry.
pub const CALLBACKTYPE_NMI: u16 = 4;
/// `sysenter` from guest user mode.
pub const CALLBACKTYPE_SYSENTER: u16 = 5;
/// 32-bit `syscall` from guest user mode.
pub const CALLBACKTYPE_SYSCALL32: u16 = 7;

/// Callback flag bit: mask events on entry.
pub const CALLBACKF_MASK_EVENTS: u16 = 1 << 0;

/// `callback_op` command: register a callback ([`CallbackRegister`]).
pub const CALLBACKOP_REGISTER: u32 = 0;
/// `callback_op` command: unregister a callback ([`CallbackUnregister`]).
pub const CALLBACKOP_UNREGISTER: u32 = 1;

/// Argument of `CALLBACKOP_REGISTER` (16 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CallbackRegister {
    /// `CALLBACKTYPE_*`.
    pub type_: u16,
    /// `CALLBACKF_*`.
    pub flags: u16,
    /// Padding.
    pub _pad: u32,
    /// Entry address.
    pub address: u64,
}

/// Argument of `CALLBACKOP_UNREGISTER` (4 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CallbackUnregister {
    /// `CALLBACKTYPE_*`.
    pub type_: u16,
    /// Padding.
    pub _unused: u16,
}

assert_eq_size!(CallbackRegister, [u8; 16]);
const_assert_eq!(core::mem::offset_of!(CallbackRegister, address), 8);
assert_eq_size!(CallbackUnregister, [u8; 4]);
