//! The legacy 8259A interrupt controllers, which a PC has (and QEMU's microvm by default;
//! without them the ports ignore writes). The hypervisor takes interrupts from the LAPIC
//! only, so the PICs are reprogrammed and masked, as Xen's `init_8259A` does: the BIOS
//! leaves the master's vectors at 0x08-0x0F, on top of the exceptions (#DF, #TS, ... #GP),
//! where even a spurious IRQ 7 would look like a fault. After initialisation (ICW1-ICW4)
//! they sit at [`MASTER_VECTOR`]..+16, clear of the exceptions and of the LAPIC's vectors,
//! with every line masked. (The boot code masked them first; the LAPIC also masks LINT0,
//! through which the PIC's output reaches the CPU.)

use x86_64::instructions::port::Port;

/// The master PIC's first vector (IRQ 0); the slave's follow at +8.
pub const MASTER_VECTOR: u8 = 0xE0;
/// The slave PIC's first vector (IRQ 8).
pub const SLAVE_VECTOR: u8 = MASTER_VECTOR + 8;

fn outb(port: u16, v: u8) {
    // SAFETY: the 8259A command/data ports; no memory effects.
    unsafe { Port::new(port).write(v) }
}

/// Reprograms both PICs to [`MASTER_VECTOR`] / [`SLAVE_VECTOR`] and masks every line.
pub fn init() {
    outb(0x21, 0xFF); // mask everything while reprogramming
    outb(0xA1, 0xFF);
    outb(0x20, 0x11); // ICW1: edge triggered, cascade, ICW4 follows
    outb(0xA0, 0x11);
    outb(0x21, MASTER_VECTOR); // ICW2: vector base
    outb(0xA1, SLAVE_VECTOR);
    outb(0x21, 0x04); // ICW3: the slave on the master's IRQ 2
    outb(0xA1, 0x02); // ICW3: the slave's cascade identity
    outb(0x21, 0x01); // ICW4: 8086 mode, normal EOI
    outb(0xA1, 0x01);
    outb(0x21, 0xFF); // OCW1: every line masked
    outb(0xA1, 0xFF);
}

/// Whether `vector` is one of the PICs' (a spurious IRQ 7 or 15 is all that can come; it
/// needs no EOI, and the LAPIC must not get one for it).
pub fn is_pic_vector(vector: u8) -> bool {
    (MASTER_VECTOR..SLAVE_VECTOR + 8).contains(&vector)
}
