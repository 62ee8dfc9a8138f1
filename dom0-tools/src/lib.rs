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

/// Host tests: the required [`hv::Hypervisor`] methods of a test double that models
/// something else (the firmware's tables, a front end's grants): no domains, no memory
/// (`ENOSYS`), Xen 4.17 without features.
#[cfg(test)]
#[macro_export]
macro_rules! offline_hypervisor {
    () => {
        fn domctl(
            &mut self,
            _: &mut guest_abi::domctl::XenDomctl,
        ) -> Result<(), guest_abi::errno::Errno> {
            Err(guest_abi::errno::Errno::ENOSYS)
        }
        fn sysctl(
            &mut self,
            _: &mut guest_abi::sysctl::XenSysctl,
        ) -> Result<(), guest_abi::errno::Errno> {
            Err(guest_abi::errno::Errno::ENOSYS)
        }
        fn populate_physmap(
            &mut self,
            _: guest_abi::types::DomId,
            _: &mut [u64],
        ) -> Result<usize, guest_abi::errno::Errno> {
            Err(guest_abi::errno::Errno::ENOSYS)
        }
        fn with_foreign_page(
            &mut self,
            _: guest_abi::types::DomId,
            _: u64,
            _: &mut dyn FnMut(&mut [u8; 4096]),
        ) -> Result<(), guest_abi::errno::Errno> {
            Err(guest_abi::errno::Errno::ENOSYS)
        }
        fn mmuext_foreign(
            &mut self,
            _: guest_abi::types::DomId,
            _: &guest_abi::mmu::MmuextOp,
        ) -> Result<(), guest_abi::errno::Errno> {
            Err(guest_abi::errno::Errno::ENOSYS)
        }
        fn xen_version(&mut self) -> Result<(u16, u16), guest_abi::errno::Errno> {
            Ok((4, 17))
        }
        fn features(&mut self) -> Result<u32, guest_abi::errno::Errno> {
            Ok(0)
        }
    };
}

pub mod acpi;
pub mod blkback;
pub mod block;
pub mod config;
pub mod cpumap;
pub mod fs;
pub mod gpt;
pub mod hv;
pub mod initrd;
pub mod net;
pub mod netback;
pub mod shell;
pub mod stream;
#[cfg(test)]
pub(crate) mod testalloc;
#[cfg(test)]
pub(crate) mod testhv;
pub mod xenstore;
pub mod xl;
