//! XenStore in the toolstack: the paths `xl create` writes for a new domain (Xen's layout,
//! as libxl writes it), introducing and releasing it, serving every domain's xenstore ring
//! (through a foreign mapping of its store page and its event channel), and the dom0 shell
//! commands `xenstore-ls [path]`, `xenstore-read <path>...`, `xenstore-write <path> <value>...`,
//! `xenstore-rm <path>...`, `xenstore-chmod <path> <perm>...` and `xenstore-list <path>`.

use super::Toolstack;
use crate::hv::Hypervisor;
use crate::xenstore::path::domain_path;
use crate::xenstore::{Perms, Xenstored};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use guest_abi::errno::Errno;
use guest_abi::types::DomId;

/// A fresh store holding dom0's own entries.
pub fn new_store() -> Xenstored {
    let mut xs = Xenstored::new();
    let _ = xs.write(0, "/local/domain/0/name", super::DOM0_NAME.as_bytes());
    let _ = xs.write(0, "/local/domain/0/domid", b"0");
    let _ = xs.write(0, "/local/domain/0/backend", b"");
    xs
}

/// What `xl create` tells xenstored about a new domain.
pub struct NewDomain<'c> {
    pub domid: DomId,
    pub name: &'c str,
    pub memory_kib: u64,
    pub maxmem_kib: u64,
    pub store: Option<(u64, u32)>,
    pub console: Option<(u64, u32)>,
    /// `maxvcpus` (each gets `cpu/<n>/availability`) and how many of them are online.
    pub vcpus: u32,
    pub online_vcpus: u32,
}

/// The domain's `/vm` directory (libxl's `/vm/<uuid>`).
pub fn vm_path(id: u16) -> String {
    format!("/vm/{}", vm_uuid(id))
}

/// The domain's UUID: this toolstack gives none in createdomain, so one derived from its id
/// (unique among running domains, as the path needs).
pub fn vm_uuid(id: u16) -> String {
    format!("00000000-0000-0000-0000-{id:012x}")
}

impl<H: Hypervisor> Toolstack<'_, H> {
    /// Writes the new domain's paths, connects its store ring and console, introduces it.
    pub(super) fn xs_domain_up(&mut self, d: &NewDomain<'_>) -> Result<(), String> {
        let id = d.domid.0;
        let home = domain_path(id);
        let ro = perms(&[&"n0".into(), &format!("r{id}")]);
        // libxl's rwperm: the domain owns it, nobody else but dom0 sees it.
        let rw = perms(&[&format!("n{id}")]);
        // A front-end directory (libxl__device_generic_add): the domain's, read by the back
        // end's domain.
        let fe = perms(&[&format!("n{id}"), &"r0".into()]);
        // Leftovers of an earlier domain with this id go.
        let _ = self.xs.rm(0, &home);
        let _ = self.xs.rm(0, &vm_path(id));
        let mut w = |p: &str, v: &str, pp: Option<&Perms>| {
            let xs = &mut self.xs;
            xs.write(0, p, v.as_bytes())
                .map_err(|e| format!("xenstore write {p}: {e}"))?;
            if let Some(pp) = pp {
                xs.set_perms(0, p, pp)
                    .map_err(|e| format!("xenstore set_perms {p}: {e}"))?;
            }
            Ok::<(), String>(())
        };
        // As libxl (`libxl__domain_make`, `libxl__build_post`, the primary console of
        // `libxl__device_console_add`; Xen's docs/misc/xenstore-paths): the home directory and
        // what the domain only reads are dom0's, readable by the domain; the nodes the guest
        // writes (its control features and acknowledgements, data, its console) are its own.
        let vm = vm_path(id);
        w(&home, "", Some(&ro))?;
        w(&vm, "", Some(&ro))?;
        w(&format!("{vm}/name"), d.name, None)?;
        w(&format!("{vm}/uuid"), &vm_uuid(id), None)?;
        w(&format!("{home}/vm"), &vm, None)?;
        w(&format!("{home}/name"), d.name, None)?;
        w(&format!("{home}/domid"), &format!("{id}"), None)?;
        w(&format!("{home}/cpu"), "", None)?;
        for v in 0..d.vcpus.max(1) {
            let avail = if v < d.online_vcpus.max(1) {
                "online"
            } else {
                "offline"
            };
            w(&format!("{home}/cpu/{v}/availability"), avail, None)?;
        }
        w(&format!("{home}/memory"), "", None)?;
        w(
            &format!("{home}/memory/static-max"),
            &format!("{}", d.maxmem_kib),
            None,
        )?;
        w(
            &format!("{home}/memory/target"),
            &format!("{}", d.memory_kib),
            None,
        )?;
        w(&format!("{home}/device"), "", None)?;
        w(
            &format!("{home}/device/suspend/event-channel"),
            "",
            Some(&rw),
        )?;
        w(&format!("{home}/control"), "", None)?;
        // libxl creates them empty and domain-owned: the guest's drivers say what they
        // support by writing "1" (Linux's `xenbus_write(..., "control", "feature-...")`).
        for n in [
            "shutdown",
            "feature-poweroff",
            "feature-reboot",
            "feature-suspend",
            "sysrq",
        ] {
            w(&format!("{home}/control/{n}"), "", Some(&rw))?;
        }
        w(
            &format!("{home}/control/platform-feature-multiprocessor-suspend"),
            "1",
            None,
        )?;
        w(
            &format!("{home}/control/platform-feature-xs_reset_watches"),
            "1",
            None,
        )?;
        for n in ["data", "drivers", "feature", "attr", "error"] {
            w(&format!("{home}/{n}"), "", Some(&rw))?;
        }
        if let Some((mfn, port)) = d.store {
            w(&format!("{home}/store/ring-ref"), &format!("{mfn}"), None)?;
            w(&format!("{home}/store/port"), &format!("{port}"), None)?;
        }
        if let Some((mfn, port)) = d.console {
            // The primary console: a front-end directory of its own (the domain's, dom0 reads).
            let c = format!("{home}/console");
            w(&c, "", Some(&fe))?;
            w(
                &format!("{c}/backend"),
                &format!("/local/domain/0/backend/console/{id}/0"),
                None,
            )?;
            w(&format!("{c}/backend-id"), "0", None)?;
            w(&format!("{c}/limit"), "1048576", None)?;
            w(&format!("{c}/type"), "xenconsoled", None)?;
            w(&format!("{c}/output"), "pty", None)?;
            w(&format!("{c}/tty"), "", None)?;
            w(&format!("{c}/ring-ref"), &format!("{mfn}"), None)?;
            w(&format!("{c}/port"), &format!("{port}"), None)?;
        }
        if let Some((mfn, port)) = d.store {
            let local = self.hv.evtchn_bind_interdomain(d.domid, port).ok();
            self.store_ports.insert(id, local);
            self.xs
                .introduce(id, mfn, port)
                .map_err(|e| format!("xenstore introduce: {e}"))?;
        }
        if let Some((mfn, port)) = d.console {
            self.console_back_up(d.domid, mfn, port)?;
        }
        Ok(())
    }

    /// Forgets a domain that is gone: its paths, its connection, its back ends.
    pub(super) fn xs_domain_gone(&mut self, id: DomId) {
        self.console_back_down(id);
        self.vbds_down(id);
        self.vifs_down(id);
        if let Some(Some(port)) = self.store_ports.remove(&id.0) {
            let _ = self.hv.evtchn_close(port);
        }
        let _ = self.xs.release(id.0);
        let _ = self.xs.rm(0, &domain_path(id.0));
        let _ = self.xs.rm(0, &vm_path(id.0));
    }

    /// Serves every introduced domain's xenstore ring once; a domain found gone is released.
    /// What xenstored logged (events dropped, a connection not served) becomes notices.
    pub(super) fn service_store_rings(&mut self, all: bool) {
        self.service_store_rings_once(all);
        for line in self.xs.take_log() {
            let _ = writeln!(self.notices, "(xl) xenstored: {line}");
        }
    }

    fn service_store_rings_once(&mut self, all: bool) {
        for (dom, ring) in self.xs.domains() {
            let Some(ring) = ring else { continue };
            if self.xs.conn(dom).is_some_and(|c| c.broken.is_some()) {
                continue;
            }
            let signalled = match self.store_ports.get(&dom) {
                Some(Some(p)) => self.hv.evtchn_take_pending(*p),
                _ => true,
            };
            if !(all || signalled || self.xs.has_output(dom)) {
                continue;
            }
            let xs = &mut self.xs;
            let mut act = Default::default();
            let r = self
                .hv
                .with_foreign_page(DomId(dom), ring.mfn, &mut |page| {
                    act = xs.service_ring(dom, &mut page[..]);
                });
            if r.is_err() {
                if self.hv.domain_info(DomId(dom)) == Err(Errno::ESRCH) {
                    self.xs_domain_gone(DomId(dom));
                }
                continue;
            }
            if act.notify() {
                if let Some(Some(port)) = self.store_ports.get(&dom) {
                    let _ = self.hv.evtchn_send(*port);
                }
            }
        }
    }

    /// The store, for dom0's own use.
    pub fn xenstore(&mut self) -> &mut Xenstored {
        &mut self.xs
    }

    /// Runs a `xenstore-*` shell command (`argv[0]` is its name); returns the exit status.
    pub fn xenstore_cmd(&mut self, argv: &[&str], out: &mut dyn Write) -> i32 {
        let (cmd, args) = match argv.split_first() {
            Some((c, a)) => (*c, a),
            None => return 1,
        };
        let r = match (cmd, args) {
            ("xenstore-ls", []) => self.ls("/", out),
            ("xenstore-ls", [p]) => self.ls(p, out),
            ("xenstore-list", [p]) => self.xs.directory(0, p).map(|names| {
                for n in names {
                    let _ = writeln!(out, "{n}");
                }
            }),
            ("xenstore-read", ps) if !ps.is_empty() => ps.iter().try_for_each(|p| {
                let v = self.xs.read(0, p)?;
                let _ = writeln!(out, "{}", String::from_utf8_lossy(&v));
                Ok(())
            }),
            ("xenstore-write", kv) if !kv.is_empty() && kv.len() % 2 == 0 => kv
                .chunks(2)
                .try_for_each(|c| self.xs.write(0, c[0], c[1].as_bytes())),
            ("xenstore-rm", ps) if !ps.is_empty() => ps.iter().try_for_each(|p| self.xs.rm(0, p)),
            ("xenstore-chmod", [p, ps @ ..]) if !ps.is_empty() => {
                Perms::parse(ps.iter().copied()).and_then(|perms| self.xs.set_perms(0, p, &perms))
            }
            _ => {
                let _ = writeln!(out, "{cmd}: wrong arguments\n{}", USAGE);
                return 1;
            }
        };
        match r {
            Ok(()) => 0,
            Err(e) => {
                let what = args.first().copied().unwrap_or("");
                let _ = writeln!(out, "{cmd}: {what}: {}", e.name());
                1
            }
        }
    }

    /// `xenstore-ls`: the tree below `p`, one `name = "value"` line per node, indented by
    /// depth, as Xen's xenstore-ls prints it.
    fn ls(&mut self, p: &str, out: &mut dyn Write) -> Result<(), Errno> {
        let mut stack: Vec<(String, usize)> = Vec::new();
        let top = self.xs.directory(0, p)?;
        for n in top.into_iter().rev() {
            stack.push((crate::xenstore::path::join(p, &n), 0));
        }
        while let Some((path, depth)) = stack.pop() {
            let v = self.xs.read(0, &path).unwrap_or_default();
            let name = crate::xenstore::path::base(&path);
            let _ = writeln!(
                out,
                "{:depth$}{name} = \"{}\"",
                "",
                escape(&v),
                depth = depth
            );
            let kids = self.xs.directory(0, &path).unwrap_or_default();
            for n in kids.into_iter().rev() {
                stack.push((crate::xenstore::path::join(&path, &n), depth + 1));
            }
        }
        Ok(())
    }
}

const USAGE: &str = "usage: xenstore-ls [path] | xenstore-list <path> | xenstore-read <path>... |
       xenstore-write <path> <value>... | xenstore-rm <path>... |
       xenstore-chmod <path> <perm>... (perm: n|r|w|b followed by a domain id)";

fn perms(items: &[&String]) -> Perms {
    Perms::parse(items.iter().map(|s| s.as_str())).expect("well-formed")
}

/// A value as xenstore-ls shows it: printable ASCII as is, anything else `\xNN`.
fn escape(v: &[u8]) -> String {
    let mut s = String::new();
    for &b in v {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}
