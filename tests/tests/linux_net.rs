//! Debian's Linux on the network through its own xen-netfront and our netback (issue 16):
//! a Linux domU with `vif = ['bridge=xenbr0']` gets its address by DHCP from QEMU's user
//! network across dom0's bridge (the initramfs's `ip=dhcp`: busybox udhcpc), pings the
//! gateway, fetches a file with `wget` from an HTTP server this test runs on the host's
//! loopback (QEMU's user network shows the host as 10.0.2.2), and serves a page with busybox
//! `httpd` that the host gets through a QEMU port forward; a pv-guest on the same bridge
//! talks TCP to Linux; `xl network-attach` gives Linux `eth1` and `xl network-detach` takes
//! it away; destroying Linux with a connection open leaves nothing on the bridge.
//!
//! Needs Debian's guests in dom0's initrd (`cargo xtask build --guests`; `cargo xtask test`
//! builds them).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;
use tests::linux::{attach, detach, machine, sh, Create, BOOT};
use tests::steps::{check_free_memory_back, create_ok, list_with_healthy_dom0, run_ok};
use tests::xl::domu_line;
use tests::{test_name, OrFail, System};

/// The address QEMU's DHCP server gives the second client on the segment (dom0 is the
/// first, at boot).
const LINUX_ADDR: &str = "10.0.2.16";

/// A one-shot HTTP server on the host's loopback: answers one GET with `body`.
fn serve_once(body: &'static str) -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("a loopback port");
    let port = l.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            c.set_read_timeout(Some(Duration::from_secs(30))).ok();
            let mut req = [0u8; 2048];
            let _ = c.read(&mut req);
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = c.write_all(reply.as_bytes());
        }
    });
    port
}

#[test]
fn linux_gets_an_address_fetches_from_the_host_serves_it_and_talks_to_a_pv_guest() {
    let mut sys = System::boot_to_prompt(machine(&test_name!()).forward_to(LINUX_ADDR, 80));
    let free_before = sys.free_memory();
    // Up to its shell, having said its lease on the console (the lease script's line).
    let mark = Create::linux("\"vif=['bridge=xenbr0']\" extra=\"console=hvc0 ip=dhcp\"")
        .lines(&["udhcpc: eth0 "])
        .to_shell(&mut sys);
    let lease = format!("udhcpc: eth0 {LINUX_ADDR}/24 gateway 10.0.2.2");
    sys.check(
        sys.transcript()[mark..].contains(&lease),
        format!("Linux's lease: want {lease:?}"),
    );
    // The gateway answers.
    let out = sh(&mut sys, "ping -c 3 10.0.2.2");
    sys.check(
        out.contains("3 packets transmitted, 3 packets received"),
        format!("Linux's ping of the gateway: {out}"),
    );
    // wget from the host's loopback, which QEMU's network shows as 10.0.2.2.
    let port = serve_once("fetched-from-the-host\n");
    let out = sh(
        &mut sys,
        &format!("wget -q -O - http://10.0.2.2:{port}/file"),
    );
    sys.check(
        out.contains("fetched-from-the-host"),
        format!("wget in Linux: {out}"),
    );
    // busybox httpd in Linux, reached from the host through the forward.
    sh(
        &mut sys,
        "mkdir -p /www && echo served-by-linux > /www/index.html && httpd -p 80 -h /www",
    );
    let hp = sys.host_port_to(LINUX_ADDR, 80);
    let mut c = TcpStream::connect(("127.0.0.1", hp))
        .unwrap_or_else(|e| sys.fail(format!("connecting to 127.0.0.1:{hp}: {e}")));
    c.set_read_timeout(Some(Duration::from_secs(30))).ok();
    c.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok();
    let mut page = String::new();
    let _ = c.read_to_string(&mut page);
    sys.check(
        page.contains("200") && page.contains("served-by-linux"),
        format!("Linux's httpd through 127.0.0.1:{hp}: {page:?}"),
    );
    // A pv-guest on the same bridge fetches Linux's page and pings it.
    detach(&mut sys);
    let mark = sys.mark();
    create_ok(
        &mut sys,
        &format!(
            "domu.cfg name=netpv memory=32 \"vif=['bridge=xenbr0']\" \
             extra=\"net=10.0.2.21/24,10.0.2.2 ping={LINUX_ADDR} fetch={LINUX_ADDR}:80/index.html\""
        ),
    );
    for want in [
        format!("NETFRONT ping {LINUX_ADDR}: 3 sent, 3 received"),
        format!("NETFRONT fetch {LINUX_ADDR}:80/index.html: status 200"),
    ] {
        sys.wait_line_where(mark, &want, BOOT, |l| {
            domu_line(l).is_some_and(|(_, t)| t.starts_with(&want))
        })
        .or_fail();
    }
    // A second vif appears in Linux as eth1 and goes again.
    run_ok(&mut sys, "xl network-attach linux bridge=xenbr0");
    attach(&mut sys, "linux");
    let mut seen = String::new();
    for _ in 0..50 {
        seen = sh(&mut sys, "ls /sys/class/net");
        if seen.contains("eth1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    sys.check(
        seen.contains("eth1"),
        format!("no eth1 after network-attach: {seen}"),
    );
    detach(&mut sys);
    run_ok(&mut sys, "xl network-detach linux 1");
    attach(&mut sys, "linux");
    let mut gone = String::new();
    for _ in 0..50 {
        gone = sh(&mut sys, "ls /sys/class/net");
        if !gone.contains("eth1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    sys.check(
        !gone.contains("eth1"),
        format!("eth1 still there after network-detach: {gone}"),
    );
    detach(&mut sys);
    // Destroying Linux with a connection from the host open leaves no port on the bridge.
    let _open = TcpStream::connect(("127.0.0.1", hp));
    run_ok(&mut sys, "xl destroy linux");
    run_ok(&mut sys, "xl destroy netpv");
    let out = run_ok(&mut sys, "brctl show");
    sys.check(
        !out.split_whitespace().any(|w| w.starts_with("vif")),
        format!("vifs left on the bridge: {out}"),
    );
    let out = sys.run("xenstore-ls /local/domain/0/backend/vif");
    sys.check(
        !out.lines().any(|l| l.contains(" = ")),
        format!("back-end nodes of destroyed vifs left: {out}"),
    );
    check_free_memory_back(
        &mut sys,
        free_before,
        "after destroying Linux and the pv-guest",
    );
    list_with_healthy_dom0(&mut sys);
    sys.poweroff();
}
