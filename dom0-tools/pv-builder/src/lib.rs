//! The ELF loader and the Xen PV domain builder: what the hypervisor needs to build dom0 and
//! the toolstack to build domUs, and nothing else (no toolstack, no shell).
//!
//! `no_std` + `alloc`; host-tested.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod build;
pub mod bzimage;
pub mod decompress;
pub mod elf;
pub mod kernel;

/// The XENFEAT bits the builder's tests assume the hypervisor offers (the simulated
/// hypervisor of the toolstack's tests offers the same).
pub const TEST_FEATURES: u32 = (1 << guest_abi::version::XENFEAT_WRITABLE_PAGE_TABLES)
    | (1 << guest_abi::version::XENFEAT_MMU_PT_UPDATE_PRESERVE_AD);
