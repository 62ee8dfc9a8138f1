//! Sets of physical CPUs: [`CpuMap`] (a bitmap, as the hypervisor's `xenctl_bitmap` carries
//! it) and [`CpuList`], the CPU list syntax of xl.cfg's `cpus`/`cpus_soft` and of `xl
//! vcpu-pin`: comma-separated items, each a CPU (`5`), a range (`0-3`) or `all`, applied in
//! order; a `^` before a CPU or range takes it out again (`"0-3,5,^1"` is 0, 2, 3 and 5;
//! `"all,^7"` every CPU but 7). xl's NUMA forms (`node:`, `nodes:`) are refused: this
//! hypervisor reports no NUMA topology.
//!
//! A list is parsed without knowing the host; [`CpuList::for_host`] then makes it the map of
//! a host with `nr` CPUs (`all` meaning each of them), refusing CPUs the host does not have.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The most physical CPUs a map holds (CPU numbers 0 to `MAX_CPUS - 1`).
pub const MAX_CPUS: u32 = 256;

const WORDS: usize = (MAX_CPUS / 64) as usize;

/// A set of physical CPUs `0..MAX_CPUS`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CpuMap([u64; WORDS]);

impl CpuMap {
    /// No CPU.
    pub const fn empty() -> CpuMap {
        CpuMap([0; WORDS])
    }

    /// CPUs `0..n` (`n` at most [`MAX_CPUS`]).
    pub fn first(n: u32) -> CpuMap {
        let mut m = CpuMap::empty();
        m.insert_range(0, n.min(MAX_CPUS));
        m
    }

    /// CPU `cpu` alone.
    pub fn single(cpu: u32) -> CpuMap {
        let mut m = CpuMap::empty();
        m.insert(cpu);
        m
    }

    /// Adds `cpu` (ignored at or beyond [`MAX_CPUS`]).
    pub fn insert(&mut self, cpu: u32) {
        if cpu < MAX_CPUS {
            self.0[(cpu / 64) as usize] |= 1 << (cpu % 64);
        }
    }

    /// Takes `cpu` out.
    pub fn remove(&mut self, cpu: u32) {
        if cpu < MAX_CPUS {
            self.0[(cpu / 64) as usize] &= !(1 << (cpu % 64));
        }
    }

    /// Adds CPUs `lo..hi`.
    fn insert_range(&mut self, lo: u32, hi: u32) {
        for c in lo..hi.min(MAX_CPUS) {
            self.insert(c);
        }
    }

    pub fn contains(&self, cpu: u32) -> bool {
        cpu < MAX_CPUS && self.0[(cpu / 64) as usize] & (1 << (cpu % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// How many CPUs it holds.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }

    /// The CPUs in both.
    pub fn and(&self, other: &CpuMap) -> CpuMap {
        let mut m = *self;
        for (a, b) in m.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        m
    }

    /// The CPUs of `self` not in `other`.
    pub fn minus(&self, other: &CpuMap) -> CpuMap {
        let mut m = *self;
        for (a, b) in m.0.iter_mut().zip(other.0.iter()) {
            *a &= !b;
        }
        m
    }

    /// Whether every CPU of `other` is in `self`.
    pub fn contains_all(&self, other: &CpuMap) -> bool {
        other.minus(self).is_empty()
    }

    /// The CPUs, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..MAX_CPUS).filter(|&c| self.contains(c))
    }

    /// The lowest CPU, if any.
    pub fn first_cpu(&self) -> Option<u32> {
        self.iter().next()
    }

    /// The highest CPU, if any.
    pub fn last_cpu(&self) -> Option<u32> {
        (0..MAX_CPUS).rev().find(|&c| self.contains(c))
    }

    /// The map as `xenctl_bitmap` bytes for a host of `nr_cpus` CPUs: bit `c % 8` of byte
    /// `c / 8` is CPU `c`, in `nr_cpus.div_ceil(8)` bytes (at least one).
    pub fn to_bytes(&self, nr_cpus: u32) -> Vec<u8> {
        let len = nr_cpus.clamp(1, MAX_CPUS).div_ceil(8) as usize;
        let mut b = alloc::vec![0u8; len];
        for c in self.iter() {
            if let Some(byte) = b.get_mut((c / 8) as usize) {
                *byte |= 1 << (c % 8);
            }
        }
        b
    }

    /// The map `xenctl_bitmap` bytes hold (bits beyond [`MAX_CPUS`] ignored).
    pub fn from_bytes(b: &[u8]) -> CpuMap {
        let mut m = CpuMap::empty();
        for (i, byte) in b.iter().enumerate().take((MAX_CPUS / 8) as usize) {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    m.insert(i as u32 * 8 + bit);
                }
            }
        }
        m
    }

    /// As xl shows an affinity on a host of `nr_cpus` CPUs: `all` when it holds every one
    /// of them, else its CPUs as ranges (`0-3,5`), `none` when it holds none of them.
    pub fn show(&self, nr_cpus: u32) -> String {
        let host = CpuMap::first(nr_cpus);
        if nr_cpus > 0 && self.contains_all(&host) {
            return String::from("all");
        }
        let m = self.and(&host);
        if m.is_empty() {
            return String::from("none");
        }
        format!("{m}")
    }
}

/// The CPUs as ranges: `0-3,5,7-8` (nothing for an empty map).
impl fmt::Display for CpuMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut c = 0;
        while c < MAX_CPUS {
            if !self.contains(c) {
                c += 1;
                continue;
            }
            let start = c;
            while c + 1 < MAX_CPUS && self.contains(c + 1) {
                c += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == c {
                write!(f, "{c}")?;
            } else {
                write!(f, "{start}-{c}")?;
            }
            c += 1;
        }
        Ok(())
    }
}

impl fmt::Debug for CpuMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuMap({self})")
    }
}

/// A CPU list as written (`"0-3,^1"`, `"all"`), parsed but not yet tied to a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList {
    /// The text, trimmed (for messages).
    text: String,
    /// The CPUs it selects, `all` being every CPU up to [`MAX_CPUS`].
    map: CpuMap,
    /// Every CPU an item added by number (not through `all`): each must exist on the host.
    named: CpuMap,
}

impl CpuList {
    /// Parses xl's CPU list syntax; the error says what is wrong with which item.
    pub fn parse(text: &str) -> Result<CpuList, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(String::from(
                "empty CPU list (write CPUs, ranges or \"all\", e.g. \"0-3,5\")",
            ));
        }
        let mut map = CpuMap::empty();
        let mut named = CpuMap::empty();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("empty item in CPU list \"{text}\""));
            }
            if item.starts_with("node") {
                return Err(format!(
                    "\"{item}\": NUMA node lists (node:, nodes:) are not supported (the host \
                     reports no NUMA topology); name CPUs instead"
                ));
            }
            let (remove, body) = match item.strip_prefix('^') {
                Some(b) => (true, b.trim()),
                None => (false, item),
            };
            if body == "all" {
                if remove {
                    return Err(format!(
                        "\"{item}\": \"all\" cannot be taken out (write CPUs or ranges after ^)"
                    ));
                }
                map = CpuMap::first(MAX_CPUS);
                continue;
            }
            let (lo, hi) = match body.split_once('-') {
                Some((a, b)) => (cpu_number(item, a)?, cpu_number(item, b)?),
                None => {
                    let c = cpu_number(item, body)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(format!(
                    "\"{item}\": range {lo}-{hi} is backwards (write {hi}-{lo})"
                ));
            }
            for c in lo..=hi {
                if remove {
                    map.remove(c);
                } else {
                    map.insert(c);
                    named.insert(c);
                }
            }
        }
        if map.is_empty() {
            return Err(format!(
                "CPU list \"{text}\" selects no CPU (a list starts empty: \"all,^1\" is every \
                 CPU but 1)"
            ));
        }
        Ok(CpuList {
            text: String::from(text),
            map,
            named,
        })
    }

    /// The list as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The CPUs it selects of a host with CPUs `0..nr_cpus`; an error names a CPU the host
    /// does not have, or says that none of the host's is left.
    pub fn for_host(&self, nr_cpus: u32) -> Result<CpuMap, String> {
        let host = CpuMap::first(nr_cpus);
        if let Some(c) = self.named.minus(&host).first_cpu() {
            return Err(format!(
                "CPU list \"{}\": CPU {c} does not exist (the host has CPUs {})",
                self.text,
                host.show_ranges()
            ));
        }
        let m = self.map.and(&host);
        if m.is_empty() {
            return Err(format!(
                "CPU list \"{}\" selects none of the host's CPUs ({})",
                self.text,
                host.show_ranges()
            ));
        }
        Ok(m)
    }
}

impl CpuMap {
    /// Its ranges, `none` when empty (for messages).
    fn show_ranges(&self) -> String {
        if self.is_empty() {
            String::from("none")
        } else {
            format!("{self}")
        }
    }
}

/// A CPU number of item `item`: decimal digits, below [`MAX_CPUS`].
fn cpu_number(item: &str, s: &str) -> Result<u32, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "\"{item}\" is not a CPU, a range of CPUs or \"all\" (e.g. 3, 0-3, ^1, all)"
        ));
    }
    match s.parse::<u32>() {
        Ok(c) if c < MAX_CPUS => Ok(c),
        _ => Err(format!(
            "\"{item}\": CPU {s} is out of range (CPUs are numbered 0 to {})",
            MAX_CPUS - 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(s: &str) -> Vec<u32> {
        CpuList::parse(s).unwrap().map.iter().collect()
    }

    #[test]
    fn lists_as_xl_cfg_writes_them() {
        assert_eq!(cpus("0-3,5,^1"), [0, 2, 3, 5]);
        assert_eq!(cpus("3"), [3]);
        assert_eq!(cpus(" 1 , 3 "), [1, 3]);
        assert_eq!(cpus("0-1,^0-1,4"), [4]);
        // In order: a CPU taken out may come back.
        assert_eq!(cpus("0-3,^1,1"), [0, 1, 2, 3]);
        assert_eq!(cpus("all").len(), MAX_CPUS as usize);
        let all_but_7: Vec<u32> = (0..MAX_CPUS).filter(|&c| c != 7).collect();
        assert_eq!(cpus("all,^7"), all_but_7);
        assert_eq!(cpus("255"), [255]);
    }

    #[test]
    fn bad_lists_are_refused_saying_why() {
        for (s, want) in [
            ("", "empty CPU list"),
            ("  ", "empty CPU list"),
            ("1,,2", "empty item in CPU list \"1,,2\""),
            ("1,", "empty item"),
            ("x", "\"x\" is not a CPU, a range of CPUs or \"all\""),
            ("1-", "\"1-\" is not a CPU"),
            ("-1", "\"-1\" is not a CPU"),
            ("+1", "\"+1\" is not a CPU"),
            ("1-2-3", "\"1-2-3\" is not a CPU"),
            ("0x1", "\"0x1\" is not a CPU"),
            ("3-1", "\"3-1\": range 3-1 is backwards (write 1-3)"),
            (
                "256",
                "\"256\": CPU 256 is out of range (CPUs are numbered 0 to 255)",
            ),
            ("0-99999999999", "CPU 99999999999 is out of range"),
            ("^1", "CPU list \"^1\" selects no CPU"),
            ("all,^0-255", "selects no CPU"),
            ("^all", "\"^all\": \"all\" cannot be taken out"),
            (
                "nodes:0",
                "NUMA node lists (node:, nodes:) are not supported",
            ),
            ("node:1,2", "NUMA node lists"),
        ] {
            let e = CpuList::parse(s).expect_err(s);
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }

    #[test]
    fn for_host_resolves_all_and_refuses_missing_cpus() {
        let l = CpuList::parse("all").unwrap();
        assert_eq!(l.for_host(4).unwrap(), CpuMap::first(4));
        let l = CpuList::parse("all,^2").unwrap();
        assert_eq!(l.for_host(4).unwrap().iter().collect::<Vec<_>>(), [0, 1, 3]);
        // Taking out a CPU the host lacks is harmless; naming one is not.
        let l = CpuList::parse("0-1,^9").unwrap();
        assert_eq!(l.for_host(4).unwrap().iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            CpuList::parse("2-5").unwrap().for_host(4),
            Err(String::from(
                "CPU list \"2-5\": CPU 4 does not exist (the host has CPUs 0-3)"
            ))
        );
        assert_eq!(
            CpuList::parse("all,^0").unwrap().for_host(1),
            Err(String::from(
                "CPU list \"all,^0\" selects none of the host's CPUs (0)"
            ))
        );
    }

    #[test]
    fn maps_show_as_xl_shows_affinities() {
        let m = |s: &str| CpuList::parse(s).unwrap().map;
        assert_eq!(m("0-3").show(4), "all");
        assert_eq!(m("all").show(8), "all");
        assert_eq!(m("0-3").show(8), "0-3");
        assert_eq!(m("1,3").show(8), "1,3");
        assert_eq!(m("0-1,3,5-7").show(16), "0-1,3,5-7");
        // Only the host's CPUs count.
        assert_eq!(m("2,9").show(4), "2");
        assert_eq!(m("9").show(4), "none");
        assert_eq!(format!("{}", CpuMap::empty()), "");
        assert_eq!(format!("{}", m("255")), "255");
        assert_eq!(format!("{}", m("254-255")), "254-255");
    }

    #[test]
    fn bytes_as_the_hypervisor_reads_them() {
        let m = CpuList::parse("0,2,9").unwrap().map;
        assert_eq!(m.to_bytes(16), [0b101, 0b10]);
        // One byte at least, the size following the host's CPUs.
        assert_eq!(CpuMap::single(0).to_bytes(1), [1]);
        assert_eq!(CpuMap::single(0).to_bytes(0), [1]);
        assert_eq!(m.to_bytes(9), [0b101, 0b10]);
        assert_eq!(m.to_bytes(8), [0b101], "CPUs beyond the host are not sent");
        assert_eq!(CpuMap::from_bytes(&[0b101, 0b10]), m);
        assert_eq!(CpuMap::from_bytes(&[0xFF; 40]), CpuMap::first(MAX_CPUS));
        assert_eq!(CpuMap::first(300).count(), MAX_CPUS);
        assert_eq!(CpuMap::first(3).last_cpu(), Some(2));
    }
}
