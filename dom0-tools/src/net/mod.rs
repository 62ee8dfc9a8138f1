//! dom0's network (issue 16): the machine's NIC and dom0's own interface joined by the
//! learning bridge `xenbr0` ([`bridge`]), dom0's address on it from smoltcp ([`stack`]).
//! Guests' vifs (netback) become further ports of the same bridge.
//!
//! CONTRACT (shared with pv-guest's virtio-net driver and dom0's main loop; keep these
//! signatures): [`Nic`], [`Network::new`], [`Network::attach_nic`], [`Network::poll`],
//! [`Network::poll_at`], [`Addressing`].
//!
//! The bridge's ports are of three kinds: dom0's own interface (`xenbr0`, as Linux names the
//! bridge's local interface after the bridge; always port 0), NICs ([`Nic`], driven here)
//! and vifs (a guest's interface: two bounded queues that netback fills and drains, so the
//! back end needs no handle into this module). Every frame from a port goes through
//! [`Bridge::forward`], which says which ports get it.
//!
//! [`Network::poll`] takes at most [`POLL_BUDGET`] frames from the NICs and vifs per call,
//! round-robin a batch at a time, so one port flooding dom0 neither starves the others nor
//! holds dom0 (the rest waits in the device's own queue, which drops when full, as NICs do).

pub mod bridge;
pub mod stack;
#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
pub use bridge::{Bridge, BridgeCounters, FdbEntry, PortCounters, PortId};
pub use stack::{PingReply, StackCounters};

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// The largest Ethernet frame (without FCS) dom0 passes on: 1500 bytes of payload and the
/// 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// The bridge's name, also its local interface's (dom0's address lives there).
pub const BRIDGE_NAME: &str = "xenbr0";
/// Frames [`Network::poll`] takes from NICs and vifs per call.
pub const POLL_BUDGET: usize = 256;
/// Frames taken from one port before the next port's turn.
const BATCH: usize = 32;
/// Frames a vif's queue holds in each direction.
pub const VIF_QUEUE: usize = 256;
/// How often learnt addresses are checked for expiry.
const AGE_EVERY_NS: u64 = 1_000_000_000;

/// A network device dom0 drives (the machine's NIC; host tests' doubles).
pub trait Nic {
    /// Its MAC address.
    fn mac(&self) -> Mac;
    /// Queues one Ethernet frame (no FCS, at most [`MAX_FRAME`] bytes) for sending; `false`
    /// if the device had no room (the frame is dropped, as a full NIC queue drops).
    fn send(&mut self, frame: &[u8]) -> bool;
    /// The next frame the device received, if any.
    fn receive(&mut self) -> Option<Vec<u8>>;
}

/// How dom0's own interface on `xenbr0` gets its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// From a DHCP server on the bridge's segment (QEMU's user network has one).
    Dhcp,
    /// Fixed.
    Static {
        address: [u8; 4],
        prefix: u8,
        gateway: Option<[u8; 4]>,
    },
}

/// What kind of thing a bridge port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// dom0's own interface.
    Local,
    /// A NIC dom0 drives.
    Nic,
    /// A guest's interface, served by netback through queues.
    Vif,
}

/// One port, for `ip addr` and `brctl show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub id: PortId,
    pub name: String,
    pub kind: PortKind,
    pub mac: Mac,
    pub counters: PortCounters,
}

/// A guest's interface as the bridge sees it: frames from the guest wait in `from_guest`
/// for [`Network::poll`], frames for it in `to_guest` for netback.
struct Vif {
    mac: Mac,
    from_guest: VecDeque<Vec<u8>>,
    to_guest: VecDeque<Vec<u8>>,
}

enum Device {
    Nic(Box<dyn Nic>),
    Vif(Vif),
}

struct Port {
    id: PortId,
    device: Device,
}

impl Port {
    fn take_frame(&mut self) -> Option<Vec<u8>> {
        match &mut self.device {
            Device::Nic(n) => n.receive(),
            Device::Vif(v) => v.from_guest.pop_front(),
        }
    }

    fn deliver(&mut self, frame: &[u8]) -> bool {
        match &mut self.device {
            Device::Nic(n) => n.send(frame),
            Device::Vif(v) => {
                if v.to_guest.len() >= VIF_QUEUE {
                    return false;
                }
                v.to_guest.push_back(frame.to_vec());
                true
            }
        }
    }
}

/// dom0's network: `xenbr0`, its ports, and dom0's own interface on it.
pub struct Network {
    bridge: Bridge,
    stack: stack::Stack,
    /// dom0's own interface's port.
    local: PortId,
    /// The NICs and vifs, in the order they were attached.
    ports: Vec<Port>,
    /// Whose turn it is first at the next poll.
    next_port: usize,
    /// The latest time seen: time passed in never goes backwards from here.
    now_ns: u64,
    last_age_ns: u64,
    /// The last poll stopped at its budget: frames may be waiting.
    cut_short: bool,
    notices: Vec<String>,
}

/// `52:54:00:12:34:56`.
pub fn fmt_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl Network {
    /// `xenbr0` with dom0's own interface (MAC `mac`) on it, addressed by `addressing`.
    pub fn new(addressing: Addressing, mac: Mac) -> Network {
        let stack = stack::Stack::new(addressing, mac);
        let mut bridge = Bridge::new();
        let local = bridge.add_port(BRIDGE_NAME);
        bridge.pin_local(stack.mac(), local);
        Network {
            bridge,
            stack,
            local,
            ports: Vec::new(),
            next_port: 0,
            now_ns: 0,
            last_age_ns: 0,
            cut_short: false,
            notices: Vec::new(),
        }
    }

    /// Puts a NIC on the bridge as port `name` (e.g. `eth0`).
    pub fn attach_nic(&mut self, name: &str, nic: Box<dyn Nic>) {
        self.attach(name, Device::Nic(nic));
    }

    /// Puts a guest's interface on the bridge as port `name` (Xen names them
    /// `vif<domid>.<devid>`); `mac` is the guest's, for listings. Netback then passes
    /// frames with [`vif_from_guest`](Self::vif_from_guest) and
    /// [`vif_to_guest`](Self::vif_to_guest).
    pub fn attach_vif(&mut self, name: &str, mac: Mac) -> PortId {
        self.attach(
            name,
            Device::Vif(Vif {
                mac,
                from_guest: VecDeque::new(),
                to_guest: VecDeque::new(),
            }),
        )
    }

    fn attach(&mut self, name: &str, device: Device) -> PortId {
        let id = self.bridge.add_port(name);
        self.ports.push(Port { id, device });
        id
    }

    /// Takes a NIC or vif off the bridge (its learnt addresses are forgotten); `false` for
    /// dom0's own port or an unknown one.
    pub fn detach(&mut self, port: PortId) -> bool {
        let Some(i) = self.ports.iter().position(|p| p.id == port) else {
            return false;
        };
        self.ports.remove(i);
        self.bridge.remove_port(port);
        true
    }

    /// A frame the guest behind vif `port` sent; `false` (dropped and counted) if its
    /// queue is full or there is no such vif.
    pub fn vif_from_guest(&mut self, port: PortId, frame: Vec<u8>) -> bool {
        let Some(Device::Vif(v)) = self.device_mut(port) else {
            return false;
        };
        if v.from_guest.len() >= VIF_QUEUE {
            self.bridge.count_rx_drop(port);
            return false;
        }
        v.from_guest.push_back(frame);
        true
    }

    /// The next frame for the guest behind vif `port`.
    pub fn vif_to_guest(&mut self, port: PortId) -> Option<Vec<u8>> {
        match self.device_mut(port)? {
            Device::Vif(v) => v.to_guest.pop_front(),
            Device::Nic(_) => None,
        }
    }

    fn device_mut(&mut self, port: PortId) -> Option<&mut Device> {
        self.ports
            .iter_mut()
            .find(|p| p.id == port)
            .map(|p| &mut p.device)
    }

    /// Moves every frame that is waiting (NICs → bridge → ports, dom0's stack included) and
    /// runs dom0's stack at `now_ns` (DHCP, ARP, ICMP, TCP timers); returns whether anything
    /// moved.
    ///
    /// At most [`POLL_BUDGET`] frames are taken from NICs and vifs; what dom0's stack sends
    /// in answer is bounded by what it received. A `now_ns` before the latest one seen
    /// counts as the latest (so a caller without a clock may pass 0: frames move, timers
    /// stand still).
    pub fn poll(&mut self, now_ns: u64) -> bool {
        let now = now_ns.max(self.now_ns);
        self.now_ns = now;
        if now.saturating_sub(self.last_age_ns) >= AGE_EVERY_NS {
            self.last_age_ns = now;
            self.bridge.age(now);
        }
        let mut budget = POLL_BUDGET;
        let mut moved = false;
        // Each round moves at least one frame or ends the loop; the bound is a safety net.
        for _ in 0..POLL_BUDGET + 16 {
            let mut progressed = false;
            let n = self.ports.len();
            for k in 0..n {
                if budget == 0 {
                    break;
                }
                let i = (self.next_port + k) % n;
                for _ in 0..BATCH.min(budget) {
                    let Some(frame) = self.ports[i].take_frame() else {
                        break;
                    };
                    budget -= 1;
                    progressed = true;
                    let id = self.ports[i].id;
                    self.switch(id, &frame, now);
                }
            }
            if n > 0 {
                self.next_port = (self.next_port + 1) % n;
            }
            self.stack.poll(now);
            while let Some(frame) = self.stack.take_tx() {
                progressed = true;
                self.switch(self.local, &frame, now);
            }
            moved |= progressed;
            if !progressed {
                break;
            }
        }
        self.cut_short = budget == 0;
        self.notices.extend(self.stack.take_notices());
        moved
    }

    /// Whether the last [`poll`](Self::poll) stopped at its budget: frames may be waiting,
    /// so the caller should poll again soon (after letting others run) instead of sleeping.
    pub fn busy(&self) -> bool {
        self.cut_short
    }

    /// One frame from port `ingress` to wherever the bridge sends it.
    fn switch(&mut self, ingress: PortId, frame: &[u8], now: u64) {
        let egress = self.bridge.forward(ingress, frame, now);
        for &to in egress.ports() {
            let taken = if to == self.local {
                self.stack.receive(frame)
            } else {
                self.ports
                    .iter_mut()
                    .find(|p| p.id == to)
                    .is_some_and(|p| p.deliver(frame))
            };
            if !taken {
                self.bridge.count_tx_drop(to);
            }
        }
    }

    /// The latest time [`poll`](Self::poll) should run again, if the stack has a timer (at
    /// once, `now_ns`, if the last poll was cut short: see [`busy`](Self::busy)).
    pub fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        let now = now_ns.max(self.now_ns);
        if self.cut_short {
            return Some(now);
        }
        self.stack.poll_at(now).map(|t| t.max(now))
    }

    /// dom0's MAC on `xenbr0`.
    pub fn mac(&self) -> Mac {
        self.stack.mac()
    }

    /// How dom0's address is obtained.
    pub fn addressing(&self) -> Addressing {
        self.stack.addressing()
    }

    /// dom0's (address, prefix, gateway) on `xenbr0`, once it has one.
    pub fn address(&self) -> Option<([u8; 4], u8, Option<[u8; 4]>)> {
        self.stack.address()
    }

    /// What happened since the last call, one line each, e.g.
    /// `(net) xenbr0: 10.0.2.15/24 by DHCP, gateway 10.0.2.2`.
    pub fn take_notices(&mut self) -> Vec<String> {
        self.notices.extend(self.stack.take_notices());
        core::mem::take(&mut self.notices)
    }

    /// Sends ping's echo request `seq` to `dst` (it leaves at the next poll, and its reply
    /// shows in [`ping_replies`](Self::ping_replies)); an error says why it cannot be sent
    /// (no address yet, not a unicast address, too many queued).
    pub fn ping_send(&mut self, dst: [u8; 4], seq: u16, now_ns: u64) -> Result<(), String> {
        self.stack.ping_send(dst, seq, now_ns.max(self.now_ns))
    }

    /// The replies to [`ping_send`](Self::ping_send)'s requests received since the last
    /// call.
    pub fn ping_replies(&mut self) -> Vec<PingReply> {
        self.stack.ping_replies()
    }

    /// Forgets echo requests in flight and replies not taken: a new ping starts clean.
    pub fn ping_reset(&mut self) {
        self.stack.ping_reset();
    }

    /// The bridge's ports, dom0's own first.
    pub fn ports(&self) -> Vec<PortInfo> {
        self.bridge
            .ports()
            .map(|(id, name)| {
                let (kind, mac) = if id == self.local {
                    (PortKind::Local, self.stack.mac())
                } else {
                    match self.ports.iter().find(|p| p.id == id).map(|p| &p.device) {
                        Some(Device::Nic(n)) => (PortKind::Nic, n.mac()),
                        Some(Device::Vif(v)) => (PortKind::Vif, v.mac),
                        None => (PortKind::Nic, [0; 6]),
                    }
                };
                PortInfo {
                    id,
                    name: String::from(name),
                    kind,
                    mac,
                    counters: self.bridge.port_counters(id).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The name of port `id`.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.bridge
            .ports()
            .find(|&(p, _)| p == id)
            .map(|(_, name)| name)
    }

    /// The bridge's forwarding table at `now_ns` (`brctl showmacs`).
    pub fn fdb(&self, now_ns: u64) -> Vec<FdbEntry> {
        self.bridge.fdb(now_ns.max(self.now_ns))
    }

    /// What the bridge dropped or did not learn, by cause.
    pub fn bridge_counters(&self) -> BridgeCounters {
        self.bridge.counters()
    }

    /// What dom0's own interface dropped (its queues were full).
    pub fn stack_counters(&self) -> StackCounters {
        self.stack.counters()
    }

    /// Test hook: dom0's stack (e.g. to open a TCP client on it).
    #[cfg(test)]
    pub(crate) fn stack_mut(&mut self) -> &mut stack::Stack {
        &mut self.stack
    }
}
