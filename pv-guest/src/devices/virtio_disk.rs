//! The machine's disk: a virtio-blk device on the virtio-mmio transport, driven by
//! virtio-drivers, its completions signalled by its interrupt (a pirq, [`super::pirq`]).
//! Requests go a page at a time through page-aligned buffers of our own (machine contiguous
//! by construction, so no request needs a bounce), several at the device at once.

use super::dma::Dom0Hal;
use super::pirq::Pirq;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use dom0_tools::block::{check, BlockDevice, BlockError, Io, SECTOR};
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

/// Requests at the device at once: each takes three of the queue's 16 descriptors.
const IN_FLIGHT: usize = 5;

/// A request slot: its page (machine-contiguous: one aligned page), request and response,
/// which stay put while the device has them.
struct Slot {
    page: Page,
    req: BlkReq,
    resp: BlkResp,
    token: Option<u16>,
    /// Which page of the batch, and its length.
    chunk: usize,
    len: usize,
}

/// The disk.
pub struct VirtioDisk {
    blk: VirtIOBlk<Dom0Hal, MmioTransport<'static>>,
    irq: Pirq,
    slots: Box<[Slot]>,
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
    /// Not a virtio-mmio network device.
    NotANic,
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
            OpenError::NotANic => f.write_str("not a virtio-mmio network device"),
            OpenError::Virtio(e) => write!(f, "virtio: {e}"),
            OpenError::Irq(e) => write!(f, "cannot bind its interrupt: {}", e.name()),
        }
    }
}

impl Location {
    /// Where the ACPI tables say `dev` is and how it interrupts.
    pub fn of(dev: &dom0_tools::acpi::VirtioMmio) -> Location {
        use dom0_tools::acpi::{Polarity, Trigger};
        Location {
            base: dev.base,
            size: dev.size,
            gsi: dev.gsi,
            level: dev.trigger == Trigger::Level,
            active_low: dev.polarity == Polarity::Low,
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
            slots: (0..IN_FLIGHT)
                .map(|_| Slot {
                    page: Page([0; 4096]),
                    req: BlkReq::default(),
                    resp: BlkResp::default(),
                    token: None,
                    chunk: 0,
                    len: 0,
                })
                .collect(),
            sectors,
            read_only,
        })
    }

    /// The pirq its interrupt arrives on.
    pub fn pirq(&self) -> u32 {
        self.irq.pirq
    }

    /// Acknowledges an interrupt that came (at the device, then at the hypervisor, which
    /// keeps the level-triggered line masked until then), whether or not anyone waited for
    /// it: a completion seen before its interrupt leaves the interrupt to take here.
    fn take_interrupt(&mut self) {
        if self.irq.take() {
            self.blk.ack_interrupt();
            self.irq.done();
        }
    }

    /// Sleeps until the device interrupts (or a while passes), then takes the interrupt.
    fn wait_interrupt(&mut self) {
        let deadline = crate::time::now().saturating_add(WAIT_NS);
        let _ = guest_abi::guest::set_timer_op(deadline);
        let irq = &self.irq;
        crate::time::block_until(|| irq.fired() || crate::time::now() >= deadline);
        self.take_interrupt();
    }

    /// Does `ios`, a page per device request, up to [`IN_FLIGHT`] requests at the device at
    /// once, across all of them; each one's result.
    fn transfer(&mut self, ios: &mut [Io<'_>]) -> Vec<Result<(), BlockError>> {
        let mut results: Vec<Result<(), BlockError>> = ios.iter().map(|_| Ok(())).collect();
        // Every page of every transfer: (which transfer, its page number).
        let pages: Vec<(usize, usize)> = ios
            .iter()
            .enumerate()
            .flat_map(|(i, io)| (0..io.extent().1.div_ceil(4096)).map(move |c| (i, c)))
            .collect();
        let (mut next, mut outstanding) = (0usize, 0usize);
        loop {
            // Fill the free slots.
            while next < pages.len() {
                let Some(s) = self.slots.iter().position(|s| s.token.is_none()) else {
                    break;
                };
                let (i, c) = pages[next];
                let (sector, len, write) = ios[i].extent();
                let n = (len - c * 4096).min(4096);
                let at = sector + (c * 4096 / SECTOR) as u64;
                let slot = &mut self.slots[s];
                if let Io::Write { buf, .. } = &ios[i] {
                    slot.page.0[..n].copy_from_slice(&buf[c * 4096..c * 4096 + n]);
                }
                let page = NonNull::from(&mut slot.page.0[..n]);
                // SAFETY: the slot's request, response and page stay where they are and
                // untouched until the device is done with them (the completion below is the
                // only other user, for the same token).
                let token = unsafe {
                    let page = &mut *page.as_ptr();
                    if write {
                        self.blk
                            .write_blocks_nb(at as usize, &mut slot.req, page, &mut slot.resp)
                    } else {
                        self.blk
                            .read_blocks_nb(at as usize, &mut slot.req, page, &mut slot.resp)
                    }
                };
                match token {
                    Ok(t) => {
                        slot.token = Some(t);
                        slot.chunk = next;
                        slot.len = n;
                        outstanding += 1;
                    }
                    Err(virtio_drivers::Error::QueueFull) => break,
                    Err(_) => results[i] = Err(BlockError::Io),
                }
                next += 1;
            }
            self.take_interrupt();
            if outstanding == 0 {
                break;
            }
            let Some(token) = self.blk.peek_used() else {
                self.wait_interrupt();
                continue;
            };
            let Some(s) = self.slots.iter().position(|s| s.token == Some(token)) else {
                // Not one of ours: the queue is out of step with us; nothing is trusted.
                return ios.iter().map(|_| Err(BlockError::Io)).collect();
            };
            let slot = &mut self.slots[s];
            let (i, c) = pages[slot.chunk];
            let write = ios[i].extent().2;
            let n = slot.len;
            let page = NonNull::from(&mut slot.page.0[..n]);
            // SAFETY: the same request, page and response the token was given for.
            let r = unsafe {
                let page = &mut *page.as_ptr();
                if write {
                    self.blk
                        .complete_write_blocks(token, &slot.req, page, &mut slot.resp)
                } else {
                    self.blk
                        .complete_read_blocks(token, &slot.req, page, &mut slot.resp)
                }
            };
            slot.token = None;
            outstanding -= 1;
            match r {
                Ok(()) => {
                    if let Io::Read { buf, .. } = &mut ios[i] {
                        buf[c * 4096..c * 4096 + n].copy_from_slice(&slot.page.0[..n]);
                    }
                }
                Err(e) => {
                    let e = match e {
                        virtio_drivers::Error::Unsupported => BlockError::Unsupported,
                        _ => BlockError::Io,
                    };
                    if results[i].is_ok() {
                        results[i] = Err(e);
                    }
                }
            }
        }
        results
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
        self.transfer(&mut [Io::Read { sector, buf }])
            .pop()
            .unwrap_or(Err(BlockError::Io))
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check(self.sectors, sector, buf.len())?;
        self.transfer(&mut [Io::Write { sector, buf }])
            .pop()
            .unwrap_or(Err(BlockError::Io))
    }

    fn transfer_many(&mut self, ios: &mut [Io<'_>]) -> Vec<Result<(), BlockError>> {
        // Those that do not fit are refused; the others go to the device together.
        let checks: Vec<Result<(), BlockError>> = ios
            .iter()
            .map(|io| {
                let (sector, len, write) = io.extent();
                if write && self.read_only {
                    return Err(BlockError::ReadOnly);
                }
                check(self.sectors, sector, len)
            })
            .collect();
        let mut fit: Vec<Io<'_>> = ios
            .iter_mut()
            .zip(&checks)
            .filter(|(_, c)| c.is_ok())
            .map(|(io, _)| match io {
                Io::Read { sector, buf } => Io::Read {
                    sector: *sector,
                    buf: &mut buf[..],
                },
                Io::Write { sector, buf } => Io::Write {
                    sector: *sector,
                    buf: &buf[..],
                },
            })
            .collect();
        let mut done = self.transfer(&mut fit).into_iter();
        checks
            .into_iter()
            .map(|c| c.and_then(|()| done.next().unwrap_or(Err(BlockError::Io))))
            .collect()
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.blk.flush().map_err(|_| BlockError::Io)
    }
}
