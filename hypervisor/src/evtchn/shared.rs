//! [`EventWords`] over a domain's shared_info frame, through the direct map.

use super::two_level::EventWords;
use crate::mm::machine::Machine;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, AtomicU8};
use guest_abi::shared_info::{SharedInfo, VcpuInfo};

/// Stand-ins if a word were ever out of reach (a shared_info frame always is in RAM).
static NO_WORD: AtomicU64 = AtomicU64::new(0);
static NO_BYTE: AtomicU8 = AtomicU8::new(0);

/// The event words of the shared_info frame `mfn` (vCPU 0).
pub struct SharedWords<'a> {
    mem: &'a Machine,
    base: u64,
}

impl<'a> SharedWords<'a> {
    /// The words of shared_info frame `mfn`.
    pub fn new(mem: &'a Machine, mfn: u64) -> Self {
        SharedWords {
            mem,
            base: mfn << 12,
        }
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        self.mem
            .atomic_u64(self.base + off as u64)
            .unwrap_or(&NO_WORD)
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
        self.word(offset_of!(VcpuInfo, evtchn_pending_sel))
    }
    fn upcall_pending(&self) -> &AtomicU8 {
        self.mem
            .atomic_u8(self.base + offset_of!(VcpuInfo, evtchn_upcall_pending) as u64)
            .unwrap_or(&NO_BYTE)
    }
}
