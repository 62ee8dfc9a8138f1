//! A domain's grant table as the hypervisor keeps it: the shared entry frames, the active
//! (in-use) entries and the maptrack of what the domain mapped from others. The operations
//! on it are `grant::ops`.

pub mod active;

use crate::mm::page_types::XenPage;
use active::Active;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use guest_abi::grant_table::{GntmapFlags, GrantEntryV1, GRANT_ENTRIES_PER_FRAME_V1};
use guest_abi::types::{GrantRef, Mfn};
use zerocopy::{FromZeros, IntoBytes};

/// Grant-table frames a domain gets unless its creator asks for fewer.
pub const DEFAULT_MAX_FRAMES: u32 = 32;
/// The most grant-table frames any domain may have.
pub const HARD_MAX_FRAMES: u32 = 64;
/// Mappings of other domains' grants a domain may hold unless its creator asks otherwise.
pub const DEFAULT_MAX_MAPTRACK: u32 = 1024;
/// Maptrack entries per maptrack frame (for `max_maptrack_frames`).
pub const MAPTRACK_PER_FRAME: u32 = 256;
/// The most mappings any domain may hold.
pub const HARD_MAX_MAPTRACK: u32 = 16 * 1024;

/// One mapping a domain made of another domain's grant (its handle is the index).
#[derive(Clone, Copy, Debug)]
pub struct MapTrack {
    /// The granting domain instance (a later domain with its id is not it).
    pub granter: crate::domid::DomRef,
    /// The grant reference.
    pub gref: GrantRef,
    /// The machine frame mapped.
    pub frame: Mfn,
    /// The L1 table and slot holding the mapping (0, 0 for a device-only mapping).
    pub l1: (Mfn, usize),
    /// How it was mapped.
    pub flags: GntmapFlags,
}

/// A domain's grant state: its own table (as granter) and its mappings (as grantee).
#[derive(Default)]
pub struct GrantState {
    /// The shared grant-table frames: the hypervisor's pages, shared with the domain, not
    /// counted in its memory.
    pub frames: Vec<XenPage>,
    /// Limit on `frames`.
    pub max_frames: u32,
    /// This domain's grants in use, by reference.
    pub active: BTreeMap<GrantRef, Active>,
    /// This domain's mappings of others' grants; a handle indexes it.
    pub maptrack: Vec<Option<MapTrack>>,
    /// Limit on live mappings.
    pub max_maptrack: u32,
}

impl GrantState {
    /// A grant state with the given limits (≤ 0 = defaults, clamped to the hard caps).
    pub fn new(max_frames: i32, max_maptrack_frames: i32) -> Self {
        let frames = if max_frames > 0 {
            (max_frames as u32).min(HARD_MAX_FRAMES)
        } else {
            DEFAULT_MAX_FRAMES
        };
        let maptrack = if max_maptrack_frames > 0 {
            (max_maptrack_frames as u32)
                .saturating_mul(MAPTRACK_PER_FRAME)
                .min(HARD_MAX_MAPTRACK)
        } else {
            DEFAULT_MAX_MAPTRACK
        };
        GrantState {
            max_frames: frames,
            max_maptrack: maptrack,
            ..Default::default()
        }
    }

    /// Number of grant entries the table holds now.
    pub fn nr_entries(&self) -> u32 {
        (self.frames.len() * GRANT_ENTRIES_PER_FRAME_V1) as u32
    }

    /// Whether the table has an entry `gref` (it has grown that far).
    pub fn has_entry(&self, gref: GrantRef) -> bool {
        gref.0 < self.nr_entries()
    }

    /// The page and offset of entry `gref`, if it exists.
    fn entry_at(&self, gref: GrantRef) -> Option<(&XenPage, usize)> {
        let per = GRANT_ENTRIES_PER_FRAME_V1 as u32;
        let page = self.frames.get((gref.0 / per) as usize)?;
        Some((
            page,
            (gref.0 % per) as usize * core::mem::size_of::<GrantEntryV1>(),
        ))
    }

    /// Read entry `gref` from the shared table.
    pub fn read_entry(&self, gref: GrantRef) -> Option<GrantEntryV1> {
        let (page, off) = self.entry_at(gref)?;
        let mut e = GrantEntryV1::new_zeroed();
        crate::mm::machine::xen_read(page, off, e.as_mut_bytes()).ok()?;
        Some(e)
    }

    /// Store the flags of entry `gref` (false if there is no such entry).
    pub fn write_flags(&self, gref: GrantRef, flags: u16) -> bool {
        self.entry_at(gref).is_some_and(|(page, off)| {
            crate::mm::machine::xen_write(page, off, &flags.to_le_bytes()).is_ok()
        })
    }

    /// Number of live mappings.
    pub fn live_maps(&self) -> usize {
        self.maptrack.iter().filter(|m| m.is_some()).count()
    }
}
