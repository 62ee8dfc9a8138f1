//! dom0 on the network (issue 16, first part): the machine's virtio-net device (QEMU's
//! user-mode network) driven by dom0 and put on the bridge `xenbr0`, whose own interface
//! gets its address from the network's DHCP server, answers the gateway's pings, and serves
//! TCP echo (port 7) to the host through a QEMU port forward on the host's loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tests::test_name;
use tests::{BootOptions, System};

/// How long dom0's DHCP may take (QEMU's server answers at once; dom0 asks at boot).
const DHCP_WAIT: Duration = Duration::from_secs(30);

/// Waits until `ip addr` shows dom0's address on `xenbr0`; the listing.
fn wait_for_address(sys: &mut System) -> String {
    let deadline = Instant::now() + DHCP_WAIT;
    loop {
        let out = sys.run("ip addr");
        if out.contains("10.0.2.15/24") || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn dom0_gets_an_address_by_dhcp_pings_the_gateway_and_serves_tcp_echo_to_the_host() {
    let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()).forward(7));
    let log = sys.transcript();
    sys.check(
        log.contains("dom0: eth0: virtio-net at 0xfeb02c00, GSI 46 level high as pirq 46: MAC 52:54:00:12:34:56, on xenbr0"),
        "the boot log names the NIC, its interrupt and its MAC",
    );
    let out = wait_for_address(&mut sys);
    sys.check(
        out.contains("10.0.2.15/24") && out.contains("10.0.2.2"),
        format!("ip addr: no DHCP address 10.0.2.15/24 with gateway 10.0.2.2 in {out:?}"),
    );
    // QEMU's gateway answers pings.
    let out = sys.run("ping -c 3 10.0.2.2");
    sys.check(
        out.contains("3 packets transmitted, 3 packets received"),
        format!("ping of the gateway: {out:?}"),
    );
    // Bad arguments are refused, naming what was wrong.
    let out = sys.run("ping -c 3 10.0.2");
    sys.check(
        out.contains("ping:") && out.contains("10.0.2"),
        format!("ping of a bad address: {out:?}"),
    );
    // The host reaches dom0's echo service through the forward, twice at once.
    let port = sys.host_port(7);
    let mut conns: Vec<TcpStream> = (0..2)
        .map(|i| {
            let c = TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| sys.fail(format!("connection {i} to 127.0.0.1:{port}: {e}")));
            c.set_read_timeout(Some(Duration::from_secs(20))).ok();
            c
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let msg = format!("hello dom0, connection {i}, {}\n", "x".repeat(3000));
        c.write_all(msg.as_bytes())
            .unwrap_or_else(|e| sys.fail(format!("write on connection {i}: {e}")));
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got)
            .unwrap_or_else(|e| sys.fail(format!("echo on connection {i}: {e}")));
        sys.check(
            got == msg.as_bytes(),
            format!("connection {i}: echoed bytes differ"),
        );
    }
    drop(conns);
    // The bridge learnt the gateway's MAC on eth0.
    let out = sys.run("brctl show");
    sys.check(
        out.contains("xenbr0") && out.contains("eth0") && out.contains("52:55:0a:00:02:02"),
        format!("brctl show: {out:?}"),
    );
    sys.poweroff();
}
