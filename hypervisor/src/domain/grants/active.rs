//! The rules of one grant entry: who may use it, how, and the busy bits the hypervisor keeps
//! in the shared entry while it is in use. Pure logic, host-tested.
//!
//! The granter writes `domid` and `frame`, then `flags` (type `permit_access`, optionally
//! `readonly`). While a grantee has the grant mapped or is copying, the hypervisor holds
//! pins and keeps `GTF_reading` (any use) and `GTF_writing` (writable use) set, so a granter
//! that revokes with a compare-and-swap on `flags` sees the grant is busy and fails.

use guest_abi::grant_table::{GntStatus, GrantEntryV1, GtfFlags};
use guest_abi::types::{DomId, Mfn};

/// The hypervisor's record of a grant in use (its frame is fixed while pinned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Active {
    /// The granted machine frame.
    pub frame: Mfn,
    /// The domain using it.
    pub grantee: DomId,
    /// Read-only uses.
    pub pin_ro: u32,
    /// Writable uses.
    pub pin_rw: u32,
}

/// Check that `requester` may use the grant in `e` (writably if `write`) and return the
/// frame to use and the flags to store back into the entry.
pub fn acquire(
    e: &GrantEntryV1,
    active: Option<&Active>,
    requester: DomId,
    write: bool,
) -> Result<(Mfn, u16), GntStatus> {
    let flags = GtfFlags::from_bits_retain(e.flags);
    if flags & GtfFlags::TYPE_MASK != GtfFlags::PERMIT_ACCESS {
        return Err(GntStatus::BAD_GNTREF);
    }
    if e.domid != requester {
        return Err(GntStatus::PERMISSION_DENIED);
    }
    if write && flags.contains(GtfFlags::READONLY) {
        return Err(GntStatus::PERMISSION_DENIED);
    }
    let frame = match active {
        Some(a) if a.pin_ro + a.pin_rw > 0 => {
            if a.grantee != requester {
                return Err(GntStatus::PERMISSION_DENIED);
            }
            a.frame
        }
        _ => Mfn(u64::from(e.frame)),
    };
    let mut new = flags | GtfFlags::READING;
    if write {
        new |= GtfFlags::WRITING;
    }
    Ok((frame, new.bits()))
}

/// Record one more use; returns the updated record.
pub fn pin(active: Option<Active>, frame: Mfn, grantee: DomId, write: bool) -> Active {
    let mut a = match active {
        Some(a) if a.pin_ro + a.pin_rw > 0 => a,
        _ => Active {
            frame,
            grantee,
            pin_ro: 0,
            pin_rw: 0,
        },
    };
    if write {
        a.pin_rw += 1;
    } else {
        a.pin_ro += 1;
    }
    a
}

/// Drop one use; returns the record (None once unused) and the busy bits to clear.
pub fn unpin(mut a: Active, write: bool) -> (Option<Active>, u16) {
    if write {
        a.pin_rw = a.pin_rw.saturating_sub(1);
    } else {
        a.pin_ro = a.pin_ro.saturating_sub(1);
    }
    let mut clear = GtfFlags::empty();
    if a.pin_rw == 0 {
        clear |= GtfFlags::WRITING;
    }
    if a.pin_rw + a.pin_ro == 0 {
        clear |= GtfFlags::READING;
        return (None, clear.bits());
    }
    (Some(a), clear.bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D2: DomId = DomId(2);

    fn entry(flags: GtfFlags, domid: DomId, frame: u32) -> GrantEntryV1 {
        GrantEntryV1 {
            flags: flags.bits(),
            domid,
            frame,
        }
    }

    #[test]
    fn the_named_grantee_may_map() {
        let e = entry(GtfFlags::PERMIT_ACCESS, D2, 0x1234);
        let (frame, flags) = acquire(&e, None, D2, true).unwrap();
        assert_eq!(frame, Mfn(0x1234));
        let f = GtfFlags::from_bits_retain(flags);
        assert!(f.contains(GtfFlags::READING | GtfFlags::WRITING));
    }

    #[test]
    fn a_third_domain_is_refused() {
        let e = entry(GtfFlags::PERMIT_ACCESS, D2, 0x1234);
        assert_eq!(
            acquire(&e, None, DomId(3), false),
            Err(GntStatus::PERMISSION_DENIED)
        );
    }

    #[test]
    fn read_only_grants_are_never_writable() {
        let e = entry(GtfFlags::PERMIT_ACCESS | GtfFlags::READONLY, D2, 7);
        assert_eq!(
            acquire(&e, None, D2, true),
            Err(GntStatus::PERMISSION_DENIED)
        );
        let (_, flags) = acquire(&e, None, D2, false).unwrap();
        assert!(!GtfFlags::from_bits_retain(flags).contains(GtfFlags::WRITING));
    }

    #[test]
    fn invalid_and_transfer_entries_are_refused() {
        for f in [
            GtfFlags::empty(),
            GtfFlags::ACCEPT_TRANSFER,
            GtfFlags::TRANSITIVE,
        ] {
            assert_eq!(
                acquire(&entry(f, D2, 7), None, D2, false),
                Err(GntStatus::BAD_GNTREF)
            );
        }
    }

    #[test]
    fn a_pinned_grant_keeps_its_frame() {
        let e = entry(GtfFlags::PERMIT_ACCESS, D2, 0x99);
        let a = pin(None, Mfn(0x42), D2, false);
        assert_eq!(acquire(&e, Some(&a), D2, false).unwrap().0, Mfn(0x42));
    }

    #[test]
    fn busy_bits_clear_only_when_the_last_use_ends() {
        let a = pin(None, Mfn(5), D2, true);
        let a = pin(Some(a), Mfn(5), D2, false);
        let (a, clear) = unpin(a, true);
        assert_eq!(GtfFlags::from_bits_retain(clear), GtfFlags::WRITING);
        let a = a.unwrap();
        assert_eq!((a.pin_ro, a.pin_rw), (1, 0));
        let (a, clear) = unpin(a, false);
        assert!(a.is_none());
        assert_eq!(
            GtfFlags::from_bits_retain(clear),
            GtfFlags::WRITING | GtfFlags::READING
        );
    }
}
