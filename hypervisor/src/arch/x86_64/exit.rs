//! Leaving QEMU through the isa-debug-exit device (port 0xf4): QEMU exits with (value<<1)|1.

use x86_64::instructions::port::Port;

/// The isa-debug-exit I/O port (docs/design.md).
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Writes `value` to isa-debug-exit, then halts forever (on hardware without the device).
pub fn qemu_exit(value: u32) -> ! {
    let mut port: Port<u32> = Port::new(DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the debug-exit device under QEMU; elsewhere the write is ignored.
    unsafe { port.write(value) };
    halt_forever()
}

/// Halts with interrupts off, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
