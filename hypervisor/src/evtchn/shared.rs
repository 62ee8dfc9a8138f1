//! [`EventWords`] over a domain's shared_info page (bitmaps) and one vCPU's vcpu_info
//! (selector, upcall flag), through their proofs.

use super::two_level::EventWords;
use crate::domain::Domain;
use crate::mm::machine::{xen_u64, VcpuInfoAt};
use crate::mm::page_types::XenPage;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, AtomicU8};
use guest_abi::shared_info::{SharedInfo, VcpuInfo};

/// Stand-ins if an offset were ever outside the page (every one below is a shared_info or
/// vcpu_info field).
static NO_WORD: AtomicU64 = AtomicU64::new(0);
static NO_BYTE: AtomicU8 = AtomicU8::new(0);

/// The event words of a domain as one of its vCPUs sees them.
pub struct SharedWords<'a> {
    page: &'a XenPage,
    vcpu: VcpuInfoAt<'a>,
}

impl<'a> SharedWords<'a> {
    /// The words of domain `d` for its vCPU `vcpu`.
    pub fn new(d: &'a Domain, vcpu: u32) -> Self {
        SharedWords {
            page: &d.shared_info,
            vcpu: d.vcpu_info(vcpu),
        }
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        xen_u64(self.page, off).unwrap_or(&NO_WORD)
    }
}

impl EventWords for SharedWords<'_> {
    fn pending(&self, w: usize) -> &AtomicU64 {
        self.word(offset_of!(SharedInfo, evtchn_pending) + 8 * (w % 64))
    }
    fn mask(&self, w: usize) -> &AtomicU64 {
        self.word(offset_of!(SharedInfo, evtchn_mask) + 8 * (w % 64))
    }
    fn selector(&self) -> &AtomicU64 {
        self.vcpu
            .u64(offset_of!(VcpuInfo, evtchn_pending_sel))
            .unwrap_or(&NO_WORD)
    }
    fn upcall_pending(&self) -> &AtomicU8 {
        self.vcpu
            .u8(offset_of!(VcpuInfo, evtchn_upcall_pending))
            .unwrap_or(&NO_BYTE)
    }
}
