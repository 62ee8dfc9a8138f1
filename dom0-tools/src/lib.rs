//! The dom0 toolstack: the ELF loader and PV domain builder shared with the hypervisor, the
//! `xl` commands, xl.cfg parsing, dom0's initrd and shell.
//!
//! `no_std` + `alloc` without the default `std` feature (the hypervisor and pv-guest build it
//! that way for `x86_64-unknown-none`); `std` only serves host tests.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod build;
pub mod config;
pub mod elf;
pub mod hv;
pub mod initrd;
pub mod shell;
#[cfg(any(test, feature = "std"))]
pub mod sim;
#[cfg(test)]
pub(crate) mod testalloc;
pub mod xenstore;
pub mod xl;
