//! The hypervisor: boots by Multiboot1, sets up the CPU and memory, then starts dom0.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

pub mod console;

#[cfg(target_os = "none")]
pub mod arch;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the hypervisor runs on bare metal: build it with `cargo xtask build`");
    std::process::exit(1);
}

/// The Rust entry point, called by the boot code on the hypervisor stack.
#[cfg(target_os = "none")]
#[no_mangle]
pub extern "C" fn kmain(mbi_phys: u32) -> ! {
    console::init();
    xen_println!("hello, mbi at {:#x}", mbi_phys);
    arch::x86_64::exit::qemu_exit(0x10)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::emergency_write(format_args!("\n(XEN) PANIC: {info}\n"));
    arch::x86_64::exit::qemu_exit(0x12)
}
