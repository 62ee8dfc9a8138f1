//! The machine's processors as the hypervisor numbers them: CPU 0 is the boot processor,
//! CPUs 1.. the application processors the MADT lists, in its order, as they come online.
//! Each has its LAPIC ID (what inter-processor interrupts are addressed to) and an online
//! flag; `XEN_SYSCTL_physinfo` and `xl info` report them.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// The most processors the hypervisor brings up (more in the MADT are left halted).
pub const MAX_CPUS: usize = 8;

const NO_APIC: u32 = u32::MAX;

/// LAPIC ID by CPU number (`NO_APIC` while unregistered).
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(NO_APIC) }; MAX_CPUS];
/// Bit n: CPU n is online (runs the hypervisor's code, answers IPIs).
static ONLINE: AtomicU32 = AtomicU32::new(1);
/// CPUs registered (the boot processor counts from the start).
static REGISTERED: AtomicUsize = AtomicUsize::new(1);

/// Records the boot processor's LAPIC ID (CPU 0, online from the start).
pub fn set_boot_cpu(apic_id: u32) {
    APIC_IDS[0].store(apic_id, Ordering::Relaxed);
}

/// Gives the next CPU number to the processor with LAPIC ID `apic_id` (not yet online);
/// `None` when [`MAX_CPUS`] are registered.
pub fn register(apic_id: u32) -> Option<usize> {
    let n = REGISTERED.load(Ordering::Relaxed);
    if n >= MAX_CPUS {
        return None;
    }
    APIC_IDS[n].store(apic_id, Ordering::Relaxed);
    REGISTERED.store(n + 1, Ordering::Release);
    Some(n)
}

/// The CPUs whose frame holds a vCPU now (bit n = CPU n; `State::cpus[n].loaded`, kept by
/// `State::set_loaded` under the state lock): the only ones whose TLBs may hold a guest's
/// translations (a CPU that let its vCPU go took the idle page tables).
static GUEST_LOADED: AtomicU32 = AtomicU32::new(0);

/// Notes whether CPU `n`'s frame holds a vCPU.
pub fn set_guest_loaded(n: usize, loaded: bool) {
    if n < MAX_CPUS {
        if loaded {
            GUEST_LOADED.fetch_or(1 << n, Ordering::AcqRel);
        } else {
            GUEST_LOADED.fetch_and(!(1 << n), Ordering::AcqRel);
        }
    }
}

/// The CPUs whose frame holds a vCPU now.
pub fn guest_loaded() -> u32 {
    GUEST_LOADED.load(Ordering::Acquire)
}

/// The CPUs that run vCPUs (bit n = CPU n): CPU 0 until [`open_to_vcpus`].
static VCPU_CPUS: AtomicU32 = AtomicU32::new(1);

/// From now on every online CPU runs vCPUs.
pub fn open_to_vcpus() {
    VCPU_CPUS.store(online_mask(), Ordering::Release);
}

/// The CPUs that run vCPUs (bit n = CPU n).
pub fn vcpu_cpus() -> u32 {
    VCPU_CPUS.load(Ordering::Acquire)
}

/// Whether vCPUs run on more than one CPU (then a vCPU leaving a CPU is saved out, and
/// frames changing hands are flushed from every CPU's TLB).
pub fn several_run_vcpus() -> bool {
    vcpu_cpus().count_ones() > 1
}

/// Marks CPU `n` online (called on that CPU once it runs the hypervisor's code).
pub fn set_online(n: usize) {
    if n < MAX_CPUS {
        ONLINE.fetch_or(1 << n, Ordering::Release);
    }
}

/// Whether CPU `n` is online.
pub fn is_online(n: usize) -> bool {
    n < MAX_CPUS && ONLINE.load(Ordering::Acquire) & (1 << n) != 0
}

/// The bitmap of online CPUs (bit n = CPU n).
pub fn online_mask() -> u32 {
    ONLINE.load(Ordering::Acquire)
}

/// How many CPUs are online.
pub fn online_count() -> u32 {
    online_mask().count_ones()
}

/// The highest online CPU number.
pub fn max_online() -> u32 {
    31 - online_mask().leading_zeros()
}

/// CPU `n`'s LAPIC ID, if registered.
pub fn apic_id(n: usize) -> Option<u32> {
    let id = APIC_IDS.get(n)?.load(Ordering::Relaxed);
    (id != NO_APIC).then_some(id)
}

/// The CPU number of the processor with LAPIC ID `apic_id`.
pub fn by_apic_id(apic_id: u32) -> Option<usize> {
    (0..REGISTERED.load(Ordering::Acquire))
        .find(|&n| APIC_IDS[n].load(Ordering::Relaxed) == apic_id)
}

/// The online CPUs' LAPIC IDs, comma-separated ("0,1,2,3"), as the boot log shows them.
pub struct OnlineIds;

impl core::fmt::Display for OnlineIds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for n in (0..MAX_CPUS).filter(|&n| is_online(n)) {
            if let Some(id) = apic_id(n) {
                write!(f, "{}{id}", if first { "" } else { "," })?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_cpu_is_online_and_numbers_follow() {
        assert!(is_online(0));
        assert_eq!(online_count(), online_mask().count_ones());
        set_boot_cpu(7);
        assert_eq!(apic_id(0), Some(7));
        assert_eq!(by_apic_id(7), Some(0));
        assert!(!is_online(MAX_CPUS));
        assert!(alloc::format!("{OnlineIds}").starts_with('7'));
        assert_eq!(apic_id(MAX_CPUS), None);
    }
}
