//! Host tests only: a machine's physical memory as dom0's `read_io` sees it, built from the
//! tables QEMU's microvm really has (`testdata/`): RAM is refused (`EPERM`) as the
//! hypervisor refuses it, I/O memory not given contents reads as zeros.

use crate::hv::Hypervisor;
use alloc::vec::Vec;
use core::ops::Range;
use guest_abi::errno::Errno;

/// The 832 bytes at 0xefcc0-0xeffff of microvm (DSDT, FADT, MADT, XSDT; see testdata/README).
pub const MICROVM_TABLES: &[u8] = include_bytes!("testdata/microvm-tables-0xefcc0.bin");
pub const MICROVM_TABLES_AT: u64 = 0xE_FCC0;
/// microvm's RSDP (36 bytes at 0xf34d0).
pub const MICROVM_RSDP: &[u8] = include_bytes!("testdata/microvm-rsdp-0xf34d0.bin");
pub const MICROVM_RSDP_AT: u64 = 0xF_34D0;
/// The DSDT within [`MICROVM_TABLES`] (its first table, 0x194 bytes).
pub const MICROVM_DSDT: Range<usize> = 0..0x194;
/// Offsets in [`MICROVM_TABLES`] of the XSDT and the FADT.
pub const MICROVM_XSDT: usize = 0x2F2;
pub const MICROVM_FADT: usize = 0x194;
/// Where [`Machine::microvm_with_dsdt`] puts a DSDT (I/O memory that reads as zeros on
/// microvm).
pub const OTHER_DSDT_AT: u64 = 0xE_0000;
/// The virtio-blk transport's registers.
pub const VIRTIO_BLK_AT: u64 = 0xFEB0_2E00;

/// A machine: memory contents by address, RAM ranges, and the reads made.
pub struct Machine {
    pub regions: Vec<(u64, Vec<u8>)>,
    pub ram: Vec<Range<u64>>,
    /// Every `read_io` (address, width).
    pub reads: Vec<(u64, u8)>,
}

impl Machine {
    /// Nothing but microvm's RAM (below 0x9fc00 and from 1 MiB on).
    pub fn empty() -> Machine {
        Machine {
            regions: Vec::new(),
            ram: alloc::vec![0..0x9_FC00, 0x10_0000..0x2000_0000],
            reads: Vec::new(),
        }
    }

    /// microvm as QEMU 7.2 builds it: its ACPI tables and the virtio-blk transport's
    /// registers (magic "virt", version 2, device ID 2, vendor "QEMU").
    pub fn microvm() -> Machine {
        let mut m = Machine::empty();
        m.put(MICROVM_TABLES_AT, MICROVM_TABLES);
        m.put(MICROVM_RSDP_AT, MICROVM_RSDP);
        m.put(VIRTIO_BLK_AT, &virtio_regs(2, 2));
        m
    }

    /// Puts `bytes` at `maddr` (over what was there).
    pub fn put(&mut self, maddr: u64, bytes: &[u8]) {
        self.regions.push((maddr, bytes.to_vec()));
    }

    /// A copy of microvm's tables with `f` applied to them (offsets in [`MICROVM_TABLES`]).
    pub fn microvm_with(f: impl FnOnce(&mut Vec<u8>)) -> Machine {
        let mut t = MICROVM_TABLES.to_vec();
        f(&mut t);
        let mut m = Machine::microvm();
        m.put(MICROVM_TABLES_AT, &t);
        m
    }

    /// microvm with `dsdt` (a whole table) at [`OTHER_DSDT_AT`] instead of its own, the
    /// FADT's `X_DSDT` (and, with `legacy_too`, `DSDT`) pointing at it.
    pub fn microvm_with_dsdt(dsdt: &[u8], legacy_too: bool) -> Machine {
        Machine::microvm_with_dsdt_at(OTHER_DSDT_AT, dsdt, legacy_too)
    }

    /// [`Machine::microvm_with_dsdt`] with the DSDT at `maddr`.
    pub fn microvm_with_dsdt_at(maddr: u64, dsdt: &[u8], legacy_too: bool) -> Machine {
        let mut m = Machine::microvm_with(|t| {
            let f = MICROVM_FADT;
            t[f + 140..f + 148].copy_from_slice(&maddr.to_le_bytes());
            if legacy_too {
                t[f + 40..f + 44].copy_from_slice(&(maddr as u32).to_le_bytes());
            }
            fix_checksum(t, f);
        });
        m.put(maddr, dsdt);
        m
    }

    fn byte(&self, a: u64) -> u8 {
        // The last region put at an address wins.
        self.regions
            .iter()
            .rev()
            .find_map(|(at, b)| {
                a.checked_sub(*at)
                    .and_then(|off| usize::try_from(off).ok())
                    .and_then(|off| b.get(off).copied())
            })
            .unwrap_or(0)
    }
}

/// The first 16 bytes of a virtio-mmio transport's registers.
pub fn virtio_regs(version: u32, device: u32) -> Vec<u8> {
    [0x7472_6976, version, device, 0x554D_4551]
        .iter()
        .flat_map(|v: &u32| v.to_le_bytes())
        .collect()
}

/// Fixes the checksum (byte 9) of the table at `at` in `bytes`.
pub fn fix_checksum(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
    let t = &mut bytes[at..at + len as usize];
    t[9] = 0;
    let s = t.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    t[9] = s.wrapping_neg();
}

impl Hypervisor for Machine {
    fn read_io(&mut self, maddr: u64, width: u8) -> Result<u64, Errno> {
        if !matches!(width, 1 | 2 | 4 | 8) || !maddr.is_multiple_of(u64::from(width)) {
            return Err(Errno::EINVAL);
        }
        if self.ram.iter().any(|r| r.contains(&maddr)) {
            return Err(Errno::EPERM);
        }
        self.reads.push((maddr, width));
        Ok((0..u64::from(width)).fold(0, |v, i| v | (u64::from(self.byte(maddr + i)) << (8 * i))))
    }

    crate::offline_hypervisor!();
}

/// Builds AML for tests (ACPI 6.5 chapter 20 encodings).
pub mod build {
    use alloc::vec::Vec;

    /// `op`, a PkgLength covering itself and `body`, then `body`.
    pub fn pkg(op: &[u8], body: &[u8]) -> Vec<u8> {
        let n = body.len();
        let mut v = op.to_vec();
        if n + 1 < 0x40 {
            v.push((n + 1) as u8);
        } else {
            let extra = (1..=3).find(|&e| n + 1 + e < 1 << (4 + 8 * e)).unwrap();
            let len = n + 1 + extra;
            v.push(((extra as u8) << 6) | (len & 0xF) as u8);
            for i in 0..extra {
                v.push((len >> (4 + 8 * i)) as u8);
            }
        }
        v.extend_from_slice(body);
        v
    }

    pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    pub fn scope(name: &[u8], body: &[u8]) -> Vec<u8> {
        pkg(&[0x10], &cat(&[name, body]))
    }

    pub fn device(name: &[u8], body: &[u8]) -> Vec<u8> {
        pkg(&[0x5B, 0x82], &cat(&[name, body]))
    }

    pub fn method(name: &[u8], body: &[u8]) -> Vec<u8> {
        pkg(&[0x14], &cat(&[name, &[0], body]))
    }

    pub fn name(name: &[u8], value: &[u8]) -> Vec<u8> {
        cat(&[&[0x08], name, value])
    }

    pub fn string(s: &str) -> Vec<u8> {
        cat(&[&[0x0D], s.as_bytes(), &[0]])
    }

    pub fn dword(v: u32) -> Vec<u8> {
        cat(&[&[0x0C], &v.to_le_bytes()])
    }

    pub fn buffer(bytes: &[u8]) -> Vec<u8> {
        let size = if bytes.len() < 0x100 {
            alloc::vec![0x0A, bytes.len() as u8]
        } else {
            cat(&[&[0x0B], &(bytes.len() as u16).to_le_bytes()])
        };
        pkg(&[0x11], &cat(&[&size, bytes]))
    }

    /// A resource template: Memory32Fixed(base, len), Interrupt(flags, gsi), end tag.
    pub fn virtio_crs(base: u32, len: u32, flags: u8, gsi: u32) -> Vec<u8> {
        cat(&[
            &[0x86, 9, 0, 1],
            &base.to_le_bytes(),
            &len.to_le_bytes(),
            &[0x89, 6, 0, flags, 1],
            &gsi.to_le_bytes(),
            &[0x79, 0],
        ])
    }

    /// A virtio-mmio transport as microvm declares it.
    pub fn virtio_device(seg: &[u8], uid: u8, base: u32, gsi: u32) -> Vec<u8> {
        device(
            seg,
            &cat(&[
                &name(b"_HID", &string("LNRO0005")),
                &name(b"_UID", &[0x0A, uid]),
                &name(b"_CCA", &[0x01]),
                &name(b"_CRS", &buffer(&virtio_crs(base, 0x200, 0x01, gsi))),
            ]),
        )
    }

    /// A definition block `sig` holding `aml`, its checksum right.
    pub fn table(sig: &[u8; 4], aml: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(sig);
        t.extend_from_slice(&((36 + aml.len()) as u32).to_le_bytes());
        t.extend_from_slice(&[2, 0]);
        t.extend_from_slice(b"TEST  TESTTABL");
        t.extend_from_slice(&[1, 0, 0, 0]);
        t.extend_from_slice(b"TEST");
        t.extend_from_slice(&[1, 0, 0, 0]);
        t.extend_from_slice(aml);
        super::fix_checksum(&mut t, 0);
        t
    }
}
