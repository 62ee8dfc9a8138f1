//! The machine's disk: a virtio-blk device on the virtio-mmio transport, driven by
//! virtio-drivers, its completions signalled by its interrupt (a pirq, [`super::pirq`]).
//! Requests go one page at a time through a page-aligned buffer of our own (machine
//! contiguous by construction), so no request needs a bounce.

use super::dma::Dom0Hal;
use super::pirq::Pirq;
use alloc::boxed::Box;
use core::ptr::NonNull;
use dom0_tools::block::{check, BlockDevice, BlockError, SECTOR};
use guest_abi::errno::Errno;
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::DeviceType;
use virtio_drivers::transport::Transport;

/// How long a request may take before the driver looks at the queue without an interrupt
/// (a lost interrupt then costs time, not the request).
const WAIT_NS: u64 = 50_000_000;

/// Where a virtio-mmio device is and how it interrupts (from the ACPI DSDT).
#[derive(Clone, Copy, Debug)]
pub struct Location {
    /// Machine address of its registers.
    pub base: u64,
    /// Their size.
    pub size: u64,
    /// Its GSI.
    pub gsi: u32,
    /// Level-triggered (else edge).
    pub level: bool,
    /// Active low (else high).
    pub active_low: bool,
}

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The disk.
pub struct VirtioDisk {
    blk: VirtIOBlk<Dom0Hal, MmioTransport<'static>>,
    irq: Pirq,
    page: Box<Page>,
    sectors: u64,
    read_only: bool,
}

/// Why the disk could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Its registers could not be mapped.
    Map(Errno),
    /// Not a virtio-mmio block device.
    NotABlockDevice,
    /// The transport or device refused to start.
    Virtio(virtio_drivers::Error),
    /// Its interrupt could not be bound.
    Irq(Errno),
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OpenError::Map(e) => write!(f, "cannot map its registers: {}", e.name()),
            OpenError::NotABlockDevice => f.write_str("not a virtio-mmio block device"),
            OpenError::Virtio(e) => write!(f, "virtio: {e}"),
            OpenError::Irq(e) => write!(f, "cannot bind its interrupt: {}", e.name()),
        }
    }
}

impl VirtioDisk {
    /// Starts the block device at `loc`.
    pub fn open(loc: Location) -> Result<VirtioDisk, OpenError> {
        let regs = super::dma::map_mmio(loc.base, loc.size as usize).map_err(OpenError::Map)?;
        // SAFETY: `regs` maps the device's whole register window (header and config space),
        // uncached, for the rest of dom0's life, and nothing else accesses it.
        let transport =
            unsafe { MmioTransport::new(regs.cast::<VirtIOHeader>(), loc.size as usize) }
                .map_err(|_| OpenError::NotABlockDevice)?;
        if transport.device_type() != DeviceType::Block {
            return Err(OpenError::NotABlockDevice);
        }
        let mut blk = VirtIOBlk::<Dom0Hal, _>::new(transport).map_err(OpenError::Virtio)?;
        let irq = Pirq::bind(loc.gsi, loc.level, loc.active_low).map_err(OpenError::Irq)?;
        blk.enable_interrupts();
        let sectors = blk.capacity();
        let read_only = blk.readonly();
        Ok(VirtioDisk {
            blk,
            irq,
            page: Box::new(Page([0; 4096])),
            sectors,
            read_only,
        })
    }

    /// The pirq its interrupt arrives on.
    pub fn pirq(&self) -> u32 {
        self.irq.pirq
    }

    /// Waits for the request `token` to complete: sleeps until the device interrupts (or a
    /// while passes), acknowledges the interrupt at the device, then at the hypervisor.
    fn wait(&mut self, token: u16) {
        loop {
            if self.blk.peek_used() == Some(token) {
                return;
            }
            let deadline = crate::time::now().saturating_add(WAIT_NS);
            let _ = guest_abi::guest::set_timer_op(deadline);
            let irq = &self.irq;
            crate::time::block_until(|| irq.fired() || crate::time::now() >= deadline);
            if self.irq.take() {
                self.blk.ack_interrupt();
                self.irq.done();
            }
        }
    }

    /// One request of at most a page, through our page.
    fn transfer(&mut self, sector: u64, len: usize, write: bool) -> Result<(), BlockError> {
        let mut req = BlkReq::default();
        let mut resp = BlkResp::default();
        let buf = &mut self.page.0[..len];
        let page = NonNull::from(&mut *buf);
        // SAFETY: `req`, `resp` and our page stay untouched until the request completes
        // (`wait` returns only then) and are passed again to complete it.
        let r = unsafe {
            let buf = &mut *page.as_ptr();
            let token = if write {
                self.blk
                    .write_blocks_nb(sector as usize, &mut req, buf, &mut resp)
            } else {
                self.blk
                    .read_blocks_nb(sector as usize, &mut req, buf, &mut resp)
            }
            .map_err(|_| BlockError::Io)?;
            self.wait(token);
            if write {
                self.blk.complete_write_blocks(token, &req, buf, &mut resp)
            } else {
                self.blk.complete_read_blocks(token, &req, buf, &mut resp)
            }
        };
        r.map_err(|e| match e {
            virtio_drivers::Error::Unsupported => BlockError::Unsupported,
            _ => BlockError::Io,
        })
    }
}

impl BlockDevice for VirtioDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check(self.sectors, sector, buf.len())?;
        for (i, chunk) in buf.chunks_mut(4096).enumerate() {
            let s = sector + (i * 4096 / SECTOR) as u64;
            self.transfer(s, chunk.len(), false)?;
            chunk.copy_from_slice(&self.page.0[..chunk.len()]);
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check(self.sectors, sector, buf.len())?;
        for (i, chunk) in buf.chunks(4096).enumerate() {
            let s = sector + (i * 4096 / SECTOR) as u64;
            self.page.0[..chunk.len()].copy_from_slice(chunk);
            self.transfer(s, chunk.len(), true)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.blk.flush().map_err(|_| BlockError::Io)
    }
}
