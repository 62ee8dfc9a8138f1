//! The x86_64 PV domain builder, alloc-free and shared by the hypervisor (dom0) and the
//! toolstack (domUs): lays out and writes the initial region of fact sheet §2 through
//! [`GuestMemory`].
//!
//! Region, from VIRT_BASE, VA = virt_base + pfn·4096, each part page-aligned:
//! kernel (at its load address; pages between VIRT_BASE and the kernel stay zero), initrd,
//! p2m list (u64 MFN per PFN, all `nr_pages`), start_info, xenstore page (domU), console page
//! (domU), page tables (L4, then the L3s, L2s and L1s, mapping the whole region with 4 KiB
//! PTEs, themselves read-only), one boot-stack page; the end rounded up to 4 MiB leaving at
//! least 512 KiB after the stack. Every page of the region is zeroed before anything is
//! written (pages outside it are the hypervisor's to scrub).

mod context;
mod layout;
mod pagetables;

pub use context::fill_vcpu_context;
pub use layout::Layout;

use crate::elf::ElfImage;
use core::fmt;
use guest_abi::errno::Errno;
use guest_abi::start_info::{SifFlags, StartInfo, MAX_GUEST_CMDLINE};
use zerocopy::IntoBytes;

/// 4 KiB.
pub const PAGE_SIZE: u64 = 4096;

/// A domain's pseudo-physical memory as the builder sees it.
///
/// The builder touches only the initial region (PFNs below [`Layout::region_pages`]): it
/// writes there and asks [`pfn_to_mfn`](Self::pfn_to_mfn) only about those PFNs. The rest of
/// the domain's memory it meets once, in order, when it writes the p2m list: through
/// [`mfns`](Self::mfns), which lets an implementation populate that memory right then, a
/// batch at a time, instead of keeping a list of every frame.
pub trait GuestMemory {
    /// Pages the domain has (PFNs `0..nr_pages`).
    fn nr_pages(&self) -> u64;
    /// The machine frame backing `pfn` (a PFN of the initial region).
    fn pfn_to_mfn(&self, pfn: u64) -> u64;
    /// The machine frames backing PFNs `first..first + out.len()`, into `out`. The builder
    /// asks for every PFN of the domain exactly once, in increasing order (for the p2m list).
    fn mfns(&mut self, first: u64, out: &mut [u64]) -> Result<(), BuildError> {
        for (pfn, m) in (first..).zip(out.iter_mut()) {
            *m = self.pfn_to_mfn(pfn);
        }
        Ok(())
    }
    /// Writes `data` at pseudo-physical byte address `gpaddr` (= pfn·4096 + offset).
    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError>;
    /// Zeroes `len` bytes from `gpaddr`.
    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError>;
}

/// Why a domain could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The region does not fit in the domain's memory.
    TooSmall { needed: u64, have: u64 },
    /// The kernel's layout cannot be built (why).
    Layout(&'static str),
    /// A write fell outside the domain's memory.
    OutOfRange { gpaddr: u64, len: u64 },
    /// Mapping one of the domain's frames failed.
    Map { mfn: u64, errno: Errno },
    /// The kernel requires features (XENFEAT bits) the hypervisor does not offer.
    Unsupported { missing: u32 },
    /// Populating the domain's memory failed (`errno`), or the hypervisor gave fewer pages
    /// than asked (`errno` None): `done` of the domain's `wanted` pages are there.
    Populate {
        done: u64,
        wanted: u64,
        errno: Option<Errno>,
    },
}

/// Checks that the hypervisor offers every feature the kernel marks required (`!name` in
/// its FEATURES note); `hv_features` is the hypervisor's XENFEAT submap 0.
pub fn check_features(img: &ElfImage<'_>, hv_features: u32) -> Result<(), BuildError> {
    let missing = img.notes.required_features & !hv_features;
    if missing == 0 {
        Ok(())
    } else {
        Err(BuildError::Unsupported { missing })
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooSmall { needed, have } => write!(
                f,
                "guest needs {needed} pages ({} KiB) but has {have} ({} KiB)",
                needed.saturating_mul(4),
                have.saturating_mul(4)
            ),
            Self::Layout(why) => write!(f, "cannot lay out the guest: {why}"),
            Self::OutOfRange { gpaddr, len } => write!(
                f,
                "write of {len} bytes at guest address {gpaddr:#x} is outside the guest's memory"
            ),
            Self::Map { mfn, errno } => write!(f, "cannot map guest frame {mfn:#x}: {errno}"),
            Self::Populate {
                errno: Some(errno), ..
            } => write!(f, "populate_physmap: {errno}"),
            Self::Populate {
                done,
                wanted,
                errno: None,
            } => write!(
                f,
                "not enough memory: the hypervisor gave {done} of {wanted} pages"
            ),
            Self::Unsupported { missing } => {
                write!(f, "the kernel requires features this hypervisor lacks:")?;
                for bit in (0..32).filter(|b| missing & (1 << b) != 0) {
                    match crate::elf::FEATURE_NAMES.get(bit) {
                        Some(name) => write!(f, " {name}")?,
                        None => write!(f, " feature#{bit}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct BuildParams<'a> {
    pub kernel: &'a ElfImage<'a>,
    pub initrd: Option<&'a [u8]>,
    /// Truncated to 1023 bytes in start_info.
    pub cmdline: &'a str,
    /// dom0: start_info flags SIF_PRIVILEGED | SIF_INITDOMAIN.
    pub privileged: bool,
    /// Machine address of the domain's shared_info page.
    pub shared_info_maddr: u64,
    /// domU: allocate a xenstore page in the region and pass it with this event channel.
    pub store_evtchn: Option<u32>,
    /// domU: allocate a console page in the region and pass it with this event channel.
    pub console_evtchn: Option<u32>,
    /// dom0: console info (offset, size) within start_info, if any.
    pub dom0_console: Option<(u32, u32)>,
    /// The hypervisor's XENFEAT submap 0; the kernel's required features must be in it.
    pub hv_features: u32,
}

/// Where things ended up; everything the caller needs to start the vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildResult {
    pub virt_base: u64,
    pub entry: u64,
    pub stack_top: u64,
    pub start_info_va: u64,
    pub start_info_pfn: u64,
    pub l4_pfn: u64,
    pub l4_mfn: u64,
    pub pt_first_pfn: u64,
    pub nr_pt_frames: u64,
    /// First VA after the mapped region.
    pub region_end_va: u64,
    pub hypercall_page_va: Option<u64>,
    pub p2m_va: u64,
    /// VA and length of the initrd (0, 0 if none).
    pub mod_start: u64,
    pub mod_len: u64,
    pub store_pfn: Option<u64>,
    pub store_mfn: Option<u64>,
    pub console_pfn: Option<u64>,
    pub console_mfn: Option<u64>,
}

/// Builds the initial region of a PV domain in `mem` (see the module documentation).
pub fn build_pv<M: GuestMemory + ?Sized>(
    mem: &mut M,
    p: &BuildParams<'_>,
) -> Result<BuildResult, BuildError> {
    let img = p.kernel;
    check_features(img, p.hv_features)?;
    let initrd_len = p.initrd.map_or(0, |d| d.len() as u64);
    let l = Layout::compute(
        img,
        initrd_len,
        mem.nr_pages(),
        p.store_evtchn.is_some(),
        p.console_evtchn.is_some(),
    )?;
    mem.zero(0, pages_to_bytes(l.region_pages)?)?;

    // Kernel segments and their bss.
    for seg in img.segments() {
        let at = seg.load_va.wrapping_sub(l.virt_base);
        mem.write(at, seg.data)?;
        let filesz = seg.data.len() as u64;
        let bss = seg.memsz.checked_sub(filesz).ok_or(too_large())?;
        mem.zero(at.checked_add(filesz).ok_or(too_large())?, bss)?;
    }
    let mut page = [0u8; PAGE_SIZE as usize];
    if let Some(hp) = img.notes.hypercall_page {
        guest_abi::hypercall::write_hypercall_page(&mut page);
        mem.write(hp.checked_sub(l.virt_base).ok_or(too_large())?, &page)?;
    }
    if let Some(initrd) = p.initrd {
        mem.write(pages_to_bytes(l.initrd_pfn)?, initrd)?;
    }

    // The p2m list, a page (512 PFNs) at a time: the only place the builder meets every
    // page of the domain, so memory outside the region is populated here as it goes.
    let nr_pages = mem.nr_pages();
    let p2m = pages_to_bytes(l.p2m_pfn)?;
    let mut mfns = [0u64; (PAGE_SIZE / 8) as usize];
    let mut pfn = 0;
    while pfn < nr_pages {
        let n = (nr_pages - pfn).min(PAGE_SIZE / 8) as usize;
        mem.mfns(pfn, &mut mfns[..n])?;
        for (slot, mfn) in page.chunks_exact_mut(8).zip(&mfns[..n]) {
            slot.copy_from_slice(&mfn.to_le_bytes());
        }
        let at = pfn
            .checked_mul(8)
            .and_then(|o| p2m.checked_add(o))
            .ok_or(too_large())?;
        mem.write(at, &page[..n * 8])?;
        pfn += n as u64;
    }

    let store_mfn = l.store_pfn.map(|pfn| mem.pfn_to_mfn(pfn));
    let console_mfn = l.console_pfn.map(|pfn| mem.pfn_to_mfn(pfn));
    let mut si = StartInfo::new();
    si.nr_pages = nr_pages;
    si.shared_info = p.shared_info_maddr;
    if p.privileged {
        si.flags = (SifFlags::PRIVILEGED | SifFlags::INITDOMAIN).bits();
    }
    if let (Some(mfn), Some(evtchn)) = (store_mfn, p.store_evtchn) {
        si.store_mfn = mfn.into();
        si.store_evtchn = evtchn.into();
    }
    if let (Some(mfn), Some(evtchn)) = (console_mfn, p.console_evtchn) {
        let c = si.console.domu_mut();
        c.mfn = mfn.into();
        c.evtchn = evtchn.into();
    } else if let Some((off, size)) = p.dom0_console {
        let c = si.console.dom0_mut();
        c.info_off = off;
        c.info_size = size;
    }
    si.pt_base = l.va(l.pt_pfn);
    si.nr_pt_frames = l.nr_pt_frames;
    si.mfn_list = l.va(l.p2m_pfn);
    if initrd_len > 0 {
        si.mod_start = l.va(l.initrd_pfn);
        si.mod_len = initrd_len;
    }
    let cmd = p.cmdline.as_bytes();
    let n = cmd.len().min(MAX_GUEST_CMDLINE - 1);
    si.cmd_line[..n].copy_from_slice(&cmd[..n]);
    mem.write(pages_to_bytes(l.start_info_pfn)?, si.as_bytes())?;

    pagetables::write(mem, &l, &mut page)?;

    Ok(BuildResult {
        virt_base: l.virt_base,
        entry: img.entry(),
        stack_top: l.va(l.stack_pfn + 1),
        start_info_va: l.va(l.start_info_pfn),
        start_info_pfn: l.start_info_pfn,
        l4_pfn: l.pt_pfn,
        l4_mfn: mem.pfn_to_mfn(l.pt_pfn),
        pt_first_pfn: l.pt_pfn,
        nr_pt_frames: l.nr_pt_frames,
        region_end_va: l.va(l.region_pages),
        hypercall_page_va: img.notes.hypercall_page,
        p2m_va: l.va(l.p2m_pfn),
        mod_start: si.mod_start,
        mod_len: si.mod_len,
        store_pfn: l.store_pfn,
        store_mfn,
        console_pfn: l.console_pfn,
        console_mfn,
    })
}

fn too_large() -> BuildError {
    BuildError::Layout("the region is too large")
}

/// `pages` pages in bytes, checked.
fn pages_to_bytes(pages: u64) -> Result<u64, BuildError> {
    pages.checked_mul(PAGE_SIZE).ok_or(too_large())
}

#[cfg(test)]
pub(crate) mod testmem;
#[cfg(test)]
mod tests;
