//! Xen's vif specification: one item of xl.cfg's `vif = [...]`, or the words of `xl
//! network-attach <domain> <vif-spec>...`, parsed by the rules of Xen's
//! xl-network-configuration(5).
//!
//! A spec is comma-separated `key=value` parameters (whitespace around each is ignored; an
//! empty spec is a vif with every default). What each key does here:
//!
//! - `mac=` the guest's address, six hex bytes separated by `:` (or `-`). A group
//!   (multicast) or all-zero address is refused: the bridge drops frames from one. Without
//!   it, [`default_mac`] gives one in Xen's `00:16:3e` range, from the domain and device ids.
//! - `bridge=` only `xenbr0` exists (dom0's one bridge); another name is refused naming it.
//! - `rate=` Xen's `RATE/s[@INTERVAL]`: RATE a number with an optional `K`, `M`, `G`
//!   (decimal, as libxl) and `B` (bytes) or `b` (bits), then `/s`; INTERVAL a number with `s`,
//!   `ms` or `us` (default 50 ms). The vif may send `RATE × INTERVAL` bytes per interval
//!   ([`Rate`]; netback's credit scheduler holds it there).
//! - `devid=` the device number (default: the spec's place in the list, or the first free one).
//! - `vifname=` the bridge port's name (default `vif<domid>.<devid>`).
//! - `type=vif` accepted; `type=ioemu` (an emulated NIC) refused: this dom0 runs PV guests.
//! - `model=` accepted and ignored with a note, as xl ignores it for PV guests (it names the
//!   NIC an HVM guest's device model emulates).
//! - `ip=` accepted and written to the back end's `ip` node as libxl does, with a note that
//!   nothing enforces it (Xen's `vif-route`/antispoofing scripts do; there are none here).
//! - `script=` only `vif-bridge` (what is done anyway: the vif goes on the bridge); another
//!   hotplug script is refused.
//! - `backend=` only dom0 (`0` or `Domain-0`).
//! - `mtu=` only 1500 (the bridge carries 1514-byte frames).
//! - `gatewaydev=`, `forwarddev=`, `netdev=`, `accel=`, `trusted`, `untrusted` and the COLO
//!   keys are refused as unsupported; any other key is refused as unknown. Each key may be
//!   given once.
//!
//! A spec is at most [`MAX_VIF_SPEC_BYTES`]. Errors are a [`VifSpecError`]:
//! `vif spec "<spec>": <reason>`.
//!
//! ```
//! use dom0_tools::config::vif::VifSpec;
//! let v = VifSpec::parse("mac=00:16:3e:01:02:03,bridge=xenbr0,rate=10Mb/s").unwrap();
//! assert_eq!(v.mac, Some([0x00, 0x16, 0x3e, 1, 2, 3]));
//! let r = v.rate.unwrap();
//! assert_eq!((r.bytes_per_interval, r.interval_us), (62_500, 50_000));
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// An Ethernet address.
pub type Mac = [u8; 6];

/// The only bridge.
pub const BRIDGE: &str = "xenbr0";
/// The longest vif spec accepted, in bytes.
pub const MAX_VIF_SPEC_BYTES: usize = 1024;
/// Xen's default rate interval: 50 ms.
pub const DEFAULT_INTERVAL_US: u32 = 50_000;
/// Xen's OUI for guests' addresses.
pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];
/// The longest bridge port name (Linux's IFNAMSIZ less its NUL).
pub const MAX_VIFNAME: usize = 15;
/// The largest device id (libxl's devids are ints; keep them small and printable).
pub const MAX_DEVID: u32 = 0xFFFF;

/// A vif's rate limit: at most `bytes_per_interval` bytes sent per `interval_us`
/// microseconds (the back end's `rate` node, `"<bytes>,<usecs>"`, as libxl writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub bytes_per_interval: u64,
    pub interval_us: u32,
}

/// One parsed vif.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VifSpec {
    /// `mac=`; `None`: [`default_mac`].
    pub mac: Option<Mac>,
    /// Always [`BRIDGE`].
    pub bridge: String,
    pub rate: Option<Rate>,
    /// `devid=`; `None`: the next free one.
    pub devid: Option<u32>,
    /// `vifname=`: the bridge port's name.
    pub vifname: Option<String>,
    /// `ip=`, written for the record only.
    pub ip: Option<String>,
    /// What was accepted but has no effect here, one sentence each.
    pub notes: Vec<String>,
}

/// A rejected vif spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifSpecError {
    /// The spec as given (the words of `xl network-attach` joined by spaces).
    pub spec: String,
    pub reason: String,
}

impl fmt::Display for VifSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vif spec {:?}: {}", self.spec, self.reason)
    }
}

fn spec_err(spec: &str, reason: String) -> VifSpecError {
    VifSpecError {
        spec: spec.to_string(),
        reason,
    }
}

/// A guest address in Xen's range for vif `devid` of domain `domid`: `00:16:3e` then the
/// domain id (15 bits) and the device id's low byte. Deterministic, unicast, never zero.
pub fn default_mac(domid: u16, devid: u32) -> Mac {
    [
        XEN_OUI[0],
        XEN_OUI[1],
        XEN_OUI[2],
        ((domid >> 8) & 0x7f) as u8,
        domid as u8,
        devid as u8,
    ]
}

/// `00:16:3e:01:02:03`.
pub fn fmt_mac(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Parses a MAC address: six hex bytes separated by `:` or `-`.
pub fn parse_mac(s: &str) -> Result<Mac, String> {
    let bad = || format!("mac={s}: not a MAC address (six hex bytes, e.g. 00:16:3e:01:02:03)");
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut n = 0;
    for part in s.split(sep) {
        if n == 6 || part.is_empty() || part.len() > 2 {
            return Err(bad());
        }
        mac[n] = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        n += 1;
    }
    if n != 6 {
        return Err(bad());
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "mac={s}: a group (multicast) address cannot be a guest's (the low bit of the \
             first byte is set)"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("mac={s}: the all-zero address cannot be a guest's"));
    }
    Ok(mac)
}

/// Parses Xen's `RATE/s[@INTERVAL]`.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let (rate, interval) = match s.split_once('@') {
        Some((r, i)) => (r, Some(i)),
        None => (s, None),
    };
    let units = "units B/s, KB/s, MB/s, GB/s (bytes) or b/s, Kb/s, Mb/s, Gb/s (bits)";
    let body = rate
        .strip_suffix("/s")
        .ok_or_else(|| format!("rate={s}: the rate must end in /s ({units})"))?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = body.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("rate={s}: the rate must start with a number ({units})"))?;
    let (scale, bits) = match unit {
        "B" => (1, false),
        "KB" => (1_000, false),
        "MB" => (1_000_000, false),
        "GB" => (1_000_000_000, false),
        "b" => (1, true),
        "Kb" => (1_000, true),
        "Mb" => (1_000_000, true),
        "Gb" => (1_000_000_000, true),
        _ => return Err(format!("rate={s}: unknown unit {unit:?}/s ({units})")),
    };
    let too_big = || format!("rate={s}: too large");
    let mut bytes_per_sec = n.checked_mul(scale).ok_or_else(too_big)?;
    if bits {
        bytes_per_sec /= 8;
    }
    if bytes_per_sec == 0 {
        return Err(format!(
            "rate={s}: a rate of 0 bytes per second would never let the vif send"
        ));
    }
    let interval_us = match interval {
        None => DEFAULT_INTERVAL_US,
        Some(i) => parse_interval(s, i)?,
    };
    let bytes_per_interval = u128::from(bytes_per_sec) * u128::from(interval_us) / 1_000_000;
    let bytes_per_interval = u64::try_from(bytes_per_interval).map_err(|_| too_big())?;
    if bytes_per_interval == 0 {
        return Err(format!(
            "rate={s}: less than one byte per interval ({interval_us} us)"
        ));
    }
    Ok(Rate {
        bytes_per_interval,
        interval_us,
    })
}

fn parse_interval(s: &str, i: &str) -> Result<u32, String> {
    let digits = i.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = i.split_at(digits);
    let bad = || format!("rate={s}: interval {i:?} is not a number with s, ms or us");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let us = match unit {
        "s" => n.checked_mul(1_000_000),
        "ms" => n.checked_mul(1_000),
        "us" => Some(n),
        _ => return Err(bad()),
    };
    match us.and_then(|u| u32::try_from(u).ok()) {
        Some(0) => Err(format!("rate={s}: an interval of 0 is not one")),
        Some(u) => Ok(u),
        None => Err(format!("rate={s}: interval {i:?} is too long")),
    }
}

fn check_vifname(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > MAX_VIFNAME {
        return Err(format!(
            "vifname={v}: a name of 1 to {MAX_VIFNAME} characters is needed"
        ));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "vifname={v}: only letters, digits, '.', '-' and '_' may be used"
        ));
    }
    Ok(())
}

impl VifSpec {
    /// Parses one spec, an item of xl.cfg's `vif = [...]`.
    pub fn parse(spec: &str) -> Result<VifSpec, VifSpecError> {
        Self::parse_words(&[spec])
    }

    /// Parses `xl network-attach`'s words (each comma-separated parameters) as one spec.
    pub fn parse_words(words: &[&str]) -> Result<VifSpec, VifSpecError> {
        let shown = words.join(" ");
        if shown.len() > MAX_VIF_SPEC_BYTES {
            let mut cut = 40.min(shown.len());
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(spec_err(
                &format!("{}...", &shown[..cut]),
                format!(
                    "{} bytes, more than the {MAX_VIF_SPEC_BYTES} a vif spec may have",
                    shown.len()
                ),
            ));
        }
        let mut v = VifSpec {
            bridge: String::from(BRIDGE),
            ..Default::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for param in words.iter().flat_map(|w| w.split(',')) {
            let param = param.trim();
            if param.is_empty() {
                continue;
            }
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let (key, value) = (key.trim(), value.trim());
            if seen.contains(&key) {
                return Err(spec_err(&shown, format!("{key} given twice")));
            }
            seen.push(key);
            v.set(key, value).map_err(|r| spec_err(&shown, r))?;
        }
        Ok(v)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "mac" => self.mac = Some(parse_mac(value)?),
            "bridge" => {
                if value != BRIDGE {
                    return Err(format!(
                        "bridge={value}: no such bridge; dom0 has one bridge, {BRIDGE}"
                    ));
                }
            }
            "rate" => self.rate = Some(parse_rate(value)?),
            "devid" => {
                let n = value.parse::<u32>().ok().filter(|&n| n <= MAX_DEVID);
                self.devid = Some(n.ok_or_else(|| {
                    format!("devid={value}: a device number from 0 to {MAX_DEVID} is needed")
                })?);
            }
            "vifname" => {
                check_vifname(value)?;
                self.vifname = Some(String::from(value));
            }
            "type" => match value {
                "vif" => {}
                "ioemu" => {
                    return Err(String::from(
                        "type=ioemu: an emulated NIC is for HVM guests; this dom0 runs PV \
                         guests (type=vif)",
                    ))
                }
                _ => return Err(format!("type={value}: not vif or ioemu")),
            },
            "model" => self.notes.push(format!(
                "model={value} ignored: it names the NIC an HVM guest's device model \
                 emulates, and a PV guest uses its netfront"
            )),
            "ip" => {
                self.notes.push(format!(
                    "ip={value} recorded in the back end's ip node but not enforced (no \
                     vif-route or antispoofing script here)"
                ));
                self.ip = Some(String::from(value));
            }
            "script" => {
                let name = value.rsplit('/').next().unwrap_or(value);
                if name != "vif-bridge" {
                    return Err(format!(
                        "script={value}: there are no hotplug scripts here; a vif is always \
                         put on {BRIDGE}, as vif-bridge does"
                    ));
                }
            }
            "backend" => {
                if !matches!(value, "0" | "Domain-0") {
                    return Err(format!(
                        "backend={value}: the network back end runs in dom0 only"
                    ));
                }
            }
            "mtu" => {
                if value != "1500" {
                    return Err(format!(
                        "mtu={value}: only 1500 is supported (the bridge carries 1514-byte \
                         frames)"
                    ));
                }
            }
            "gatewaydev" | "forwarddev" | "netdev" | "accel" | "trusted" | "untrusted" => {
                return Err(format!("{key}: not supported by this dom0"));
            }
            k if k == "colo" || k.starts_with("colo_") => {
                return Err(format!("{key}: COLO is not supported by this dom0"));
            }
            _ => return Err(format!("unknown parameter {key:?}")),
        }
        Ok(())
    }
}

/// One domain's vifs as they will be served: each spec with its device id (given, or the
/// first not yet used) and MAC (given, or [`default_mac`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vif {
    pub devid: u32,
    pub mac: Mac,
    pub spec: VifSpec,
}

/// Resolves `spec` for domain `domid` beside the vifs it already has (`taken`): its devid
/// and MAC, each refused if another vif of the domain has it.
pub fn resolve(
    domid: u16,
    spec: VifSpec,
    taken: &[(u32, Mac)],
    shown: &str,
) -> Result<Vif, VifSpecError> {
    let devid = match spec.devid {
        Some(d) => {
            if taken.iter().any(|t| t.0 == d) {
                return Err(spec_err(
                    shown,
                    format!("devid={d}: the domain already has vif {d}"),
                ));
            }
            d
        }
        None => (0..=MAX_DEVID)
            .find(|d| taken.iter().all(|t| t.0 != *d))
            .ok_or_else(|| spec_err(shown, String::from("no free device number")))?,
    };
    let mac = spec.mac.unwrap_or_else(|| default_mac(domid, devid));
    if let Some(t) = taken.iter().find(|t| t.1 == mac) {
        return Err(spec_err(
            shown,
            format!("mac={}: vif {} of the domain has it", fmt_mac(&mac), t.0),
        ));
    }
    Ok(Vif { devid, mac, spec })
}

/// Parses and resolves a domain's `vif = [...]` list, in order (the n-th spec without
/// `devid=` gets the first free number, 0 for the first).
pub fn parse_vif_list<S: AsRef<str>>(domid: u16, specs: &[S]) -> Result<Vec<Vif>, VifSpecError> {
    let mut out: Vec<Vif> = Vec::with_capacity(specs.len());
    for s in specs {
        let s = s.as_ref();
        let spec = VifSpec::parse(s)?;
        let taken: Vec<(u32, Mac)> = out.iter().map(|v| (v.devid, v.mac)).collect();
        out.push(resolve(domid, spec, &taken, s)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> String {
        VifSpec::parse(s).unwrap_err().reason
    }

    #[test]
    fn the_keys_xl_documents() {
        let v = VifSpec::parse(" mac=00:16:3E:0a:0b:0c , bridge=xenbr0,rate=10MB/s@20ms,devid=3")
            .unwrap();
        assert_eq!(v.mac, Some([0, 0x16, 0x3e, 10, 11, 12]));
        assert_eq!(v.bridge, "xenbr0");
        assert_eq!(
            v.rate,
            Some(Rate {
                bytes_per_interval: 200_000,
                interval_us: 20_000
            })
        );
        assert_eq!(v.devid, Some(3));
        let e = VifSpec::parse("").unwrap();
        assert_eq!((e.mac, e.rate, e.devid), (None, None, None));
        let v =
            VifSpec::parse("type=vif,model=e1000,ip=10.0.0.2,script=vif-bridge,backend=0").unwrap();
        assert_eq!(v.ip.as_deref(), Some("10.0.0.2"));
        assert_eq!(v.notes.len(), 2, "{:?}", v.notes);
        assert!(v.notes[0].contains("model=e1000 ignored"));
        let v = VifSpec::parse_words(&["mac=00:16:3e:00:00:01", "vifname=web0,mtu=1500"]).unwrap();
        assert_eq!(v.vifname.as_deref(), Some("web0"));
        assert_eq!(v.mac, Some([0, 0x16, 0x3e, 0, 0, 1]));
        assert_eq!(
            VifSpec::parse("mac=00-16-3e-00-00-02").unwrap().mac,
            Some([0, 0x16, 0x3e, 0, 0, 2])
        );
    }

    #[test]
    fn rates_in_xens_syntax() {
        let r = |s: &str| parse_rate(s).map(|r| (r.bytes_per_interval, r.interval_us));
        assert_eq!(r("10Mb/s"), Ok((62_500, 50_000)));
        assert_eq!(r("1GB/s@1s"), Ok((1_000_000_000, 1_000_000)));
        assert_eq!(r("8000b/s@100ms"), Ok((100, 100_000)));
        assert_eq!(r("5KB/s@250us"), Ok((1, 250)));
        assert_eq!(r("100B/s"), Ok((5, 50_000)));
        for bad in [
            "10Mb",
            "Mb/s",
            "10Xb/s",
            "10mb/s",
            "0Mb/s",
            "7b/s",
            "1B/s@1us",
            "10Mb/s@",
            "10Mb/s@5",
            "10Mb/s@0ms",
            "10Mb/s@5h",
            "99999999999999999999GB/s",
            "10Mb/s@99999999s",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(reason("rate=10Qb/s").contains("unknown unit"));
    }

    #[test]
    fn refusals_name_what_was_wrong() {
        assert!(reason("bridge=br1").contains("bridge=br1: no such bridge"));
        assert!(reason("color=red").contains("unknown parameter \"color\""));
        assert!(reason("mac=01:16:3e:00:00:01").contains("group (multicast)"));
        assert!(reason("mac=00:00:00:00:00:00").contains("all-zero"));
        assert!(reason("mac=00:16:3e:00:00").contains("not a MAC address"));
        assert!(reason("mac=00:16:3e:00:00:01:02").contains("not a MAC address"));
        assert!(reason("mac=00:16:3e:00:00:zz").contains("not a MAC address"));
        assert!(reason("type=ioemu").contains("HVM"));
        assert!(reason("script=vif-route").contains("no hotplug scripts"));
        assert!(reason("backend=3").contains("dom0 only"));
        assert!(reason("mtu=9000").contains("only 1500"));
        assert!(reason("gatewaydev=eth0").contains("not supported"));
        assert!(reason("colo_server_ip=1").contains("COLO"));
        assert!(reason("mac=00:16:3e:00:00:01,mac=00:16:3e:00:00:02").contains("given twice"));
        assert!(reason("devid=x").contains("devid=x"));
        assert!(reason("vifname=way-too-long-a-name").contains("1 to 15"));
        assert!(reason("vifname=a/b").contains("only letters"));
        let e = VifSpec::parse("bridge=br1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "vif spec \"bridge=br1\": bridge=br1: no such bridge; dom0 has one bridge, xenbr0"
        );
        let long = "mac=".to_string() + &"0".repeat(2000);
        assert!(reason(&long).contains("more than"));
    }

    #[test]
    fn default_macs_are_xens_unicast_and_distinct() {
        let a = default_mac(1, 0);
        assert_eq!(&a[..3], &XEN_OUI);
        assert_eq!(a[0] & 1, 0);
        assert_ne!(default_mac(1, 0), default_mac(1, 1));
        assert_ne!(default_mac(1, 0), default_mac(2, 0));
        assert_eq!(default_mac(0xffff, 0xff)[3] & 0x80, 0);
        let list = parse_vif_list(5, &["", "mac=00:16:3e:99:99:99", "devid=7", ""]).unwrap();
        let ids: Vec<u32> = list.iter().map(|v| v.devid).collect();
        assert_eq!(ids, [0, 1, 7, 2]);
        assert_eq!(list[0].mac, default_mac(5, 0));
        assert_eq!(list[1].mac, [0, 0x16, 0x3e, 0x99, 0x99, 0x99]);
        let e = parse_vif_list(5, &["devid=1", "devid=1"]).unwrap_err();
        assert!(e.reason.contains("already has vif 1"), "{e}");
        let e = parse_vif_list(5, &["mac=00:16:3e:00:00:01", "mac=00:16:3e:00:00:01"]).unwrap_err();
        assert!(e.reason.contains("vif 0 of the domain has it"), "{e}");
        assert_eq!(fmt_mac(&list[1].mac), "00:16:3e:99:99:99");
    }
}
