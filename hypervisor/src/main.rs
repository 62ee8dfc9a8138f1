//! The hypervisor: boots by Multiboot1, sets up the CPU and memory, then starts dom0. The
//! hypervisor itself is the library (`lib.rs`); this is its bare-metal entry.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the hypervisor runs on bare metal: build it with `cargo xtask build`");
    std::process::exit(1);
}

#[cfg(target_os = "none")]
mod boot {
    use hypervisor::arch;
    use hypervisor::boot_info::{self, BootInfo, PhysMem, StrArena};
    use hypervisor::{console, phys, xen_println};

    /// Reads loader memory through the boot direct map (the first 4 GiB).
    struct BootPhys;
    impl PhysMem for BootPhys {
        fn read(&self, pa: u64, buf: &mut [u8]) -> bool {
            let Some(end) = pa.checked_add(buf.len() as u64) else {
                return false;
            };
            if end > 1 << 32 {
                return false;
            }
            // SAFETY: [pa, end) lies below 4 GiB, which the boot tables direct-map; the
            // loader's memory is not concurrently written.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys::directmap::phys_to_virt(pa),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            true
        }
    }

    static INFO: spin::Once<BootInfo> = spin::Once::new();
    static mut STRINGS: [u8; 8192] = [0; 8192];

    extern "C" {
        static __image_start: u8;
        static __image_end: u8;
    }

    /// The Rust entry point, called by the boot code on the hypervisor stack.
    #[no_mangle]
    pub extern "C" fn kmain(mbi_phys: u32) -> ! {
        console::init();
        let strings = &raw mut STRINGS;
        // SAFETY: the string arena is handed out once, here, before anything else runs.
        let mut arena = StrArena::new(unsafe { &mut *strings });
        let info = match boot_info::parse(&BootPhys, mbi_phys.into(), &mut arena) {
            Ok(i) => INFO.call_once(|| i),
            Err(e) => panic!("bad Multiboot info at {mbi_phys:#x}: {e:?}"),
        };
        console::init_logger(info.cmdline);
        let consoles = console::configure(info.cmdline, info.framebuffer);
        xen_println!(
            "Xen-style PV hypervisor (Rust), command line: \"{}\"",
            info.cmdline
        );
        consoles.log();
        arch::init_cpu();
        let image = (
            phys::image_virt_to_phys(&raw const __image_start as u64),
            phys::image_virt_to_phys(&raw const __image_end as u64),
        );
        for r in &info.memory {
            xen_println!(" {:016x} - {:016x} ({})", r.start, r.end, kind_name(r.kind));
        }
        if info.regions_dropped > 0 {
            log::warn!(
                "memory map: {} entries past the first {} ignored",
                info.regions_dropped,
                boot_info::MAX_REGIONS
            );
        }
        if let Err(e) = phys::frames::init(info, image) {
            panic!("frame allocator: {e}");
        }
        arch::paging::init(info).expect("building the idle page tables");
        console::remap_vga(|pa, len| arch::paging::map_mmio(pa, len).ok());
        hypervisor::heap::init(phys::frames::total_count());
        xen_println!(
            "memory: {} MiB RAM, {} MiB free; image {:#x}-{:#x}; M2P for {} frames",
            phys::frames::total_count() >> 8,
            phys::frames::free_count() >> 8,
            image.0,
            image.1,
            arch::paging::max_mfn()
        );
        for (i, m) in info.modules.iter().enumerate() {
            xen_println!(
                "module {}: {:#x}-{:#x} \"{}\"",
                i + 1,
                m.start,
                m.end,
                m.cmdline
            );
        }
        arch::init_traps();
        arch::init_time();
        if info
            .cmdline
            .split_ascii_whitespace()
            .any(|w| w == "irqoff_stats")
        {
            arch::irqoff::enable();
        }
        if let Some(mode) = info.option("bench") {
            arch::bench_floor::report(mode);
            arch::bench_floor::report_hw(mode);
        }
        match info.option("selftest") {
            Some("ring3") => arch::selftest::ring3(),
            Some("fault") => arch::selftest::ring0_fault(),
            _ => {}
        }
        // The machine as ACPI describes it; console input by interrupt where an I/O APIC
        // routes COM1's IRQ, else polled.
        let machine = arch::acpi::discover();
        match &machine {
            Some(m) => log::info!(
                "ACPI: {} CPU(s), {} I/O APIC(s), {} ISA override(s)",
                m.cpus,
                m.io_apics.len(),
                m.overrides.len()
            ),
            None => log::info!("no ACPI tables found: one I/O APIC at its default address"),
        }
        for (a, inputs) in arch::ioapic::init(&hypervisor::platform::io_apics(machine.as_ref())) {
            log::info!(
                "I/O APIC {} at {:#x}: GSI {}-{}",
                a.id,
                a.address,
                a.gsi_base,
                a.gsi_base + inputs - 1
            );
        }
        let com1 = hypervisor::platform::com1_gsi(machine.as_ref());
        // The console's line is the hypervisor's: never mapped for a domain.
        hypervisor::irq::reserve_for_hypervisor(com1);
        if arch::ioapic::program(com1, console::RX_VECTOR, false, false) {
            arch::ioapic::set_masked(com1, false);
            console::enable_rx_interrupt();
            log::info!("console input by interrupt (GSI {com1})");
        } else {
            log::info!("no I/O APIC for GSI {com1}: console input polled");
        }
        arch::smp::start_aps(machine.as_ref());
        if let Some(mode) = info.option("bench") {
            arch::smp::bench(mode);
        }
        hypervisor::start::start(info)
    }

    fn kind_name(kind: u32) -> &'static str {
        match kind {
            1 => "usable",
            3 => "ACPI data",
            4 => "ACPI NVS",
            5 => "unusable",
            _ => "reserved",
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        console::emergency_write(format_args!("\n(XEN) PANIC: {info}\n(XEN) PANIC\n"));
        arch::exit::qemu_exit(0x12)
    }
}
