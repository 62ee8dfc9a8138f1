//! Book-keeping of requests in flight (pure, host-tested): the shadow table that gives each
//! request the id the back end echoes, and the LIFO pool of granted pages.
//!
//! An id is a table index with a generation in its upper half, bumped whenever the entry
//! is answered, so a response naming an id never issued, or one already answered, is
//! recognised and refused instead of completing someone else's request.

use alloc::vec::Vec;

/// A response named an id that is not in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownId(pub u64);

/// Requests in flight, each with the caller's `T`.
pub struct Shadow<T> {
    entries: Vec<Option<T>>,
    gens: Vec<u32>,
    free: Vec<usize>,
}

impl<T> Shadow<T> {
    /// A table for at most `n` requests in flight.
    pub fn new(n: usize) -> Shadow<T> {
        Shadow {
            entries: (0..n).map(|_| None).collect(),
            gens: alloc::vec![0; n],
            // Popped from the end: ids are handed out from index 0 up.
            free: (0..n).rev().collect(),
        }
    }

    /// Records a request; its id, or `None` if the table is full.
    pub fn insert(&mut self, t: T) -> Option<u64> {
        let i = self.free.pop()?;
        self.entries[i] = Some(t);
        Some((u64::from(self.gens[i]) << 32) | i as u64)
    }

    /// The request of `id`, if in flight.
    pub fn get(&self, id: u64) -> Option<&T> {
        let i = self.index(id)?;
        self.entries[i].as_ref()
    }

    /// The request of `id`, if in flight, to change.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let i = self.index(id)?;
        self.entries[i].as_mut()
    }

    fn index(&self, id: u64) -> Option<usize> {
        let i = usize::try_from(id & 0xFFFF_FFFF).ok()?;
        let gen = (id >> 32) as u32;
        (i < self.entries.len() && self.gens[i] == gen && self.entries[i].is_some()).then_some(i)
    }

    /// Completes `id`: its request, which leaves the table.
    pub fn remove(&mut self, id: u64) -> Result<T, UnknownId> {
        let i = self.index(id).ok_or(UnknownId(id))?;
        let t = self.entries[i].take().ok_or(UnknownId(id))?;
        self.gens[i] = self.gens[i].wrapping_add(1);
        self.free.push(i);
        Ok(t)
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Page indices free for new requests, last freed first out (so the back end's persistent
/// mappings of the most used pages are the ones reused, as blkif.h recommends).
pub struct Pool {
    free: Vec<usize>,
}

impl Pool {
    /// Pages `0..n`, all free.
    pub fn new(n: usize) -> Pool {
        Pool {
            free: (0..n).rev().collect(),
        }
    }

    /// Takes `n` pages, or none if fewer are free.
    pub fn take(&mut self, n: usize) -> Option<Vec<usize>> {
        if n > self.free.len() {
            return None;
        }
        let at = self.free.len() - n;
        let mut v = self.free.split_off(at);
        v.reverse();
        Some(v)
    }

    /// Gives pages back.
    pub fn give(&mut self, pages: &[usize]) {
        self.free.extend(pages.iter().rev());
    }

    /// Pages free.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_complete_their_own_request_once() {
        let mut s = Shadow::new(4);
        let a = s.insert("a").unwrap();
        let b = s.insert("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(b), Some(&"b"));
        *s.get_mut(a).unwrap() = "A";
        assert_eq!(s.get(a), Some(&"A"));
        assert_eq!(s.remove(b), Ok("b"));
        assert_eq!(s.remove(b), Err(UnknownId(b)), "answered twice");
        // The slot is reused with a new generation: the old id stays dead.
        let c = s.insert("c").unwrap();
        assert_eq!(c & 0xFFFF_FFFF, b & 0xFFFF_FFFF);
        assert_ne!(c, b);
        assert_eq!(s.remove(b), Err(UnknownId(b)));
        assert_eq!(s.remove(c), Ok("c"));
        assert_eq!(s.remove(a), Ok("A"));
        assert_eq!(s.get_mut(a), None);
        assert!(s.is_empty());
    }

    #[test]
    fn ids_never_issued_are_refused() {
        let mut s: Shadow<u8> = Shadow::new(2);
        assert_eq!(s.remove(0), Err(UnknownId(0)), "free slot");
        s.insert(1).unwrap();
        assert_eq!(s.remove(7), Err(UnknownId(7)), "out of the table");
        assert_eq!(
            s.remove(1 << 32),
            Err(UnknownId(1 << 32)),
            "wrong generation"
        );
        assert_eq!(s.remove(u64::MAX), Err(UnknownId(u64::MAX)));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_more() {
        let mut s = Shadow::new(3);
        let ids: Vec<u64> = (0..3).map(|i| s.insert(i).unwrap()).collect();
        assert_eq!(s.insert(9), None);
        s.remove(ids[1]).unwrap();
        assert!(s.insert(9).is_some());
    }

    #[test]
    fn the_pool_is_last_in_first_out() {
        let mut p = Pool::new(8);
        let a = p.take(3).unwrap();
        assert_eq!(a, [0, 1, 2]);
        assert_eq!(p.take(6), None, "only 5 left");
        assert_eq!(p.available(), 5);
        p.give(&a);
        assert_eq!(
            p.take(2).unwrap(),
            [0, 1],
            "the pages just freed come back first"
        );
        assert_eq!(p.take(6).unwrap(), [2, 3, 4, 5, 6, 7]);
        assert_eq!(p.available(), 0);
        assert_eq!(p.take(0).unwrap(), Vec::<usize>::new());
    }
}
