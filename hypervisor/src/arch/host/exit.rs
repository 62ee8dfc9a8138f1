//! Leaving the machine: on bare metal QEMU's isa-debug-exit; on the host a panic naming the
//! code, which a test expecting the machine to stop catches.

/// The machine stops with exit value `value`.
pub fn qemu_exit(value: u32) -> ! {
    panic!("machine exit {value:#x}")
}

/// As [`qemu_exit`] (a PC without the debug-exit device would reset instead).
pub fn qemu_exit_or_reset(value: u32) -> ! {
    qemu_exit(value)
}
