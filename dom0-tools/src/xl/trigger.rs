//! `xl trigger <Domain> <nmi|reset|init|power|sleep|s3resume> [<VCPU>]`: send a trigger to a
//! domain (`XEN_DOMCTL_sendtrigger`). For a PV guest only `nmi` means something: a virtual
//! NMI to its vCPU, taken by the handler it registered (Linux prints "Uhhuh. NMI received
//! for unknown reason 00"); the others are for HVM guests and are refused naming why.

use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::domctl::*;
use guest_abi::errno::Errno;

/// The trigger names `xl trigger` knows, with their `XEN_DOMCTL_SENDTRIGGER_*` (None:
/// s3resume, which is not a domctl trigger).
const TRIGGERS: [(&str, Option<u32>); 6] = [
    ("nmi", Some(XEN_DOMCTL_SENDTRIGGER_NMI)),
    ("reset", Some(XEN_DOMCTL_SENDTRIGGER_RESET)),
    ("init", Some(XEN_DOMCTL_SENDTRIGGER_INIT)),
    ("power", Some(XEN_DOMCTL_SENDTRIGGER_POWER)),
    ("sleep", Some(XEN_DOMCTL_SENDTRIGGER_SLEEP)),
    ("s3resume", None),
];

impl<H: Hypervisor> Toolstack<'_, H> {
    /// `xl trigger <Domain> <Trigger> [<VCPU>]`.
    pub(super) fn trigger(&mut self, args: &[&str], _out: &mut dyn Write) -> XlResult {
        let (dom, which, vcpu) = match args {
            [dom, which] => (*dom, *which, "0"),
            [dom, which, vcpu] => (*dom, *which, *vcpu),
            _ => return Err(String::from("trigger: wrong arguments")),
        };
        let Some(&(name, nr)) = TRIGGERS.iter().find(|(n, _)| *n == which) else {
            return Err(format!(
                "trigger: invalid trigger \"{which}\" (one of nmi, reset, init, power, sleep, s3resume)"
            ));
        };
        let vcpu: u32 = vcpu
            .parse()
            .map_err(|_| format!("trigger: invalid vCPU \"{vcpu}\" (a number)"))?;
        let (dname, id) = self.resolve(dom).map_err(|e| format!("trigger: {e}"))?;
        let what = format!("domain {} (\"{dname}\")", id.0);
        let Some(nr) = nr else {
            return Err(format!(
                "trigger: {name} to {what}: only HVM guests can be resumed from S3 (this is a PV guest)"
            ));
        };
        let mut op = XenDomctl::with_payload(
            XEN_DOMCTL_SENDTRIGGER,
            id,
            &DomctlSendTrigger { trigger: nr, vcpu },
        );
        self.hv.domctl(&mut op).map_err(|e| match e {
            Errno::ESRCH => format!("trigger: {what} has no vCPU {vcpu}"),
            Errno::EINVAL => {
                format!("trigger: {name} to {what}: only HVM guests have ACPI buttons (EINVAL)")
            }
            Errno::ENOSYS => {
                format!("trigger: {name} to {what}: not supported for PV guests (ENOSYS)")
            }
            e => format!("trigger: {name} to {what}: {e}"),
        })
    }
}
