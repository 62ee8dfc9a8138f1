//! Memory management: the frame allocator and the direct map.
pub mod access;
pub mod descriptor;
pub mod directmap;
pub mod frames;
pub mod guest_copy;
pub mod guest_walk;
pub mod machine;
pub mod page_types;
pub mod pte;

/// Where the hypervisor image is linked: `IMAGE_BASE + phys`.
pub const IMAGE_BASE: u64 = 0xFFFF_8200_0000_0000;

/// The physical address of a hypervisor image address (static data, code).
pub fn image_virt_to_phys(va: u64) -> u64 {
    va - IMAGE_BASE
}
