//! `start_info`: the page a PV guest finds at `rsi` on entry.

use crate::types::{EvtchnPort, Mfn};
use bitflags::bitflags;
use static_assertions::{assert_eq_size, const_assert_eq};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The magic a 64-bit PV start_info begins with (NUL-padded to 32 bytes).
pub const START_INFO_MAGIC: &[u8; 14] = b"xen-3.0-x86_64";
/// Size of [`StartInfo::cmd_line`].
pub const MAX_GUEST_CMDLINE: usize = 1024;

bitflags! {
    /// `SIF_*` flags in [`StartInfo::flags`].
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct SifFlags: u32 {
        /// The domain is privileged.
        const PRIVILEGED = 1 << 0;
        /// The domain is the initial domain (dom0).
        const INITDOMAIN = 1 << 1;
        /// `mod_start` is a multiboot module list.
        const MULTIBOOT_MOD = 1 << 2;
        /// `mod_start` is a PFN, not a virtual address.
        const MOD_START_PFN = 1 << 3;
        /// The p2m is virtually mapped for the tools.
        const VIRT_P2M_4TOOLS = 1 << 4;
    }
}

/// The domU view of the console union: the console ring page and its channel.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DomUConsole {
    /// MFN of the console ring page ([`crate::console::XenconsInterface`]).
    pub mfn: Mfn,
    /// Event channel of the console ring.
    pub evtchn: EvtchnPort,
    /// Padding.
    pub _pad: u32,
}

/// The dom0 view of the console union: where the VGA/console info lives.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct Dom0Console {
    /// Offset of the console info structure within this page.
    pub info_off: u32,
    /// Size of the console info structure.
    pub info_size: u32,
    /// Padding (the union is 16 bytes).
    pub _pad: u64,
}

/// The `console` union of [`StartInfo`]: 16 raw bytes, read through the
/// domU or dom0 view depending on [`SifFlags::INITDOMAIN`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct StartInfoConsole {
    /// The raw union contents.
    pub raw: [u64; 2],
}

impl StartInfoConsole {
    /// The domU view (console ring MFN and event channel).
    pub fn domu(&self) -> &DomUConsole {
        zerocopy::transmute_ref!(self)
    }
    /// The domU view, mutable.
    pub fn domu_mut(&mut self) -> &mut DomUConsole {
        zerocopy::transmute_mut!(self)
    }
    /// The dom0 view (console info offset and size).
    pub fn dom0(&self) -> &Dom0Console {
        zerocopy::transmute_ref!(self)
    }
    /// The dom0 view, mutable.
    pub fn dom0_mut(&mut self) -> &mut Dom0Console {
        zerocopy::transmute_mut!(self)
    }
}

/// `start_info` (1168 bytes).
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct StartInfo {
    /// `"xen-3.0-x86_64"`, NUL-padded.
    pub magic: [u8; 32],
    /// Total pages allocated to the domain.
    pub nr_pages: u64,
    /// Machine address of the shared_info page.
    pub shared_info: u64,
    /// [`SifFlags`] bits.
    pub flags: u32,
    /// Padding.
    pub _pad0: u32,
    /// MFN of the xenstore ring page.
    pub store_mfn: Mfn,
    /// Event channel of the xenstore ring.
    pub store_evtchn: EvtchnPort,
    /// Padding.
    pub _pad1: u32,
    /// Console information (domU or dom0 view).
    pub console: StartInfoConsole,
    /// Virtual address of the initial page tables (the L4 first).
    pub pt_base: u64,
    /// Number of page-table frames in the initial region.
    pub nr_pt_frames: u64,
    /// Virtual address of the p2m list (one `u64` MFN per PFN).
    pub mfn_list: u64,
    /// Virtual address (or PFN with `MOD_START_PFN`) of the initrd.
    pub mod_start: u64,
    /// Size of the initrd in bytes.
    pub mod_len: u64,
    /// Kernel command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First PFN of the p2m table frames (0 if not mapped there).
    pub first_p2m_pfn: u64,
    /// Number of p2m table frames.
    pub nr_p2m_frames: u64,
}

assert_eq_size!(StartInfo, [u8; 1168]);
const_assert_eq!(core::mem::offset_of!(StartInfo, nr_pages), 32);
const_assert_eq!(core::mem::offset_of!(StartInfo, flags), 48);
const_assert_eq!(core::mem::offset_of!(StartInfo, store_mfn), 56);
const_assert_eq!(core::mem::offset_of!(StartInfo, store_evtchn), 64);
const_assert_eq!(core::mem::offset_of!(StartInfo, console), 72);
const_assert_eq!(core::mem::offset_of!(StartInfo, pt_base), 88);
const_assert_eq!(core::mem::offset_of!(StartInfo, mod_len), 120);
const_assert_eq!(core::mem::offset_of!(StartInfo, cmd_line), 128);
const_assert_eq!(core::mem::offset_of!(StartInfo, first_p2m_pfn), 1152);
const_assert_eq!(core::mem::offset_of!(StartInfo, nr_p2m_frames), 1160);
assert_eq_size!(StartInfoConsole, [u8; 16]);

impl StartInfo {
    /// A zeroed start_info carrying the magic.
    pub fn new() -> StartInfo {
        let mut si = StartInfo::new_zeroed_value();
        si.magic[..START_INFO_MAGIC.len()].copy_from_slice(START_INFO_MAGIC);
        si
    }

    fn new_zeroed_value() -> StartInfo {
        <StartInfo as zerocopy::FromZeros>::new_zeroed()
    }

    /// Whether the magic is present.
    pub fn magic_ok(&self) -> bool {
        self.magic.starts_with(START_INFO_MAGIC)
    }

    /// The flags as [`SifFlags`] (unknown bits kept).
    pub fn sif_flags(&self) -> SifFlags {
        SifFlags::from_bits_retain(self.flags)
    }

    /// The command line up to its first NUL.
    pub fn cmdline(&self) -> &[u8] {
        let n = self
            .cmd_line
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MAX_GUEST_CMDLINE);
        &self.cmd_line[..n]
    }

    /// Stores `s` as the command line, truncated to leave room for the NUL.
    pub fn set_cmdline(&mut self, s: &[u8]) {
        let n = s.len().min(MAX_GUEST_CMDLINE - 1);
        self.cmd_line = [0; MAX_GUEST_CMDLINE];
        self.cmd_line[..n].copy_from_slice(&s[..n]);
    }
}

impl Default for StartInfo {
    fn default() -> Self {
        StartInfo::new()
    }
}
