//! The dom0 role: the toolstack shell on the hypervisor console, with [`Hypervisor`]
//! implemented by real hypercalls.

use crate::console::Console;
use crate::entry::VIRT_BASE;
use crate::pagetable::{
    self, Memory, Walker, PAGE_SIZE, PTE_ACCESSED, PTE_ADDR_MASK, PTE_KERNEL_RW, PTE_PRESENT,
    PTE_USER,
};
use crate::println;
use core::fmt::Write;
use dom0_tools::hv::Hypervisor;
use dom0_tools::initrd::Initrd;
use dom0_tools::shell::{Shell, ShellAction};
use dom0_tools::xl::Toolstack;
use guest_abi::domctl::XenDomctl;
use guest_abi::errno::Errno;
use guest_abi::guest;
use guest_abi::memory::{XenMemoryReservation, XENMEM_POPULATE_PHYSMAP};
use guest_abi::mmu::{MmuUpdate, MmuextOp, MMUEXT_INVLPG_LOCAL};
use guest_abi::sched::ShutdownReason;
use guest_abi::start_info::StartInfo;
use guest_abi::sysctl::XenSysctl;
use guest_abi::types::DomId;

/// Reads our own memory directly (the walker only reads page tables and the M2P, both
/// mapped read-only for us).
pub(crate) struct Direct;

impl Memory for Direct {
    fn read_u64(&self, va: u64) -> u64 {
        // SAFETY: the walker only reads entries of tables inside the initial mapping (checked
        // against its bounds) and M2P entries of frames that our own PTEs reference, which the
        // hypervisor maps read-only for every guest. Volatile: the hypervisor changes them.
        unsafe { core::ptr::read_volatile(va as *const u64) }
    }
}

/// Ports of back-end rings (xenstore, console) signalled since the toolstack last looked.
static BACKEND_PENDING: [core::sync::atomic::AtomicBool; crate::events::MAX_PORTS] =
    [const { core::sync::atomic::AtomicBool::new(false) }; crate::events::MAX_PORTS];

/// VIRQ_DOM_EXC events received (a domain shut down or crashed).
static DOM_EXC: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// VIRQ_DOM_EXC is bound (else the toolstack only polls).
static DOM_EXC_BOUND: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn on_dom_exc(_port: u32) {
    DOM_EXC.fetch_add(1, core::sync::atomic::Ordering::SeqCst);
}

/// dom0's hypervisor interface for the toolstack.
pub struct Dom0Hypervisor {
    /// The page of our address space where foreign frames are mapped, one at a time.
    window_va: u64,
    /// Machine address of the L1 entry mapping `window_va`.
    window_pte: u64,
    /// TSC frequency (kHz, from sysctl physinfo) for [`Hypervisor::now_ns`]; 0 if unknown.
    tsc_khz: u64,
}

impl Dom0Hypervisor {
    /// Sets up the foreign-mapping window in the padding at the end of the initial region
    /// (whose L1 table the builder created) and unmaps whatever the builder put there.
    pub fn new(si: &StartInfo) -> Result<Dom0Hypervisor, pagetable::WalkError> {
        let region_end = pagetable::initial_region_end(si.pt_base, si.nr_pt_frames);
        let window_va = region_end - PAGE_SIZE;
        let walker = Walker::new(&Direct, si.pt_base, VIRT_BASE, region_end);
        let window_pte = walker.l1e_maddr(window_va)?;
        log::debug!(
            "foreign window at {window_va:#x}: L1e at maddr {window_pte:#x}, was {:#x}",
            walker.l1e(window_va)?
        );
        let mut hv = Dom0Hypervisor {
            window_va,
            window_pte,
            tsc_khz: 0,
        };
        hv.tsc_khz = hv.physinfo().map_or(0, |p| u64::from(p.cpu_khz));
        if let Err(e) = hv.unmap_window() {
            println!(
                "dom0: cannot clear the foreign-mapping window: {}",
                e.name()
            );
        }
        Ok(hv)
    }

    fn set_window(&self, val: u64, foreigndom: DomId) -> Result<(), Errno> {
        let req = MmuUpdate::normal(self.window_pte, val);
        // SAFETY: the window page lies in the padding of the initial region, which nothing in
        // this kernel uses; only `with_foreign_page` accesses it, between map and unmap.
        unsafe { guest::mmu_update(core::slice::from_ref(&req), foreigndom) }
            .map(|_| ())
            .map_err(|(_, e)| e)
    }

    /// Maps the page of I/O memory holding `maddr` at the window (read-only, uncached, not
    /// executable; the hypervisor refuses anything but I/O memory) and returns the virtual
    /// address of `maddr` in it. The caller unmaps it with [`Self::unmap_window`].
    fn map_io(&self, maddr: u64) -> Result<u64, Errno> {
        const PCD_PWT: u64 = (1 << 4) | (1 << 3);
        const NX: u64 = 1 << 63;
        let pte = (maddr & PTE_ADDR_MASK) | PTE_PRESENT | PTE_USER | PTE_ACCESSED | PCD_PWT | NX;
        self.set_window(pte, DomId::IO)?;
        Ok(self.window_va + (maddr & 0xFFF))
    }

    fn unmap_window(&self) -> Result<(), Errno> {
        self.set_window(0, DomId::SELF)?;
        let op = MmuextOp::new(MMUEXT_INVLPG_LOCAL, self.window_va, 0);
        // SAFETY: flushing the TLB entry of our own window page changes no mapping.
        unsafe { guest::mmuext_op(core::slice::from_ref(&op), DomId::SELF) }
            .map(|_| ())
            .map_err(|(_, e)| e)
    }
}

impl Hypervisor for Dom0Hypervisor {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        // SAFETY: the toolstack builds domctls whose embedded guest pointers (e.g. the vCPU
        // context of setvcpucontext) reference buffers alive for the duration of the call.
        unsafe { guest::domctl(op) }.map(|_| ())
    }

    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        // SAFETY: as for domctl: embedded pointers reference live toolstack buffers.
        unsafe { guest::sysctl(op) }.map(|_| ())
    }

    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno> {
        let mut res = XenMemoryReservation {
            extent_start: extents.as_mut_ptr() as u64,
            nr_extents: extents.len() as u64,
            extent_order: 0,
            mem_flags: 0,
            domid,
            _pad: [0; 3],
        };
        // SAFETY: `extents` is a live, writable array of `nr_extents` u64s; populating another
        // domain's physmap does not touch our own memory.
        let done = unsafe { guest::memory_op(XENMEM_POPULATE_PHYSMAP, &mut res) }?;
        Ok(done as usize)
    }

    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        self.set_window((mfn << 12) | PTE_KERNEL_RW, domid)?;
        // SAFETY: the window VA now maps the foreign frame read-write (the hypervisor accepted
        // the PTE); nothing else aliases the window, and the reference does not outlive `f`.
        let page = unsafe { &mut *(self.window_va as *mut [u8; 4096]) };
        f(page);
        self.unmap_window()
    }

    fn read_io(&mut self, maddr: u64, width: u8) -> Result<u64, Errno> {
        let w = u64::from(width);
        if !matches!(width, 1 | 2 | 4 | 8) || !maddr.is_multiple_of(w) {
            return Err(Errno::EINVAL);
        }
        let at = self.map_io(maddr)?;
        // SAFETY: `map_io` mapped the page of `maddr` at the window; an aligned access of
        // `width` bytes stays within it.
        let v = unsafe { read_mapped(at, width) };
        self.unmap_window()?;
        Ok(v)
    }

    /// One mapping per page: firmware tables are read thousands of bytes at a time.
    fn read_io_bytes(&mut self, maddr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        maddr.checked_add(buf.len() as u64).ok_or(Errno::EINVAL)?;
        let mut done = 0usize;
        while done < buf.len() {
            let page_at = maddr + done as u64;
            let in_page = ((PAGE_SIZE - (page_at & 0xFFF)) as usize).min(buf.len() - done);
            let va = self.map_io(page_at)?;
            let mut off = 0usize;
            while off < in_page {
                let width = dom0_tools::hv::io_access_width(page_at + off as u64, in_page - off);
                let n = usize::from(width);
                // SAFETY: `map_io` mapped the page of `page_at` at the window; this aligned
                // access of `width` bytes ends within `in_page`, so within that page.
                let v = unsafe { read_mapped(va + off as u64, width) };
                buf[done + off..done + off + n].copy_from_slice(&v.to_le_bytes()[..n]);
                off += n;
            }
            self.unmap_window()?;
            done += in_page;
        }
        Ok(())
    }

    fn grant_copy(
        &mut self,
        ops: &mut [dom0_tools::hv::GrantCopy<'_>],
        status: &mut [i16],
    ) -> Result<(), Errno> {
        grant_copy(ops, status)
    }

    fn mmuext_foreign(&mut self, domid: DomId, op: &MmuextOp) -> Result<(), Errno> {
        // SAFETY: operations on another domain's tables (pin/unpin) do not change our mappings.
        unsafe { guest::mmuext_op(core::slice::from_ref(op), domid) }
            .map(|_| ())
            .map_err(|(_, e)| e)
    }

    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        guest::xen_version_number()
    }

    fn features(&mut self) -> Result<u32, Errno> {
        guest::xen_features(0)
    }

    fn remote_shutdown(&mut self, domid: DomId, reason: ShutdownReason) -> Result<(), Errno> {
        guest::sched_remote_shutdown(domid, reason)
    }

    fn evtchn_bind_interdomain(&mut self, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
        // The event wakes the shell loop, which then serves the rings whose port is marked.
        crate::events::bind_interdomain(remote, remote_port, |p| {
            if let Some(f) = BACKEND_PENDING.get(p as usize) {
                f.store(true, core::sync::atomic::Ordering::SeqCst);
            }
        })
    }

    fn evtchn_take_pending(&mut self, port: u32) -> bool {
        BACKEND_PENDING
            .get(port as usize)
            .is_none_or(|f| f.swap(false, core::sync::atomic::Ordering::SeqCst))
    }

    fn evtchn_send(&mut self, port: u32) -> Result<(), Errno> {
        crate::events::send(port)
    }

    fn evtchn_close(&mut self, port: u32) -> Result<(), Errno> {
        crate::events::close(port)
    }

    fn evtchn_alloc_unbound(&mut self, domid: DomId, remote: DomId) -> Result<u32, Errno> {
        let mut op = guest_abi::event_channel::EvtchnAllocUnbound {
            dom: domid,
            remote_dom: remote,
            port: guest_abi::types::EvtchnPort(0),
        };
        guest::event_channel_op(&mut op)?;
        Ok(op.port.0)
    }

    fn dom_exc_count(&mut self) -> Option<u64> {
        DOM_EXC_BOUND
            .load(core::sync::atomic::Ordering::SeqCst)
            .then(|| DOM_EXC.load(core::sync::atomic::Ordering::SeqCst))
    }

    /// The hypervisor's system time from our vcpu_time_info (the clock of its timers, of
    /// domains' CPU time and of every other guest). Before shared_info is mapped (no event
    /// channels), the TSC scaled by the frequency the hypervisor calibrated stands in.
    fn now_ns(&mut self) -> Option<u64> {
        if crate::events::shared_info().is_some() {
            return Some(crate::time::now());
        }
        if self.tsc_khz == 0 {
            return None;
        }
        // SAFETY: rdtsc reads a counter; it has no memory effects.
        let tsc = unsafe { core::arch::x86_64::_rdtsc() };
        Some((u128::from(tsc) * 1_000_000 / u128::from(self.tsc_khz)) as u64)
    }

    /// Blocks until an event (e.g. the xenstore ring of the domain a command waits for) or
    /// 1 ms passes, so that a waiting command does not spin; yields without events.
    fn relax(&mut self) {
        if crate::events::shared_info().is_some() {
            crate::time::wait_any(RELAX_NS);
        } else {
            let _ = guest::sched_yield();
        }
    }
}

/// A volatile read of `width` bytes (1, 2, 4 or 8) at `va`.
///
/// # Safety
/// `va` is aligned to `width` and the `width` bytes there are mapped readable (the window,
/// mapped by `Dom0Hypervisor::map_io`).
unsafe fn read_mapped(va: u64, width: u8) -> u64 {
    // SAFETY: the caller guarantees an aligned, mapped access of `width` bytes.
    unsafe {
        match width {
            1 => u64::from(core::ptr::read_volatile(va as *const u8)),
            2 => u64::from(core::ptr::read_volatile(va as *const u16)),
            4 => u64::from(core::ptr::read_volatile(va as *const u32)),
            _ => core::ptr::read_volatile(va as *const u64),
        }
    }
}

/// The longest [`Hypervisor::relax`] blocks.
const RELAX_NS: u64 = 1_000_000;

/// Pieces of our side of a grant copy per hypercall.
const COPY_BATCH: usize = 64;

/// `GNTTABOP_copy` of `ops`: each piece's local side split where our buffer crosses into
/// another frame (our memory is not machine-contiguous), batched; a piece's status is its
/// first failing part's.
fn grant_copy(ops: &mut [dom0_tools::hv::GrantCopy<'_>], status: &mut [i16]) -> Result<(), Errno> {
    use dom0_tools::hv::GrantCopy as G;
    use guest_abi::grant_table::{
        GntStatus, GnttabCopy, GnttabCopyPtr, GNTCOPY_DEST_GREF, GNTCOPY_SOURCE_GREF, GNTTABOP_COPY,
    };
    // (index of the piece, the hypercall's operation)
    let mut batch: alloc::vec::Vec<(usize, GnttabCopy)> = alloc::vec::Vec::new();
    let flush = |batch: &mut alloc::vec::Vec<(usize, GnttabCopy)>, status: &mut [i16]| {
        let mut raw: alloc::vec::Vec<GnttabCopy> = batch.iter().map(|b| b.1).collect();
        // SAFETY: every local frame named is one of ours behind a buffer the caller lent us
        // for this call (a data page, written only where the piece says); the hypervisor
        // checks every frame and grant.
        let r = unsafe { guest::grant_table_op(GNTTABOP_COPY, &mut raw) };
        for ((i, _), op) in batch.iter().zip(&raw) {
            if status[*i] == GntStatus::OKAY.0 {
                status[*i] = if r.is_ok() {
                    op.status
                } else {
                    GntStatus::GENERAL_ERROR.0
                };
            }
        }
        batch.clear();
        r.map(|_| ())
    };
    for (i, op) in ops.iter().enumerate() {
        status[i] = GntStatus::OKAY.0;
        let (domid, gref, offset, len) = op.target();
        if usize::from(offset) + len > PAGE_SIZE as usize {
            status[i] = GntStatus::BAD_COPY_ARG.0;
            continue;
        }
        let local = match op {
            G::FromGuest { buf, .. } => buf.as_ptr() as u64,
            G::ToGuest { buf, .. } => buf.as_ptr() as u64,
        };
        let mut done = 0usize;
        while done < len {
            let va = local + done as u64;
            let n = (PAGE_SIZE as usize - (va & 0xFFF) as usize).min(len - done);
            let Some(maddr) = crate::devices::dma::maddr_of(va) else {
                status[i] = GntStatus::GENERAL_ERROR.0;
                break;
            };
            let ours = GnttabCopyPtr {
                u: maddr >> 12,
                domid: DomId::SELF,
                offset: (maddr & 0xFFF) as u16,
                _pad: 0,
            };
            let theirs = GnttabCopyPtr {
                u: u64::from(gref),
                domid,
                offset: offset + done as u16,
                _pad: 0,
            };
            let (source, dest, flags) = match op {
                G::FromGuest { .. } => (theirs, ours, GNTCOPY_SOURCE_GREF),
                G::ToGuest { .. } => (ours, theirs, GNTCOPY_DEST_GREF),
            };
            batch.push((
                i,
                GnttabCopy {
                    source,
                    dest,
                    len: n as u16,
                    flags,
                    ..Default::default()
                },
            ));
            if batch.len() == COPY_BATCH {
                flush(&mut batch, status)?;
            }
            done += n;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, status)?;
    }
    Ok(())
}

/// A hypervisor that refuses everything: used if the foreign-mapping window cannot be set
/// up, so that the shell still runs (and `xl create` fails with a clear error).
struct Broken;

impl Hypervisor for Broken {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        // SAFETY: as in Dom0Hypervisor::domctl.
        unsafe { guest::domctl(op) }.map(|_| ())
    }
    fn sysctl(&mut self, op: &mut XenSysctl) -> Result<(), Errno> {
        // SAFETY: as in Dom0Hypervisor::sysctl.
        unsafe { guest::sysctl(op) }.map(|_| ())
    }
    fn populate_physmap(&mut self, _: DomId, _: &mut [u64]) -> Result<usize, Errno> {
        Err(Errno::ENOSYS)
    }
    fn with_foreign_page(
        &mut self,
        _: DomId,
        _: u64,
        _: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn mmuext_foreign(&mut self, _: DomId, _: &MmuextOp) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        guest::xen_version_number()
    }

    fn features(&mut self) -> Result<u32, Errno> {
        guest::xen_features(0)
    }
}

/// dom0's initrd, or an empty archive if there is none (or it is not a cpio archive).
pub(crate) fn initrd(si: &'static StartInfo) -> Initrd<'static> {
    match crate::ramdisk::module(si) {
        Some(data) => match Initrd::parse(data) {
            Ok(i) => return i,
            Err(e) => println!("dom0: initrd ignored: {e}"),
        },
        None => println!("dom0: no initrd"),
    }
    let empty: &'static [u8] = dom0_tools::initrd::write_newc(&[]).leak();
    Initrd::parse(empty).expect("an empty cpio archive parses")
}

/// Runs dom0: banner, then the shell until poweroff or reboot.
pub fn run(si: &'static StartInfo) -> ! {
    // The heap grows to a quarter of our memory (the toolstack and xenstored live in it).
    let grown = crate::heap::grow(si);
    let (maj, min) = guest::xen_version_number().unwrap_or((0, 0));
    println!(
        "pv-guest dom0: Xen {maj}.{min}, {} MiB, initrd {} bytes, heap {} KiB, cmdline \"{}\"",
        (si.nr_pages * PAGE_SIZE) >> 20,
        si.mod_len,
        crate::heap::size() >> 10,
        crate::cmdline::from_raw(&si.cmd_line)
    );
    // Our memory's machine addresses, for device DMA and grant copies.
    crate::devices::init(si);
    let (lo, hi) = crate::mm::Space::new(si).mfn_range();
    println!(
        "dom0: memory: {} pages in machine frames {lo:#x}-{hi:#x}",
        si.nr_pages
    );
    if let Err(e) = grown {
        println!("dom0: heap stays at its boot size: {}", e.name());
    }
    if let Some(mode) = crate::cmdline::param(crate::cmdline::from_raw(&si.cmd_line), "bench") {
        crate::bench::run_dom0(si, mode);
    }
    // Events: the shell blocks between inputs and wakes on VIRQ_CONSOLE (input waiting),
    // VIRQ_DOM_EXC (a domain shut down or crashed) or its timer.
    let ev = crate::events::init(si)
        .and_then(|()| crate::time::init())
        .and_then(|()| crate::events::bind_virq(guest_abi::event_channel::VIRQ_CONSOLE, |_| {}))
        .and_then(|_| crate::events::bind_virq(guest_abi::event_channel::VIRQ_DOM_EXC, on_dom_exc));
    match ev {
        Ok(_) => DOM_EXC_BOUND.store(true, core::sync::atomic::Ordering::SeqCst),
        Err(e) => println!("dom0: no event channels ({}): the shell polls", e.name()),
    }
    let initrd = initrd(si);
    match Dom0Hypervisor::new(si) {
        Ok(hv) => {
            let mut ts = with_store_limits(Toolstack::new(hv, initrd));
            attach_devices(&mut ts);
            shell(Shell::new(ts))
        }
        Err(e) => {
            println!("dom0: no foreign-mapping window ({e}); domain building disabled");
            shell(Shell::new(with_store_limits(Toolstack::new(
                Broken, initrd,
            ))))
        }
    }
}

/// The machine's virtio devices as its ACPI tables describe them (one walk): each block
/// device started and named as Linux names them (`vda`, `vdb`, ... in address order) with its
/// GPT partitions, and the first network device started as `eth0` on dom0's bridge `xenbr0`,
/// whose own interface (the NIC's MAC) asks the segment's DHCP server for an address.
fn attach_devices<H: Hypervisor>(ts: &mut Toolstack<'static, H>) {
    let found = match dom0_tools::acpi::find_virtio_mmio(ts.hypervisor()) {
        Ok(d) => d,
        Err(e) => {
            println!("dom0: no devices: {e}");
            return;
        }
    };
    let mut disk_name = b'a';
    let mut have_nic = false;
    for dev in &found.devices {
        // The device ID in its registers: 2 a block device, 1 a network device.
        match ts.hypervisor().read_io(dev.base + 8, 4) {
            Ok(2) if attach_disk(ts, dev, disk_name) => disk_name += 1,
            Ok(1) if !have_nic => have_nic = attach_nic(ts, dev),
            _ => {}
        }
    }
    crate::devices::storage::mount(ts);
}

/// Starts the block device `dev` as `vd<name>`; whether it did.
fn attach_disk<H: Hypervisor>(
    ts: &mut Toolstack<'static, H>,
    dev: &dom0_tools::acpi::VirtioMmio,
    name: u8,
) -> bool {
    use dom0_tools::block::BlockDevice;
    let vd = alloc::format!("vd{}", name as char);
    let loc = crate::devices::virtio_disk::Location::of(dev);
    match crate::devices::virtio_disk::VirtioDisk::open(loc) {
        Ok(disk) => {
            let (sectors, pirq) = (disk.sectors(), disk.pirq());
            let parts = match ts.disks().add(&vd, alloc::boxed::Box::new(disk)) {
                Ok(n) => alloc::format!("{n} GPT partition(s)"),
                Err(e) => alloc::format!("no partitions ({e})"),
            };
            println!(
                "dom0: {vd}: virtio-blk at {:#x}, GSI {} {} {} as pirq {pirq}: {sectors} sectors, {parts}",
                dev.base, dev.gsi, dev.trigger, dev.polarity
            );
            true
        }
        Err(e) => {
            println!("dom0: virtio-blk at {:#x}: {e}", dev.base);
            false
        }
    }
}

/// Starts the network device `dev` as `eth0` on a new `xenbr0`; whether it did.
fn attach_nic<H: Hypervisor>(
    ts: &mut Toolstack<'static, H>,
    dev: &dom0_tools::acpi::VirtioMmio,
) -> bool {
    use dom0_tools::net::{fmt_mac, Addressing, Network, Nic};
    let loc = crate::devices::virtio_disk::Location::of(dev);
    match crate::devices::virtio_net::VirtioNet::open(loc) {
        Ok(nic) => {
            let (mac, pirq) = (nic.mac(), nic.pirq());
            let mut net = Network::new(Addressing::Dhcp, mac);
            net.attach_nic("eth0", alloc::boxed::Box::new(nic));
            ts.set_network(net);
            println!(
                "dom0: eth0: virtio-net at {:#x}, GSI {} {} {} as pirq {pirq}: MAC {}, on xenbr0",
                dev.base,
                dev.gsi,
                dev.trigger,
                dev.polarity,
                fmt_mac(&mac)
            );
            true
        }
        Err(e) => {
            println!("dom0: virtio-net at {:#x}: {e}", dev.base);
            false
        }
    }
}

/// xenstored's global bounds from our heap: all domains together hold at most half of it,
/// and a request is refused (`ENOMEM`) when the heap runs short, so that no guest's request
/// reaches the (fatal) allocation failure.
fn with_store_limits<H: Hypervisor>(mut ts: Toolstack<'static, H>) -> Toolstack<'static, H> {
    let xs = ts.xenstore();
    xs.quotas.global_memory = crate::heap::size() / 2;
    xs.heap_free = Some(crate::heap::free);
    ts
}

/// The longest the idle shell sleeps before polling its domains again.
const SHELL_POLL_NS: u64 = 100_000_000;
/// The shortest: a deadline already past still lets the other domains run a little.
const MIN_SLEEP_NS: u64 = 100_000;

fn shell<H: Hypervisor>(mut shell: Shell<'static, H>) -> ! {
    let mut out = Console::new();
    shell.prompt(&mut out);
    out.flush();
    let mut buf = [0u8; 64];
    let mut read_failed = false;
    loop {
        let n = match guest::console_read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                if !read_failed {
                    read_failed = true;
                    let _ = writeln!(out, "\ndom0: console read failed: {}", e.name());
                }
                0
            }
        };
        if n == 0 {
            shell.poll(&mut out);
            out.flush();
            if shell.busy() {
                // A back end has requests left: let the other domains run, then serve on.
                let _ = guest::sched_yield();
            } else if crate::events::shared_info().is_some() {
                // Sleep until an event, the back ends' or the network's next deadline, or
                // the idle poll.
                let now = crate::time::now();
                let sleep = shell
                    .wake_at(now)
                    .map_or(SHELL_POLL_NS, |t| t.saturating_sub(now).min(SHELL_POLL_NS));
                crate::time::wait_any(sleep.max(MIN_SLEEP_NS));
            } else {
                let _ = guest::sched_yield();
            }
            continue;
        }
        for &b in &buf[..n] {
            match shell.feed(b, &mut out) {
                ShellAction::Continue => {}
                ShellAction::PowerOff => {
                    out.flush();
                    crate::shutdown(ShutdownReason::Poweroff)
                }
                ShellAction::Reboot => {
                    out.flush();
                    crate::shutdown(ShutdownReason::Reboot)
                }
            }
        }
        out.flush();
    }
}
