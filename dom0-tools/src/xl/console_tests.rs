//! The console back end as xenconsoled: each domU's start_info console ring served from
//! creation, the xenbus console device on top, hostile rings cut off alone; and the XenStore
//! nodes `xl create` writes for Linux's xenbus. Against the real hypervisor (`testhv`): the
//! test domains do not run code of their own, so a test acts as their kernel (writes into
//! its ring page, notifies its port, talks to xenstored as the domain).

use super::console::{backend_path, frontend_path, DETACH};
use super::*;
use crate::elf::testimg::TestElf;
use crate::initrd::write_newc;
use crate::testhv::TestHv;
use crate::xenstore::ring::{self, RingPage, CONS_IN, CONS_OUT};
use guest_abi::types::DomId;

const A: DomId = DomId(1);
const B: DomId = DomId(2);

fn initrd_bytes() -> Vec<u8> {
    let kernel = TestElf::pv().bytes();
    write_newc(&[
        (
            "/etc/xen/a.cfg",
            b"name = \"a\"\nkernel = \"/boot/k\"\nmemory = 16\nmaxmem = 32\n",
        ),
        (
            "/etc/xen/b.cfg",
            b"name = \"b\"\nkernel = \"/boot/k\"\nmemory = 16\n",
        ),
        ("/boot/k", &kernel),
    ])
}

fn xl<H: Hypervisor>(ts: &mut Toolstack<'_, H>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

/// A toolstack with domains `a` (id 1) and `b` (id 2) created.
fn two_domains(rd: &[u8]) -> Toolstack<'_, TestHv> {
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(rd).unwrap());
    for cfg in ["a", "b"] {
        let (rc, out) = xl(&mut ts, &format!("xl create /etc/xen/{cfg}.cfg"));
        assert_eq!(rc, 0, "{out}");
    }
    ts
}

/// The console ring page and port in the domain's start_info, as its kernel sees them.
fn start_info_console(ts: &mut Toolstack<'_, TestHv>, id: DomId) -> (u64, u32) {
    let si = ts.hypervisor().guest(id).start_info();
    let c = si.console.domu();
    (c.mfn.0, c.evtchn.0)
}

/// Runs `f` on the domain's console ring page (the guest's own memory).
fn on_ring(ts: &mut Toolstack<'_, TestHv>, id: DomId, f: &mut dyn FnMut(&mut [u8; 4096])) {
    let (mfn, _) = start_info_console(ts, id);
    ts.hypervisor()
        .with_foreign_page(id, mfn, &mut |p| f(p))
        .unwrap();
}

/// The guest's console write: bytes into its output ring, then a notification on its port.
fn guest_prints(ts: &mut Toolstack<'_, TestHv>, id: DomId, text: &str) {
    on_ring(ts, id, &mut |p| {
        let n = ring::write(&mut p[..], CONS_OUT, text.as_bytes()).unwrap();
        assert_eq!(n, text.len());
    });
    let (_, port) = start_info_console(ts, id);
    ts.hypervisor().guest(id).evtchn_send(port).unwrap();
}

/// What the guest finds in its input ring (consumed).
fn guest_reads(ts: &mut Toolstack<'_, TestHv>, id: DomId) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let mut n = 0;
    on_ring(ts, id, &mut |p| {
        n = ring::read(&mut p[..], CONS_IN, &mut buf).unwrap();
    });
    buf[..n].to_vec()
}

/// dom0's main loop, once, only for what was signalled.
fn serve(ts: &mut Toolstack<'_, TestHv>) -> String {
    let mut out = String::new();
    ts.service_backends(&mut out, false);
    out
}

fn xs_read(ts: &mut Toolstack<'_, TestHv>, p: &str) -> String {
    String::from_utf8(ts.xenstore().read(0, p).unwrap()).unwrap()
}

fn backend_state(ts: &mut Toolstack<'_, TestHv>, id: DomId) -> String {
    xs_read(ts, &format!("{}/state", backend_path(id.0)))
}

#[test]
fn console_ring_is_served_from_creation_without_a_xenbus_handshake() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    // xl create wrote the ring start_info names into XenStore, as xenconsoled reads it.
    let (mfn, port) = start_info_console(&mut ts, A);
    assert_eq!(
        xs_read(&mut ts, "/local/domain/1/console/ring-ref"),
        format!("{mfn}")
    );
    assert_eq!(
        xs_read(&mut ts, "/local/domain/1/console/port"),
        format!("{port}")
    );
    // The guest's first act (PV-GRUB's, Linux's early hvc0): it prints. Its front end has
    // not moved, the back end waits in InitWait.
    guest_prints(&mut ts, A, "GNU GRUB  version 2.06\r\n");
    assert_eq!(serve(&mut ts), "(d1) GNU GRUB  version 2.06\n");
    assert_eq!(backend_state(&mut ts, A), "2", "no xenbus state moved");
    assert_eq!(
        xs_read(&mut ts, "/local/domain/1/device/console/0/state"),
        "1"
    );
    // An unfinished line waits for its end.
    guest_prints(&mut ts, A, "grub> ");
    assert_eq!(serve(&mut ts), "");
    // `xl console` attaches now (the xenbus device never connected): the pending prompt is
    // shown, and typed input reaches the ring, Enter as LF.
    let (rc, out) = xl(&mut ts, "xl console a");
    assert_eq!(
        (rc, out.as_str()),
        (0, "Connected to domain 1 console; Ctrl-] detaches\n")
    );
    let mut out = String::new();
    for &b in b"ls\r" {
        assert!(ts.console_input(b, &mut out));
    }
    assert_eq!(out, "grub> ");
    assert_eq!(guest_reads(&mut ts, A), b"ls\n");
    // Its answer, unprefixed while attached.
    guest_prints(&mut ts, A, "(proc) (xen/xvda)\n");
    assert_eq!(serve(&mut ts), "(proc) (xen/xvda)\n");
    // Ctrl-] detaches; output is prefixed again.
    assert!(!ts.console_input(DETACH, &mut String::new()));
    guest_prints(&mut ts, A, "grub> \n");
    assert_eq!(serve(&mut ts), "(d1) grub> \n");
    // The other domain's console is its own.
    guest_prints(&mut ts, B, "b here\n");
    assert_eq!(serve(&mut ts), "(d2) b here\n");
}

#[test]
fn xl_create_c_shows_output_written_before_anything_else() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    let (rc, out) = xl(&mut ts, "xl create -c /etc/xen/a.cfg");
    assert_eq!(rc, 0, "{out}");
    assert!(out.ends_with("Connected to domain 1 console; Ctrl-] detaches\n"));
    guest_prints(&mut ts, A, "Welcome to GRUB!\n");
    assert_eq!(serve(&mut ts), "Welcome to GRUB!\n");
}

#[test]
fn a_guest_that_also_connects_the_xenbus_console_has_each_byte_forwarded_once() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    let (mfn, port) = start_info_console(&mut ts, A);
    let mut seen = String::new();
    guest_prints(&mut ts, A, "before the handshake\n");
    seen += &serve(&mut ts);
    // The front end (as pv-guest's): publishes ring-ref and port, says Initialised; it
    // prints again before dom0 looks.
    let fe = frontend_path(A.0);
    let xs = ts.xenstore();
    xs.write(1, &format!("{fe}/ring-ref"), format!("{mfn}").as_bytes())
        .unwrap();
    xs.write(1, &format!("{fe}/port"), format!("{port}").as_bytes())
        .unwrap();
    xs.write(1, &format!("{fe}/state"), b"3").unwrap();
    guest_prints(&mut ts, A, "during the handshake\n");
    seen += &serve(&mut ts);
    assert_eq!(backend_state(&mut ts, A), "4", "back end Connected");
    xs_write_as(&mut ts, 1, &format!("{fe}/state"), "4");
    guest_prints(&mut ts, A, "after it\n");
    seen += &serve(&mut ts);
    // A safety-net pass over every ring finds nothing more.
    let mut again = String::new();
    ts.service_backends(&mut again, true);
    seen += &again;
    assert_eq!(
        seen,
        "(d1) before the handshake\n(d1) during the handshake\n(d1) after it\n"
    );
    let notices = ts.take_notices();
    assert!(
        notices.contains("console of domain 1: back end InitWait -> Connected"),
        "{notices}"
    );
}

fn xs_write_as(ts: &mut Toolstack<'_, TestHv>, dom: u16, p: &str, v: &str) {
    ts.xenstore().write(dom, p, v.as_bytes()).unwrap();
}

/// After domain `a` broke its console: it is cut off alone, everyone else runs on.
fn only_a_is_cut_off(ts: &mut Toolstack<'_, TestHv>, why: &str) {
    let notices = ts.take_notices();
    assert!(
        notices.contains(&format!("(xl) console of domain 1: {why}")),
        "{notices}"
    );
    assert!(notices.contains("console disconnected"), "{notices}");
    assert!(ts.consoles[&1].broken.is_some());
    assert_eq!(ts.consoles[&1].local_port, None, "its port closed");
    assert_eq!(backend_state(ts, A), "6", "back end Closed");
    // Its ring is no longer read (the guest's notification finds no one); `xl console`
    // says why.
    let (_, port) = start_info_console(ts, A);
    let _ = ts.hypervisor().guest(A).evtchn_send(port);
    assert_eq!(serve(ts), "");
    ts.service_backends(&mut String::new(), true);
    assert_eq!(ts.take_notices(), "", "reported once");
    let (rc, out) = xl(ts, "xl console a");
    assert_eq!(rc, 1);
    assert!(out.contains("is disconnected"), "{out}");
    // The domain itself runs on; the other domain's console and dom0's shell work.
    assert!(ts.hypervisor().domain(A).is_some());
    guest_prints(ts, B, "b still here\n");
    assert_eq!(serve(ts), "(d2) b still here\n");
    let (rc, out) = xl(ts, "xl list");
    assert_eq!(rc, 0);
    assert!(out.contains("\na ") && out.contains("\nb "), "{out}");
    // Destroying it later is clean.
    assert_eq!(xl(ts, "xl destroy a").0, 0);
    assert!(!ts.consoles.contains_key(&1));
}

#[test]
fn a_producer_beyond_the_output_ring_disconnects_that_console_only() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    on_ring(&mut ts, A, &mut |p| {
        let cons = p.load_u32(CONS_OUT.cons);
        p.store_u32(CONS_OUT.prod, cons.wrapping_add(CONS_OUT.size as u32 + 1));
    });
    let (_, port) = start_info_console(&mut ts, A);
    ts.hypervisor().guest(A).evtchn_send(port).unwrap();
    assert_eq!(serve(&mut ts), "");
    only_a_is_cut_off(&mut ts, "output ring indices impossible");
}

#[test]
fn bad_input_ring_indices_disconnect_that_console_only() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    assert_eq!(xl(&mut ts, "xl console a").0, 0);
    // The guest claims to have consumed input never written.
    on_ring(&mut ts, A, &mut |p| {
        p.store_u32(CONS_IN.cons, 0x8000_0000);
        p.store_u32(CONS_IN.prod, 5);
    });
    let mut out = String::new();
    ts.console_input(b'x', &mut out);
    assert_eq!(ts.console_attached(), None, "xl console detached");
    only_a_is_cut_off(&mut ts, "input ring indices impossible");
}

#[test]
fn a_ring_page_the_domain_gave_away_disconnects_that_console_only() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    let (mfn, port) = start_info_console(&mut ts, A);
    let si = ts.hypervisor().guest(A).start_info();
    let hv = ts.hypervisor();
    // Its kernel unmaps the page (the hypervisor gives back no mapped frame), then its
    // balloon driver hands it back: dom0 can map it no more.
    let list_mfn = hv.guest_mfn(A, si.mfn_list).unwrap();
    let virt_base = si.mfn_list - hv.m2p(list_mfn) * 4096;
    let pfn = hv.m2p(mfn);
    let va = virt_base + pfn * 4096;
    assert_eq!(hv.guest_mfn(A, va), Some(mfn), "the ring page at {va:#x}");
    hv.guest(A)
        .call(
            guest_abi::hypercall::nr::UPDATE_VA_MAPPING,
            [va, 0, guest_abi::mmu::UvmfFlags::INVLPG.bits(), 0, 0],
        )
        .unwrap();
    assert_eq!(hv.guest(A).give_back(pfn, pfn + 1), Ok(1));
    hv.guest(A).evtchn_send(port).unwrap();
    assert_eq!(serve(&mut ts), "");
    only_a_is_cut_off(&mut ts, "ring page");
}

#[test]
fn xl_create_writes_the_nodes_linux_xenbus_expects_with_xens_permissions() {
    let rd = initrd_bytes();
    let mut ts = two_domains(&rd);
    let (mfn, port) = start_info_console(&mut ts, A);
    let perms = |ts: &mut Toolstack<'_, TestHv>, p: &str| -> Vec<String> {
        ts.xenstore()
            .store()
            .get(p)
            .unwrap_or_else(|| panic!("{p} exists"))
            .perms
            .texts()
    };
    let h = "/local/domain/1";
    let vm = "/vm/00000000-0000-0000-0000-000000000001";
    // Read-only to the domain: dom0's, the domain may read (libxl's roperm).
    for (p, v) in [
        ("", ""),
        ("/name", "a"),
        ("/domid", "1"),
        ("/vm", vm),
        ("/memory/target", "16384"),
        ("/memory/static-max", "32768"),
        ("/cpu/0/availability", "online"),
        ("/device", ""),
        ("/control", ""),
        ("/control/platform-feature-multiprocessor-suspend", "1"),
        ("/control/platform-feature-xs_reset_watches", "1"),
    ] {
        let path = format!("{h}{p}");
        assert_eq!(xs_read(&mut ts, &path), v, "{path}");
        assert_eq!(perms(&mut ts, &path), ["n0", "r1"], "{path}");
        assert_eq!(
            ts.xenstore().write(1, &path, b"x"),
            Err(guest_abi::errno::Errno::EACCES),
            "{path} is not the domain's to write"
        );
    }
    assert_eq!(xs_read(&mut ts, &format!("{vm}/name")), "a");
    // The domain's own (libxl's rwperm): created empty, the guest's drivers write them.
    for p in [
        "/control/shutdown",
        "/control/feature-poweroff",
        "/control/feature-reboot",
        "/control/feature-suspend",
        "/control/sysrq",
        "/data",
        "/drivers",
        "/feature",
        "/attr",
        "/error",
        "/device/suspend/event-channel",
    ] {
        let path = format!("{h}{p}");
        assert_eq!(xs_read(&mut ts, &path), "", "{path}");
        assert_eq!(perms(&mut ts, &path), ["n1"], "{path}");
        ts.xenstore().write(1, &path, b"1").unwrap();
    }
    // The primary console: a front-end directory of the domain's, dom0 reads.
    for (p, v) in [
        ("", String::new()),
        ("/ring-ref", format!("{mfn}")),
        ("/port", format!("{port}")),
        ("/type", "xenconsoled".into()),
        ("/backend", "/local/domain/0/backend/console/1/0".into()),
        ("/backend-id", "0".into()),
    ] {
        let path = format!("{h}/console{p}");
        assert_eq!(xs_read(&mut ts, &path), v, "{path}");
        assert_eq!(perms(&mut ts, &path), ["n1", "r0"], "{path}");
    }
    // The xenbus console device: the front end's, the back end's readable by the domain.
    assert_eq!(
        perms(&mut ts, &format!("{h}/device/console/0/state")),
        ["n1", "r0"]
    );
    assert_eq!(
        perms(&mut ts, "/local/domain/0/backend/console/1/0/state"),
        ["n0", "r1"]
    );
    // Another domain sees none of it.
    assert_eq!(
        ts.xenstore().read(2, &format!("{h}/name")),
        Err(guest_abi::errno::Errno::EACCES)
    );
    // Destroyed: all of it goes, /vm too.
    assert_eq!(xl(&mut ts, "xl destroy a").0, 0);
    assert!(ts.xenstore().store().get(h).is_none());
    assert!(ts.xenstore().store().get(vm).is_none());
}
