//! The domU role: greet, run the self-test the command line asks for, then idle (following
//! the balloon target and shutdown requests, when there is XenStore: [`crate::xs_idle`]).

use crate::cmdline::{self, HcallResult, SelfTest};
use crate::println;
use guest_abi::domctl::{XenDomctl, XEN_DOMCTL_GETDOMAININFO};
use guest_abi::guest;
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// An unused hypercall number (Xen defines nothing between 43 and 47 or 56..63).
const UNUSED_HYPERCALL: usize = 60;

/// Runs the domU.
pub fn run(si: &'static StartInfo) -> ! {
    let cmd = cmdline::from_raw(&si.cmd_line);
    // Before the greeting: whoever sees it may send an NMI at once (`xl trigger`).
    crate::traps::install_nmi_handler();
    println!("Hello from pv-guest domU, cmdline \"{cmd}\"");
    crate::suspend::remember(si);
    let (lo, hi) = crate::mm::Space::new(si).mfn_range();
    println!(
        "memory: {} pages in machine frames {lo:#x}-{hi:#x}",
        si.nr_pages
    );
    if let Some(rd) = crate::ramdisk::module(si) {
        println!("{}", crate::ramdisk::describe(rd));
    }
    if let Err(e) = crate::events::init(si).and_then(|()| crate::time::init()) {
        println!("pv-guest: no event channels: {}", e.name());
    }
    // XenStore, and the console moves to its ring once the xenbus handshake is done.
    let mut xs = crate::xenbus::XsClient::new(si);
    if let Some(xs) = xs.as_mut() {
        if let Err(e) = crate::xenbus::front::connect_console(xs, si) {
            println!("console: staying on console_io: {}", e.name());
        }
    }
    if crate::xenbus::selftest::run(cmd, xs.as_mut()) {
        crate::xs_idle::run(xs.as_mut(), si, cmd)
    }
    if cmdline::param(cmd, "test") == Some("echo") && crate::console_ring::enabled() {
        crate::console_ring::echo_loop()
    }
    if crate::suspend_test::run(cmd, si) {
        crate::xs_idle::run(xs.as_mut(), si, cmd)
    }
    if cmdline::param(cmd, "test") == Some("busy") {
        crate::smp::spin_others(si);
    }
    if crate::event_tests::run(cmd) {
        crate::xs_idle::run(xs.as_mut(), si, cmd)
    }
    if let Some(what) = cmdline::param(cmd, "bench") {
        crate::bench::run_domu(si, what);
        // Measured domUs stay off XenStore after their run: nothing wakes them but events.
        crate::idle()
    }
    if crate::grant_tests::run(cmd, si)
        || crate::blkfront::run(cmd, si, xs.as_mut())
        || crate::netfront::run(cmd, si, xs.as_mut())
    {
        crate::xs_idle::run(xs.as_mut(), si, cmd)
    }
    if crate::mm::demo::run(cmd, si)
        || crate::smp::run(cmd, si)
        || crate::user::run(cmd, si)
        || crate::compat::run(cmd, si)
        || crate::hostile::run(cmd, si)
        || crate::fuzz::run(cmd, si)
    {
        crate::xs_idle::run(xs.as_mut(), si, cmd)
    }
    if cmdline::param(cmd, "test") == Some("clock") {
        // Our view of the hypervisor's system time, for comparing with dom0's `xl uptime`.
        println!("clock: system time {} ns", crate::time::now());
    } else if let Some(test) = SelfTest::from_cmdline(cmd) {
        self_test(test);
    }
    crate::xs_idle::run(xs.as_mut(), si, cmd)
}

fn self_test(test: SelfTest) {
    match test {
        SelfTest::Domctl => {
            // Unprivileged: the hypervisor must refuse before looking at the domain.
            let mut op = XenDomctl::new(XEN_DOMCTL_GETDOMAININFO, DomId(0));
            // SAFETY: getdomaininfo's payload holds no guest pointers; `op` is ours.
            let r = unsafe { guest::domctl(&mut op) };
            println!("test=domctl: domctl returned {}", HcallResult(r));
        }
        SelfTest::BadHcall => {
            // SAFETY: an unused hypercall number has no effect beyond its return value.
            let r = unsafe { guest::hypercall0(UNUSED_HYPERCALL) };
            let r = guest_abi::errno::Errno::from_ret(r);
            println!(
                "test=badhcall: hypercall {UNUSED_HYPERCALL} returned {}",
                HcallResult(r)
            );
        }
        SelfTest::Hlt => {
            println!("test=hlt: executing hlt");
            crate::console_ring::drain();
            // SAFETY: deliberately privileged: from ring 3 it faults (#GP) into the hypervisor,
            // which must crash this domain (no trap table). It touches no memory.
            unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
            println!("test=hlt: still running after hlt");
        }
        SelfTest::Cli => {
            println!("test=cli: executing cli");
            crate::console_ring::drain();
            // SAFETY: as for hlt: must fault from ring 3 (IOPL 0); touches no memory.
            unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
            println!("test=cli: still running after cli");
        }
        SelfTest::MovCr3 => {
            println!("test=movcr3: executing mov %rax, %cr3");
            crate::console_ring::drain();
            // SAFETY: as for hlt: must fault from ring 3; were it to execute, CR3 = 0 would
            // kill us, which is the point of the test.
            unsafe { core::arch::asm!("mov cr3, rax", in("rax") 0u64, options(nostack)) };
            println!("test=movcr3: still running after mov to cr3");
        }
        SelfTest::Unknown(name) => println!("test={name}: unknown test"),
    }
}
