//! After arch and memory set-up: build and run dom0 (minimal placeholder; the lead's).

use crate::boot_info::BootInfo;

/// Starts the system. For now: reports the modules and powers off.
pub fn start(info: &'static BootInfo) -> ! {
    match info.modules.first() {
        Some(m) => log::info!(
            "dom0 kernel: {} bytes (not started: no domain builder yet)",
            m.end - m.start
        ),
        None => log::warn!("no dom0 kernel module"),
    }
    crate::arch::x86_64::exit::qemu_exit(0x10)
}
