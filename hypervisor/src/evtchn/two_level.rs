//! Xen's 2-level event delivery over the bits in shared_info (pure logic, host-tested):
//! the pending and mask bitmaps, the vCPU's pending-word selector and its upcall flag.
//! The guest changes the same words concurrently, so every update is an atomic RMW.

use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use guest_abi::types::EvtchnPort;

/// Bits per pending/mask word.
pub const BITS_PER_WORD: u32 = 64;

/// The words 2-level delivery works on.
pub trait EventWords {
    /// `evtchn_pending[word]`.
    fn pending(&self, word: usize) -> &AtomicU64;
    /// `evtchn_mask[word]`.
    fn mask(&self, word: usize) -> &AtomicU64;
    /// vcpu_info's `evtchn_pending_sel`.
    fn selector(&self) -> &AtomicU64;
    /// vcpu_info's `evtchn_upcall_pending`.
    fn upcall_pending(&self) -> &AtomicU8;
}

fn split(port: EvtchnPort) -> (usize, u64) {
    (
        (port.0 / BITS_PER_WORD) as usize,
        1u64 << (port.0 % BITS_PER_WORD),
    )
}

/// Mark the selector bit of `port`'s word and the upcall pending. Returns whether the upcall
/// became pending now (the vCPU must be kicked).
fn mark_selector(w: &impl EventWords, port: EvtchnPort) -> bool {
    let sel_bit = 1u64 << (port.0 / BITS_PER_WORD);
    if w.selector().fetch_or(sel_bit, SeqCst) & sel_bit != 0 {
        return false;
    }
    w.upcall_pending().swap(1, SeqCst) == 0
}

/// Raise `port`: set its pending bit; if that is new and the port is unmasked, set its
/// selector bit and the upcall flag. Returns whether the vCPU needs a kick.
pub fn set_pending(w: &impl EventWords, port: EvtchnPort) -> bool {
    let (word, bit) = split(port);
    if w.pending(word).fetch_or(bit, SeqCst) & bit != 0 {
        return false;
    }
    if w.mask(word).load(SeqCst) & bit != 0 {
        return false;
    }
    mark_selector(w, port)
}

/// Whether `port` is pending.
pub fn is_pending(w: &impl EventWords, port: EvtchnPort) -> bool {
    let (word, bit) = split(port);
    w.pending(word).load(SeqCst) & bit != 0
}

/// Whether `port` is masked.
pub fn is_masked(w: &impl EventWords, port: EvtchnPort) -> bool {
    let (word, bit) = split(port);
    w.mask(word).load(SeqCst) & bit != 0
}

/// Clear `port`'s pending bit.
pub fn clear_pending(w: &impl EventWords, port: EvtchnPort) {
    let (word, bit) = split(port);
    w.pending(word).fetch_and(!bit, SeqCst);
}

/// Set `port`'s mask bit.
pub fn mask(w: &impl EventWords, port: EvtchnPort) {
    let (word, bit) = split(port);
    w.mask(word).fetch_or(bit, SeqCst);
}

/// Clear `port`'s mask bit; a still-pending port is raised again. Returns whether the vCPU
/// needs a kick.
pub fn unmask(w: &impl EventWords, port: EvtchnPort) -> bool {
    let (word, bit) = split(port);
    let was = w.mask(word).fetch_and(!bit, SeqCst);
    was & bit != 0 && w.pending(word).load(SeqCst) & bit != 0 && mark_selector(w, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn p(n: u32) -> EvtchnPort {
        EvtchnPort(n)
    }

    struct Words {
        pending: [AtomicU64; 64],
        mask: [AtomicU64; 64],
        sel: AtomicU64,
        upcall: AtomicU8,
    }
    impl Default for Words {
        fn default() -> Self {
            Words {
                pending: core::array::from_fn(|_| AtomicU64::new(0)),
                mask: core::array::from_fn(|_| AtomicU64::new(0)),
                sel: AtomicU64::new(0),
                upcall: AtomicU8::new(0),
            }
        }
    }
    impl EventWords for Words {
        fn pending(&self, w: usize) -> &AtomicU64 {
            &self.pending[w]
        }
        fn mask(&self, w: usize) -> &AtomicU64 {
            &self.mask[w]
        }
        fn selector(&self) -> &AtomicU64 {
            &self.sel
        }
        fn upcall_pending(&self) -> &AtomicU8 {
            &self.upcall
        }
    }

    /// What a guest's upcall handler does: clear the flag, take the selector, collect and
    /// clear pending & ~mask.
    fn guest_scan(w: &Words) -> Vec<u32> {
        w.upcall.store(0, SeqCst);
        let sel = w.sel.swap(0, SeqCst);
        let mut ports = Vec::new();
        for word in 0..64 {
            if sel & (1 << word) == 0 {
                continue;
            }
            let bits = w.pending[word].load(SeqCst) & !w.mask[word].load(SeqCst);
            w.pending[word].fetch_and(!bits, SeqCst);
            for b in 0..64 {
                if bits & (1 << b) != 0 {
                    ports.push(word as u32 * 64 + b);
                }
            }
        }
        ports
    }

    #[test]
    fn first_raise_kicks_later_ones_do_not() {
        let w = Words::default();
        assert!(set_pending(&w, p(5)));
        assert!(!set_pending(&w, p(5)), "already pending");
        assert!(!set_pending(&w, p(6)), "upcall already pending");
        assert!(!set_pending(&w, p(130)), "upcall already pending");
        assert_eq!(w.sel.load(SeqCst), 0b101);
        assert_eq!(guest_scan(&w), vec![5, 6, 130]);
        assert!(!is_pending(&w, p(5)));
        assert!(
            set_pending(&w, p(5)),
            "after the handler ran, a new event kicks again"
        );
    }

    #[test]
    fn masked_port_stays_pending_until_unmasked() {
        let w = Words::default();
        mask(&w, p(70));
        assert!(!set_pending(&w, p(70)));
        assert!(is_pending(&w, p(70)));
        assert_eq!(w.upcall.load(SeqCst), 0);
        assert_eq!(guest_scan(&w), Vec::<u32>::new());
        assert!(unmask(&w, p(70)), "unmask re-raises a pending port");
        assert_eq!(guest_scan(&w), vec![70]);
        assert!(
            !unmask(&w, p(70)),
            "unmasking an unmasked port does nothing"
        );
        mask(&w, p(71));
        assert!(!unmask(&w, p(71)), "nothing pending: no kick");
        assert!(!is_masked(&w, p(71)));
    }

    #[test]
    fn clear_pending_drops_an_event() {
        let w = Words::default();
        set_pending(&w, p(9));
        clear_pending(&w, p(9));
        assert_eq!(guest_scan(&w), Vec::<u32>::new());
    }
}
