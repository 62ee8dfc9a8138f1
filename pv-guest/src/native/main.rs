//! pv-guest-native: the benchmark workloads of pv-guest (`bench/workloads.rs`, the very same
//! source) on the bare (virtual) machine, in ring 0, with native privileged instructions
//! where the PV kernel makes hypercalls: page-table entries written with plain stores,
//! `mov cr3` for TLB flushes and address-space switches, `cli`, COM1 for the console. It is
//! what `pv_vs_native_*` in `cargo xtask bench` divides by (docs/performance.md).
//!
//! Boot: QEMU `-kernel` loads it by Multiboot1 (a.out kludge) at physical 2 MiB; it runs
//! identity-mapped (link-native.ld), builds its own page tables, prints `BENCH native_<w>`
//! rows for `bench=smoke|full` on its command line and powers off through isa-debug-exit
//! (exit status 33). Built by `cargo xtask build` with `--features native`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

mod layout;
#[path = "../bench/turns.rs"]
mod turns;
#[path = "../bench/workloads.rs"]
mod workloads;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("pv-guest-native runs on bare metal: build it with `cargo xtask build`");
    std::process::exit(1);
}

#[cfg(target_os = "none")]
#[allow(dead_code)]
#[path = "../cmdline.rs"]
mod cmdline;

#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod cpu;
#[cfg(target_os = "none")]
mod paging;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod run;
#[cfg(target_os = "none")]
#[macro_use]
mod serial;
#[cfg(target_os = "none")]
mod tasks;
#[cfg(target_os = "none")]
mod traps;

/// The Multiboot information structure's command line (flags bit 2, field at offset 16),
/// copied out before the boot page tables go away.
#[cfg(target_os = "none")]
fn multiboot_cmdline(mbi: u32, out: &mut [u8; 256]) -> &str {
    // SAFETY: the loader passes a valid Multiboot information structure and command line in
    // low memory, identity-mapped by the boot page tables that are still in force.
    unsafe {
        let flags = core::ptr::read_volatile(mbi as usize as *const u32);
        if mbi != 0 && flags & (1 << 2) != 0 {
            let p = core::ptr::read_volatile((mbi as usize + 16) as *const u32) as usize;
            for (i, b) in out.iter_mut().take(255).enumerate() {
                *b = core::ptr::read_volatile((p + i) as *const u8);
                if *b == 0 {
                    break;
                }
            }
        }
    }
    cmdline::from_raw(&out[..])
}

/// Called by the 64-bit boot code with the Multiboot information's physical address.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn native_main(mbi: u32) -> ! {
    serial::init();
    let mut raw = [0u8; 256];
    let cmd = multiboot_cmdline(mbi, &mut raw);
    extern "C" {
        static native_stack_top: u8;
    }
    traps::init(&raw const native_stack_top as u64);
    paging::init();
    tasks::init();
    println!("pv-guest-native: ring 0, own page tables, command line {cmd:?}");
    run::run(cmd)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("pv-guest-native panic: {info}");
    cpu::exit(cpu::EXIT_CRASH)
}
