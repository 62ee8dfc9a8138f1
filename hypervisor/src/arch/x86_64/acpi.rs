//! The machine as its ACPI tables describe it (the rust-osdev `acpi` crate, static tables
//! only): the MADT's processors, I/O APICs and ISA interrupt overrides. The RSDP is searched
//! for where BIOS machines keep it (the EBDA and 0xE0000-0xFFFFF: QEMU's microvm and PCs booted
//! by SeaBIOS); a machine that has none there (UEFI through a Multiboot 1 loader) keeps the
//! defaults: one I/O APIC at 0xFEC00000, ISA IRQs identity-mapped.

use super::paging;
use crate::platform::{IoApic, Machine};
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiHandler, AcpiTables, PhysicalMapping};
use core::ptr::NonNull;

/// Maps what the crate asks for through the hypervisor's uncached MMIO window (firmware
/// areas and tables need not be in the direct map of RAM).
#[derive(Clone)]
struct Window;

impl AcpiHandler for Window {
    unsafe fn map_physical_region<T>(&self, pa: usize, size: usize) -> PhysicalMapping<Self, T> {
        let va = paging::map_mmio(pa as u64, size.max(1) as u64)
            .unwrap_or(core::ptr::null_mut())
            .cast::<T>();
        let va = NonNull::new(va).unwrap_or(NonNull::dangling());
        // SAFETY: `va` maps `size` bytes at `pa` (the MMIO window never unmaps), as the crate
        // requires. Mapping fails only when the window has no page-table memory left, at boot;
        // then the pointer is dangling and the caller's first read faults in ring 0, which is
        // a boot-time panic, like any other failure to map a device at boot.
        unsafe { PhysicalMapping::new(pa, va, size, size, Window) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// The machine's MADT, if the firmware left ACPI tables where BIOS machines keep them.
pub fn discover() -> Option<Machine> {
    // SAFETY: the search reads only the BIOS areas (EBDA, 0xE0000-0xFFFFF) through `Window`,
    // and tables the validated RSDP points at.
    let tables = unsafe { AcpiTables::search_for_rsdp_bios(Window) }.ok()?;
    let madt = tables.find_table::<Madt>().ok()?;
    let mut m = Machine::default();
    for e in madt.get().entries() {
        match e {
            MadtEntry::LocalApic(l) if { l.flags } & 1 != 0 => {
                m.cpus += 1;
                let _ = m.apic_ids.push(u32::from(l.apic_id));
            }
            MadtEntry::LocalX2Apic(l) if { l.flags } & 1 != 0 => {
                m.cpus += 1;
                let _ = m.apic_ids.push(l.x2apic_id);
            }
            MadtEntry::IoApic(i) => {
                let _ = m.io_apics.push(IoApic {
                    id: i.io_apic_id,
                    address: u64::from(i.io_apic_address),
                    gsi_base: { i.global_system_interrupt_base },
                });
            }
            MadtEntry::InterruptSourceOverride(o) if o.bus == 0 => {
                let _ = m
                    .overrides
                    .push((o.irq, { o.global_system_interrupt }, { o.flags }));
            }
            _ => {}
        }
    }
    Some(m)
}
