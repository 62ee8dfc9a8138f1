//! Building dom0 at boot with the shared PV domain builder (`pv-builder`), writing through
//! the direct map.

use crate::domain::memory;
use crate::domain::state::State;
use crate::lifecycle;
use crate::mm::machine::Machine;
use crate::mm::page_types::FrameTable;
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::types::{DomId, Mfn, Pfn, PAGE_SIZE};
use pv_builder::build::{build_pv, fill_vcpu_context, BuildError, BuildParams, GuestMemory};
use pv_builder::elf::ElfImage;
use zerocopy::FromZeros;

/// A domain's memory during the build: its frames, written through the direct map with the
/// frame table's proof that each may be written for it.
struct Dom0Memory<'a> {
    mfns: &'a [Mfn],
    mem: &'a Machine,
    frames: FrameTable<'a>,
    dom: DomId,
}

impl Dom0Memory<'_> {
    /// Write `data` at machine address `ma`, in a frame of the domain being built.
    fn write_at(&self, ma: u64, data: &[u8]) -> Result<(), guest_abi::errno::Errno> {
        let f = self
            .frames
            .writable(Mfn::containing(ma), self.dom)
            .ok_or(guest_abi::errno::Errno::EFAULT)?;
        self.mem.write_frame(&f, (ma & 0xFFF) as usize, data)
    }

    fn each_chunk(
        &self,
        gpaddr: u64,
        len: u64,
        mut f: impl FnMut(u64, usize, usize) -> Result<(), guest_abi::errno::Errno>,
    ) -> Result<(), BuildError> {
        let end = gpaddr
            .checked_add(len)
            .ok_or(BuildError::OutOfRange { gpaddr, len })?;
        if end > self.mfns.len() as u64 * PAGE_SIZE as u64 {
            return Err(BuildError::OutOfRange { gpaddr, len });
        }
        let mut cur = gpaddr;
        let mut done = 0usize;
        while cur < end {
            let n = ((cur | 0xFFF) + 1).min(end) - cur;
            let ma = self.mfns[Pfn::containing(cur).0 as usize].addr() | (cur & 0xFFF);
            f(ma, done, n as usize).map_err(|errno| BuildError::Map {
                mfn: ma >> 12,
                errno,
            })?;
            cur += n;
            done += n as usize;
        }
        Ok(())
    }
}

impl GuestMemory for Dom0Memory<'_> {
    fn nr_pages(&self) -> u64 {
        self.mfns.len() as u64
    }

    fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        self.mfns[pfn as usize].0
    }

    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError> {
        self.each_chunk(gpaddr, data.len() as u64, |ma, off, n| {
            self.write_at(ma, &data[off..off + n])
        })
    }

    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError> {
        let zeros = [0u8; 4096];
        self.each_chunk(gpaddr, len, |ma, _, n| self.write_at(ma, &zeros[..n]))
    }
}

/// Build dom0 from its kernel ELF, optional initrd and command line, with `pages` of memory,
/// and leave it runnable.
pub fn build(
    st: &mut State,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
    pages: u64,
) -> Result<(), &'static str> {
    build_domain(st, Some(DomId::DOM0), true, kernel, initrd, cmdline, pages).map(|_| ())
}

/// Build a domain (id `want`, or the next free one) from a kernel ELF the way dom0 is built,
/// and leave it runnable; returns its id. Besides dom0 at boot, the host tests use it to
/// start the domains they run hypercalls in.
pub fn build_domain(
    st: &mut State,
    want: Option<DomId>,
    privileged: bool,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
    pages: u64,
) -> Result<DomId, &'static str> {
    let img = ElfImage::parse(kernel).map_err(|_| "kernel is not a usable PV ELF image")?;
    let id = lifecycle::create(st, want, privileged).map_err(|_| "cannot create the domain")?;
    st.dom(id).ok_or("domain vanished")?.max_pages = pages;
    let mut mfns = Vec::with_capacity(pages as usize);
    for pfn in 0..pages {
        mfns.push(memory::alloc_page(st, id, Pfn(pfn)).map_err(|_| "not enough memory")?);
    }
    let shared = st.dom(id).ok_or("domain vanished")?.shared_info.mfn();
    let params = BuildParams {
        kernel: &img,
        initrd,
        cmdline,
        privileged,
        shared_info_maddr: shared.addr(),
        store_evtchn: None,
        console_evtchn: None,
        dom0_console: None,
        hv_features: crate::domain::FEATURES,
    };
    let mut gm = Dom0Memory {
        mfns: &mfns,
        mem: &st.mem,
        frames: FrameTable::new(st.frames),
        dom: id,
    };
    let r = build_pv(&mut gm, &params).map_err(|e| {
        log::error!("d{id} build failed: {e}");
        "build failed"
    })?;
    {
        let (mut ft, mem) = st.frame_table();
        ft.pin(mem, Mfn(r.l4_mfn), 4, id).map_err(|e| {
            log::error!("d{id}'s initial page tables do not validate: {e}");
            "page tables invalid"
        })?;
    }
    let mut ctx = VcpuGuestContext::new_zeroed();
    fill_vcpu_context(&r, &mut ctx);
    crate::domain::vcpu_context::set_vcpu_context(
        st,
        crate::domain::VcpuId::new(id, 0),
        &ctx,
        true,
    )
    .map_err(|_| "cannot set the vCPU context")?;
    st.dom(id).ok_or("domain vanished")?.pause_count = 0;
    let who = if id == DomId::DOM0 {
        alloc::string::String::from("dom0")
    } else {
        alloc::format!("d{id}")
    };
    log::info!(
        "{who}: {} MiB, kernel at {:#x}, entry {:#x}, start_info {:#x}, {} page-table frames",
        pages / 256,
        r.virt_base,
        r.entry,
        r.start_info_va,
        r.nr_pt_frames
    );
    Ok(id)
}
