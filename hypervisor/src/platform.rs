//! The machine's interrupt wiring as its ACPI MADT describes it (read by `arch::acpi`):
//! processors, I/O APICs and ISA interrupt overrides, and which I/O APIC input a GSI is.

/// An I/O APIC: its ID, registers' physical address and first GSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    pub id: u8,
    pub address: u64,
    pub gsi_base: u32,
}

/// What the MADT says.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// Enabled processors.
    pub cpus: u32,
    /// The I/O APICs (at most 8).
    pub io_apics: heapless::Vec<IoApic, 8>,
    /// ISA IRQ overrides: (ISA IRQ, GSI, MPS flags).
    pub overrides: heapless::Vec<(u8, u32, u16), 16>,
}

impl Machine {
    /// The GSI ISA IRQ `irq` arrives on (identity unless overridden).
    pub fn isa_gsi(&self, irq: u8) -> u32 {
        self.overrides
            .iter()
            .find(|o| o.0 == irq)
            .map_or(u32::from(irq), |o| o.1)
    }
}

/// Which of the I/O APICs `units` (first GSI, number of inputs) has `gsi`, and its input
/// there.
pub fn input_of(units: impl IntoIterator<Item = (u32, u32)>, gsi: u32) -> Option<(usize, u32)> {
    units
        .into_iter()
        .enumerate()
        .find(|(_, (base, n))| (*base..base.saturating_add(*n)).contains(&gsi))
        .map(|(i, (base, _))| (i, gsi - base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isa_irqs_are_identity_unless_overridden() {
        let mut m = Machine::default();
        assert_eq!(m.isa_gsi(4), 4);
        let _ = m.overrides.push((0, 2, 0));
        let _ = m.overrides.push((9, 9, 0xD));
        assert_eq!((m.isa_gsi(0), m.isa_gsi(4), m.isa_gsi(9)), (2, 4, 9));
    }

    #[test]
    fn a_gsi_is_an_input_of_the_io_apic_whose_range_holds_it() {
        // microvm: GSI 0-23 and 24-47.
        let units = [(0, 24), (24, 24)];
        assert_eq!(input_of(units, 4), Some((0, 4)));
        assert_eq!(input_of(units, 23), Some((0, 23)));
        assert_eq!(input_of(units, 24), Some((1, 0)));
        assert_eq!(input_of(units, 47), Some((1, 23)));
        assert_eq!(input_of(units, 48), None);
        assert_eq!(input_of([(u32::MAX, 24)], 3), None);
    }
}
