//! Guests on the bridge (issue 16): pv-guest's netfront (smoltcp) against dom0's netback,
//! each domain's vif a port of `xenbr0` beside the machine's NIC. A guest with a static
//! address answers dom0's pings, serves HTTP to the host through a QEMU port forward and
//! TCP echo to another guest, which got its own address by DHCP from QEMU's user network
//! across the bridge; `xl network-list`, `network-detach`/`-attach` (the guest takes the new
//! vif up) and destroy leave nothing behind. A hostile front end's malformed transmit requests lose it its vif, while dom0 and
//! the other guests carry on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use tests::steps::{create_ok, list_with_healthy_dom0, run_ok};
use tests::xl::domu_line;
use tests::{test_name, BootOptions, OrFail, System};

/// How long a guest may take to connect its vif and configure its address.
const UP: Duration = Duration::from_secs(60);
/// The static address of the server guest.
const SERVER: &str = "10.0.2.20";

/// Creates a pv-guest `name` with one vif on xenbr0 running `test=net <opts>`; waits for its
/// `NETFRONT up` line and returns (domain id, that line's text).
fn create_net_guest(sys: &mut System, name: &str, opts: &str) -> (u32, String) {
    let mark = sys.mark();
    create_ok(
        sys,
        &format!(
            "domu.cfg name={name} memory=32 \"vif=['bridge=xenbr0']\" extra=\"test=net {opts}\""
        ),
    );
    let line = sys
        .wait_line_where(mark, &format!("{name}: NETFRONT up"), UP, |l| {
            domu_line(l).is_some_and(|(_, t)| t.starts_with("NETFRONT up "))
        })
        .or_fail();
    let (id, text) = domu_line(&line).expect("a domU line");
    (id, text.to_string())
}

/// The vif ports `brctl show` lists (`vif<domid>.<devid>`).
fn vif_ports(sys: &mut System) -> Vec<String> {
    let out = run_ok(sys, "brctl show");
    let mut ports: Vec<String> = out
        .split_whitespace()
        .filter(|w| w.starts_with("vif") && w.contains('.'))
        .map(str::to_string)
        .collect();
    ports.sort();
    ports.dedup();
    ports
}

fn http_get(sys: &mut System, port: u16) -> String {
    let mut c = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| sys.fail(format!("connecting to 127.0.0.1:{port}: {e}")));
    c.set_read_timeout(Some(Duration::from_secs(30))).ok();
    c.write_all(b"GET / HTTP/1.0\r\nHost: guest\r\n\r\n")
        .unwrap_or_else(|e| sys.fail(format!("sending the request: {e}")));
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    reply
}

#[test]
fn guests_on_the_bridge_reach_dom0_the_host_and_each_other() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()).forward_to(SERVER, 80));
    // The server: a static address.
    let (srv, up) = create_net_guest(&mut sys, "netsrv", &format!("ip={SERVER}/24 gw=10.0.2.2"));
    sys.check(
        up.contains(&format!("{SERVER}/24")) && up.contains("00:16:3e:"),
        format!("server's up line: {up:?} (want its static address and a 00:16:3e MAC)"),
    );
    // xl network-list names its vif with that MAC.
    let mac = up
        .split_whitespace()
        .find(|w| w.starts_with("00:16:3e:"))
        .unwrap_or_default()
        .to_string();
    let out = run_ok(&mut sys, "xl network-list netsrv");
    sys.check(
        out.lines().any(|l| l.split_whitespace().any(|w| w == mac)),
        format!("xl network-list: no vif with MAC {mac}: {out:?}"),
    );
    let ports = vif_ports(&mut sys);
    sys.check(
        ports == [format!("vif{srv}.0")],
        format!("brctl show: want the port vif{srv}.0, got {ports:?}"),
    );
    // dom0 pings it across the bridge.
    let out = run_ok(&mut sys, &format!("ping -c 3 {SERVER}"));
    sys.check(
        out.contains("3 packets transmitted, 3 packets received"),
        format!("dom0's ping of the guest: {out:?}"),
    );
    // The host reaches its web server through the forward.
    let port = sys.host_port_to(SERVER, 80);
    let reply = http_get(&mut sys, port);
    sys.check(
        reply.starts_with("HTTP/1.0 200") && reply.contains("hello from pv-guest"),
        format!("the guest's page through 127.0.0.1:{port}: {reply:?}"),
    );
    // A client guest gets its address by DHCP across the bridge and talks TCP to the server.
    let mark = sys.mark();
    let (cli, up) = create_net_guest(
        &mut sys,
        "netcli",
        &format!("ip=dhcp ping={SERVER} connect={SERVER}:7 msg=across-the-bridge"),
    );
    sys.check(
        up.contains("10.0.2.") && up.contains(" gw 10.0.2.2"),
        format!("client's up line (DHCP): {up:?}"),
    );
    for want in [
        format!("NETFRONT ping {SERVER}: 3 sent, 3 received"),
        format!("NETFRONT connect {SERVER}:7: echoed"),
    ] {
        let line = sys
            .wait_line_where(mark, &want, UP, |l| {
                domu_line(l).is_some_and(|(id, t)| id == cli && t.starts_with(&want))
            })
            .or_fail();
        sys.check(
            !line.contains("error") && (want.contains("ping") || line.ends_with(" ok")),
            format!("client: {line:?}"),
        );
    }
    // Detach the client's vif: its port goes; attach a new one: it comes back.
    run_ok(&mut sys, "xl network-detach netcli 0");
    let ports = vif_ports(&mut sys);
    sys.check(
        ports == [format!("vif{srv}.0")],
        format!("network-detach removes the client's port: {ports:?}"),
    );
    let mark = sys.mark();
    run_ok(&mut sys, "xl network-attach netcli bridge=xenbr0");
    let ports = vif_ports(&mut sys);
    sys.check(
        ports.len() == 2,
        format!("network-attach adds a port again: {ports:?}"),
    );
    // The guest takes the new vif up and gets an address again; dom0 reaches it.
    let again = sys
        .wait_line_where(mark, "netcli: NETFRONT up (again)", UP, |l| {
            domu_line(l).is_some_and(|(id, t)| id == cli && t.starts_with("NETFRONT up "))
        })
        .or_fail();
    let addr = again
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/24"))
        .unwrap_or_default()
        .to_string();
    let out = run_ok(&mut sys, &format!("ping -c 3 {addr}"));
    sys.check(
        out.contains("3 packets received"),
        format!("dom0's ping of the client on its new vif ({again:?}): {out:?}"),
    );
    // Destroying both leaves no port and healthy dom0.
    run_ok(&mut sys, "xl destroy netcli");
    run_ok(&mut sys, "xl destroy netsrv");
    let ports = vif_ports(&mut sys);
    sys.check(
        ports.is_empty(),
        format!("destroyed domains leave no vif on the bridge: {ports:?}"),
    );
    let out = run_ok(&mut sys, "ping -c 1 10.0.2.2");
    sys.check(
        out.contains("1 packets received"),
        format!("dom0's own network after the guests: {out:?}"),
    );
    list_with_healthy_dom0(&mut sys);
    sys.poweroff();
}

#[test]
fn a_hostile_front_end_loses_its_vif_while_dom0_and_the_others_run_on() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()));
    let (srv, _) = create_net_guest(&mut sys, "netsrv", &format!("ip={SERVER}/24 gw=10.0.2.2"));
    let mark = sys.mark();
    create_ok(
        &mut sys,
        "domu.cfg name=nethostile memory=32 \"vif=['bridge=xenbr0']\" extra=\"test=net-hostile\"",
    );
    let done = sys
        .wait_line_where(
            mark,
            "NETFRONT hostile done",
            Duration::from_secs(180),
            |l| domu_line(l).is_some_and(|(_, t)| t.starts_with("NETFRONT hostile done")),
        )
        .or_fail();
    let (bad, _) = domu_line(&done).expect("a domU line");
    let log = sys.transcript()[mark..].to_string();
    sys.check(
        log.contains(&format!("vif {bad}.0: disabled")),
        format!("dom0 names the hostile vif as disabled (`vif {bad}.0: disabled: ...`)"),
    );
    // The server and dom0 carry on.
    let out = run_ok(&mut sys, &format!("ping -c 3 {SERVER}"));
    sys.check(
        out.contains("3 packets received"),
        format!("the other guest after the attack: {out:?}"),
    );
    let out = run_ok(&mut sys, "ping -c 1 10.0.2.2");
    sys.check(
        out.contains("1 packets received"),
        format!("dom0's own network after the attack: {out:?}"),
    );
    run_ok(&mut sys, "xl destroy nethostile");
    run_ok(&mut sys, &format!("xl destroy {srv}"));
    list_with_healthy_dom0(&mut sys);
    sys.poweroff();
}

/// The RX bytes (frames the bridge took from the port) of port `port` in `ip addr`.
fn port_rx_bytes(listing: &str, port: &str) -> Option<u64> {
    let mut lines = listing.lines();
    lines.find(|l| l.split_whitespace().nth(1) == Some(&format!("{port}:")))?;
    let rx = lines.find(|l| l.trim_start().starts_with("RX:"))?;
    let w: Vec<&str> = rx.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "bytes")?;
    w.get(i - 1)?.parse().ok()
}

#[test]
fn a_flooding_guest_is_held_to_its_rate_and_starves_nobody() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()));
    let (_, _) = create_net_guest(&mut sys, "netsrv", &format!("ip={SERVER}/24 gw=10.0.2.2"));
    // 20 KB/s (10^3 bytes): a credit of 1000 bytes per 50 ms interval; 5 s of UDP as fast
    // as it goes (an unlimited guest moves over 400 KB in that time here).
    const RATE: u64 = 20_000;
    const SECS: u64 = 5;
    let mark = sys.mark();
    create_ok(
        &mut sys,
        &format!(
            "domu.cfg name=flood memory=32 \"vif=['bridge=xenbr0,rate=20KB/s']\" \
             extra=\"test=net ip=10.0.2.22/24 gw=10.0.2.2 flood=10.0.2.2:9 secs={SECS}\""
        ),
    );
    let up = sys
        .wait_line_where(mark, "flood: NETFRONT up", UP, |l| {
            domu_line(l).is_some_and(|(_, t)| t.starts_with("NETFRONT up "))
        })
        .or_fail();
    let (id, _) = domu_line(&up).expect("a domU line");
    // While it floods, dom0 and the other guest answer.
    let out = run_ok(&mut sys, &format!("ping -c 3 {SERVER}"));
    sys.check(
        out.contains("3 packets received"),
        format!("the other guest during the flood: {out:?}"),
    );
    let done = String::from("NETFRONT flood 10.0.2.2:9: ");
    let line = sys
        .wait_line_where(mark, &done, UP, |l| {
            domu_line(l).is_some_and(|(d, t)| d == id && t.starts_with(&done))
        })
        .or_fail();
    let listing = run_ok(&mut sys, "ip addr");
    let port = format!("vif{id}.0");
    let Some(bytes) = port_rx_bytes(&listing, &port) else {
        sys.fail(format!("no RX bytes of {port} in `ip addr`:\n{listing}"))
    };
    // What crossed the bridge: at most the rate over the run plus one interval's credit and
    // the frames before the flood (ARP); at least a third of it (the guest could send more).
    let most = RATE * SECS + RATE / 20 + 10_000;
    sys.check(
        bytes <= most && bytes >= RATE * SECS / 3,
        format!("{port} carried {bytes} bytes in {SECS} s at rate {RATE} B/s (want ≤ {most}); the guest said {line:?}"),
    );
    let out = run_ok(&mut sys, "ping -c 1 10.0.2.2");
    sys.check(
        out.contains("1 packets received"),
        format!("dom0 after the flood: {out:?}"),
    );
    list_with_healthy_dom0(&mut sys);
    sys.poweroff();
}
