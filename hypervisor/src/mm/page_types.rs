//! Frame ownership, page typing and reference counts: the PV MMU's state machine.
//!
//! Every machine frame has an owner, a type and a type count. A frame gains a page-table
//! type only through validation of every entry it holds (recursively for lower levels), and a
//! frame is never a page table and writably mapped at once: a writable mapping takes the
//! `Writable` type, which cannot coexist with a table type. References from *other* domains
//! (foreign mappings by a privileged builder, later grant mappings) are counted separately so
//! that a dying domain's frame is only freed when nobody maps it any more.
//!
//! The logic is pure: it reaches table contents through [`TableMem`], so it is unit-tested on
//! the host.

use super::access::{Readable, Writable};
use super::descriptor::guest_descriptor;
use super::pte;
use guest_abi::arch::{HYPERVISOR_L4_FIRST_SLOT, HYPERVISOR_L4_LAST_SLOT};
use guest_abi::errno::Errno;
use guest_abi::types::{DomId, Mfn};

/// The owner value of a frame that belongs to no domain.
pub const NO_OWNER: DomId = DomId::INVALID;

/// First and one-past-last L4 slot of the hypervisor hole.
pub const HOLE_SLOTS: core::ops::Range<usize> =
    HYPERVISOR_L4_FIRST_SLOT..HYPERVISOR_L4_LAST_SLOT + 1;

/// What a frame is currently used as.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum PageType {
    /// Ordinary memory with no writable mapping.
    #[default]
    None,
    /// A validated page table of level 1 to 4.
    L1,
    /// Level-2 page table.
    L2,
    /// Level-3 page table.
    L3,
    /// Level-4 page table.
    L4,
    /// Descriptor-table page (GDT/LDT frames).
    SegDesc,
    /// Memory mapped writable somewhere.
    Writable,
}

impl PageType {
    /// The page-table level, if this is a table type.
    pub const fn level(self) -> Option<u8> {
        match self {
            PageType::L1 => Some(1),
            PageType::L2 => Some(2),
            PageType::L3 => Some(3),
            PageType::L4 => Some(4),
            _ => None,
        }
    }

    /// The table type of a level.
    pub const fn table(level: u8) -> PageType {
        match level {
            1 => PageType::L1,
            2 => PageType::L2,
            3 => PageType::L3,
            _ => PageType::L4,
        }
    }
}

/// Bookkeeping for one machine frame.
#[derive(Clone, Copy, Debug)]
pub struct PageInfo {
    /// Owning domain, [`NO_OWNER`] when free.
    pub owner: DomId,
    /// Current type.
    pub ptype: PageType,
    /// Whether the guest pinned it as a table (holds one type reference).
    pub pinned: bool,
    /// How many references hold the current type.
    pub type_count: u32,
    /// References from domains other than the owner.
    pub foreign_refs: u32,
    /// Leaf (L1) mappings of the frame, by anyone: while any exists the frame is not freed.
    pub refs: u32,
    /// The TLB epoch in which an entry referencing the frame was last removed (0: none since
    /// the last flush). A TLB may still hold that translation until the epoch moves on, so
    /// the frame changes type or is freed only after a flush.
    pub stale: u32,
    /// The hypervisor's frame, shared with `owner` (its shared_info, its grant-table frames):
    /// the hypervisor writes it on the guest's behalf, so the guest may map it (writable) but
    /// never type, pin, free or grant it. Held by a [`XenPage`].
    pub xen: bool,
    /// A (de)validation of this table left part-way when its hypercall was preempted.
    pub partial: Partial,
    /// With `partial`: entries `[0, pidx)` hold their references (validated so far, or not
    /// yet released).
    pub pidx: u16,
    /// Linear (same-level, read-only) page-table references, as Xen counts them: > 0, how
    /// many entries of other tables reference this table linearly; < 0, how many linear
    /// entries this table holds. A table is one or the other, never both, so linear
    /// references never chain or loop (and releasing them recurses at most one level).
    pub linear: i32,
    /// Links of the owner's [`PageList`] (frame numbers; [`NO_FRAME`] at the ends).
    pub next: u32,
    /// See `next`.
    pub prev: u32,
}

/// A table's validation or devalidation in progress (Xen's `PGT_partial`): long ones are
/// done a slice at a time (the hypercall is continued), so no guest-built tree keeps the
/// hypervisor busy for long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Partial {
    /// Not in progress.
    #[default]
    None,
    /// Being validated as its `ptype`: entries `[0, pidx)` are; it holds no type reference
    /// yet (whoever finishes it takes the first).
    Validating,
    /// Being devalidated: entries `[0, pidx)` still hold references, to be released.
    Devalidating,
}

/// The end of a [`PageList`].
pub const NO_FRAME: u32 = u32::MAX;

/// The frames a domain owns as memory (not the hypervisor's pages it shares), linked through
/// their [`PageInfo`]s, so that a domain's frames are found without scanning the frame table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageList {
    head: u32,
    len: u64,
}

impl Default for PageList {
    fn default() -> Self {
        PageList {
            head: NO_FRAME,
            len: 0,
        }
    }
}

impl PageList {
    /// Frames on the list.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first frame.
    pub fn first(&self) -> Option<Mfn> {
        (self.head != NO_FRAME).then_some(Mfn(u64::from(self.head)))
    }
}

/// What tearing down one page table costs of a teardown step's budget (a data frame: 1).
pub const TABLE_COST: u64 = 32;

/// How far [`FrameTable::relinquish_step`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relinquish {
    /// More work: call again with this cursor.
    More(Cursor),
    /// Done: every frame without foreign references is off the list and free to release;
    /// this many remain referenced from other domains.
    Done(u64),
}

/// Where a relinquish stopped: the phase and the next frame on the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Phase 1: drop what the domain's tables hold on other domains' frames and reset types.
    Untype(Option<Mfn>),
    /// Phase 2: take every frame without foreign references off the list.
    Collect(Option<Mfn>),
}

/// Proof that the hypervisor holds a domain's own frame to write on its behalf at any time
/// (a registered vcpu_info): made only by [`FrameTable::take_held`], which takes a writable
/// type reference and a plain reference on it, and given back only to
/// [`FrameTable::drop_held`]. Neither `Clone` nor `Copy`: while one exists the frame can
/// become no page table or descriptor page and cannot be given back by its domain.
#[derive(Debug, PartialEq, Eq)]
pub struct HeldPage {
    mfn: Mfn,
}

impl HeldPage {
    /// The frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }
}

/// Proof that a frame is the hypervisor's, shared with one domain: made only by
/// [`FrameTable::assign_xen`] and given back only to [`FrameTable::release_xen`]. It is
/// neither `Clone` nor `Copy`, so while one exists its frame stays the hypervisor's and no
/// guest operation can retype, pin, free or grant it: the hypervisor's writes into a guest's
/// shared_info or grant table go through it (`Machine::xen_write` and friends) and can never
/// land in a page table.
#[derive(Debug, PartialEq, Eq)]
pub struct XenPage {
    mfn: Mfn,
}

impl XenPage {
    /// The frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }

    /// Its machine address.
    pub fn maddr(&self) -> u64 {
        self.mfn.addr()
    }
}

impl Default for PageInfo {
    fn default() -> Self {
        PageInfo {
            owner: NO_OWNER,
            ptype: PageType::None,
            pinned: false,
            type_count: 0,
            foreign_refs: 0,
            stale: 0,
            refs: 0,
            xen: false,
            partial: Partial::None,
            pidx: 0,
            linear: 0,
            next: NO_FRAME,
            prev: NO_FRAME,
        }
    }
}

/// Access to page-table contents by machine frame.
pub trait TableMem {
    /// Read entry `idx` (0..512) of the table in frame `mfn`.
    fn read(&self, mfn: Mfn, idx: usize) -> u64;
    /// Write entry `idx` of the table in frame `mfn`.
    fn write(&mut self, mfn: Mfn, idx: usize, val: u64);
    /// The hypervisor's own L4 entries for the hole, installed into every guest L4.
    fn hypervisor_slots(&self) -> [u64; 16];
    /// The current TLB epoch (≥ 1): it advances with every full TLB flush.
    fn tlb_epoch(&self) -> u32;
    /// Flush the TLB (advancing the epoch).
    fn flush_tlb(&mut self);
    /// Whether the work in progress should stop here and be continued later (its
    /// hypercall's slice is used up). Only callers that can continue arm it.
    fn should_preempt(&mut self) -> bool {
        false
    }
    /// Table `mfn` of domain `owner` stopped part-way through its devalidation: the caller
    /// must go on with it ([`FrameTable::devalidate`]) before the domain does anything else.
    fn note_pending(&mut self, _owner: DomId, _mfn: Mfn) {}
}

/// The frame table: one [`PageInfo`] per machine frame.
pub struct FrameTable<'a> {
    info: &'a mut [PageInfo],
}

/// The result type of the state machine.
pub type MmResult = Result<(), Errno>;

impl<'a> FrameTable<'a> {
    /// Wrap the per-frame array (index = MFN).
    pub fn new(info: &'a mut [PageInfo]) -> Self {
        FrameTable { info }
    }

    /// Number of frames described.
    pub fn len(&self) -> u64 {
        self.info.len() as u64
    }

    /// Whether no frame is described.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The bookkeeping of a frame, if it exists.
    pub fn get(&self, mfn: Mfn) -> Option<&PageInfo> {
        self.info.get(usize::try_from(mfn.0).ok()?)
    }

    fn slot(&mut self, mfn: Mfn) -> Result<&mut PageInfo, Errno> {
        usize::try_from(mfn.0)
            .ok()
            .and_then(|i| self.info.get_mut(i))
            .ok_or(Errno::EINVAL)
    }

    /// Give a free frame to `dom`.
    pub fn assign(&mut self, mfn: Mfn, dom: DomId) -> MmResult {
        let p = self.slot(mfn)?;
        if p.owner != NO_OWNER {
            return Err(Errno::EBUSY);
        }
        *p = PageInfo {
            owner: dom,
            ..PageInfo::default()
        };
        Ok(())
    }

    /// Give a free frame to the hypervisor, shared with `dom` (see [`XenPage`]).
    pub fn assign_xen(&mut self, mfn: Mfn, dom: DomId) -> Result<XenPage, Errno> {
        self.assign(mfn, dom)?;
        self.slot(mfn)?.xen = true;
        Ok(XenPage { mfn })
    }

    /// Take a hypervisor frame back for freeing; while anyone still maps it the page is
    /// handed back unchanged.
    pub fn release_xen(&mut self, mem: &mut impl TableMem, page: XenPage) -> Result<Mfn, XenPage> {
        let Ok(p) = self.slot(page.mfn) else {
            return Err(page);
        };
        if p.type_count != 0 || p.foreign_refs != 0 || p.refs != 0 || p.pinned {
            return Err(page);
        }
        self.flush_if_stale(mem, page.mfn);
        if let Ok(p) = self.slot(page.mfn) {
            *p = PageInfo::default();
        }
        Ok(page.mfn)
    }

    /// Whether `mfn` is a frame of `dom` that `dom` may grant or have copied into: its own
    /// memory, not a hypervisor frame shared with it.
    pub fn owned_memory(&self, mfn: Mfn, dom: DomId) -> bool {
        self.get(mfn).is_some_and(|p| p.owner == dom && !p.xen)
    }

    /// Take a frame back from its owner, off the owner's `list`. Refused while any type or
    /// foreign reference is held, and for the hypervisor's own frames (only
    /// [`FrameTable::release_xen`] takes those).
    pub fn release(&mut self, mem: &mut impl TableMem, list: &mut PageList, mfn: Mfn) -> MmResult {
        let p = self.slot(mfn)?;
        if p.xen {
            return Err(Errno::EPERM);
        }
        if p.type_count != 0
            || p.foreign_refs != 0
            || p.refs != 0
            || p.pinned
            || p.partial != Partial::None
        {
            return Err(Errno::EBUSY);
        }
        self.list_remove(list, mfn);
        self.flush_if_stale(mem, mfn);
        let p = self.slot(mfn)?;
        *p = PageInfo::default();
        Ok(())
    }

    /// Proof that `mfn`'s contents may be read for `dom`: a frame it owns (its memory, or a
    /// hypervisor page shared with it).
    pub fn readable(&self, mfn: Mfn, dom: DomId) -> Option<Readable> {
        self.get(mfn)
            .filter(|p| p.owner == dom)
            .map(|_| Readable::new(mfn))
    }

    /// Proof that `mfn`'s contents may be written for `dom`: a frame it owns that is neither
    /// a page table nor a descriptor page.
    pub fn writable(&self, mfn: Mfn, dom: DomId) -> Option<Writable> {
        self.get(mfn)
            .filter(|p| p.owner == dom && p.ptype.level().is_none() && p.ptype != PageType::SegDesc)
            .map(|_| Writable::new(mfn))
    }

    /// Owner of a frame ([`NO_OWNER`] if out of range).
    pub fn owner(&self, mfn: Mfn) -> DomId {
        self.get(mfn).map_or(NO_OWNER, |p| p.owner)
    }

    /// Take a reference of type `want` on `mfn`, which must belong to `dom`, validating it
    /// (and the tables below it) if it becomes a page table. A long validation stops when
    /// `mem` says its slice is used up, leaving the table [`Partial::Validating`] and
    /// answering `ERESTART`: called again (the hypercall continued), it goes on from there.
    pub fn get_type(
        &mut self,
        mem: &mut impl TableMem,
        mfn: Mfn,
        want: PageType,
        dom: DomId,
    ) -> MmResult {
        let p = self.slot(mfn)?;
        if p.owner != dom {
            return Err(Errno::EPERM);
        }
        if p.xen && want != PageType::Writable {
            // The hypervisor writes this frame: it may never become a table or descriptors.
            return Err(Errno::EPERM);
        }
        match (p.partial, p.ptype == want) {
            (Partial::Validating, true) => {
                let level = want.level().ok_or(Errno::EINVAL)?;
                return self.validate(mem, mfn, level, dom);
            }
            // Part-way to being a table (maybe further up this very validation): busy, as a
            // table is, until it is finished.
            (Partial::Validating, false) => return Err(Errno::EBUSY),
            (Partial::Devalidating, _) => self.devalidate(mem, mfn)?,
            (Partial::None, _) => {}
        }
        let p = self.slot(mfn)?;
        if p.type_count > 0 {
            if p.ptype != want {
                return Err(Errno::EBUSY);
            }
            p.type_count = p.type_count.checked_add(1).ok_or(Errno::EOVERFLOW)?;
            return Ok(());
        }
        // A type change: no stale translation of the frame may survive it.
        self.flush_if_stale(mem, mfn);
        let p = self.slot(mfn)?;
        p.ptype = want;
        if let Some(level) = want.level() {
            p.partial = Partial::Validating;
            p.pidx = 0;
            return self.validate(mem, mfn, level, dom);
        }
        p.type_count = 1;
        if want == PageType::SegDesc {
            // Every entry is checked before any is changed: a refused page is left as it was.
            if !(0..512).all(|i| guest_descriptor(mem.read(mfn, i)).is_some()) {
                let p = self.slot(mfn)?;
                p.ptype = PageType::None;
                p.type_count = 0;
                return Err(Errno::EINVAL);
            }
            // Then the ring-0 segments are demoted in place, as Xen does.
            for i in 0..512 {
                let d = mem.read(mfn, i);
                match guest_descriptor(d) {
                    Some(fixed) if fixed != d => mem.write(mfn, i, fixed),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Drop a type reference; a table whose count reaches zero releases what it references
    /// (and [`take_table_released`] says so: other CPUs may still cache it as a table)
    /// ([`FrameTable::devalidate`]: a slice at a time; what is left is noted with
    /// [`TableMem::note_pending`] for the caller to continue).
    pub fn put_type(&mut self, mem: &mut impl TableMem, mfn: Mfn) {
        let Ok(p) = self.slot(mfn) else { return };
        if p.type_count == 0 {
            return;
        }
        p.type_count -= 1;
        if p.type_count > 0 {
            return;
        }
        if p.ptype.level().is_some() {
            TABLE_RELEASED.store(true, core::sync::atomic::Ordering::Relaxed);
            p.partial = Partial::Devalidating;
            p.pidx = 512;
            let _ = self.devalidate(mem, mfn);
        } else {
            p.ptype = PageType::None;
        }
    }

    /// Release what table `mfn` (devalidating) still holds, from its last entry down, until
    /// done (its type is then gone) or `mem` says to stop (`ERESTART`; noted with
    /// [`TableMem::note_pending`]). A table below whose own release stopped is gone on with through
    /// the entry that referenced it, so only the path to the current one is ever part-way.
    pub fn devalidate(&mut self, mem: &mut impl TableMem, mfn: Mfn) -> MmResult {
        let p = *self.get(mfn).ok_or(Errno::EINVAL)?;
        if p.partial != Partial::Devalidating {
            return Ok(());
        }
        let (level, owner) = (p.ptype.level().unwrap_or(1), p.owner);
        let start = p.pidx;
        let mut idx = start;
        while idx > 0 {
            let i = usize::from(idx - 1);
            if level == 4 && HOLE_SLOTS.contains(&i) {
                idx -= 1;
                continue;
            }
            let e = mem.read(mfn, i);
            let child = (level > 1 && pte::present(e))
                .then(|| pte::mfn(e))
                .filter(|&c| c != mfn);
            let child_partway = |ft: &Self| {
                child.is_some_and(|c| {
                    ft.get(c)
                        .is_some_and(|p| p.partial == Partial::Devalidating)
                })
            };
            if child_partway(self) {
                // Our entry's reference is already gone; the table below is mid-way.
                if let Err(e) = self.devalidate(mem, child.unwrap_or(Mfn(0))) {
                    self.stop_devalidation(mem, mfn, idx);
                    return Err(e);
                }
                idx -= 1;
                continue;
            }
            // Each call makes progress: the slice is looked at after its first release.
            if idx < start && mem.should_preempt() {
                self.stop_devalidation(mem, mfn, idx);
                return Err(Errno::ERESTART);
            }
            self.put_entry(mem, e, level, owner, mfn);
            if child_partway(self) {
                // The table below stopped part-way: go on with it from here next time.
                self.stop_devalidation(mem, mfn, idx);
                return Err(Errno::ERESTART);
            }
            idx -= 1;
        }
        let p = self.slot(mfn)?;
        p.pidx = 0;
        p.partial = Partial::None;
        p.ptype = PageType::None;
        Ok(())
    }

    /// Devalidation of `mfn` stops with entries `[0, idx)` still to release.
    fn stop_devalidation(&mut self, mem: &mut impl TableMem, mfn: Mfn, idx: u16) {
        if let Ok(p) = self.slot(mfn) {
            p.pidx = idx;
            mem.note_pending(p.owner, mfn);
        }
    }

    /// Validate table `mfn` (validating as `level`) from entry `pidx` on; done, it holds its
    /// first type reference. Preempted, `ERESTART` (entry `pidx` is where it goes on: a table
    /// below it may itself be part-way). Refused, what it validated is released and the
    /// refusal returned. Present entries without the user bit get it ([`pte::guest_entry`]).
    fn validate(&mut self, mem: &mut impl TableMem, mfn: Mfn, level: u8, dom: DomId) -> MmResult {
        let start = self.get(mfn).map_or(0, |p| p.pidx);
        for idx in start..512u16 {
            let i = usize::from(idx);
            if level == 4 && HOLE_SLOTS.contains(&i) {
                continue;
            }
            // Each call makes progress: the slice is looked at after its first entry.
            if idx > start && mem.should_preempt() {
                self.slot(mfn)?.pidx = idx;
                return Err(Errno::ERESTART);
            }
            let e = mem.read(mfn, i);
            match self.get_entry(mem, e, level, dom, dom, mfn) {
                Ok(()) if pte::guest_entry(e) != e => mem.write(mfn, i, pte::guest_entry(e)),
                Ok(()) => {}
                Err(Errno::ERESTART) => {
                    self.slot(mfn)?.pidx = idx;
                    return Err(Errno::ERESTART);
                }
                Err(err) => {
                    let p = self.slot(mfn)?;
                    p.partial = Partial::Devalidating;
                    p.pidx = idx;
                    let _ = self.devalidate(mem, mfn);
                    return Err(err);
                }
            }
        }
        if level == 4 {
            let slots = mem.hypervisor_slots();
            for (i, s) in HOLE_SLOTS.zip(slots) {
                mem.write(mfn, i, s);
            }
        }
        let p = self.slot(mfn)?;
        p.partial = Partial::None;
        p.pidx = 0;
        p.type_count = 1;
        Ok(())
    }

    /// Check a new entry for a table of `level` owned by `table_owner` and take the references
    /// it needs. `pg_owner` is whose frames it may map (the foreign domain of an
    /// `mmu_update` by a privileged domain, else the table's owner).
    pub fn get_entry(
        &mut self,
        mem: &mut impl TableMem,
        e: u64,
        level: u8,
        table_owner: DomId,
        pg_owner: DomId,
        table_mfn: Mfn,
    ) -> MmResult {
        if !pte::present(e) {
            return Ok(());
        }
        if e & pte::RESERVED != 0 {
            return Err(Errno::EINVAL);
        }
        let target = pte::mfn(e);
        if self.is_io_frame(target) {
            return io_entry(e, level, table_owner, pg_owner);
        }
        if target.0 >= self.len() {
            // Neither RAM nor I/O memory a guest may map (the hypervisor's devices).
            return Err(Errno::EPERM);
        }
        if level == 1 {
            if e & !pte::L1_ALLOWED & !pte::ADDR_MASK != 0 {
                return Err(if e & pte::L1_CACHE_CTL != 0 {
                    Errno::EPERM
                } else {
                    Errno::EINVAL
                });
            }
            let owner = self.owner(target);
            if owner != pg_owner {
                return Err(Errno::EPERM);
            }
            let p = *self.get(target).ok_or(Errno::EINVAL)?;
            if p.refs == u32::MAX || p.foreign_refs == u32::MAX {
                return Err(Errno::EOVERFLOW);
            }
            if e & pte::RW != 0 {
                self.get_type(mem, target, PageType::Writable, owner)?;
            }
            let p = self.slot(target)?;
            p.refs += 1;
            if owner != table_owner {
                p.foreign_refs += 1;
            }
            return Ok(());
        }
        if e & !pte::UPPER_ALLOWED & !pte::ADDR_MASK != 0 {
            // PSE (superpages) and cache-control bits are refused above L1.
            return Err(Errno::EINVAL);
        }
        if self.owner(target) != table_owner {
            return Err(Errno::EPERM);
        }
        let want = PageType::table(level - 1);
        // A read-only entry pointing at a table of the same level is a linear (recursive)
        // mapping, under Xen's rules: read-only, never at L4 (through the L4 a linear walk
        // would reach the hypervisor's own slots and their table frames), and never chained:
        // a table that holds linear entries is not itself referenced linearly, and vice versa.
        let tinfo = *self.get(target).ok_or(Errno::EINVAL)?;
        let linear =
            target == table_mfn || (tinfo.ptype == PageType::table(level) && tinfo.type_count > 0);
        if linear {
            if e & pte::RW != 0 || level == 4 {
                return Err(Errno::EINVAL);
            }
            if target == table_mfn {
                // A table mapping itself holds no reference on itself.
                return Ok(());
            }
            let s = *self.get(table_mfn).ok_or(Errno::EINVAL)?;
            if s.linear > 0 || tinfo.linear < 0 || s.linear == i32::MIN || tinfo.linear == i32::MAX
            {
                return Err(Errno::EINVAL);
            }
            let count = tinfo.type_count.checked_add(1).ok_or(Errno::EOVERFLOW)?;
            let t = self.slot(target)?;
            t.type_count = count;
            t.linear += 1;
            self.slot(table_mfn)?.linear -= 1;
            return Ok(());
        }
        self.get_type(mem, target, want, table_owner)
    }

    /// Whether `mfn` is I/O memory ([`iomem`](crate::phys::iomem)): a frame no domain owns (beyond
    /// the frame table, or a hole in it) that is not RAM. Owned frames are RAM, so the common
    /// case never consults the I/O map.
    pub fn is_io_frame(&self, mfn: Mfn) -> bool {
        (mfn.0 >= self.len() || self.owner(mfn) == NO_OWNER) && crate::phys::iomem::is_io(mfn)
    }

    /// Release the references an entry of a table at `level` owned by `table_owner` holds.
    pub fn put_entry(
        &mut self,
        mem: &mut impl TableMem,
        e: u64,
        level: u8,
        table_owner: DomId,
        table_mfn: Mfn,
    ) {
        if !pte::present(e) {
            return;
        }
        let target = pte::mfn(e);
        if target.0 >= self.len() || (level > 1 && target == table_mfn) || self.is_io_frame(target)
        {
            return;
        }
        // The TLB (or paging-structure caches) may still hold what this entry mapped.
        let epoch = mem.tlb_epoch();
        if let Ok(p) = self.slot(target) {
            p.stale = epoch;
        }
        if level == 1 {
            self.put_leaf(mem, e, table_owner);
            return;
        }
        if self
            .get(target)
            .is_some_and(|t| t.ptype == PageType::table(level))
        {
            // A linear reference (see `get_entry`): the target holds none itself, so
            // dropping it never recurses further than the target's own entries.
            if let Ok(t) = self.slot(target) {
                t.linear -= 1;
            }
            if let Ok(s) = self.slot(table_mfn) {
                s.linear += 1;
            }
        }
        self.put_type(mem, target);
    }

    /// Release what a present leaf entry of a table owned by `table_owner` holds.
    fn put_leaf(&mut self, mem: &mut impl TableMem, e: u64, table_owner: DomId) {
        let target = pte::mfn(e);
        if e & pte::RW != 0 {
            self.put_type(mem, target);
        }
        if self.owner(target) != table_owner {
            self.put_foreign(target);
        }
        if let Ok(p) = self.slot(target) {
            p.refs = p.refs.saturating_sub(1);
        }
    }

    /// Flush the TLB if an entry referencing `mfn` was removed since the last flush.
    pub fn flush_if_stale(&mut self, mem: &mut impl TableMem, mfn: Mfn) {
        let epoch = mem.tlb_epoch();
        if let Ok(p) = self.slot(mfn) {
            if p.stale != 0 && p.stale == epoch {
                mem.flush_tlb();
            }
            p.stale = 0;
        }
    }

    /// A reference on `mfn` held by domain `holder` without a mapping (a grant mapped for
    /// device access only): counted like a leaf mapping, so the frame is not freed or
    /// retyped away from under the device while it is held.
    pub fn hold(&mut self, mfn: Mfn, holder: DomId) -> MmResult {
        let p = self.slot(mfn)?;
        if p.owner == NO_OWNER {
            return Err(Errno::EINVAL);
        }
        if p.refs == u32::MAX || p.foreign_refs == u32::MAX {
            return Err(Errno::EOVERFLOW);
        }
        p.refs += 1;
        if p.owner != holder {
            p.foreign_refs += 1;
        }
        Ok(())
    }

    /// Drop a reference taken by [`FrameTable::hold`].
    pub fn unhold(&mut self, mfn: Mfn, holder: DomId) {
        if let Ok(p) = self.slot(mfn) {
            p.refs = p.refs.saturating_sub(1);
            if p.owner != holder {
                p.foreign_refs = p.foreign_refs.saturating_sub(1);
            }
        }
    }

    /// Drop a foreign reference.
    pub fn put_foreign(&mut self, mfn: Mfn) {
        if let Ok(p) = self.slot(mfn) {
            p.foreign_refs = p.foreign_refs.saturating_sub(1);
        }
    }

    /// Replace entry `idx` of table `table_mfn` (owned by `dom`) with `new` (stored as
    /// [`pte::guest_entry`]), mapping frames of `pg_owner`. The new entry's references are
    /// taken before the old one's are dropped.
    pub fn mod_entry(
        &mut self,
        mem: &mut impl TableMem,
        table_mfn: Mfn,
        idx: usize,
        new: u64,
        dom: DomId,
        pg_owner: DomId,
    ) -> MmResult {
        let t = *self.get(table_mfn).ok_or(Errno::EINVAL)?;
        if t.owner != dom {
            return Err(Errno::EPERM);
        }
        let level = t.ptype.level().ok_or(Errno::EINVAL)?;
        if t.type_count == 0 || idx >= 512 {
            return Err(Errno::EINVAL);
        }
        if level == 4 && HOLE_SLOTS.contains(&idx) {
            return Err(Errno::EPERM);
        }
        if level > 1 && pg_owner != dom {
            // Only leaf entries may map another domain's frames.
            return Err(Errno::EPERM);
        }
        let old = mem.read(table_mfn, idx);
        let new = pte::guest_entry(new);
        self.get_entry(mem, new, level, dom, pg_owner, table_mfn)?;
        mem.write(table_mfn, idx, new);
        self.put_entry(mem, old, level, dom, table_mfn);
        Ok(())
    }

    /// Whether `mfn` is a page table in use (validated, holding a type reference).
    pub fn is_table(&self, mfn: Mfn) -> bool {
        self.get(mfn)
            .is_some_and(|p| p.ptype.level().is_some() && p.type_count > 0)
    }

    /// Write word `idx` of `dom`'s frame `mfn` that is not a page table, as `mmu_update` does
    /// for one (Xen: a page that can be typed writable takes the value as plain data; Linux
    /// fills a new table this way before hooking it in). Refused, as typing it writable
    /// would be: another domain's frame, a descriptor page, a table part-way validated.
    pub fn write_untyped(
        &mut self,
        mem: &mut impl TableMem,
        mfn: Mfn,
        idx: usize,
        val: u64,
        dom: DomId,
    ) -> MmResult {
        if idx >= 512 {
            return Err(Errno::EINVAL);
        }
        self.get_type(mem, mfn, PageType::Writable, dom)?;
        mem.write(mfn, idx, val);
        self.put_type(mem, mfn);
        Ok(())
    }

    /// Hold `dom`'s frame `mfn` for the hypervisor to write ([`HeldPage`]): refused (as
    /// typing it writable would be, or `EINVAL` for a hypervisor page) if it is another
    /// domain's, a page table or a descriptor page.
    pub fn take_held(
        &mut self,
        mem: &mut impl TableMem,
        mfn: Mfn,
        dom: DomId,
    ) -> Result<HeldPage, Errno> {
        if self.get(mfn).ok_or(Errno::EINVAL)?.xen {
            return Err(Errno::EINVAL);
        }
        self.get_type(mem, mfn, PageType::Writable, dom)?;
        if let Err(e) = self.hold(mfn, dom) {
            self.put_type(mem, mfn);
            return Err(e);
        }
        Ok(HeldPage { mfn })
    }

    /// Give back a frame taken by [`FrameTable::take_held`] by `dom`.
    pub fn drop_held(&mut self, mem: &mut impl TableMem, page: HeldPage, dom: DomId) {
        self.unhold(page.mfn, dom);
        self.put_type(mem, page.mfn);
    }

    /// Pin `mfn` as a table of `level` for `dom`.
    pub fn pin(&mut self, mem: &mut impl TableMem, mfn: Mfn, level: u8, dom: DomId) -> MmResult {
        let p = *self.get(mfn).ok_or(Errno::EINVAL)?;
        if p.owner != dom {
            return Err(Errno::EPERM);
        }
        if p.pinned {
            return Err(Errno::EINVAL);
        }
        self.get_type(mem, mfn, PageType::table(level), dom)?;
        self.slot(mfn)?.pinned = true;
        Ok(())
    }

    /// Unpin a table pinned by `dom`.
    pub fn unpin(&mut self, mem: &mut impl TableMem, mfn: Mfn, dom: DomId) -> MmResult {
        let p = *self.get(mfn).ok_or(Errno::EINVAL)?;
        if p.owner != dom {
            return Err(Errno::EPERM);
        }
        if !p.pinned {
            return Err(Errno::EINVAL);
        }
        self.slot(mfn)?.pinned = false;
        self.put_type(mem, mfn);
        Ok(())
    }

    /// Put frame `mfn` (owned, not on any list) at the head of `list`.
    pub fn list_push(&mut self, list: &mut PageList, mfn: Mfn) -> MmResult {
        let m = u32::try_from(mfn.0).map_err(|_| Errno::EINVAL)?;
        let head = list.head;
        let p = self.slot(mfn)?;
        p.next = head;
        p.prev = NO_FRAME;
        if head != NO_FRAME {
            self.slot(Mfn(u64::from(head)))?.prev = m;
        }
        list.head = m;
        list.len += 1;
        Ok(())
    }

    /// Take frame `mfn` off `list`; a frame not on it (no predecessor, not the head) is left
    /// alone.
    pub fn list_remove(&mut self, list: &mut PageList, mfn: Mfn) {
        let Ok(p) = self.slot(mfn) else { return };
        let (next, prev) = (p.next, p.prev);
        if prev == NO_FRAME && u64::from(list.head) != mfn.0 {
            return;
        }
        let Ok(p) = self.slot(mfn) else { return };
        p.next = NO_FRAME;
        p.prev = NO_FRAME;
        if prev == NO_FRAME {
            list.head = next;
        } else if let Ok(q) = self.slot(Mfn(u64::from(prev))) {
            q.next = next;
        }
        if next != NO_FRAME {
            if let Ok(q) = self.slot(Mfn(u64::from(next))) {
                q.prev = prev;
            }
        }
        list.len = list.len.saturating_sub(1);
    }

    /// The frame after `mfn` on its list.
    pub fn list_next(&self, mfn: Mfn) -> Option<Mfn> {
        self.get(mfn)
            .map(|p| p.next)
            .filter(|&n| n != NO_FRAME)
            .map(|n| Mfn(u64::from(n)))
    }

    /// Tear down a dying domain's frames, at most `budget` of them per call: phase 1 releases
    /// what its tables hold on other domains' frames and resets every type (nothing is freed
    /// yet, so a table processed later still sees its own frames as its own); phase 2 takes
    /// every frame without foreign references off the list, releases it and passes it to
    /// `free` (for the allocator). Frames
    /// still mapped by other domains stay on the list. Start with
    /// `Cursor::Untype(list.first())`.
    pub fn relinquish_step(
        &mut self,
        mem: &mut impl TableMem,
        dom: DomId,
        list: &mut PageList,
        cursor: Cursor,
        mut budget: u64,
        mut free: impl FnMut(Mfn),
    ) -> Relinquish {
        let mut cursor = cursor;
        loop {
            if budget == 0 {
                return Relinquish::More(cursor);
            }
            budget -= 1;
            cursor = match cursor {
                Cursor::Untype(None) => Cursor::Collect(list.first()),
                Cursor::Untype(Some(mfn)) => {
                    if self.get(mfn).is_some_and(|p| p.ptype.level().is_some()) {
                        // A table's 512 entries are read: it costs more of the budget.
                        budget = budget.saturating_sub(TABLE_COST - 1);
                    }
                    self.untype_dying(mem, dom, mfn);
                    Cursor::Untype(self.list_next(mfn))
                }
                Cursor::Collect(None) => return Relinquish::Done(list.len()),
                Cursor::Collect(Some(mfn)) => {
                    let next = self.list_next(mfn);
                    if self.release(mem, list, mfn).is_ok() {
                        free(mfn);
                    }
                    Cursor::Collect(next)
                }
            };
        }
    }

    /// Phase 1 of [`FrameTable::relinquish_step`] for one frame of the dying domain `dom`.
    fn untype_dying(&mut self, mem: &mut impl TableMem, dom: DomId, mfn: Mfn) {
        let Some(p) = self.get(mfn).copied() else {
            return;
        };
        if p.owner != dom {
            return;
        }
        // Entries that hold references: all of a validated table, those below `pidx` of one
        // part-way through (de)validation.
        let held = match p.partial {
            Partial::None if p.type_count > 0 => 512,
            Partial::None => 0,
            _ => usize::from(p.pidx),
        };
        if let (Some(level), true) = (p.ptype.level(), held > 0) {
            for idx in 0..held {
                if level == 4 && HOLE_SLOTS.contains(&idx) {
                    continue;
                }
                let e = mem.read(mfn, idx);
                if !pte::present(e) {
                    continue;
                }
                let target = pte::mfn(e);
                // Foreign frames its L1s map (tables above L1 only ever hold its own).
                if level == 1
                    && target.0 < self.len()
                    && self.owner(target) != dom
                    && !self.is_io_frame(target)
                {
                    self.put_leaf(mem, e, dom);
                }
            }
        }
        self.reset_dying(mfn);
    }

    /// A dying domain's frame loses its type: what remains are other domains' mappings.
    pub fn reset_dying(&mut self, mfn: Mfn) {
        if let Ok(p) = self.slot(mfn) {
            p.ptype = PageType::None;
            p.type_count = 0;
            p.linear = 0;
            p.partial = Partial::None;
            p.pidx = 0;
            p.pinned = false;
            p.refs = p.foreign_refs;
        }
    }
}

/// A new entry mapping I/O memory: only a leaf, only in a table of the I/O-privileged domain
/// (as its own mapping or one naming DOMID_IO), with any cache attributes (a device wants
/// uncached); it takes no reference, I/O frames having no page to count on.
fn io_entry(e: u64, level: u8, table_owner: DomId, pg_owner: DomId) -> MmResult {
    if level != 1
        || !crate::phys::iomem::permitted(table_owner)
        || (pg_owner != table_owner && pg_owner != DomId::IO)
    {
        return Err(Errno::EPERM);
    }
    if e & !(pte::L1_ALLOWED | pte::L1_CACHE_CTL) & !pte::ADDR_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Set when a page-table frame lost its last type reference: until the CPUs that may cache
/// it as a table have flushed, it must not become writable (`domain::state::with` flushes
/// before the state is let go).
static TABLE_RELEASED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether a page-table frame lost its last type reference since the last call.
pub fn take_table_released() -> bool {
    // A plain load first: the hypercall path calls this every time, and it is rarely set.
    TABLE_RELEASED.load(core::sync::atomic::Ordering::Relaxed)
        && TABLE_RELEASED.swap(false, core::sync::atomic::Ordering::Relaxed)
}
