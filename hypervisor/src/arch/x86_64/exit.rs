//! Leaving QEMU through the isa-debug-exit device (port 0xf4): QEMU exits with (value<<1)|1.
//! On a machine without the device (a PC booted from the ISO) the write does nothing: the
//! machine then halts, or for a reboot resets.

use x86_64::instructions::port::Port;

/// The isa-debug-exit I/O port (docs/design.md).
const DEBUG_EXIT_PORT: u16 = 0xf4;

fn debug_exit(value: u32) {
    let mut port: Port<u32> = Port::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the debug-exit device under QEMU; elsewhere the write is ignored.
    unsafe { port.write(value) };
}

/// Writes `value` to isa-debug-exit, then halts forever (on hardware without the device).
pub fn qemu_exit(value: u32) -> ! {
    crate::console::flush();
    debug_exit(value);
    crate::console::emergency_write(format_args!("(XEN) machine halted\n"));
    halt_forever()
}

/// Writes `value` to isa-debug-exit; without the device, resets the machine as Xen's
/// `machine_restart` does on a PC: the reset control register (0xCF9: a hard reset), then
/// the keyboard controller's reset line (0x64 <- 0xFE); halts if neither worked.
pub fn qemu_exit_or_reset(value: u32) -> ! {
    crate::console::flush();
    debug_exit(value);
    crate::console::emergency_write(format_args!("(XEN) resetting the machine\n"));
    let mut cf9: Port<u8> = Port::new(0xCF9);
    let mut kbc: Port<u8> = Port::new(0x64);
    // SAFETY: the chipset's reset control register and the 8042's command port; resetting
    // the machine is the point.
    unsafe {
        cf9.write(0x02);
        cf9.write(0x06);
    }
    for _ in 0..1_000_000 {
        core::hint::spin_loop();
    }
    // SAFETY: as above.
    unsafe { kbc.write(0xFE) };
    for _ in 0..1_000_000 {
        core::hint::spin_loop();
    }
    halt_forever()
}

/// Halts with interrupts off, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
