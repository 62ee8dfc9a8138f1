//! What a device interrupt does on entry, before the LAPIC's EOI, without a lock: find the
//! GSI its vector was given, mask a level-triggered line (so it does not fire again until the
//! owning domain's EOI), and note the GSI for the next scheduling pass, which raises the
//! domain's event channel (`crate::evtchn::deliver_pirqs`).

use super::table::{FIRST_VECTOR, LAST_VECTOR, MAX_GSIS};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const WORDS: usize = MAX_GSIS as usize / 64;
/// `VECTOR_GSI` entry flag: the line is level-triggered.
const LEVEL: u32 = 1 << 31;

/// Vector → GSI + 1 (0: none), with [`LEVEL`].
static VECTOR_GSI: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];
/// GSIs that fired since the last scheduling pass.
static PENDING: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// GSIs the hypervisor keeps (its console's).
static RESERVED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// Device interrupts taken.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// Whether `vector` is one handed to device GSIs.
pub fn is_device_vector(vector: u8) -> bool {
    (FIRST_VECTOR..=LAST_VECTOR).contains(&vector)
}

/// Keeps `gsi` for the hypervisor: no domain may map it.
pub fn reserve_for_hypervisor(gsi: u32) {
    if let Some(w) = RESERVED.get(gsi as usize / 64) {
        w.fetch_or(1 << (gsi % 64), Ordering::Relaxed);
    }
}

/// The GSIs the hypervisor keeps.
pub fn reserved() -> impl Iterator<Item = u32> {
    bits(&RESERVED, false)
}

fn bits(words: &'static [AtomicU64; WORDS], take: bool) -> impl Iterator<Item = u32> {
    words.iter().enumerate().flat_map(move |(i, w)| {
        let v = if take {
            w.swap(0, Ordering::Relaxed)
        } else {
            w.load(Ordering::Relaxed)
        };
        // Only the set bits are visited (this runs on every scheduling pass of CPU 0).
        let mut rest = v;
        core::iter::from_fn(move || {
            (rest != 0).then(|| {
                let b = rest.trailing_zeros();
                rest &= rest - 1;
                i as u32 * 64 + b
            })
        })
    })
}

/// Records where `vector` leads (`None`: nowhere).
pub fn set_vector(vector: u8, gsi: Option<(u32, bool)>) {
    let e = gsi.map_or(0, |(g, level)| (g + 1) | if level { LEVEL } else { 0 });
    VECTOR_GSI[usize::from(vector)].store(e, Ordering::Relaxed);
}

/// Called by the interrupt entry for every vector ≥ 32 before the LAPIC's EOI.
pub fn before_eoi(vector: u8) {
    let e = VECTOR_GSI[usize::from(vector)].load(Ordering::Relaxed);
    if e == 0 {
        return;
    }
    let gsi = (e & !LEVEL) - 1;
    if e & LEVEL != 0 {
        crate::arch::ioapic::set_masked(gsi, true);
    }
    if let Some(w) = PENDING.get(gsi as usize / 64) {
        w.fetch_or(1 << (gsi % 64), Ordering::Relaxed);
    }
    TAKEN.fetch_add(1, Ordering::Relaxed);
}

/// The GSIs that fired since the last call.
pub fn take_pending() -> impl Iterator<Item = u32> {
    bits(&PENDING, true)
}

/// Device interrupts taken so far.
pub fn taken() -> u64 {
    TAKEN.load(Ordering::Relaxed)
}

/// Forgets every vector, pending GSI and reservation (a fresh machine in the host tests).
pub fn reset() {
    for v in &VECTOR_GSI {
        v.store(0, Ordering::Relaxed);
    }
    for w in PENDING.iter().chain(&RESERVED) {
        w.store(0, Ordering::Relaxed);
    }
}
