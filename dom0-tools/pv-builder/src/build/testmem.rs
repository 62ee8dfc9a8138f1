//! A Vec-backed guest memory with a scrambled (non-identity) p2m, and a software page walker.

use super::{BuildError, GuestMemory, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

pub struct VecMemory {
    pub bytes: Vec<u8>,
    pub p2m: Vec<u64>,
    pub m2p: BTreeMap<u64, u64>,
}

impl VecMemory {
    /// `nr_pages` pages; PFN p is backed by MFN 0x100000 + 3·(nr_pages − 1 − p).
    pub fn new(nr_pages: u64) -> Self {
        let p2m: Vec<u64> = (0..nr_pages)
            .map(|p| 0x10_0000 + 3 * (nr_pages - 1 - p))
            .collect();
        let m2p = p2m
            .iter()
            .enumerate()
            .map(|(p, &m)| (m, p as u64))
            .collect();
        let mut bytes = vec![0xA5u8; (nr_pages * PAGE_SIZE) as usize];
        bytes.shrink_to_fit();
        Self { bytes, p2m, m2p }
    }

    pub fn read(&self, gpaddr: u64, len: usize) -> &[u8] {
        &self.bytes[gpaddr as usize..gpaddr as usize + len]
    }

    pub fn read_u64(&self, gpaddr: u64) -> u64 {
        u64::from_le_bytes(self.read(gpaddr, 8).try_into().unwrap())
    }

    /// Walks the tables from the L4 at machine frame `l4_mfn`: (pfn, writable, user) of `va`.
    pub fn translate(&self, l4_mfn: u64, va: u64) -> Option<(u64, bool, bool)> {
        let mut table_mfn = l4_mfn;
        let (mut rw, mut us) = (true, true);
        for shift in [39u32, 30, 21, 12] {
            let pfn = *self.m2p.get(&table_mfn)?;
            let idx = (va >> shift) & 511;
            let e = self.read_u64(pfn * PAGE_SIZE + idx * 8);
            if e & 1 == 0 {
                return None;
            }
            assert_eq!(e & 0x80, 0, "no large pages");
            rw &= e & 2 != 0;
            us &= e & 4 != 0;
            table_mfn = (e >> 12) & ((1 << 40) - 1);
        }
        Some((*self.m2p.get(&table_mfn)?, rw, us))
    }
}

impl GuestMemory for VecMemory {
    fn nr_pages(&self) -> u64 {
        self.p2m.len() as u64
    }
    fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        self.p2m[pfn as usize]
    }
    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError> {
        let len = data.len() as u64;
        let end = gpaddr
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len() as u64)
            .ok_or(BuildError::OutOfRange { gpaddr, len })?;
        self.bytes[gpaddr as usize..end as usize].copy_from_slice(data);
        Ok(())
    }
    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError> {
        let end = gpaddr
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len() as u64)
            .ok_or(BuildError::OutOfRange { gpaddr, len })?;
        self.bytes[gpaddr as usize..end as usize].fill(0);
        Ok(())
    }
}
