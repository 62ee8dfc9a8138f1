//! After arch and memory set-up: build dom0 from the first Multiboot module and run it.

use crate::arch;
use crate::boot_info::{BootInfo, Module};
use crate::domain::state::{State, STATE};

/// dom0's memory unless `dom0_mem=` says otherwise.
const DEFAULT_DOM0_MIB: u64 = 64;

fn module_bytes(m: &Module) -> &'static [u8] {
    let len = (m.end - m.start) as usize;
    crate::phys::directmap::reserved_bytes(m.start, len)
}

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
    let max_mfn = arch::paging::max_mfn();
    *STATE.lock() = Some(State::new(max_mfn).expect("no memory for the frame table"));
    let Some(kmod) = info.modules.first() else {
        panic!("no dom0 kernel: pass it as the first Multiboot module");
    };
    let kernel = module_bytes(kmod);
    let initrd = info.modules.get(1).map(module_bytes);
    // dom0's arguments: the module's command line without the file name (boot_info).
    let cmdline = kmod.args.trim();
    let mib = match info.option("dom0_mem") {
        Some(v) => parse_mib(v).unwrap_or_else(|| panic!("dom0_mem={v}: expected a size like 64M")),
        None => DEFAULT_DOM0_MIB,
    };
    crate::domain::state::with(|st| crate::build::build(st, kernel, initrd, cmdline, mib * 256))
        .unwrap_or_else(|e| panic!("cannot start dom0: {e}"));
    // SAFETY: the fixed guest frame is only used on this CPU with interrupts off.
    let regs = unsafe { &mut *arch::guest_regs() };
    crate::domain::state::with(|st| {
        st.set_current(guest_abi::types::DomId::DOM0);
        let d = st.cur();
        *regs = d.vcpu.regs;
        arch::cpu::write_cr3(d.vcpu.active_l4().addr());
    });
    crate::sched::start_running(guest_abi::types::DomId::DOM0);
    arch::enter_guest()
}
