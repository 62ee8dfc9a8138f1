//! The XenStore side of the block protocol (pure, host-tested): what the back end offers
//! at `InitWait` (`max-ring-page-order`, `feature-persistent`,
//! `feature-max-indirect-segments`), what we choose, the nodes we publish before
//! `Initialised` (`ring-ref` or `ring-page-order` + `ring-ref<i>`, `event-channel`,
//! `protocol`, `feature-persistent`), and the disk the back end describes at `Connected`
//! (`sectors`, `sector-size`, `info`, `feature-flush-cache`). Nodes and defaults as Xen's
//! `public/io/blkif.h` documents them.

use super::geometry::{indirect_segments, ring_order};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use guest_abi::io::blkif::{BLKIF_SECTOR_SIZE, VDISK_READONLY};
use guest_abi::types::GrantRef;

/// `XEN_IO_PROTO_ABI_X86_64`: the layout of our requests and responses.
pub const PROTOCOL: &str = "x86_64-abi";

/// A decimal node (surrounding whitespace ignored).
pub fn parse_num<T: core::str::FromStr>(v: &str) -> Option<T> {
    v.trim().parse().ok()
}

/// A boolean node: absent or unreadable is `false`, any non-zero number `true`.
pub fn parse_bool(v: Option<&str>) -> bool {
    v.and_then(parse_num::<u64>).is_some_and(|n| n != 0)
}

/// What the back end offers, read at its `InitWait`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offer {
    /// `max-ring-page-order`.
    pub max_ring_page_order: Option<u32>,
    /// `max-ring-pages` (deprecated, a power of two).
    pub max_ring_pages: Option<u32>,
    /// `feature-persistent`.
    pub persistent: bool,
    /// `feature-max-indirect-segments`.
    pub max_indirect_segments: Option<u32>,
}

impl Offer {
    /// Reads the offer through `get(node)` (the node's value under the back end's
    /// directory, `None` if absent).
    pub fn read(mut get: impl FnMut(&str) -> Option<String>) -> Offer {
        Offer {
            max_ring_page_order: get("max-ring-page-order").and_then(|v| parse_num(&v)),
            max_ring_pages: get("max-ring-pages").and_then(|v| parse_num(&v)),
            persistent: parse_bool(get("feature-persistent").as_deref()),
            max_indirect_segments: get("feature-max-indirect-segments").and_then(|v| parse_num(&v)),
        }
    }

    /// What we use: the ring order bounded by `max_order`, persistent grants if the back end
    /// keeps them too (ours are always kept), indirect segments bounded by `max_indirect`.
    pub fn negotiate(&self, max_order: u32, max_indirect: usize) -> Negotiated {
        Negotiated {
            ring_order: ring_order(self.max_ring_page_order, self.max_ring_pages, max_order),
            persistent: self.persistent,
            indirect_segments: indirect_segments(self.max_indirect_segments, max_indirect),
        }
    }
}

/// The transport parameters in effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Ring of 2^ring_order pages.
    pub ring_order: u32,
    /// Both ends keep grants mapped.
    pub persistent: bool,
    /// Segments an indirect request may carry (0: no indirect requests).
    pub indirect_segments: usize,
}

/// The nodes we publish (relative to our device directory) before `Initialised`: the ring's
/// grants (`ring-ref` for one page; `ring-page-order` and `ring-ref0..` for more), the event
/// channel, the ABI, and that we keep our grants persistent.
pub fn front_nodes(order: u32, ring_grefs: &[GrantRef], port: u32) -> Vec<(String, String)> {
    assert_eq!(ring_grefs.len(), 1 << order, "a gref per ring page");
    let mut v = Vec::new();
    if order == 0 {
        v.push(("ring-ref".to_string(), ring_grefs[0].0.to_string()));
    } else {
        v.push(("ring-page-order".to_string(), order.to_string()));
        for (i, g) in ring_grefs.iter().enumerate() {
            v.push((format!("ring-ref{i}"), g.0.to_string()));
        }
    }
    v.push(("event-channel".to_string(), port.to_string()));
    v.push(("protocol".to_string(), PROTOCOL.to_string()));
    v.push(("feature-persistent".to_string(), "1".to_string()));
    v
}

/// The disk, read at the back end's `Connected`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disk {
    /// Size in 512-byte sectors (`sectors`, in units of `sector-size`, which is 512 here).
    pub sectors: u64,
    /// `sector-size`.
    pub sector_size: u32,
    /// `info` (`VDISK_*`).
    pub info: u32,
    /// `feature-flush-cache`.
    pub flush: bool,
}

impl Disk {
    /// Reads the disk through `get`; `sectors` is required, `sector-size` must be 512 (we
    /// publish no `feature-large-sector-size`), `info` defaults to 0.
    pub fn read(mut get: impl FnMut(&str) -> Option<String>) -> Result<Disk, String> {
        let sectors = get("sectors").ok_or("no sectors node")?;
        let sectors: u64 =
            parse_num(&sectors).ok_or_else(|| format!("sectors {sectors:?} is not a number"))?;
        let sector_size = match get("sector-size") {
            None => BLKIF_SECTOR_SIZE as u32,
            Some(v) => parse_num(&v).ok_or_else(|| format!("sector-size {v:?} is not a number"))?,
        };
        if sector_size as usize != BLKIF_SECTOR_SIZE {
            return Err(format!(
                "sector-size {sector_size}: only 512 without feature-large-sector-size"
            ));
        }
        let info = match get("info") {
            None => 0,
            Some(v) => parse_num(&v).ok_or_else(|| format!("info {v:?} is not a number"))?,
        };
        Ok(Disk {
            sectors,
            sector_size,
            info,
            flush: parse_bool(get("feature-flush-cache").as_deref()),
        })
    }

    /// Whether the back end exports it read-only (`VDISK_READONLY`).
    pub fn readonly(&self) -> bool {
        self.info & VDISK_READONLY != 0
    }
}

/// Linux's name for a virtual block device number (Xen's `docs/misc/vbd-interface.txt`):
/// `xvd<letters><partition>`; `None` for an encoding we do not know.
pub fn vdev_name(devid: u32) -> Option<String> {
    let (disk, part) = if devid & (1 << 28) != 0 {
        ((devid >> 8) & 0xF_FFFF, devid & 0xFF)
    } else if devid >> 8 == 202 {
        ((devid >> 4) & 0xF, devid & 0xF)
    } else {
        return None;
    };
    // Disks 0..25 are a..z, then aa..zz (bijective base 26).
    let mut letters = Vec::new();
    let mut n = disk + 1;
    while n > 0 {
        n -= 1;
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
    }
    letters.reverse();
    let mut s = String::from("xvd");
    s.push_str(core::str::from_utf8(&letters).ok()?);
    if part != 0 {
        s.push_str(&part.to_string());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    fn store(kv: &[(&str, &str)]) -> impl FnMut(&str) -> Option<String> {
        let m: BTreeMap<String, String> = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn an_absent_offer_is_xen_s_defaults() {
        let o = Offer::read(store(&[]));
        assert_eq!(o, Offer::default());
        let n = o.negotiate(4, 256);
        assert_eq!(
            n,
            Negotiated {
                ring_order: 0,
                persistent: false,
                indirect_segments: 0
            }
        );
    }

    #[test]
    fn a_full_offer_is_bounded_by_ours() {
        let o = Offer::read(store(&[
            ("max-ring-page-order", "6"),
            ("feature-persistent", "1"),
            ("feature-max-indirect-segments", "4096"),
        ]));
        assert_eq!(o.max_ring_page_order, Some(6));
        assert_eq!(
            o.negotiate(4, 256),
            Negotiated {
                ring_order: 4,
                persistent: true,
                indirect_segments: 256
            }
        );
        assert_eq!(o.negotiate(0, 64).ring_order, 0);
        let o = Offer::read(store(&[
            ("max-ring-pages", "4"),
            ("feature-persistent", "0"),
        ]));
        assert_eq!(o.negotiate(4, 256).ring_order, 2);
        assert!(!o.persistent);
    }

    #[test]
    fn malformed_offers_fall_back_to_defaults() {
        let o = Offer::read(store(&[
            ("max-ring-page-order", "two"),
            ("feature-persistent", "yes"),
            ("feature-max-indirect-segments", "-5"),
        ]));
        assert_eq!(o, Offer::default());
    }

    #[test]
    fn one_ring_page_is_published_as_ring_ref() {
        let n = front_nodes(0, &[GrantRef(9)], 5);
        let want = [
            ("ring-ref", "9"),
            ("event-channel", "5"),
            ("protocol", "x86_64-abi"),
            ("feature-persistent", "1"),
        ];
        assert_eq!(n.len(), want.len());
        for ((k, v), (wk, wv)) in n.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
    }

    #[test]
    fn several_ring_pages_are_published_as_an_order_and_a_ref_each() {
        let g: Vec<GrantRef> = (20..24).map(GrantRef).collect();
        let n = front_nodes(2, &g, 7);
        let keys: Vec<&str> = n.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ring-page-order",
                "ring-ref0",
                "ring-ref1",
                "ring-ref2",
                "ring-ref3",
                "event-channel",
                "protocol",
                "feature-persistent"
            ]
        );
        assert_eq!(n[0].1, "2");
        assert_eq!(n[4].1, "23");
        assert!(!keys.contains(&"ring-ref"), "ring-ref is for one page only");
    }

    #[test]
    #[should_panic(expected = "a gref per ring page")]
    fn the_grefs_must_cover_the_ring() {
        front_nodes(1, &[GrantRef(1)], 1);
    }

    #[test]
    fn the_disk_is_read_with_its_defaults() {
        let d = Disk::read(store(&[("sectors", "16384")])).unwrap();
        assert_eq!(
            d,
            Disk {
                sectors: 16384,
                sector_size: 512,
                info: 0,
                flush: false
            }
        );
        let d = Disk::read(store(&[
            ("sectors", "100"),
            ("sector-size", "512"),
            ("info", "4"),
            ("feature-flush-cache", "1"),
        ]))
        .unwrap();
        assert!(d.readonly() && d.flush);
    }

    #[test]
    fn a_disk_we_cannot_use_is_refused_with_the_reason() {
        assert_eq!(Disk::read(store(&[])).unwrap_err(), "no sectors node");
        assert_eq!(
            Disk::read(store(&[("sectors", "x")])).unwrap_err(),
            "sectors \"x\" is not a number"
        );
        assert_eq!(
            Disk::read(store(&[("sectors", "8"), ("sector-size", "4096")])).unwrap_err(),
            "sector-size 4096: only 512 without feature-large-sector-size"
        );
    }

    #[test]
    fn device_numbers_are_named_as_linux_names_them() {
        assert_eq!(vdev_name(51712).as_deref(), Some("xvda"));
        assert_eq!(vdev_name(51713).as_deref(), Some("xvda1"));
        assert_eq!(vdev_name(51728).as_deref(), Some("xvdb"));
        assert_eq!(vdev_name((1 << 28) | (26 << 8)).as_deref(), Some("xvdaa"));
        assert_eq!(
            vdev_name((1 << 28) | (27 << 8) | 2).as_deref(),
            Some("xvdab2")
        );
        assert_eq!(vdev_name((1 << 28) | (4 << 8)).as_deref(), Some("xvde"));
        assert_eq!(vdev_name(768), None, "hda-style numbers are not xvd");
    }
}
