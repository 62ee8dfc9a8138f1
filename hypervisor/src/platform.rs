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
    /// Their LAPIC IDs, in the MADT's order (the first 64).
    pub apic_ids: heapless::Vec<u32, 64>,
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

/// The I/O APIC's default physical address.
pub const DEFAULT_IO_APIC: u64 = 0xFEC0_0000;
/// COM1's ISA IRQ.
pub const COM1_IRQ: u8 = 4;

/// The I/O APICs `machine` lists, or without ACPI tables (or none listed) the one a PC has
/// at its default address, serving GSIs from 0.
pub fn io_apics(machine: Option<&Machine>) -> heapless::Vec<IoApic, 8> {
    match machine {
        Some(m) if !m.io_apics.is_empty() => m.io_apics.clone(),
        _ => heapless::Vec::from_slice(&[IoApic {
            id: 0,
            address: DEFAULT_IO_APIC,
            gsi_base: 0,
        }])
        .unwrap_or_default(),
    }
}

/// The GSI COM1's interrupt arrives on.
pub fn com1_gsi(machine: Option<&Machine>) -> u32 {
    machine.map_or(u32::from(COM1_IRQ), |m| m.isa_gsi(COM1_IRQ))
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

/// One past the highest GSI of the I/O APICs `units` (first GSI, number of inputs).
pub fn gsi_end(units: impl IntoIterator<Item = (u32, u32)>) -> u32 {
    units
        .into_iter()
        .map(|(base, n)| base.saturating_add(n))
        .max()
        .unwrap_or(0)
}

/// A redirection entry's mask bit.
pub const REDIRECTION_MASKED: u64 = 1 << 16;

/// An I/O APIC redirection entry, masked: fixed delivery of `vector` to the LAPIC with ID
/// `dest` (physical destination mode), with the trigger mode and polarity given.
pub fn redirection_entry(dest: u32, vector: u8, level: bool, active_low: bool) -> u64 {
    (u64::from(dest & 0xFF) << 56)
        | (u64::from(level) << 15)
        | (u64::from(active_low) << 13)
        | REDIRECTION_MASKED
        | u64::from(vector)
}

/// The low half of a redirection entry with its mask bit set or cleared.
pub fn with_mask(low: u32, masked: bool) -> u32 {
    let bit = REDIRECTION_MASKED as u32;
    if masked {
        low | bit
    } else {
        low & !bit
    }
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

    #[test]
    fn redirection_entries_as_the_io_apic_reads_them() {
        // microvm's virtio line: vector 0x50, level, active high, to LAPIC 0, masked.
        assert_eq!(redirection_entry(0, 0x50, true, false), 0x1_8050);
        // A PCI-style line: level, active low, to LAPIC 3.
        assert_eq!(redirection_entry(3, 0x51, true, true), (3 << 56) | 0x1_A051);
        // Edge, active high (an ISA line); only the low 8 bits of the LAPIC ID count.
        assert_eq!(
            redirection_entry(0x1FF, 0x40, false, false),
            (0xFF << 56) | 0x1_0040
        );
        assert_eq!(with_mask(0x1_8050, false), 0x8050);
        assert_eq!(with_mask(0x8050, true), 0x1_8050);
        assert_eq!(with_mask(0x8050, false), 0x8050);
    }

    #[test]
    fn the_gsis_end_past_the_last_io_apic() {
        assert_eq!(gsi_end([(0, 24), (24, 24)]), 48);
        assert_eq!(gsi_end([(24, 24), (0, 24)]), 48);
        assert_eq!(gsi_end([]), 0);
        assert_eq!(gsi_end([(u32::MAX, 24)]), u32::MAX);
    }

    #[test]
    fn without_tables_one_io_apic_at_its_default_address_and_com1_on_gsi_4() {
        let default = io_apics(None);
        assert_eq!(default.len(), 1);
        assert_eq!(
            (default[0].address, default[0].gsi_base),
            (DEFAULT_IO_APIC, 0)
        );
        assert_eq!(io_apics(Some(&Machine::default())), default);
        let mut m = Machine::default();
        let two = [
            IoApic {
                id: 0,
                address: 0xFEC0_0000,
                gsi_base: 0,
            },
            IoApic {
                id: 1,
                address: 0xFEC1_0000,
                gsi_base: 24,
            },
        ];
        m.io_apics = heapless::Vec::from_slice(&two).unwrap();
        assert_eq!(&io_apics(Some(&m))[..], &two);
        assert_eq!(com1_gsi(None), 4);
        let _ = m.overrides.push((4, 20, 0));
        assert_eq!(com1_gsi(Some(&m)), 20);
    }
}
