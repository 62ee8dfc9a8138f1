//! The dom0 toolstack: the `xl` commands, xl.cfg parsing, dom0's initrd and shell, xenstored
//! and the back ends. The ELF loader and PV domain builder are the `pv-builder` crate (shared
//! with the hypervisor), re-exported here as `build` and `elf`.
//!
//! `no_std` + `alloc` without the default `std` feature (the hypervisor and pv-guest build it
//! that way for `x86_64-unknown-none`); `std` only serves host tests.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// The ELF loader and PV domain builder live in their own crate (the hypervisor uses them
/// without the toolstack); these are their paths here.
pub use pv_builder::{build, elf};

pub mod acpi;
pub mod blkback;
pub mod block;
pub mod config;
pub mod gpt;
pub mod hv;
pub mod initrd;
pub mod shell;
#[cfg(test)]
pub(crate) mod testalloc;
#[cfg(test)]
pub(crate) mod testhv;
pub mod xenstore;
pub mod xl;
