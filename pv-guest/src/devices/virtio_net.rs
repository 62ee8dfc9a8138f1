//! The machine's NIC: a virtio-net device on the virtio-mmio transport, driven by
//! virtio-drivers' raw driver, its receive completions signalled by its interrupt (a pirq,
//! [`super::pirq`]). Every buffer is one page of our own (machine-contiguous by
//! construction, so none needs a bounce): [`QUEUE`] receive pages stay posted, and frames
//! to send are copied into one of [`QUEUE`] transmit pages, reclaimed as the device is
//! done with them. It is a [`Nic`] of dom0's network (`dom0_tools::net`).

use super::dma::Dom0Hal;
use super::pirq::Pirq;
use super::virtio_disk::{Location, OpenError};
use alloc::boxed::Box;
use alloc::vec::Vec;
use dom0_tools::net::{Mac, Nic, MAX_FRAME};
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

/// Descriptors of each of the two queues (one per buffer: the raw driver gives each buffer
/// one descriptor).
const QUEUE: usize = 16;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// A buffer the device may hold: its page and, while the device has it, its token.
struct Buffer {
    page: Box<Page>,
    token: Option<u16>,
    /// Bytes given to the device (a transmit buffer's header and frame).
    len: usize,
}

impl Buffer {
    fn new() -> Buffer {
        Buffer {
            page: Box::new(Page([0; 4096])),
            token: None,
            len: 0,
        }
    }
}

/// What the driver counted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub received: u64,
    pub sent: u64,
    /// Frames not sent: every transmit buffer was still with the device.
    pub tx_full: u64,
    /// Completions the device reported in error or of impossible size (dropped).
    pub bad: u64,
}

/// The NIC.
pub struct VirtioNet {
    net: VirtIONetRaw<Dom0Hal, MmioTransport<'static>, QUEUE>,
    irq: Pirq,
    rx: Vec<Buffer>,
    tx: Vec<Buffer>,
    mac: Mac,
    pub counts: Counts,
}

impl VirtioNet {
    /// Starts the network device at `loc` and posts every receive buffer.
    pub fn open(loc: Location) -> Result<VirtioNet, OpenError> {
        let regs = super::dma::map_mmio(loc.base, loc.size as usize).map_err(OpenError::Map)?;
        // SAFETY: `regs` maps the device's whole register window (header and config space),
        // uncached, for the rest of dom0's life, and nothing else accesses it.
        let transport =
            unsafe { MmioTransport::new(regs.cast::<VirtIOHeader>(), loc.size as usize) }
                .map_err(|_| OpenError::NotANic)?;
        if transport.device_type() != DeviceType::Network {
            return Err(OpenError::NotANic);
        }
        let mut net =
            VirtIONetRaw::<Dom0Hal, _, QUEUE>::new(transport).map_err(OpenError::Virtio)?;
        let irq = Pirq::bind(loc.gsi, loc.level, loc.active_low).map_err(OpenError::Irq)?;
        net.enable_interrupts();
        let mac = net.mac_address();
        let mut nic = VirtioNet {
            net,
            irq,
            rx: (0..QUEUE).map(|_| Buffer::new()).collect(),
            tx: (0..QUEUE).map(|_| Buffer::new()).collect(),
            mac,
            counts: Counts::default(),
        };
        for i in 0..QUEUE {
            nic.post(i).map_err(OpenError::Virtio)?;
        }
        Ok(nic)
    }

    /// The pirq its interrupt arrives on.
    pub fn pirq(&self) -> u32 {
        self.irq.pirq
    }

    /// Gives receive buffer `i` to the device.
    fn post(&mut self, i: usize) -> Result<(), virtio_drivers::Error> {
        let b = &mut self.rx[i];
        // SAFETY: the page stays where it is (boxed, owned by us) and untouched until the
        // device returns it with this token (`receive` completes it with the same page).
        let token = unsafe { self.net.receive_begin(&mut b.page.0)? };
        b.token = Some(token);
        Ok(())
    }

    /// Takes back every transmit buffer the device is done with.
    fn reclaim(&mut self) {
        while let Some(token) = self.net.poll_transmit() {
            let Some(b) = self.tx.iter_mut().find(|b| b.token == Some(token)) else {
                // Not one of ours: leave the queue alone (sending stops when all are held).
                return;
            };
            // SAFETY: the same buffer the token was given for.
            if unsafe { self.net.transmit_complete(token, &b.page.0[..b.len]) }.is_err() {
                self.counts.bad += 1;
            }
            b.token = None;
        }
    }

    /// Acknowledges an interrupt that came (at the device, then at the hypervisor).
    fn take_interrupt(&mut self) {
        if self.irq.take() {
            self.net.ack_interrupt();
            self.irq.done();
        }
    }
}

impl Nic for VirtioNet {
    fn mac(&self) -> Mac {
        self.mac
    }

    fn send(&mut self, frame: &[u8]) -> bool {
        self.take_interrupt();
        self.reclaim();
        if frame.len() > MAX_FRAME {
            return false;
        }
        let Some(i) = self.tx.iter().position(|b| b.token.is_none()) else {
            self.counts.tx_full += 1;
            return false;
        };
        let b = &mut self.tx[i];
        let Ok(hdr) = self.net.fill_buffer_header(&mut b.page.0) else {
            return false;
        };
        b.page.0[hdr..hdr + frame.len()].copy_from_slice(frame);
        b.len = hdr + frame.len();
        // SAFETY: the page stays where it is and untouched until `reclaim` completes it.
        match unsafe { self.net.transmit_begin(&b.page.0[..b.len]) } {
            Ok(t) => {
                b.token = Some(t);
                self.counts.sent += 1;
                true
            }
            Err(_) => {
                self.counts.tx_full += 1;
                false
            }
        }
    }

    fn receive(&mut self) -> Option<Vec<u8>> {
        self.take_interrupt();
        loop {
            let token = self.net.poll_receive()?;
            let Some(i) = self.rx.iter().position(|b| b.token == Some(token)) else {
                // Not one of ours: the queue is out of step with us; receive nothing more.
                return None;
            };
            let b = &mut self.rx[i];
            // SAFETY: the same page the token was given for.
            let r = unsafe { self.net.receive_complete(token, &mut b.page.0) };
            b.token = None;
            let frame = match r {
                Ok((hdr, len)) if len <= MAX_FRAME && hdr + len <= b.page.0.len() => {
                    Some(b.page.0[hdr..hdr + len].to_vec())
                }
                _ => None,
            };
            if self.post(i).is_err() {
                self.counts.bad += 1;
            }
            match frame {
                Some(f) => {
                    self.counts.received += 1;
                    return Some(f);
                }
                None => self.counts.bad += 1,
            }
        }
    }
}
