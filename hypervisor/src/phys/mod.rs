//! Physical memory, the bottom of the hypervisor: the frame allocator, the direct map through
//! which the hypervisor reaches every RAM frame, and where its own image lies. On the host
//! (tests) RAM is a block of host memory ([`ram`]) the direct map points into.
pub mod directmap;
pub mod frames;
pub mod iomem;
pub mod modules;
#[cfg(not(target_os = "none"))]
pub mod ram;

/// Where the hypervisor image is linked: `IMAGE_BASE + phys`.
pub const IMAGE_BASE: u64 = 0xFFFF_8200_0000_0000;

/// The physical address of a hypervisor image address (static data, code).
pub fn image_virt_to_phys(va: u64) -> u64 {
    va - IMAGE_BASE
}
