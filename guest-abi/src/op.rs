//! The shape shared by the operation structures of the multiplexed hypercalls
//! (`event_channel_op`, `grant_table_op`): a `#[repr(C)]` zerocopy struct tied to its command
//! number through a trait.

/// Defines an operation structure and implements its family's trait (`EvtchnOp`,
/// `GnttabOp`) with the command number.
macro_rules! abi_op {
    ($tr:ident, $(#[$m:meta])* $name:ident = $cmd:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
        #[repr(C)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }
        impl $tr for $name {
            const CMD: u32 = $cmd;
        }
    };
}
pub(crate) use abi_op;
