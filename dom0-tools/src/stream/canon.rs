//! Page-table canonicalisation: in an image, the entries of L1-L4 page-table pages name
//! pseudo-physical frames (pfns), never machine frames. [`canonicalise`] rewrites a page
//! table for saving (mfn to pfn, through the saving domain's m2p); [`uncanonicalise`]
//! rewrites it back for the restored domain (pfn to mfn, through its p2m), refusing any
//! entry naming a pfn outside the domain's p2m or not yet populated: an image can never
//! hand a domain a frame it does not own. Both are pure and all-or-nothing: on an error
//! the page is left as it was.
//!
//! Only present entries carry a frame; not-present entries are the guest's own bits and
//! are kept as they are. The L4 slots of the hypervisor's area hold the hypervisor's own
//! mappings: saved as zero, and required to be not present in an image (the hypervisor
//! fills them in when it validates the table). PV page tables here have no superpages, so
//! a present L2/L3 entry with PSE set is refused.

use super::error::Rule;
use super::PAGE_SIZE;
use core::fmt;
use core::ops::Range;
use guest_abi::arch::{HYPERVISOR_VIRT_END, HYPERVISOR_VIRT_START};
use zerocopy::byteorder::little_endian as le;
use zerocopy::FromBytes;

/// Entries in a page-table page.
pub const ENTRIES: usize = 512;
/// Present bit.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Page-size bit of an L2/L3 entry (a superpage).
pub const PTE_PSE: u64 = 1 << 7;
/// The frame number bits of an entry (bits 12-51).
pub const PTE_FRAME_MASK: u64 = 0x000f_ffff_ffff_f000;

/// The L4 slots of the hypervisor's area, from its virtual range (256..272).
pub const XEN_L4_SLOTS: Range<usize> = l4_slot(HYPERVISOR_VIRT_START)..l4_slot(HYPERVISOR_VIRT_END);

const fn l4_slot(va: u64) -> usize {
    ((va >> 39) & 0x1ff) as usize
}

/// What the restored domain's p2m says of a pfn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P2m {
    /// The pfn is backed by this machine frame, owned by the domain.
    Frame(u64),
    /// The pfn is inside the p2m but has no frame yet.
    Unpopulated,
    /// The pfn is beyond the domain's p2m.
    Beyond,
}

/// Why a page table could not be rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonError {
    /// The level is not 1-4.
    Level(u8),
    /// Entry `index` names a machine frame the saving domain does not own.
    ForeignFrame {
        /// The entry.
        index: usize,
        /// The machine frame.
        mfn: u64,
    },
    /// Entry `index` names a pfn beyond the domain's p2m.
    PfnBeyond {
        /// The entry.
        index: usize,
        /// The pfn.
        pfn: u64,
    },
    /// Entry `index` names a pfn the domain has no frame for yet.
    Unpopulated {
        /// The entry.
        index: usize,
        /// The pfn.
        pfn: u64,
    },
    /// Entry `index` maps a superpage.
    Superpage {
        /// The entry.
        index: usize,
    },
    /// Entry `index` (a hypervisor slot of an L4) is present in an image.
    HypervisorSlot {
        /// The entry.
        index: usize,
    },
}

impl fmt::Display for CanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CanonError::Level(l) => write!(f, "page-table level {l} is not 1-4"),
            CanonError::ForeignFrame { index, mfn } => {
                write!(
                    f,
                    "entry {index} maps machine frame {mfn:#x}, not the domain's"
                )
            }
            CanonError::PfnBeyond { index, pfn } => {
                write!(
                    f,
                    "entry {index} names pfn {pfn:#x}, beyond the domain's p2m"
                )
            }
            CanonError::Unpopulated { index, pfn } => {
                write!(
                    f,
                    "entry {index} names pfn {pfn:#x}, which the domain has no frame for"
                )
            }
            CanonError::Superpage { index } => write!(f, "entry {index} maps a superpage"),
            CanonError::HypervisorSlot { index } => {
                write!(f, "entry {index} is in the hypervisor's L4 slots")
            }
        }
    }
}

impl CanonError {
    /// The error as a stream [`Rule`] for the page-table page at `pfn`.
    pub fn at(self, pfn: u64) -> Rule {
        Rule::PageTable { pfn, error: self }
    }
}

fn entries(page: &[u8; PAGE_SIZE]) -> [u64; ENTRIES] {
    let view = <[le::U64; ENTRIES]>::ref_from_bytes(page).expect("a page is 512 entries");
    view.map(|e| e.get())
}

fn store(page: &mut [u8; PAGE_SIZE], values: &[u64; ENTRIES]) {
    let view = <[le::U64; ENTRIES]>::mut_from_bytes(page).expect("a page is 512 entries");
    for (d, s) in view.iter_mut().zip(values) {
        *d = (*s).into();
    }
}

/// Rewrites every present entry of `page` through `map` (from the entry's frame to the
/// frame to write, or an error for that entry); `l4_slot` decides an L4's hypervisor slots.
fn rewrite(
    page: &mut [u8; PAGE_SIZE],
    level: u8,
    mut slot: impl FnMut(usize, u64) -> Result<Option<u64>, CanonError>,
    mut map: impl FnMut(usize, u64) -> Result<u64, CanonError>,
) -> Result<(), CanonError> {
    if !(1..=4).contains(&level) {
        return Err(CanonError::Level(level));
    }
    let mut out = entries(page);
    for (index, pte) in out.iter_mut().enumerate() {
        if level == 4 && XEN_L4_SLOTS.contains(&index) {
            if let Some(v) = slot(index, *pte)? {
                *pte = v;
                continue;
            }
        }
        if *pte & PTE_PRESENT == 0 {
            continue;
        }
        if (level == 2 || level == 3) && *pte & PTE_PSE != 0 {
            return Err(CanonError::Superpage { index });
        }
        let frame = (*pte & PTE_FRAME_MASK) >> 12;
        let new = map(index, frame)?;
        *pte = (*pte & !PTE_FRAME_MASK) | ((new << 12) & PTE_FRAME_MASK);
    }
    store(page, &out);
    Ok(())
}

/// Save: rewrites the page table `page` of `level` (1-4) from machine frames to pfns;
/// `mfn_to_pfn` answers the saving domain's pfn of a machine frame, `None` if the frame is
/// not the domain's. The hypervisor's L4 slots are written as zero.
pub fn canonicalise(
    page: &mut [u8; PAGE_SIZE],
    level: u8,
    mut mfn_to_pfn: impl FnMut(u64) -> Option<u64>,
) -> Result<(), CanonError> {
    rewrite(
        page,
        level,
        |_, _| Ok(Some(0)),
        |index, mfn| mfn_to_pfn(mfn).ok_or(CanonError::ForeignFrame { index, mfn }),
    )
}

/// Restore: rewrites the page table `page` of `level` (1-4) from pfns to the restored
/// domain's machine frames; `pfn_to_mfn` reads its p2m. An entry naming a pfn beyond the
/// p2m or unpopulated, a superpage, or a present hypervisor slot refuses the page.
pub fn uncanonicalise(
    page: &mut [u8; PAGE_SIZE],
    level: u8,
    mut pfn_to_mfn: impl FnMut(u64) -> P2m,
) -> Result<(), CanonError> {
    rewrite(
        page,
        level,
        |index, pte| {
            if pte & PTE_PRESENT != 0 {
                return Err(CanonError::HypervisorSlot { index });
            }
            Ok(None)
        },
        |index, pfn| match pfn_to_mfn(pfn) {
            P2m::Frame(mfn) => Ok(mfn),
            P2m::Unpopulated => Err(CanonError::Unpopulated { index, pfn }),
            P2m::Beyond => Err(CanonError::PfnBeyond { index, pfn }),
        },
    )
}

/// GDT frames a vCPU context may name (`gdt_frames`).
pub const GDT_FRAMES: usize = 16;
/// GDT entries in one frame.
const GDT_ENTRIES_PER_FRAME: u64 = (PAGE_SIZE / 8) as u64;

/// The frame-holding field of a vCPU context an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuField {
    /// `ctrlreg[3]`: the kernel's page tables.
    Cr3,
    /// `ctrlreg[1]`: the user page tables (zero: none).
    UserCr3,
    /// `gdt_frames[i]`.
    GdtFrame(usize),
    /// `gdt_ents`: more entries than the frames hold.
    GdtEntries,
}

/// Why a vCPU context could not be rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuCanonError {
    /// The field.
    pub field: VcpuField,
    /// What was wrong with it (its `index` is 0).
    pub error: CanonError,
}

impl fmt::Display for VcpuCanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.field {
            VcpuField::Cr3 => "cr3",
            VcpuField::UserCr3 => "user cr3 (ctrlreg[1])",
            VcpuField::GdtFrame(_) => "a GDT frame",
            VcpuField::GdtEntries => return write!(f, "gdt_ents beyond {GDT_FRAMES} frames"),
        };
        match self.error {
            CanonError::ForeignFrame { mfn, .. } => {
                write!(f, "{what} names machine frame {mfn:#x}, not the domain's")
            }
            CanonError::PfnBeyond { pfn, .. } => {
                write!(f, "{what} names pfn {pfn:#x}, beyond the domain's p2m")
            }
            CanonError::Unpopulated { pfn, .. } => {
                write!(
                    f,
                    "{what} names pfn {pfn:#x}, which the domain has no frame for"
                )
            }
            e => write!(f, "{what}: {e}"),
        }
    }
}

/// The frame-holding fields of a 64-bit PV context: the GDT frames in use, cr3, and the
/// user cr3 when set. A cr3 holds its frame in bits 12 and up.
fn vcpu_frames(
    ctx: &mut guest_abi::arch::VcpuGuestContext,
    mut map: impl FnMut(u64) -> Result<u64, CanonError>,
) -> Result<(), VcpuCanonError> {
    let gdt_frames = ctx.gdt_ents.div_ceil(GDT_ENTRIES_PER_FRAME);
    if gdt_frames > GDT_FRAMES as u64 {
        let error = CanonError::Level(0);
        return Err(VcpuCanonError {
            field: VcpuField::GdtEntries,
            error,
        });
    }
    let mut out = *ctx;
    for (i, frame) in out
        .gdt_frames
        .iter_mut()
        .take(gdt_frames as usize)
        .enumerate()
    {
        *frame = map(*frame).map_err(|error| VcpuCanonError {
            field: VcpuField::GdtFrame(i),
            error,
        })?;
    }
    for (reg, field) in [(3, VcpuField::Cr3), (1, VcpuField::UserCr3)] {
        let cr = out.ctrlreg[reg];
        if reg == 1 && cr == 0 {
            continue;
        }
        let frame = map(cr >> 12).map_err(|error| VcpuCanonError { field, error })?;
        out.ctrlreg[reg] = (frame << 12) | (cr & 0xfff);
    }
    *ctx = out;
    Ok(())
}

/// Save: a vCPU context's GDT frames and page-table bases from machine frames to pfns
/// (all-or-nothing, like [`canonicalise`]).
pub fn canonicalise_vcpu(
    ctx: &mut guest_abi::arch::VcpuGuestContext,
    mut mfn_to_pfn: impl FnMut(u64) -> Option<u64>,
) -> Result<(), VcpuCanonError> {
    vcpu_frames(ctx, |mfn| {
        mfn_to_pfn(mfn).ok_or(CanonError::ForeignFrame { index: 0, mfn })
    })
}

/// Restore: a vCPU context's GDT frames and page-table bases from pfns to the restored
/// domain's frames, refusing pfns beyond its p2m or unpopulated.
pub fn uncanonicalise_vcpu(
    ctx: &mut guest_abi::arch::VcpuGuestContext,
    mut pfn_to_mfn: impl FnMut(u64) -> P2m,
) -> Result<(), VcpuCanonError> {
    vcpu_frames(ctx, |pfn| match pfn_to_mfn(pfn) {
        P2m::Frame(mfn) => Ok(mfn),
        P2m::Unpopulated => Err(CanonError::Unpopulated { index: 0, pfn }),
        P2m::Beyond => Err(CanonError::PfnBeyond { index: 0, pfn }),
    })
}
