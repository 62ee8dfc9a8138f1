//! `xen_version`: which interface this hypervisor speaks.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::mm::guest_copy;
use core::mem::size_of;
use guest_abi::arch::{CpuUserRegs, HYPERVISOR_VIRT_START};
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::version::*;

/// The Xen interface version we implement (4.17), as major<<16 | minor.
pub const VERSION: u64 = XEN_VERSION_IMPLEMENTED as u64;

use crate::domain::FEATURES;

fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut b = [0u8; N];
    let n = s.len().min(N - 1);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

/// xen_version's queries answered in a register, without the global state (the null
/// hypercall guests and benchmarks use); the others copy to guest memory and take the locked
/// path ([`xen_version`]).
pub fn xen_version_lockless(_regs: &CpuUserRegs, raw: RawArgs) -> Option<HcResult> {
    let a: CmdArg = HypercallArgs::decode(raw).ok()?;
    match (a.cmd, a.arg) {
        (XENVER_VERSION, _) => Some(Ok(Outcome::Done(VERSION))),
        (XENVER_PAGESIZE, 0) => Some(Ok(Outcome::Done(4096))),
        _ => None,
    }
}

/// xen_version(cmd, arg).
pub fn xen_version(st: &mut State, _regs: &mut CpuUserRegs, a: CmdArg) -> HcResult {
    let (cmd, arg) = (a.cmd, a.arg);
    let mem = &st.mem;
    match cmd {
        XENVER_VERSION => return Ok(Outcome::Done(VERSION)),
        // As Xen: the page size is the return value; an argument is refused.
        XENVER_PAGESIZE if arg != 0 => return Err(Errno::EINVAL),
        XENVER_PAGESIZE => return Ok(Outcome::Done(4096)),
        XENVER_EXTRAVERSION => guest_copy::write(
            mem,
            arg,
            &padded::<{ size_of::<XenExtraversion>() }>("-pvh"),
        )?,
        XENVER_CAPABILITIES => guest_copy::write(
            mem,
            arg,
            &padded::<{ size_of::<XenCapabilitiesInfo>() }>(XEN_CAPABILITIES_X86_64_PV),
        )?,
        XENVER_CHANGESET => guest_copy::write(
            mem,
            arg,
            &padded::<{ size_of::<XenChangesetInfo>() }>(env!("CARGO_PKG_VERSION")),
        )?,
        XENVER_COMPILE_INFO => {
            let info = XenCompileInfo {
                compiler: padded("rustc"),
                compile_by: padded("pvh"),
                compile_domain: padded("local"),
                compile_date: padded("unknown"),
            };
            guest_copy::write(mem, arg, &info)?
        }
        XENVER_PLATFORM_PARAMETERS => guest_copy::write(
            mem,
            arg,
            &XenPlatformParameters {
                virt_start: HYPERVISOR_VIRT_START,
            },
        )?,
        XENVER_GET_FEATURES => {
            let mut fi: XenFeatureInfo = guest_copy::read(mem, arg)?;
            // As Xen: only the submaps that exist (one) may be asked for.
            if fi.submap_idx >= XENFEAT_NR_SUBMAPS {
                return Err(Errno::EINVAL);
            }
            fi.submap = FEATURES;
            if st.caller_privileged() {
                fi.submap |= 1 << XENFEAT_DOM0;
            }
            guest_copy::write(&st.mem, arg, &fi)?
        }
        _ => return Err(Errno::ENOSYS),
    }
    Ok(Outcome::Done(0))
}
