//! Domain identity. A domain id is a reusable number; a [`DomRef`] names one domain
//! *instance* (the id and an instance number never handed out twice), so a reference kept
//! past a domain's death — a grant mapping's granter, say — can never act on a new domain
//! that got the same id. Ids are handed out increasing, as Xen does, and [`next_id`] skips
//! every id still in use or still named by anything.

use guest_abi::types::DomId;

/// One domain instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomRef {
    /// Its id.
    pub id: DomId,
    /// Its instance number: unique over the hypervisor's lifetime.
    pub instance: u64,
}

/// The id after `last` in `1..=max`, going round, skipping every id for which `taken` holds;
/// `None` if all are taken.
pub fn next_id(last: DomId, max: DomId, taken: impl Fn(DomId) -> bool) -> Option<DomId> {
    let (last, max) = (u32::from(last.0), u32::from(max.0));
    if max == 0 {
        return None;
    }
    let start = if last >= max { 0 } else { last };
    (1..=max)
        .map(|i| DomId(((start + i - 1) % max + 1) as u16))
        .find(|&id| !taken(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `next_id` over plain numbers: the test's ids at its edge.
    fn next(last: u16, max: u16, taken: impl Fn(u16) -> bool) -> Option<u16> {
        next_id(DomId(last), DomId(max), |id| taken(id.0)).map(|id| id.0)
    }

    #[test]
    fn ids_increase_wrap_and_skip_what_is_taken() {
        assert_eq!(next(0, 10, |_| false), Some(1));
        assert_eq!(
            next(1, 10, |_| false),
            Some(2),
            "not the lowest free id: increasing"
        );
        assert_eq!(next(3, 10, |id| id == 4 || id == 5), Some(6));
        assert_eq!(next(10, 10, |_| false), Some(1), "wraps after max");
        assert_eq!(next(9, 10, |id| id == 10 || id == 1), Some(2));
        assert_eq!(next(5, 10, |_| true), None);
        assert_eq!(next(0, 0, |_| false), None);
        assert_eq!(next(u16::MAX, 10, |_| false), Some(1));
        // Freed ids come back only after every other id was tried.
        let used = [1u16, 2, 3];
        assert_eq!(next(3, 3, |id| used.contains(&id) && id != 2), Some(2));
        assert_eq!(
            next_id(DomId(0), DomId::MAX_DOMAIN, |_| false),
            Some(DomId(1))
        );
    }
}
