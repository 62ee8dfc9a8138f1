//! `vif = [...]`, `xl network-attach`, `network-detach` and `network-list` against the real
//! hypervisor (`testhv`) and a dom0 network without a NIC: the XenStore layout Linux's
//! netfront reads, the bridge ports, the handshake's refusals and the teardown. (The rings
//! themselves are `crate::netback`'s tests: the test machine has no grant copy.)

use super::super::*;
use super::{backend_path, frontend_path};
use crate::elf::testimg::TestElf;
use crate::initrd::write_newc;
use crate::net::{Addressing, Network, PortKind};
use crate::testhv::TestHv;
use guest_abi::types::DomId;

const A: DomId = DomId(1);

fn initrd_bytes() -> Vec<u8> {
    let kernel = TestElf::pv().bytes();
    write_newc(&[
        (
            "/etc/xen/a.cfg",
            b"name = \"a\"\nkernel = \"/boot/k\"\nmemory = 16\n\
              vif = ['mac=00:16:3e:01:02:03,bridge=xenbr0,rate=10Mb/s', 'model=e1000']\n",
        ),
        (
            "/etc/xen/bad.cfg",
            b"name = \"bad\"\nkernel = \"/boot/k\"\nmemory = 16\nvif = ['bridge=br7']\n",
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

fn network() -> Network {
    Network::new(
        Addressing::Static {
            address: [10, 0, 0, 1],
            prefix: 24,
            gateway: None,
        },
        [0x02, 0, 0, 0, 0, 1],
    )
}

fn xs_read(ts: &mut Toolstack<'_, TestHv>, p: &str) -> Option<String> {
    ts.xenstore()
        .read(0, p)
        .ok()
        .map(|v| String::from_utf8(v).unwrap())
}

fn vif_ports(ts: &mut Toolstack<'_, TestHv>) -> Vec<String> {
    ts.network()
        .unwrap()
        .ports()
        .into_iter()
        .filter(|p| p.kind == PortKind::Vif)
        .map(|p| p.name)
        .collect()
}

#[test]
fn create_writes_the_layout_netfront_reads_and_puts_the_vifs_on_the_bridge() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    ts.set_network(network());
    let (rc, out) = xl(&mut ts, "xl create /etc/xen/a.cfg");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("note: model=e1000 ignored"), "{out}");
    let (fe, be) = (frontend_path(1, 0), backend_path(1, 0));
    for (k, v) in [
        ("backend", be.as_str()),
        ("backend-id", "0"),
        ("handle", "0"),
        ("mac", "00:16:3e:01:02:03"),
        ("state", "1"),
    ] {
        assert_eq!(
            xs_read(&mut ts, &format!("{fe}/{k}")).as_deref(),
            Some(v),
            "{k}"
        );
    }
    for (k, v) in [
        ("frontend", fe.as_str()),
        ("frontend-id", "1"),
        ("online", "1"),
        ("state", "2"),
        ("handle", "0"),
        ("mac", "00:16:3e:01:02:03"),
        ("bridge", "xenbr0"),
        ("type", "vif"),
        ("mtu", "1500"),
        ("feature-sg", "1"),
        ("feature-rx-copy", "1"),
        ("feature-rx-flip", "0"),
        ("feature-ipv6-csum-offload", "1"),
        ("rate", "62500,50000"),
    ] {
        assert_eq!(
            xs_read(&mut ts, &format!("{be}/{k}")).as_deref(),
            Some(v),
            "{k}"
        );
    }
    for k in [
        "feature-gso-tcpv4",
        "multi-queue-max-queues",
        "feature-split-event-channels",
        "feature-ctrl-ring",
    ] {
        assert_eq!(
            xs_read(&mut ts, &format!("{be}/{k}")),
            None,
            "{k} not offered"
        );
    }
    // The domain may read the back end's directory and write its own.
    assert!(ts.xenstore().read(1, &format!("{be}/mac")).is_ok());
    assert!(ts
        .xenstore()
        .write(1, &format!("{fe}/tx-ring-ref"), b"8")
        .is_ok());
    assert!(ts
        .xenstore()
        .write(1, &format!("{be}/state"), b"4")
        .is_err());
    // The second vif: devid 1, a MAC in Xen's range.
    assert_eq!(
        xs_read(&mut ts, &format!("{}/mac", frontend_path(1, 1))).as_deref(),
        Some("00:16:3e:00:01:01")
    );
    assert_eq!(vif_ports(&mut ts), ["vif1.0", "vif1.1"]);
    let (rc, out) = xl(&mut ts, "xl network-list a");
    assert_eq!(rc, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path                       "
    );
    assert_eq!(
        lines[1].trim_end(),
        "0   0  00:16:3e:01:02:03      0     2     -1    -1/-1          /local/domain/0/backend/vif/1/0"
    );
    assert_eq!(lines.len(), 3);
    // Destroying the domain leaves nothing: no ports, no directories.
    assert_eq!(xl(&mut ts, "xl destroy a").0, 0);
    assert!(vif_ports(&mut ts).is_empty());
    assert_eq!(xs_read(&mut ts, "/local/domain/0/backend/vif/1"), None);
    assert!(ts.vifs.is_empty());
}

#[test]
fn attach_detach_and_the_refusals_name_what_was_wrong() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    // Without a network, a vif cannot be given.
    let (rc, out) = xl(&mut ts, "xl create /etc/xen/a.cfg");
    assert_eq!(rc, 1);
    assert!(out.contains("dom0 has no network"), "{out}");
    ts.set_network(network());
    let (rc, out) = xl(&mut ts, "xl create /etc/xen/bad.cfg");
    assert_eq!(rc, 1);
    assert!(out.contains("bridge=br7: no such bridge"), "{out}");
    assert_eq!(xl(&mut ts, "xl create /etc/xen/a.cfg").0, 0);
    let (rc, out) = xl(&mut ts, "xl network-attach a bridge=br1");
    assert_eq!(rc, 1);
    assert!(out.contains("bridge=br1: no such bridge"), "{out}");
    let (rc, out) = xl(&mut ts, "xl network-attach a speed=fast");
    assert!(
        rc == 1 && out.contains("unknown parameter \"speed\""),
        "{out}"
    );
    let (rc, out) = xl(&mut ts, "xl network-attach a mac=00:16:3e:01:02:03");
    assert!(
        rc == 1 && out.contains("vif 0 of the domain has it"),
        "{out}"
    );
    let (rc, out) = xl(&mut ts, "xl network-attach a devid=1");
    assert!(rc == 1 && out.contains("already has vif 1"), "{out}");
    let (rc, out) = xl(&mut ts, "xl network-attach 0");
    assert!(rc == 1 && out.contains("dom0"), "{out}");
    let (rc, out) = xl(&mut ts, "xl network-attach a vifname=web0 rate=1MB/s@10ms");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(vif_ports(&mut ts), ["vif1.0", "vif1.1", "web0"]);
    assert_eq!(
        xs_read(&mut ts, &format!("{}/rate", backend_path(1, 2))).as_deref(),
        Some("10000,10000")
    );
    // Detach by number and by MAC (front ends that never started: at once).
    let (rc, out) = xl(&mut ts, "xl network-detach a 2");
    assert_eq!(rc, 0, "{out}");
    let (rc, out) = xl(&mut ts, "xl network-detach a 00:16:3e:01:02:03");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(vif_ports(&mut ts), ["vif1.1"]);
    assert_eq!(xs_read(&mut ts, &backend_path(1, 0)), None);
    assert_eq!(xs_read(&mut ts, &frontend_path(1, 0)), None);
    let (rc, out) = xl(&mut ts, "xl network-detach a 7");
    assert!(rc == 1 && out.contains("has no vif 7"), "{out}");
    let (rc, out) = xl(&mut ts, "xl network-detach a zz");
    assert!(rc == 1 && out.contains("not a MAC address"), "{out}");
    let (_, out) = xl(&mut ts, "xl help");
    assert!(out.contains("network-attach") && out.contains("network-list"));
}

#[test]
fn a_front_end_that_will_not_copy_or_cannot_be_reached_loses_its_vif_only() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    ts.set_network(network());
    assert_eq!(xl(&mut ts, "xl create /etc/xen/a.cfg").0, 0);
    let fe = frontend_path(1, 0);
    let front = |ts: &mut Toolstack<'_, TestHv>, k: &str, v: &str| {
        ts.xenstore()
            .write(1, &format!("{fe}/{k}"), v.as_bytes())
            .unwrap();
    };
    for (k, v) in [
        ("tx-ring-ref", "8"),
        ("rx-ring-ref", "9"),
        ("event-channel", "5"),
        ("request-rx-copy", "0"),
        ("state", "3"),
    ] {
        front(&mut ts, k, v);
    }
    ts.service_backends(&mut String::new(), false);
    let notices = ts.take_notices();
    assert!(
        notices.contains("(xl) vif 1.0: disabled: not connecting: request-rx-copy is not 1"),
        "{notices}"
    );
    let be = backend_path(1, 0);
    assert_eq!(
        xs_read(&mut ts, &format!("{be}/state")).as_deref(),
        Some("5")
    );
    assert!(xs_read(&mut ts, &format!("{be}/error"))
        .unwrap()
        .contains("request-rx-copy"));
    // The front end closes; the back end follows to Closed; it may start again.
    front(&mut ts, "state", "6");
    ts.service_backends(&mut String::new(), false);
    assert_eq!(
        xs_read(&mut ts, &format!("{be}/state")).as_deref(),
        Some("6")
    );
    front(&mut ts, "state", "1");
    ts.service_backends(&mut String::new(), false);
    assert_eq!(
        xs_read(&mut ts, &format!("{be}/state")).as_deref(),
        Some("2")
    );
    // With rx-copy but ring pages it cannot reach (no grant copy here): refused too.
    front(&mut ts, "request-rx-copy", "1");
    front(&mut ts, "state", "3");
    ts.service_backends(&mut String::new(), false);
    let notices = ts.take_notices();
    assert!(
        notices.contains("(xl) vif 1.0: disabled: not connecting: grant copy of the tx-ring-ref"),
        "{notices}"
    );
    // The other vif and the domain are untouched.
    assert_eq!(
        xs_read(&mut ts, &format!("{}/state", backend_path(1, 1))).as_deref(),
        Some("2")
    );
    assert!(ts.hypervisor().domain(A).is_some());
    assert_eq!(xl(&mut ts, "xl destroy a").0, 0);
    assert!(vif_ports(&mut ts).is_empty());
}
