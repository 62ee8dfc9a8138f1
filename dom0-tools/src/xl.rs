//! The `xl` command over a [`Hypervisor`] and dom0's initrd.
//!
//! Every command either succeeds or prints one `xl: <what>: <why>` line and changes nothing
//! (a domain half-built by a failed `xl create` is destroyed again). Exit status 0 or 1.

mod create;
mod report;

use crate::hv::Hypervisor;
use crate::initrd::Initrd;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::domctl::{XenDomctl, XEN_DOMCTL_DESTROYDOMAIN};
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

/// The name `xl` shows for domain 0.
pub const DOM0_NAME: &str = "Domain-0";

/// A failed command: the text after `xl: `.
type XlResult = Result<(), String>;

const USAGE: &str = "Usage: xl <subcommand> [args]

 create      Create a domain from a config file (in dom0's initrd, or under /etc/xen/)
 destroy     Terminate a domain immediately
 list        List information about all or some domains
 info        Get information about the host
 help        Show this help

Run `xl <subcommand> --help` for a subcommand's usage.
";

struct Command {
    name: &'static str,
    usage: &'static str,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "create",
        usage: "Usage: xl create <ConfigFile>\n\nCreate a domain from <ConfigFile>: a path in dom0's initrd, or a name under /etc/xen/.\n",
    },
    Command {
        name: "destroy",
        usage: "Usage: xl destroy <Domain>\n\nTerminate a domain immediately. <Domain> is a name or a domain id.\n",
    },
    Command {
        name: "list",
        usage: "Usage: xl list [Domain...]\n\nList information about all or some domains.\n",
    },
    Command {
        name: "info",
        usage: "Usage: xl info\n\nGet information about the host: versions, CPUs, memory (MiB).\n",
    },
    Command {
        name: "help",
        usage: "Usage: xl help\n\nList the xl subcommands.\n",
    },
];

/// dom0's toolstack: the hypervisor handle, the initrd (configs and guest kernels) and the
/// names of the domains it created (name → id; Domain-0 is id 0).
pub struct Toolstack<'a, H: Hypervisor> {
    hv: H,
    initrd: Initrd<'a>,
    domains: Vec<(String, DomId)>,
}

impl<'a, H: Hypervisor> Toolstack<'a, H> {
    pub fn new(hv: H, initrd: Initrd<'a>) -> Self {
        Self {
            hv,
            initrd,
            domains: Vec::new(),
        }
    }

    pub fn hypervisor(&mut self) -> &mut H {
        &mut self.hv
    }

    pub fn initrd(&self) -> &Initrd<'a> {
        &self.initrd
    }

    /// The domains created by this toolstack (Domain-0 not included), in creation order.
    pub fn domains(&self) -> &[(String, DomId)] {
        &self.domains
    }

    /// Runs `argv` (`argv[0]` is `xl`), writing everything to `out`; returns the exit status.
    pub fn run(&mut self, argv: &[&str], out: &mut dyn Write) -> i32 {
        let args = argv.get(1..).unwrap_or(&[]);
        let Some(&cmd) = args.first() else {
            let _ = out.write_str(USAGE);
            return 1;
        };
        if matches!(cmd, "--help" | "-h") {
            let _ = out.write_str(USAGE);
            return 0;
        }
        let Some(c) = COMMANDS.iter().find(|c| c.name == cmd) else {
            let _ = writeln!(out, "xl: unknown command \"{cmd}\" (see `xl help`)");
            return 1;
        };
        let rest = &args[1..];
        if rest.iter().any(|a| matches!(*a, "--help" | "-h")) {
            let _ = out.write_str(c.usage);
            return 0;
        }
        let usage_err = || format!("{cmd}: wrong arguments\n{}", c.usage);
        let result = match (cmd, rest) {
            ("create", [cfg]) => self.create(cfg, out),
            ("destroy", [dom]) => self.destroy(dom, out),
            ("list", doms) => self.list(doms, out),
            ("info", []) => self.info(out),
            ("help", []) => {
                let _ = out.write_str(USAGE);
                Ok(())
            }
            _ => Err(usage_err()),
        };
        match result {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(out, "xl: {e}");
                1
            }
        }
    }

    /// Forgets domains that no longer exist.
    fn refresh(&mut self) {
        let hv = &mut self.hv;
        self.domains
            .retain(|(_, id)| hv.domain_info(*id) != Err(Errno::ESRCH));
    }

    /// The id of a domain given by name or id.
    fn resolve(&mut self, dom: &str) -> Result<(String, DomId), String> {
        self.refresh();
        let no_such = || format!("no such domain: \"{dom}\"");
        if !dom.is_empty() && dom.bytes().all(|b| b.is_ascii_digit()) {
            let id: u16 = dom.parse().map_err(|_| no_such())?;
            let id = DomId(id);
            if id.0 == 0 {
                return Ok((String::from(DOM0_NAME), id));
            }
            if let Some((n, _)) = self.domains.iter().find(|(_, d)| *d == id) {
                return Ok((n.clone(), id));
            }
            // A domain this toolstack did not create.
            return match self.hv.domain_info(id) {
                Ok(_) => Ok((String::new(), id)),
                Err(_) => Err(no_such()),
            };
        }
        if dom == DOM0_NAME {
            return Ok((String::from(DOM0_NAME), DomId(0)));
        }
        self.domains
            .iter()
            .find(|(n, _)| n == dom)
            .map(|(n, id)| (n.clone(), *id))
            .ok_or_else(no_such)
    }

    fn destroy(&mut self, dom: &str, _out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve(dom)?;
        if id.0 == 0 {
            return Err(String::from(
                "destroy: Domain-0 (domain 0) cannot be destroyed",
            ));
        }
        let mut op = XenDomctl::new(XEN_DOMCTL_DESTROYDOMAIN, id);
        match self.hv.domctl(&mut op) {
            Ok(()) | Err(Errno::ESRCH) => {
                self.domains.retain(|(_, d)| *d != id);
                Ok(())
            }
            Err(e) => Err(format!(
                "destroy: cannot destroy domain {} (\"{name}\"): {e}",
                id.0
            )),
        }
    }
}

#[cfg(test)]
mod tests;
