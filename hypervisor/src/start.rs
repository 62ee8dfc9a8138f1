//! After arch and memory set-up: build dom0 from the first Multiboot module and run it.

use crate::arch;
use crate::boot_info::BootInfo;
use crate::domain::state::{State, STATE};
use crate::phys::modules::BootModules;

/// dom0's memory unless `dom0_mem=` says otherwise.
const DEFAULT_DOM0_MIB: u64 = 64;

/// Parse `dom0_mem=` ("64M", "1G", or a number of MiB).
pub fn parse_mib(v: &str) -> Option<u64> {
    let (num, mul) = match v.as_bytes().last()? {
        b'M' | b'm' => (&v[..v.len() - 1], 1),
        b'G' | b'g' => (&v[..v.len() - 1], 1024),
        _ => (v, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul).filter(|&m| m > 0)
}

/// Starts the system: dom0 is built and entered; this never returns.
pub fn start(info: &'static BootInfo) -> ! {
    crate::console::set_context(|| (crate::time::now(), crate::domain::state::current_id()));
    crate::time::init_wallclock();
    crate::emulate::warm_up();
    let max_mfn = arch::paging::max_mfn();
    *STATE.lock() = Some(State::new(max_mfn).expect("no memory for the frame table"));
    let Some(kmod) = info.modules.first() else {
        panic!("no dom0 kernel: pass it as the first Multiboot module");
    };
    // dom0's arguments: the module's command line without the file name (boot_info).
    let cmdline = kmod.args.trim();
    let mib = match info.option("dom0_mem") {
        Some(v) => parse_mib(v).unwrap_or_else(|| panic!("dom0_mem={v}: expected a size like 64M")),
        None => DEFAULT_DOM0_MIB,
    };
    let modules = BootModules::new(info.modules.iter().map(|m| (m.start, m.end)));
    let kernel = modules.bytes(0).unwrap_or_default();
    let initrd = modules.bytes(1);
    crate::domain::state::with(|st| crate::build::build(st, kernel, initrd, cmdline, mib * 256))
        .unwrap_or_else(|e| panic!("cannot start dom0: {e}"));
    // dom0 has its copies: the modules' memory goes back to the allocator, as in Xen.
    let freed = modules.release();
    log::info!("boot modules: {} KiB given back", freed * 4);
    // SAFETY: the fixed guest frame is only used on this CPU with interrupts off.
    let regs = unsafe { &mut *arch::guest_regs() };
    crate::domain::state::with(|st| {
        st.set_current(crate::domain::VcpuId::new(guest_abi::types::DomId::DOM0, 0));
        st.set_loaded(0, true);
        let v = st.cur_vcpu();
        *regs = v.regs;
        arch::cpu::write_cr3(v.active_l4().addr());
    });
    crate::sched::start_running(guest_abi::types::DomId::DOM0);
    // From now on every CPU runs vCPUs.
    crate::cpus::open_to_vcpus();
    arch::release_aps(secondary);
    arch::enter_guest()
}

/// An application processor, once dom0 runs: schedule vCPUs (halting while none is
/// runnable) and enter the one picked.
fn secondary() -> ! {
    // SAFETY: this CPU's fixed guest frame is only used on this CPU with interrupts off.
    let regs = unsafe { &mut *arch::guest_regs() };
    crate::sched::schedule(regs);
    arch::enter_guest()
}
