//! The `xl` command over a [`Hypervisor`] and dom0's initrd.
//!
//! Every command either succeeds or prints one `xl: <what>: <why>` line and changes nothing
//! (a domain half-built by a failed `xl create` is destroyed again). Exit status 0 or 1.
//! Domains are named by name or id everywhere. One file per group of commands; the command
//! table is [`COMMANDS`] (usage text) and [`Toolstack::dispatch`] (handlers).

mod args;
mod block;
mod console;
mod control;
mod create;
mod dmesg;
mod json;
mod lifecycle;
mod memory;
mod peer;
mod report;
mod sched_credit;
mod shutdown;
mod suspend;
mod top;
mod trigger;
mod vcpu;
mod vif;
mod xenstore_cmds;

pub use args::{is_key_value, parse_mem_kib};
pub use top::{fmt_uptime, TopView};

use crate::config::DomainConfig;
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

/// One xl subcommand: its name, one-line summary and full usage (printed by `--help`).
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub usage: &'static str,
    /// What runs it (`Toolstack::dispatch` matches on it, exhaustively: a command in this
    /// table without a handler, or the other way round, does not compile).
    pub cmd: Cmd,
}

/// The subcommands, one per [`COMMANDS`] entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Create,
    Destroy,
    List,
    Info,
    Pause,
    Unpause,
    Resume,
    Shutdown,
    Reboot,
    Rename,
    MemMax,
    MemSet,
    Dmesg,
    VcpuList,
    VcpuPin,
    VcpuSet,
    Uptime,
    Top,
    SchedCredit,
    Console,
    Trigger,
    BlockAttach,
    BlockDetach,
    BlockList,
    NetworkAttach,
    NetworkDetach,
    NetworkList,
    Help,
}

/// Every subcommand, in `xl help` order.
pub const COMMANDS: &[Command] = &[
    Command {
        name: "create",
        summary: "Create a domain from a config file",
        usage: "Usage: xl create <ConfigFile> [options] [KEY=VALUE ...]\n\n\
Create a domain from <ConfigFile>: a path in dom0's initrd, or a name under /etc/xen/.\n\
KEY=VALUE settings after the file override the file's (as if appended to it), e.g.\n\
  xl create domu.cfg memory=32 extra=\"test=pong peer=1\"\n\n\
Options:\n\
-p                 Leave the domain paused after it is created.\n\
-c                 Attach to the domain's console once it is created (as `xl console`;\n\
                   Ctrl-] detaches).\n\
-f <ConfigFile>    Use the given configuration file.\n",
        cmd: Cmd::Create,
    },
    Command {
        name: "destroy",
        summary: "Terminate a domain immediately",
        usage: "Usage: xl destroy <Domain>\n\nTerminate a domain immediately. <Domain> is a name or a domain id.\n",
        cmd: Cmd::Destroy,
    },
    Command {
        name: "list",
        summary: "List information about all/some domains",
        usage: "Usage: xl list [options] [Domain...]\n\nList information about all or some domains.\n\n\
Options:\n\
-l, --long         Output all domain details (configuration) in JSON.\n\
--json             Output the listing as JSON, for scripts.\n",
        cmd: Cmd::List,
    },
    Command {
        name: "info",
        summary: "Get information about Xen host",
        usage: "Usage: xl info [--json]\n\nGet information about the host: versions, CPUs, memory (MiB):\n\
total, free, the hypervisor's own, and each domain's.\n\n\
Options:\n\
--json             Output as JSON, for scripts.\n",
        cmd: Cmd::Info,
    },
    Command {
        name: "pause",
        summary: "Pause execution of a domain",
        usage: "Usage: xl pause <Domain>\n\nPause execution of a domain: it keeps its memory but gets no CPU time.\n",
        cmd: Cmd::Pause,
    },
    Command {
        name: "unpause",
        summary: "Unpause a paused domain",
        usage: "Usage: xl unpause <Domain>\n\nUnpause a paused domain (also one created with `xl create -p`).\n",
        cmd: Cmd::Unpause,
    },
    Command {
        name: "resume",
        summary: "Resume a domain that suspended itself",
        usage: "Usage: xl resume <Domain>\n\n\
Resume a domain that suspended itself (state `s` in `xl list`, shut down with reason\n\
suspend) where it stopped, as a cancelled suspend: its suspend call returns 1, so it\n\
carries on as the same domain (what `xl save -c` does after saving). Not in Xen's xl.\n",
        cmd: Cmd::Resume,
    },
    Command {
        name: "shutdown",
        summary: "Issue a clean shutdown to a domain",
        usage: "Usage: xl shutdown [-w] [-F] <Domain>\n\n\
Ask a domain to shut down (reason poweroff): \"poweroff\" is written to its XenStore node\n\
control/shutdown, where a PV guest watching it shuts itself down and clears the node.\n\
Its on_poweroff action then applies. A guest that has not acted within 5 s is reported\n\
(use -F).\n\n\
Options:\n\
-w, --wait         Wait for the domain to shut down (and its action to be applied).\n\
-F, --force        Do not ask the guest: have the hypervisor shut it down at once\n\
                   (SCHEDOP_remote_shutdown), for guests that do not watch control/shutdown.\n",
        cmd: Cmd::Shutdown,
    },
    Command {
        name: "reboot",
        summary: "Issue a reboot signal to a domain",
        usage: "Usage: xl reboot [-w] [-F] <Domain>\n\n\
Ask a domain to reboot (reason reboot): \"reboot\" is written to its XenStore node\n\
control/shutdown, where a PV guest watching it shuts itself down and clears the node.\n\
Its on_reboot action (default restart: rebuild it from its config, as a new domain with\n\
the same name) then applies. A guest that has not acted within 5 s is reported (use -F).\n\n\
Options:\n\
-w, --wait         Wait for the domain to shut down (and its action to be applied).\n\
-F, --force        Do not ask the guest: have the hypervisor shut it down at once\n\
                   (SCHEDOP_remote_shutdown), for guests that do not watch control/shutdown.\n",
        cmd: Cmd::Reboot,
    },
    Command {
        name: "rename",
        summary: "Rename a domain",
        usage: "Usage: xl rename <Domain> <NewDomainName>\n\nRename a domain (letters, digits, '_', '.', '-'; unique).\n",
        cmd: Cmd::Rename,
    },
    Command {
        name: "mem-max",
        summary: "Set the maximum amount reservation for a domain",
        usage: "Usage: xl mem-max <Domain> <MemKB[bBkKmMgGtT]>\n\n\
Set the most memory the domain may have (default unit MiB; suffixes b, k, m, g, t).\n\
The hypervisor refuses the domain pages beyond it. It cannot be set below the\n\
domain's current memory, nor above the host's memory or 4096 MiB.\n",
        cmd: Cmd::MemMax,
    },
    Command {
        name: "mem-set",
        summary: "Set the current memory usage for a domain",
        usage: "Usage: xl mem-set <Domain> <MemKB[bBkKmMgGtT]>\n\n\
Set the domain's memory target (default unit MiB; suffixes b, k, m, g, t): it is written\n\
to XenStore (memory/target, KiB), where the guest's balloon driver gives pages back or\n\
takes more, up to its maximum (`xl mem-max`). Waits until the domain has reached the\n\
target, or says how far it got after 10 s.\n",
        cmd: Cmd::MemSet,
    },
    Command {
        name: "dmesg",
        summary: "Read and/or clear dmesg buffer",
        usage: "Usage: xl dmesg [-c]\n\nPrint the hypervisor's log ring (every `(XEN)` line).\n\n\
Options:\n\
-c, --clear        Clear the ring after printing it.\n",
        cmd: Cmd::Dmesg,
    },
    Command {
        name: "vcpu-list",
        summary: "List the VCPUs for all/some domains",
        usage: "Usage: xl vcpu-list [--json] [Domain...]\n\nList the virtual CPUs of all or some domains.\n\n\
Options:\n\
--json             Output as JSON, for scripts.\n\n\
Each vCPU's row: the CPU it runs on, its state (r running, b blocked; --p: down, CPU -),\n\
its CPU time and its hard / soft affinity (\"all\", or CPUs as 0-3,5).\n",
        cmd: Cmd::VcpuList,
    },
    Command {
        name: "vcpu-pin",
        summary: "Set which CPUs a VCPU can use",
        usage: "Usage: xl vcpu-pin [-f|--force] <Domain> <VCPU|all> <Hard affinity> [Soft affinity]\n\n\
Set the hard affinity (the CPUs a vCPU may run on) and the soft affinity (those it\n\
prefers) of one vCPU of a domain, or of all of them. Each is a CPU list: CPUs and\n\
ranges, \"^\" taking some out again, or \"all\" (e.g. 0-3,5,^1 or all,^7); \"-\" leaves\n\
it as it is. E.g. `xl vcpu-pin 1 all 0-1` or `xl vcpu-pin domu 3 - 2-3`.\n\n\
Options:\n\
-f, --force        Also break a temporary pin of the guest's own.\n",
        cmd: Cmd::VcpuPin,
    },
    Command {
        name: "vcpu-set",
        summary: "Set the number of active VCPUs allowed for the domain",
        usage: "Usage: xl vcpu-set [-i|--ignore-host] <Domain> <vCPUs>\n\n\
Have the domain run <vCPUs> vCPUs (1 up to its maxvcpus): its XenStore nodes\n\
cpu/<n>/availability say \"online\" for vCPUs 0 to <vCPUs>-1 and \"offline\" for the\n\
rest, and the PV guest brings vCPUs up or down as they say.\n\n\
Options:\n\
-i, --ignore-host  Allow more vCPUs than the host has CPUs.\n",
        cmd: Cmd::VcpuSet,
    },
    Command {
        name: "uptime",
        summary: "Print uptime for all/some domains",
        usage: "Usage: xl uptime [-s] [Domain...]\n\n\
Print how long domains have been up (Domain-0: since the hypervisor booted).\n\n\
Options:\n\
-s, --short        No header.\n",
        cmd: Cmd::Uptime,
    },
    Command {
        name: "top",
        summary: "Monitor a host and the domains in real time",
        usage: "Usage: xl top [-b]\n\n\
A live view of the domains (state, CPU seconds, CPU %, memory), refreshed in place\n\
every second. Press q to quit.\n\n\
Options:\n\
-b, --batch        Print one frame without terminal control codes and return.\n",
        cmd: Cmd::Top,
    },
    Command {
        name: "sched-credit",
        summary: "Get/set credit scheduler parameters",
        usage: "Usage: xl sched-credit [-d <Domain> [-w <Weight>] [-c <Cap>]]\n\n\
Without options, list every domain's weight and cap; with -d, that domain's.\n\n\
Options:\n\
-d, --domain=DOMAIN     Domain to show or modify.\n\
-w, --weight=WEIGHT     Relative weight, 1 to 65535 (default 256).\n\
-c, --cap=CAP           Cap in percent of one CPU, 0 (none) to 100.\n",
        cmd: Cmd::SchedCredit,
    },
    Command {
        name: "console",
        summary: "Attach to domain's console",
        usage: "Usage: xl console <Domain>\n\n\
Attach to a domain's PV console: its output is shown as is and what you type goes to\n\
the domain. Ctrl-] detaches and returns to the dom0 shell.\n",
        cmd: Cmd::Console,
    },
    Command {
        name: "trigger",
        summary: "Send a trigger to a domain",
        usage: "Usage: xl trigger <Domain> <nmi|reset|init|power|sleep|s3resume> [<VCPU>]\n\n\
Send a trigger to a domain's vCPU (default 0). A PV guest takes `nmi`: a virtual NMI,\n\
delivered to the NMI handler it registered (none: it is dropped). The others are for\n\
HVM guests and are refused.\n",
        cmd: Cmd::Trigger,
    },
    Command {
        name: "block-attach",
        summary: "Create a new virtual block device",
        usage: "Usage: xl block-attach <Domain> <disk-spec-component(s)>...\n\n\
Give a running domain another disk, e.g. `xl block-attach 1 phy:/dev/vda3,xvdb,w`\n\
(Xen's disk-spec syntax; the target is one of dom0's block devices, `lsblk`).\n",
        cmd: Cmd::BlockAttach,
    },
    Command {
        name: "block-detach",
        summary: "Destroy a domain's virtual block device",
        usage: "Usage: xl block-detach <Domain> <DevId>\n\n\
Take a disk (its vdev, e.g. xvdb, or device number, e.g. 51728) away from a domain:\n\
the back end closes and waits for the front end to let go.\n",
        cmd: Cmd::BlockDetach,
    },
    Command {
        name: "block-list",
        summary: "List virtual block devices for a domain",
        usage: "Usage: xl block-list <Domain(s)>\n\nList the disks of each domain.\n",
        cmd: Cmd::BlockList,
    },
    Command {
        name: "network-attach",
        summary: "Create a new virtual network device",
        usage: "Usage: xl network-attach <Domain> [vif-spec-component(s)]...\n\n\
Give a running domain another network interface on xenbr0, e.g.\n\
  xl network-attach 1 mac=00:16:3e:01:02:03 rate=10Mb/s\n\
(Xen's vif-spec: mac, bridge (xenbr0 only), rate, devid, vifname, ...; without mac=, one\n\
in 00:16:3e:xx:xx:xx).\n",
        cmd: Cmd::NetworkAttach,
    },
    Command {
        name: "network-detach",
        summary: "Destroy a domain's virtual network device",
        usage: "Usage: xl network-detach <Domain> <DevId|mac>\n\n\
Take a network interface (its device number or MAC) away from a domain: the back end\n\
closes and waits for the front end to let go.\n",
        cmd: Cmd::NetworkDetach,
    },
    Command {
        name: "network-list",
        summary: "List virtual network interfaces for a domain",
        usage: "Usage: xl network-list <Domain(s)>\n\nList the network interfaces of each domain.\n",
        cmd: Cmd::NetworkList,
    },
    Command {
        name: "help",
        summary: "Print this help",
        usage: "Usage: xl help\n\nList the xl subcommands.\n",
        cmd: Cmd::Help,
    },
];

/// A domain this toolstack created: its name, id and the config it was built from (kept for
/// `on_reboot = "restart"` and friends).
#[derive(Debug, Clone)]
pub struct DomainRecord {
    pub name: String,
    pub id: DomId,
    pub config: DomainConfig,
    /// System time when it was started, if the hypervisor tells the time.
    pub started_ns: Option<u64>,
    /// Its shutdown was acted on (`preserve`d domains stay, and are not acted on again).
    pub handled: bool,
}

/// dom0's toolstack: the hypervisor handle, the initrd (configs and guest kernels) and the
/// domains it created (Domain-0, id 0, is not among them).
pub struct Toolstack<'a, H: Hypervisor> {
    hv: H,
    initrd: Initrd<'a>,
    records: Vec<DomainRecord>,
    /// Life-cycle notices not yet shown.
    notices: String,
    /// An `xl top` that wants the terminal (taken by the shell).
    top_view: Option<TopView>,
    /// xenstored, served in-process.
    xs: crate::xenstore::Xenstored,
    /// Our end of each domain's xenstore event channel.
    store_ports: alloc::collections::BTreeMap<u16, Option<u32>>,
    /// Console back ends by domain.
    consoles: alloc::collections::BTreeMap<u16, console::ConsoleBack>,
    /// The domain `xl console` is attached to.
    console_attached: Option<u16>,
    /// VIRQ_DOM_EXC events already acted on ([`Hypervisor::dom_exc_count`]).
    dom_exc_seen: u64,
    /// dom0's block devices (the machine's disks and their partitions).
    disks: crate::block::Disks,
    /// Virtual disks served to domains, by (domain, device id).
    vbds: alloc::collections::BTreeMap<(u16, u32), block::VbdBack>,
    /// Virtual network interfaces served to domains, by (domain, device id).
    vifs: alloc::collections::BTreeMap<(u16, u32), vif::VifBack>,
    /// dom0's network (`xenbr0`), once dom0 found a NIC.
    net: Option<crate::net::Network>,
    /// dom0's own storage (`/etc/xen`, `/var/lib/xen` on its disk), once mounted.
    storage: Option<crate::fs::Storage>,
}

impl<'a, H: Hypervisor> Toolstack<'a, H> {
    pub fn new(hv: H, initrd: Initrd<'a>) -> Self {
        Self {
            hv,
            initrd,
            records: Vec::new(),
            notices: String::new(),
            top_view: None,
            xs: xenstore_cmds::new_store(),
            store_ports: alloc::collections::BTreeMap::new(),
            consoles: alloc::collections::BTreeMap::new(),
            console_attached: None,
            dom_exc_seen: 0,
            disks: crate::block::Disks::new(),
            vbds: alloc::collections::BTreeMap::new(),
            vifs: alloc::collections::BTreeMap::new(),
            net: None,
            storage: None,
        }
    }

    /// Gives the toolstack dom0's network: [`service_backends`](Self::service_backends)
    /// then polls it, and the shell's `ip`, `brctl` and `ping` use it.
    pub fn set_network(&mut self, net: crate::net::Network) {
        self.net = Some(net);
    }

    /// dom0's network, if it has one.
    pub fn network(&mut self) -> Option<&mut crate::net::Network> {
        self.net.as_mut()
    }

    /// dom0's block devices.
    pub fn disks(&mut self) -> &mut crate::block::Disks {
        &mut self.disks
    }

    /// Gives the toolstack dom0's storage: `xl create` then looks for configs there first,
    /// and the shell's file commands reach it.
    pub fn set_storage(&mut self, storage: crate::fs::Storage) {
        self.storage = Some(storage);
    }

    /// dom0's storage (if mounted) and the block devices it is on.
    pub fn storage_and_disks(&mut self) -> (Option<&crate::fs::Storage>, &mut crate::block::Disks) {
        (self.storage.as_ref(), &mut self.disks)
    }

    /// The hypervisor and the block devices together (a command that times its I/O).
    pub fn hypervisor_and_disks(&mut self) -> (&mut H, &mut crate::block::Disks) {
        (&mut self.hv, &mut self.disks)
    }

    pub fn hypervisor(&mut self) -> &mut H {
        &mut self.hv
    }

    pub fn initrd(&self) -> &Initrd<'a> {
        &self.initrd
    }

    /// The domains created by this toolstack (Domain-0 not included), in creation order.
    pub fn domains(&self) -> &[DomainRecord] {
        &self.records
    }

    /// Runs `argv` (`argv[0]` is `xl`), writing everything to `out`; returns the exit status.
    pub fn run(&mut self, argv: &[&str], out: &mut dyn Write) -> i32 {
        let args = argv.get(1..).unwrap_or(&[]);
        let Some(&cmd) = args.first() else {
            let _ = out.write_str(&usage());
            return 1;
        };
        if matches!(cmd, "--help" | "-h") {
            let _ = out.write_str(&usage());
            return 0;
        }
        let Some(c) = COMMANDS.iter().find(|c| c.name == cmd) else {
            let _ = writeln!(out, "xl: unknown command \"{cmd}\" (see `xl help`)");
            return 1;
        };
        let rest = &args[1..];
        if rest
            .iter()
            .take_while(|a| **a != "--")
            .any(|a| matches!(*a, "--help" | "-h"))
        {
            let _ = out.write_str(c.usage);
            return 0;
        }
        match self.dispatch(c, rest, out) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(out, "xl: {e}");
                if e.contains("wrong arguments") || e.contains("option") {
                    let _ = out.write_str(c.usage);
                }
                1
            }
        }
    }

    fn dispatch(&mut self, c: &Command, rest: &[&str], out: &mut dyn Write) -> XlResult {
        let wrong = || format!("{}: wrong arguments", c.name);
        match (c.cmd, rest) {
            (Cmd::Create, _) => self.create_cmd(rest, out),
            (Cmd::Destroy, [dom]) => self.destroy(dom, out),
            (Cmd::List, _) => self.list(rest, out),
            (Cmd::Info, _) => self.info(rest, out),
            (Cmd::Pause, [dom]) => self.pause(dom, true, out),
            (Cmd::Unpause, [dom]) => self.pause(dom, false, out),
            (Cmd::Resume, [dom]) => self.resume(dom, out),
            (Cmd::Shutdown, _) => self.shutdown(rest, false, out),
            (Cmd::Reboot, _) => self.shutdown(rest, true, out),
            (Cmd::Rename, [dom, new]) => self.rename(dom, new, out),
            (Cmd::MemMax, [dom, mem]) => self.mem_max(dom, mem, out),
            (Cmd::MemSet, [dom, mem]) => self.mem_set(dom, mem, out),
            (Cmd::Dmesg, _) => self.dmesg(rest, out),
            (Cmd::VcpuList, _) => self.vcpu_list(rest, out),
            (Cmd::VcpuPin, _) => self.vcpu_pin(rest, out),
            (Cmd::VcpuSet, _) => self.vcpu_set(rest, out),
            (Cmd::Uptime, _) => self.uptime(rest, out),
            (Cmd::Top, _) => self.top(rest, out),
            (Cmd::SchedCredit, _) => self.sched_credit(rest, out),
            (Cmd::Console, [dom]) => self.console_cmd(dom, out),
            (Cmd::Trigger, _) => self.trigger(rest, out),
            (Cmd::BlockAttach, _) => self.block_attach(rest, out),
            (Cmd::BlockDetach, _) => self.block_detach(rest, out),
            (Cmd::BlockList, _) => self.block_list(rest, out),
            (Cmd::NetworkAttach, _) => self.network_attach(rest, out),
            (Cmd::NetworkDetach, _) => self.network_detach(rest, out),
            (Cmd::NetworkList, _) => self.network_list(rest, out),
            (Cmd::Help, []) => {
                let _ = out.write_str(&usage());
                Ok(())
            }
            (
                Cmd::Destroy
                | Cmd::Pause
                | Cmd::Unpause
                | Cmd::Resume
                | Cmd::Rename
                | Cmd::MemMax
                | Cmd::MemSet
                | Cmd::Console
                | Cmd::Help,
                _,
            ) => Err(wrong()),
        }
    }

    /// Forgets domains that no longer exist.
    fn refresh(&mut self) {
        let hv = &mut self.hv;
        self.records
            .retain(|r| hv.domain_info(r.id) != Err(Errno::ESRCH));
    }

    /// The record of domain `id`, if this toolstack created it.
    fn record(&self, id: DomId) -> Option<&DomainRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// The name and id of a domain given by name or id.
    fn resolve(&mut self, dom: &str) -> Result<(String, DomId), String> {
        self.refresh();
        let no_such = || format!("no such domain: \"{dom}\"");
        if !dom.is_empty() && dom.bytes().all(|b| b.is_ascii_digit()) {
            let id: u16 = dom.parse().map_err(|_| no_such())?;
            let id = DomId(id);
            if id.0 == 0 {
                return Ok((String::from(DOM0_NAME), id));
            }
            if let Some(r) = self.record(id) {
                return Ok((r.name.clone(), id));
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
        self.records
            .iter()
            .find(|r| r.name == dom)
            .map(|r| (r.name.clone(), r.id))
            .ok_or_else(no_such)
    }

    fn destroy(&mut self, dom: &str, _out: &mut dyn Write) -> XlResult {
        let (name, id) = self.resolve(dom).map_err(|e| format!("destroy: {e}"))?;
        if id.0 == 0 {
            return Err(String::from(
                "destroy: Domain-0 (domain 0) cannot be destroyed",
            ));
        }
        self.destroy_id(id)
            .map_err(|e| format!("destroy: cannot destroy domain {} (\"{name}\"): {e}", id.0))
    }

    /// Destroys domain `id` and forgets it (a domain already gone is not an error).
    fn destroy_id(&mut self, id: DomId) -> Result<(), Errno> {
        match destroy_domain(&mut self.hv, id) {
            Ok(()) | Err(Errno::ESRCH) => {
                self.records.retain(|r| r.id != id);
                self.xs_domain_gone(id);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// `XEN_DOMCTL_destroydomain` until done: the hypervisor gives a domain's memory back in
/// bounded chunks and answers EAGAIN while more remains (as Xen's libxc retries).
pub fn destroy_domain<H: Hypervisor + ?Sized>(hv: &mut H, id: DomId) -> Result<(), Errno> {
    // Each call frees at least one chunk; a hypervisor that never finishes is reported.
    for _ in 0..1_000_000 {
        let mut op = XenDomctl::new(XEN_DOMCTL_DESTROYDOMAIN, id);
        match hv.domctl(&mut op) {
            Err(Errno::EAGAIN) => continue,
            r => return r,
        }
    }
    Err(Errno::EAGAIN)
}

/// `xl help`: every subcommand with its summary.
fn usage() -> String {
    let mut s = String::from("Usage: xl <subcommand> [args]\n\n");
    let width = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0) + 2;
    for c in COMMANDS {
        let _ = writeln!(s, " {:<width$}{}", c.name, c.summary);
    }
    s.push_str("\nRun `xl <subcommand> --help` for a subcommand's usage.\n");
    s
}

#[cfg(test)]
mod console_tests;
#[cfg(test)]
mod suspend_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trigger_tests;
#[cfg(test)]
mod vcpu_tests;
