//! dom0's devices: the machine's virtio-mmio devices (its disk, [`virtio_disk`], and its NIC,
//! [`virtio_net`]) as ACPI describes them, driven with the `virtio-drivers` crate, and
//! dom0's storage on the disk ([`storage`]). Their registers are mapped through the PV MMU as I/O memory
//! (`DOMID_IO`, uncached), their DMA buffers are dom0's own frames at their machine addresses
//! ([`dma`]), and their interrupts arrive as event channels bound to pirqs ([`pirq`]).

pub mod dma;
pub mod pirq;
pub mod storage;
pub mod virtio_disk;
pub mod virtio_net;

use guest_abi::start_info::StartInfo;

/// Records what the DMA layer needs of our memory (call once, before any driver).
pub fn init(si: &StartInfo) {
    dma::init(si);
}
