//! [`Platform`] on the bare machine: the scratch L1 is written with plain stores, the TLB is
//! flushed with `mov cr3`, and a machine frame is the identity-mapped address >> 12.

use super::cpu;
use super::layout::{KERNEL_RW, PAGE, SCRATCH_VA};
use super::paging;
use super::tasks;
use crate::workloads::Platform;

/// The native platform.
pub struct Native;

impl Platform for Native {
    fn rdtsc(&self) -> u64 {
        cpu::rdtsc()
    }
    fn scratch_va(&self) -> u64 {
        SCRATCH_VA
    }
    fn scratch_pte(&self, i: usize) -> u64 {
        paging::scratch_l1() + (i as u64) * 8
    }
    fn pte_rw(&self, mfn: u64) -> u64 {
        (mfn * PAGE) | KERNEL_RW
    }
    fn mfn_of(&self, va: u64) -> u64 {
        va / PAGE
    }
    fn write_ptes(&mut self, ptes: &[(u64, u64)]) {
        let l1 = paging::scratch_l1();
        for &(ptr, val) in ptes {
            // Only the scratch L1's entries are ours to write (the PV side's hypervisor
            // checks the same thing, for real).
            if !(l1..l1 + PAGE).contains(&ptr) || ptr % 8 != 0 {
                continue;
            }
            // SAFETY: an entry of the scratch L1 (identity-mapped), which maps nothing but
            // the scratch area; the workloads flush the TLB before reusing a changed entry.
            unsafe { core::ptr::write_volatile(ptr as *mut u64, val) };
        }
    }
    fn flush_tlb(&mut self) {
        cpu::flush_tlb();
    }
    fn user_switches(&mut self, switches: u64) -> Result<(), &'static str> {
        tasks::run(switches)
    }
}
