//! The boot module (initrd/ramdisk) start_info describes: dom0's is the cpio archive of
//! configs and guest kernels; a domU's is whatever its config's `ramdisk` named.

use crate::entry::VIRT_BASE;
use crate::pagetable::PAGE_SIZE;
use guest_abi::start_info::{SifFlags, StartInfo};

/// The module's bytes, if there is one.
pub fn module(si: &'static StartInfo) -> Option<&'static [u8]> {
    if si.mod_start == 0 || si.mod_len == 0 {
        return None;
    }
    let flags = SifFlags::from_bits_truncate(si.flags);
    let va = if flags.contains(SifFlags::MOD_START_PFN) {
        VIRT_BASE + si.mod_start * PAGE_SIZE
    } else {
        si.mod_start
    };
    // SAFETY: the builder maps the module read-write at [mod_start, mod_start + mod_len) in
    // the initial region for the life of the domain; nothing writes to it.
    Some(unsafe { core::slice::from_raw_parts(va as *const u8, si.mod_len as usize) })
}

/// One line describing a domU's ramdisk: its size and first line.
pub fn describe(data: &[u8]) -> alloc::string::String {
    let first = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let first = &first[..first.len().min(60)];
    alloc::format!(
        "ramdisk: {} bytes, first line \"{}\"",
        data.len(),
        alloc::string::String::from_utf8_lossy(first)
    )
}
