//! `test=suspend`: the domU suspends itself as a PV guest does before being saved
//! (`SCHEDOP_shutdown(SHUTDOWN_suspend)`) and, once it runs again, says how: `returned 1`
//! is a cancelled suspend (resumed in place, e.g. `xl resume` or after `xl save -c`), 0 a
//! restore. First, as a hostile caller, it tries the domctls a saving toolstack uses on
//! itself and on dom0: each must be refused (`EPERM`).

use crate::cmdline::{self, HcallResult};
use crate::println;
use guest_abi::domctl::{
    DomctlGetPageFrameInfo3, DomctlVcpuContext, XenDomctl, XEN_DOMCTL_GETPAGEFRAMEINFO3,
    XEN_DOMCTL_GETVCPUCONTEXT, XEN_DOMCTL_RESUMEDOMAIN,
};
use guest_abi::guest;
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

/// Runs the test if the command line asks for it; whether it did (the domU then idles).
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    if cmdline::param(cmd, "test") != Some("suspend") {
        return false;
    }
    let mut frames = [0u64; 4];
    for dom in [DomId::SELF, DomId::DOM0] {
        let ops = [
            (
                "getvcpucontext",
                XenDomctl::with_payload(
                    XEN_DOMCTL_GETVCPUCONTEXT,
                    dom,
                    &DomctlVcpuContext {
                        vcpu: 0,
                        _pad: 0,
                        ctxt: 0,
                    },
                ),
            ),
            (
                "getpageframeinfo3",
                XenDomctl::with_payload(
                    XEN_DOMCTL_GETPAGEFRAMEINFO3,
                    dom,
                    &DomctlGetPageFrameInfo3 {
                        num: frames.len() as u64,
                        array: frames.as_mut_ptr() as u64,
                    },
                ),
            ),
            ("resumedomain", XenDomctl::new(XEN_DOMCTL_RESUMEDOMAIN, dom)),
        ];
        for (name, mut op) in ops {
            // SAFETY: the payloads point at nothing (0) or at `frames`, ours and alive for
            // the call; an unprivileged caller is refused before anything is read.
            let r = unsafe { guest::domctl(&mut op) };
            println!(
                "suspend: {name} of domain {} returned {}",
                dom.0,
                HcallResult(r)
            );
        }
    }
    println!("suspend: suspending");
    let mfn = match crate::suspend::start_info_mfn(si) {
        Ok(m) => m,
        Err(e) => {
            println!("suspend: cannot find our start_info frame: {}", e.name());
            return true;
        }
    };
    match guest::sched_suspend(mfn) {
        Ok(v) => println!("suspend: resumed, the suspend call returned {v}"),
        Err(e) => println!("suspend: refused: {}", e.name()),
    }
    println!("suspend: running on after the resume");
    true
}
