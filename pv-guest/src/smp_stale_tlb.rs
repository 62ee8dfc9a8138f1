//! `test=smp`'s stale-TLB attack, a race Xen guards with its TLB flush clock: vCPU 1 keeps
//! writing a page through a writable mapping its CPU has cached, while vCPU 0 removes that
//! mapping with a plain `mmu_update` (no flush asked, as a hostile guest would) and pins the
//! frame as an L1 page table. Once the pin holds, no CPU may write the frame any
//! more, or the guest could forge page-table entries: vCPU 1's next write must fault.
//!
//! ```text
//! smp: stale TLB: pinned, vCPU 1 wrote 81234 times, 0 after the pin, then took #PF
//! ```

use crate::{println, time};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use guest_abi::errno::Errno;

const MS: u64 = 1_000_000;

static GO: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
static DONE: AtomicBool = AtomicBool::new(false);
/// The page vCPU 1 writes, and how many writes completed.
static VA: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);
/// The fault that ended vCPU 1's writing (vector + 1; 0: none).
static FAULT: AtomicU64 = AtomicU64::new(0);

/// Whether vCPU 1 has the writer's part to play now.
pub fn writer_due() -> bool {
    GO.load(SeqCst) && !DONE.load(SeqCst)
}

/// vCPU 1's part: write the page until told to stop or a write faults.
pub fn writer() {
    // This vCPU's faults must reach `catch` (vCPU 1 was started without a trap table).
    crate::traps::install_on_this_vcpu();
    let va = VA.load(SeqCst);
    let fault = crate::traps::catch(|| {
        let mut k = 0u64;
        while !STOP.load(SeqCst) {
            k += 1;
            // SAFETY: `va` is a spare page of ours that vCPU 0 mapped writable for this test
            // and nothing else uses; once the mapping is gone the write faults and `catch`
            // resumes. The value is a non-present entry, which a page table may hold.
            unsafe { (va as *mut u64).write_volatile(k << 1) };
            WRITES.store(k, SeqCst);
        }
    });
    FAULT.store(fault.map_or(0, |f| u64::from(f.vector) + 1), SeqCst);
    DONE.store(true, SeqCst);
}

fn wait_until(deadline: u64, done: impl Fn() -> bool) {
    while !done() && time::now() < deadline {
        core::hint::spin_loop();
    }
}

fn ext(cmd: u32, mfn: u64) -> Result<(), Errno> {
    // SAFETY: clears, pins or unpins the test's own spare frame, which nothing else uses; the
    // hypervisor validates it.
    unsafe {
        guest_abi::guest::mmuext_op(
            &[guest_abi::mmu::MmuextOp::new(cmd, mfn, 0)],
            guest_abi::types::DomId::SELF,
        )
    }
    .map(|_| ())
    .map_err(|(_, e)| e)
}

/// vCPU 0's part (vCPU 1 must be up and looking at [`writer_due`]); 1 if the attack got
/// through or could not be run.
pub fn attack(spare: &crate::grant::Spare) -> u32 {
    let va = spare.va(7);
    let Ok(mfn) = spare.mfn_of(va) else {
        println!("smp: stale TLB: FAILED: no spare frame");
        return 1;
    };
    // Zeroes, so that it validates as an L1 (vCPU 1 writes only non-present entries).
    if ext(guest_abi::mmu::MMUEXT_CLEAR_PAGE, mfn).is_err() {
        println!("smp: stale TLB: FAILED: cannot clear the frame");
        return 1;
    }
    VA.store(va, SeqCst);
    GO.store(true, SeqCst);
    // vCPU 1 writing means its CPU caches the writable mapping.
    wait_until(time::now() + 2_000 * MS, || WRITES.load(SeqCst) >= 1000);
    if WRITES.load(SeqCst) < 1000 {
        STOP.store(true, SeqCst);
        println!("smp: stale TLB: FAILED: vCPU 1 did not write");
        return 1;
    }
    // The mapping goes with a plain mmu_update, no flush asked (a TLB anywhere may keep it);
    // then the frame becomes a page table.
    let unmapped = spare.l1e_maddr(va).and_then(|ma| {
        // SAFETY: clears the L1 entry of the test's own spare page, which only vCPU 1 uses
        // (through `catch`); the hypervisor validates the update.
        unsafe {
            guest_abi::guest::mmu_update(
                &[guest_abi::mmu::MmuUpdate::normal(ma, 0)],
                guest_abi::types::DomId::SELF,
            )
        }
        .map(|_| ())
        .map_err(|(_, e)| e)
    });
    let pinned = ext(guest_abi::mmu::MMUEXT_PIN_L1_TABLE, mfn);
    let at_pin = WRITES.load(SeqCst);
    // Time for vCPU 1 to write on, if its CPU still could.
    wait_until(time::now() + 200 * MS, || DONE.load(SeqCst));
    let after = WRITES.load(SeqCst).saturating_sub(at_pin);
    STOP.store(true, SeqCst);
    wait_until(time::now() + 1_000 * MS, || DONE.load(SeqCst));
    let fault = FAULT.load(SeqCst);
    let unpinned = pinned.is_err() || ext(guest_abi::mmu::MMUEXT_UNPIN_TABLE, mfn).is_ok();
    let back = crate::grant::map_own(va, Some(mfn)).is_ok();
    let ended = match fault {
        0 => "no fault",
        v => crate::traps::name((v - 1) as u32),
    };
    // A write under way as the pin returned may still be counted after it.
    let ok = unmapped.is_ok() && pinned.is_ok() && fault == 15 && after <= 1 && unpinned && back;
    println!(
        "smp: stale TLB: {}: pin {}, vCPU 1 wrote {} times, {after} after the pin, then took {ended}",
        if ok { "ok" } else { "FAILED" },
        if pinned.is_ok() { "held" } else { "refused" },
        WRITES.load(SeqCst),
    );
    u32::from(!ok)
}
