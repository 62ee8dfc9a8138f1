//! The rules an image must follow, shared by the reader (which refuses an image breaking
//! them) and the writer (which refuses to write one): which record may come when, which
//! may appear once, what END needs to have seen, and the checks of record contents that
//! depend on earlier records (pfns inside the p2m, vCPUs inside the domain).

use super::error::Rule;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::save_stream::*;

/// Bounds a reader (or writer) holds an image to, from the domain it restores into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Pfns the domain may have: every pfn in the image (and the p2m's end) is below it.
    pub max_pfns: u64,
    /// vCPUs the domain may have.
    pub max_vcpus: u32,
    /// The longest record body accepted (at most [`REC_LENGTH_MAX`]); a reader holds one
    /// record at a time, so this bounds its memory.
    pub max_record: u32,
    /// The longest configuration accepted in xl's header.
    pub max_config: u32,
}

/// Pages the writer's callers put in one PAGE_DATA record, as Xen's savers do (1024).
pub const PAGES_PER_RECORD: usize = 1024;

impl Limits {
    /// Limits for a domain of `max_pfns` pages and `max_vcpus` vCPUs; records up to 8 MiB
    /// (a full PAGE_DATA batch of [`PAGES_PER_RECORD`] pages is a little over 4 MiB),
    /// configurations up to 1 MiB.
    pub const fn new(max_pfns: u64, max_vcpus: u32) -> Limits {
        Limits {
            max_pfns,
            max_vcpus,
            max_record: 8 << 20,
            max_config: 1 << 20,
        }
    }
}

/// A body length that must be exactly `n`.
pub fn expect_len(length: u32, n: usize) -> Result<(), Rule> {
    if length as usize != n {
        return Err(Rule::Length {
            length,
            expected: format!("{n}"),
        });
    }
    Ok(())
}

/// Pfns described by one p2m frame of a 64-bit guest.
pub const P2M_PER_FRAME: u64 = (PAGE_SIZE_U64) / 8;
const PAGE_SIZE_U64: u64 = 4096;

/// The number of p2m frames X86_PV_P2M_FRAMES lists for pfns `start..=end`.
pub fn p2m_frame_count(start: u32, end: u32) -> u64 {
    u64::from(end) / P2M_PER_FRAME - u64::from(start) / P2M_PER_FRAME + 1
}

/// Bit of a vCPU record kind in [`LibxcRules`]' per-vCPU set.
fn vcpu_bit(rtype: u32) -> u8 {
    match rtype {
        REC_X86_PV_VCPU_BASIC => 1,
        REC_X86_PV_VCPU_EXTENDED => 2,
        REC_X86_PV_VCPU_XSAVE => 4,
        _ => 8,
    }
}

/// libxl's layer: one LIBXC_CONTEXT, then END; emulator and checkpoint records have no
/// place in an x86 PV image here.
#[derive(Debug, Default)]
pub struct LibxlRules {
    libxc: bool,
    ended: bool,
}

impl LibxlRules {
    /// Admits a libxl record of type `rtype`.
    pub fn admit(&mut self, rtype: u32) -> Result<(), Rule> {
        if self.ended {
            return Err(Rule::Finished);
        }
        match rtype {
            LIBXL_REC_END => {
                if !self.libxc {
                    return Err(Rule::Missing(
                        "a LIBXC_CONTEXT record (the domain's stream)",
                    ));
                }
                self.ended = true;
            }
            LIBXL_REC_LIBXC_CONTEXT => {
                if self.libxc {
                    return Err(Rule::Duplicate);
                }
                self.libxc = true;
            }
            LIBXL_REC_EMULATOR_XENSTORE_DATA
            | LIBXL_REC_EMULATOR_CONTEXT
            | LIBXL_REC_CHECKPOINT_END
            | LIBXL_REC_CHECKPOINT_STATE => return Err(Rule::Unsupported),
            t if t & REC_TYPE_OPTIONAL != 0 => {}
            _ => return Err(Rule::UnknownType),
        }
        Ok(())
    }

    /// Whether END has been admitted.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

/// libxc's layer for an x86 PV domain: X86_PV_INFO, the CPU policies and STATIC_DATA_END
/// (implied in version 2 by the first X86_PV_P2M_FRAMES), X86_PV_P2M_FRAMES, PAGE_DATA,
/// then the vCPUs (the dependency order the specification makes strict), SHARED_INFO and
/// TSC_INFO after the static data, each of the single records once, END last.
#[derive(Debug)]
pub struct LibxcRules {
    limits: Limits,
    version: u32,
    pv_info: bool,
    cpuid: bool,
    msr: bool,
    static_end: bool,
    /// Pfns the p2m covers (its end + 1), once X86_PV_P2M_FRAMES was seen.
    p2m_pfns: Option<u64>,
    shared_info: bool,
    tsc: bool,
    vcpu_seen: bool,
    /// Per vCPU, the record kinds seen ([`vcpu_bit`]).
    vcpus: Vec<u8>,
    ended: bool,
}

impl LibxcRules {
    /// Rules for a stream of this (image header) version under `limits`.
    pub fn new(limits: Limits, version: u32) -> LibxcRules {
        LibxcRules {
            limits,
            version,
            pv_info: false,
            cpuid: false,
            msr: false,
            static_end: false,
            p2m_pfns: None,
            shared_info: false,
            tsc: false,
            vcpu_seen: false,
            vcpus: vec![0; limits.max_vcpus.min(4096) as usize],
            ended: false,
        }
    }

    /// Whether END has been admitted.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Pfns the p2m covers, once X86_PV_P2M_FRAMES was seen.
    pub fn p2m_pfns(&self) -> Option<u64> {
        self.p2m_pfns
    }

    /// Admits a record of type `rtype` at this point of the stream (its contents are
    /// checked by the `check_*` methods).
    pub fn admit(&mut self, rtype: u32) -> Result<(), Rule> {
        if self.ended {
            return Err(Rule::Finished);
        }
        let once = |seen: &mut bool| {
            if core::mem::replace(seen, true) {
                Err(Rule::Duplicate)
            } else {
                Ok(())
            }
        };
        match rtype {
            REC_END => {
                let missing = [
                    (self.pv_info, "X86_PV_INFO"),
                    (self.static_end, "STATIC_DATA_END"),
                    (self.p2m_pfns.is_some(), "X86_PV_P2M_FRAMES"),
                    (self.shared_info, "SHARED_INFO"),
                    (
                        self.vcpus.first().is_some_and(|k| k & 1 != 0),
                        "X86_PV_VCPU_BASIC for vCPU 0",
                    ),
                ];
                if let Some((_, what)) = missing.iter().find(|(seen, _)| !seen) {
                    return Err(Rule::Missing(what));
                }
                self.ended = true;
            }
            REC_X86_PV_INFO => {
                if self.static_end {
                    return Err(Rule::Order("X86_PV_INFO after the static data ended"));
                }
                once(&mut self.pv_info)?;
            }
            REC_X86_CPUID_POLICY | REC_X86_MSR_POLICY => {
                if self.static_end {
                    return Err(Rule::Order("a CPU policy after the static data ended"));
                }
                once(if rtype == REC_X86_CPUID_POLICY {
                    &mut self.cpuid
                } else {
                    &mut self.msr
                })?;
            }
            REC_STATIC_DATA_END => {
                if self.version < 3 {
                    return Err(Rule::Order("STATIC_DATA_END in a version 2 stream"));
                }
                if !self.pv_info {
                    return Err(Rule::Order("STATIC_DATA_END before X86_PV_INFO"));
                }
                once(&mut self.static_end)?;
            }
            REC_X86_PV_P2M_FRAMES => {
                if !self.pv_info {
                    return Err(Rule::Order("X86_PV_P2M_FRAMES before X86_PV_INFO"));
                }
                if self.version < 3 {
                    self.static_end = true;
                }
                if !self.static_end {
                    return Err(Rule::Order("X86_PV_P2M_FRAMES before STATIC_DATA_END"));
                }
                if self.p2m_pfns.is_some() {
                    return Err(Rule::Duplicate);
                }
            }
            REC_PAGE_DATA => {
                if self.p2m_pfns.is_none() {
                    return Err(Rule::Order("PAGE_DATA before X86_PV_P2M_FRAMES"));
                }
                if self.vcpu_seen {
                    return Err(Rule::Order("PAGE_DATA after the vCPU records"));
                }
            }
            REC_SHARED_INFO | REC_X86_TSC_INFO => {
                if self.p2m_pfns.is_none() {
                    return Err(Rule::Order("domain state before X86_PV_P2M_FRAMES"));
                }
                once(if rtype == REC_SHARED_INFO {
                    &mut self.shared_info
                } else {
                    &mut self.tsc
                })?;
            }
            REC_X86_PV_VCPU_BASIC
            | REC_X86_PV_VCPU_EXTENDED
            | REC_X86_PV_VCPU_XSAVE
            | REC_X86_PV_VCPU_MSRS => {
                if self.p2m_pfns.is_none() {
                    return Err(Rule::Order("a vCPU record before X86_PV_P2M_FRAMES"));
                }
                self.vcpu_seen = true;
            }
            REC_HVM_CONTEXT
            | REC_HVM_PARAMS
            | REC_TOOLSTACK
            | REC_VERIFY
            | REC_CHECKPOINT
            | REC_CHECKPOINT_DIRTY_PFN_LIST => return Err(Rule::Unsupported),
            t if t & REC_TYPE_OPTIONAL != 0 => {}
            _ => return Err(Rule::UnknownType),
        }
        Ok(())
    }

    /// X86_PV_INFO's fields: a 64-bit guest with 4-level page tables.
    pub fn check_pv_info(&self, guest_width: u8, pt_levels: u8) -> Result<(), Rule> {
        if guest_width != 8 {
            return Err(Rule::GuestWidth(guest_width));
        }
        if pt_levels != 4 {
            return Err(Rule::PtLevels(pt_levels));
        }
        Ok(())
    }

    /// X86_PV_P2M_FRAMES's range (before its frames are read: `length` is the body's).
    pub fn check_p2m_range(&self, start: u32, end: u32, length: u32) -> Result<(), Rule> {
        if start > end || u64::from(end) >= self.limits.max_pfns {
            return Err(Rule::P2mRange { start, end });
        }
        let frames = p2m_frame_count(start, end);
        if u64::from(length) != 8 + 8 * frames {
            return Err(Rule::Length {
                length,
                expected: format!("{} (8 + 8 for each of {frames} p2m frames)", 8 + 8 * frames),
            });
        }
        Ok(())
    }

    /// X86_PV_P2M_FRAMES's frames: each a pfn of the domain. Records the p2m's size.
    pub fn set_p2m(&mut self, end: u32, frames: impl IntoIterator<Item = u64>) -> Result<(), Rule> {
        let limit = u64::from(end) + 1;
        for (index, pfn) in frames.into_iter().enumerate() {
            if pfn >= limit {
                return Err(Rule::PfnBeyond { index, pfn, limit });
            }
        }
        self.p2m_pfns = Some(limit);
        Ok(())
    }

    /// PAGE_DATA's pfn entries: at least one, known types, pfns inside the p2m. Returns how
    /// many carry a page of contents.
    pub fn check_pages(&self, entries: impl IntoIterator<Item = u64>) -> Result<usize, Rule> {
        let limit = self.p2m_pfns.unwrap_or(0).min(self.limits.max_pfns);
        let mut count = 0;
        let mut with_data = 0;
        for (index, entry) in entries.into_iter().enumerate() {
            count += 1;
            let (pfn, nibble) = split_pfn_entry(entry);
            let ty = PageType::from_nibble(nibble).ok_or(Rule::PageType { index, nibble })?;
            if pfn >= limit {
                return Err(Rule::PfnBeyond { index, pfn, limit });
            }
            with_data += usize::from(ty.has_data());
        }
        if count == 0 {
            return Err(Rule::ZeroCount);
        }
        Ok(with_data)
    }

    /// A vCPU record's id and context length (the context without the vCPU header).
    pub fn check_vcpu(&mut self, rtype: u32, vcpu: u32, context: usize) -> Result<(), Rule> {
        let max = self.limits.max_vcpus.min(self.vcpus.len() as u32);
        let kinds = self.vcpus.get_mut(vcpu as usize).filter(|_| vcpu < max);
        let kinds = kinds.ok_or(Rule::VcpuBeyond { vcpu, max })?;
        let bit = vcpu_bit(rtype);
        if *kinds & bit != 0 {
            return Err(Rule::Duplicate);
        }
        if rtype != REC_X86_PV_VCPU_BASIC && *kinds & 1 == 0 {
            return Err(Rule::Order("a vCPU's state before its X86_PV_VCPU_BASIC"));
        }
        let length = (context + 8) as u32;
        match rtype {
            REC_X86_PV_VCPU_BASIC => {
                expect_len(length, 8 + core::mem::size_of::<VcpuGuestContext>())?
            }
            REC_X86_PV_VCPU_MSRS if !context.is_multiple_of(core::mem::size_of::<MsrEntry>()) => {
                return Err(Rule::Length {
                    length,
                    expected: "8 + a multiple of 16".into(),
                });
            }
            _ => {}
        }
        *kinds |= bit;
        Ok(())
    }
}
