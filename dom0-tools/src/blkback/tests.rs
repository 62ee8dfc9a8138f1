//! blkback against a front end modelled in memory: its granted pages, its ring, its
//! requests, honest and hostile.

use super::request::segment_bytes;
use super::ring::{self, PAGE};
use super::service::{Done, Ring, MAX_INDIRECT_SEGMENTS};
use crate::block::{BlockDevice, MemDisk};
use crate::hv::{GrantCopy, Hypervisor};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::grant_table::GntStatus;
use guest_abi::io::blkif::*;
use guest_abi::types::{DomId, GrantRef};
use zerocopy::{FromBytes, IntoBytes};

const FRONT: DomId = DomId(3);

/// A front end's granted pages (grant → page), as grant copy reaches them.
#[derive(Default)]
struct Front {
    pages: BTreeMap<u32, Vec<u8>>,
    copies: u64,
}

impl Front {
    fn grant(&mut self, gref: u32) {
        self.pages.insert(gref, vec![0u8; PAGE]);
    }
    fn page(&mut self, gref: u32) -> &mut Vec<u8> {
        self.pages.get_mut(&gref).expect("granted")
    }
}

impl Hypervisor for Front {
    crate::offline_hypervisor!();
    fn grant_copy(&mut self, ops: &mut [GrantCopy<'_>], status: &mut [i16]) -> Result<(), Errno> {
        for (op, st) in ops.iter_mut().zip(status.iter_mut()) {
            self.copies += 1;
            let (dom, gref, off, len) = op.target();
            let off = usize::from(off);
            *st = if dom != FRONT {
                GntStatus::BAD_DOMAIN.0
            } else if off + len > PAGE {
                GntStatus::BAD_COPY_ARG.0
            } else if let Some(p) = self.pages.get_mut(&gref) {
                match op {
                    GrantCopy::FromGuest { buf, .. } => buf.copy_from_slice(&p[off..off + len]),
                    GrantCopy::ToGuest { buf, .. } => p[off..off + len].copy_from_slice(buf),
                }
                GntStatus::OKAY.0
            } else {
                GntStatus::BAD_GNTREF.0
            };
        }
        Ok(())
    }
}

/// The front end's view of its ring (pages `ring_grefs`), kept in its granted pages.
struct FrontRing {
    grefs: Vec<u32>,
    entries: u32,
    req_prod: u32,
}

impl FrontRing {
    fn new(f: &mut Front, grefs: &[u32]) -> FrontRing {
        for &g in grefs {
            f.grant(g);
        }
        FrontRing {
            grefs: grefs.to_vec(),
            entries: ring::entries(grefs.len()),
            req_prod: 0,
        }
    }
    fn write(&self, f: &mut Front, at: usize, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let pos = at + i;
            f.page(self.grefs[pos / PAGE])[pos % PAGE] = *b;
        }
    }
    fn read(&self, f: &mut Front, at: usize, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let pos = at + i;
                f.page(self.grefs[pos / PAGE])[pos % PAGE]
            })
            .collect()
    }
    fn push(&mut self, f: &mut Front, slot: &[u8]) {
        let at = ring::slot_offset(self.req_prod, self.entries);
        self.write(f, at, slot);
        self.req_prod += 1;
        self.write(f, 0, &self.req_prod.to_le_bytes());
    }
    fn response(&self, f: &mut Front, index: u32) -> BlkifResponse {
        let at = ring::slot_offset(index, self.entries);
        BlkifResponse::read_from_bytes(&self.read(f, at, 16)).unwrap()
    }
    fn rsp_prod(&self, f: &mut Front) -> u32 {
        ring::read_u32(&self.read(f, 0, 16), 8)
    }
    fn req_event(&self, f: &mut Front) -> u32 {
        ring::read_u32(&self.read(f, 0, 16), 4)
    }
}

fn rw(op: u8, id: u64, sector: u64, segs: &[(u32, u8, u8)]) -> Vec<u8> {
    let mut r = BlkifRequest {
        operation: op,
        nr_segments: segs.len() as u8,
        id,
        sector_number: sector,
        ..Default::default()
    };
    for (i, s) in segs.iter().enumerate().take(11) {
        r.seg[i] = segment_bytes(s.0, s.1, s.2);
    }
    r.as_bytes().to_vec()
}

/// An indirect request's slot: `op` on `n` segments listed in page `list` (granted), id `id`,
/// from sector `sector`.
fn indirect(op: u8, n: u16, id: u64, sector: u64, list: u32) -> Vec<u8> {
    let mut grefs = [GrantRef(0); 8];
    grefs[0] = GrantRef(list);
    let req = BlkifRequestIndirect {
        operation: BLKIF_OP_INDIRECT,
        indirect_op: op,
        nr_segments: n,
        id,
        sector_number: sector,
        indirect_grefs: grefs,
        ..Default::default()
    };
    let mut slot = req.as_bytes().to_vec();
    slot.resize(112, 0);
    slot
}

fn serve(
    ring: &mut Ring,
    f: &mut Front,
    disk: &mut dyn BlockDevice,
) -> (Result<bool, alloc::string::String>, Done) {
    let mut done = Done::default();
    let r = ring.serve(f, disk, MAX_INDIRECT_SEGMENTS, &mut done);
    (r.map(|s| s.published), done)
}

#[test]
fn writes_land_on_the_disk_and_reads_come_back_into_the_front_ends_pages() {
    let mut f = Front::default();
    let mut fr = FrontRing::new(&mut f, &[1]);
    let mut ring = Ring::new(FRONT, vec![1]);
    let mut disk = MemDisk::new(64);
    for (g, fill) in [(10, 0xA1u8), (11, 0xB2)] {
        f.grant(g);
        f.page(g).fill(fill);
    }
    // 8 sectors of page 10, then sectors 2..=3 of page 11, at sector 4.
    fr.push(&mut f, &rw(BLKIF_OP_WRITE, 7, 4, &[(10, 0, 7), (11, 2, 3)]));
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!(
        (done.requests, done.errors, done.sectors_written),
        (1, 0, 10)
    );
    let rsp = fr.response(&mut f, 0);
    assert_eq!(
        (rsp.id, rsp.operation, rsp.status),
        (7, BLKIF_OP_WRITE, BLKIF_RSP_OKAY)
    );
    assert_eq!(fr.rsp_prod(&mut f), 1);
    assert_eq!(
        fr.req_event(&mut f),
        2,
        "asks for a notification at the next request"
    );
    assert!(disk.bytes()[4 * 512..12 * 512].iter().all(|&b| b == 0xA1));
    assert!(disk.bytes()[12 * 512..14 * 512].iter().all(|&b| b == 0xB2));
    assert!(disk.bytes()[14 * 512..15 * 512].iter().all(|&b| b == 0));
    // Read sectors 11..=12 into sectors 5..=6 of a fresh page.
    f.grant(12);
    fr.push(&mut f, &rw(BLKIF_OP_READ, 8, 11, &[(12, 5, 6)]));
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!(done.sectors_read, 2);
    let p = f.page(12).clone();
    assert!(p[5 * 512..6 * 512].iter().all(|&b| b == 0xA1));
    assert!(p[6 * 512..7 * 512].iter().all(|&b| b == 0xB2));
    assert!(
        p[..5 * 512].iter().chain(&p[7 * 512..]).all(|&b| b == 0),
        "nothing else touched"
    );
    assert_eq!(fr.response(&mut f, 1).status, BLKIF_RSP_OKAY);
    // Nothing new: nothing published.
    assert_eq!(serve(&mut ring, &mut f, &mut disk).0, Ok(false));
}

#[test]
fn a_multi_page_ring_is_served_across_its_pages_and_flushes_reach_the_disk() {
    let mut f = Front::default();
    let grefs = [1, 2, 3, 4];
    let mut fr = FrontRing::new(&mut f, &grefs);
    let mut ring = Ring::new(FRONT, grefs.to_vec());
    assert_eq!(ring.entries, 128);
    let mut disk = MemDisk::new(1024);
    f.grant(50);
    f.page(50)
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    // 100 writes of one sector each, then a flush: slots cross page boundaries.
    for i in 0..100u64 {
        fr.push(
            &mut f,
            &rw(BLKIF_OP_WRITE, i, i, &[(50, (i % 8) as u8, (i % 8) as u8)]),
        );
    }
    fr.push(&mut f, &rw(BLKIF_OP_FLUSH_DISKCACHE, 100, 0, &[]));
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!((done.requests, done.errors, done.flushes), (101, 0, 1));
    assert_eq!(disk.flushes, 1);
    for i in 0..101u32 {
        let rsp = fr.response(&mut f, i);
        assert_eq!((rsp.id, rsp.status), (u64::from(i), BLKIF_RSP_OKAY), "{i}");
    }
    for i in 0..100usize {
        let s = i % 8;
        assert_eq!(
            &disk.bytes()[i * 512..i * 512 + 512],
            &f.page(50)[s * 512..s * 512 + 512]
        );
    }
    assert_eq!(fr.rsp_prod(&mut f), 101);
}

#[test]
fn an_indirect_request_takes_its_segments_from_the_granted_pages() {
    let mut f = Front::default();
    let mut fr = FrontRing::new(&mut f, &[1]);
    let mut ring = Ring::new(FRONT, vec![1]);
    let mut disk = MemDisk::new(512);
    // 32 data pages (grants 100..132), each filled with its number; segment list in page 90.
    f.grant(90);
    for i in 0..32u32 {
        f.grant(100 + i);
        f.page(100 + i).fill(i as u8 + 1);
        let s = segment_bytes(100 + i, 0, 7);
        f.page(90)[i as usize * 8..i as usize * 8 + 8].copy_from_slice(s.as_bytes());
    }
    fr.push(&mut f, &indirect(BLKIF_OP_WRITE, 32, 5, 8, 90));
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!((done.errors, done.sectors_written), (0, 256));
    let rsp = fr.response(&mut f, 0);
    assert_eq!(
        (rsp.id, rsp.operation, rsp.status),
        (5, BLKIF_OP_WRITE, BLKIF_RSP_OKAY),
        "an indirect request is answered with the operation it did"
    );
    for i in 0..32usize {
        let at = (8 + i * 8) * 512;
        assert!(
            disk.bytes()[at..at + 4096]
                .iter()
                .all(|&b| b == i as u8 + 1),
            "page {i}"
        );
    }
}

#[test]
fn hostile_requests_are_answered_with_errors_and_change_nothing() {
    let mut f = Front::default();
    let mut fr = FrontRing::new(&mut f, &[1]);
    let mut ring = Ring::new(FRONT, vec![1]);
    let mut disk = MemDisk::new(16);
    f.grant(10);
    f.page(10).fill(0xEE);
    let cases: Vec<(Vec<u8>, i16)> = vec![
        // A grant it never made.
        (rw(BLKIF_OP_WRITE, 1, 0, &[(999, 0, 7)]), BLKIF_RSP_ERROR),
        // Past the end of the disk, and overflowing.
        (rw(BLKIF_OP_WRITE, 2, 12, &[(10, 0, 7)]), BLKIF_RSP_ERROR),
        (
            rw(BLKIF_OP_READ, 3, u64::MAX, &[(10, 0, 0)]),
            BLKIF_RSP_ERROR,
        ),
        // Bad segments and counts.
        (rw(BLKIF_OP_WRITE, 4, 0, &[(10, 4, 2)]), BLKIF_RSP_ERROR),
        (rw(BLKIF_OP_WRITE, 5, 0, &[(10, 0, 8)]), BLKIF_RSP_ERROR),
        (rw(BLKIF_OP_WRITE, 6, 0, &[]), BLKIF_RSP_ERROR),
        // Operations not offered.
        (rw(BLKIF_OP_DISCARD, 7, 0, &[]), BLKIF_RSP_EOPNOTSUPP),
        (
            rw(BLKIF_OP_WRITE_BARRIER, 8, 0, &[(10, 0, 0)]),
            BLKIF_RSP_EOPNOTSUPP,
        ),
        (rw(200, 9, 0, &[]), BLKIF_RSP_EOPNOTSUPP),
    ];
    for (slot, _) in &cases {
        fr.push(&mut f, slot);
    }
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!(done.errors, cases.len() as u64);
    for (i, (_, want)) in cases.iter().enumerate() {
        let rsp = fr.response(&mut f, i as u32);
        assert_eq!((rsp.id, rsp.status), (i as u64 + 1, *want), "case {i}");
    }
    assert!(disk.bytes().iter().all(|&b| b == 0), "nothing written");
    // A read-only disk refuses writes.
    let mut ro = MemDisk::new(16).into_read_only();
    fr.push(&mut f, &rw(BLKIF_OP_WRITE, 20, 0, &[(10, 0, 0)]));
    serve(&mut ring, &mut f, &mut ro).0.unwrap();
    assert_eq!(
        fr.response(&mut f, cases.len() as u32).status,
        BLKIF_RSP_ERROR
    );
    // Indices that cannot be: the ring is given up, naming why.
    fr.req_prod += 1000;
    fr.write(&mut f, 0, &fr.req_prod.to_le_bytes());
    let (r, _) = serve(&mut ring, &mut f, &mut disk);
    assert!(r.unwrap_err().contains("impossible ring indices"));
    // A ring page it does not grant.
    let mut gone = Ring::new(FRONT, vec![77]);
    assert!(serve(&mut gone, &mut f, &mut disk)
        .0
        .unwrap_err()
        .contains("grant copy"));
}

#[test]
fn an_indirect_request_over_the_maximum_or_with_bad_pages_is_refused() {
    let mut f = Front::default();
    let mut fr = FrontRing::new(&mut f, &[1]);
    let mut ring = Ring::new(FRONT, vec![1]);
    let mut disk = MemDisk::new(4096);
    for (n, id) in [(MAX_INDIRECT_SEGMENTS + 1, 1u64), (4, 2)] {
        fr.push(&mut f, &indirect(BLKIF_OP_READ, n, id, 0, 555));
    }
    let (r, done) = serve(&mut ring, &mut f, &mut disk);
    assert_eq!(r, Ok(true));
    assert_eq!(done.errors, 2);
    assert_eq!(
        (
            fr.response(&mut f, 0).status,
            fr.response(&mut f, 0).operation
        ),
        (BLKIF_RSP_ERROR, BLKIF_OP_READ)
    );
    assert_eq!(
        fr.response(&mut f, 1).status,
        BLKIF_RSP_ERROR,
        "indirect page not granted"
    );
}

#[test]
fn a_pass_moves_at_most_its_byte_budget_and_says_there_is_more() {
    use super::service::PASS_BYTES;
    let mut f = Front::default();
    let mut fr = FrontRing::new(&mut f, &[1]);
    let mut ring = Ring::new(FRONT, vec![1]);
    let mut disk = MemDisk::new(8192);
    // One data page read by every segment; one segment list of 256 segments (1 MiB).
    f.grant(60);
    f.grant(61);
    for i in 0..256usize {
        let s = segment_bytes(60, 0, 7);
        f.page(61)[i * 8..i * 8 + 8].copy_from_slice(s.as_bytes());
    }
    let per = 256 * 4096u64;
    let n = PASS_BYTES / per + 1;
    for id in 0..n {
        fr.push(&mut f, &indirect(BLKIF_OP_READ, 256, id, 0, 61));
    }
    let mut done = Done::default();
    let s = ring
        .serve(&mut f, &mut disk, MAX_INDIRECT_SEGMENTS, &mut done)
        .unwrap();
    assert!(s.published && s.more, "{s:?}");
    assert_eq!(done.requests, PASS_BYTES / per);
    assert_eq!(fr.rsp_prod(&mut f), (PASS_BYTES / per) as u32);
    let s = ring
        .serve(&mut f, &mut disk, MAX_INDIRECT_SEGMENTS, &mut done)
        .unwrap();
    assert!(s.published && !s.more, "{s:?}");
    assert_eq!(done.requests, n);
    assert_eq!(done.errors, 0);
}
