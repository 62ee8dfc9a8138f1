//! Xen ELF notes: how a PV kernel describes itself to the domain builder.
//!
//! Notes live in a `PT_NOTE` segment (or `SHT_NOTE` section) with the owner
//! name `"Xen"`. Each note type below is a `u32`; its descriptor is a string
//! or a native-endian integer/address. A kernel emits its notes with
//! [`xen_elfnotes!`](crate::xen_elfnotes).

/// Free-form information string.
pub const XEN_ELFNOTE_INFO: u32 = 0;
/// Virtual address of the kernel entry point.
pub const XEN_ELFNOTE_ENTRY: u32 = 1;
/// Virtual address of the hypercall page the builder fills.
pub const XEN_ELFNOTE_HYPERCALL_PAGE: u32 = 2;
/// Virtual address at which the kernel's initial region starts.
pub const XEN_ELFNOTE_VIRT_BASE: u32 = 3;
/// Offset to subtract from ELF virtual addresses to get physical (`paddr`) ones.
pub const XEN_ELFNOTE_PADDR_OFFSET: u32 = 4;
/// Interface version the kernel expects (string, `"xen-3.0"`).
pub const XEN_ELFNOTE_XEN_VERSION: u32 = 5;
/// Guest OS name (string).
pub const XEN_ELFNOTE_GUEST_OS: u32 = 6;
/// Guest OS version (string).
pub const XEN_ELFNOTE_GUEST_VERSION: u32 = 7;
/// Loader type (string, `"generic"`).
pub const XEN_ELFNOTE_LOADER: u32 = 8;
/// PAE mode (string, 32-bit guests only).
pub const XEN_ELFNOTE_PAE_MODE: u32 = 9;
/// Feature list (string, `|`-separated; a leading `!` marks a required one).
pub const XEN_ELFNOTE_FEATURES: u32 = 10;
/// Request a BSD-style symbol table be loaded.
pub const XEN_ELFNOTE_BSD_SYMTAB: u32 = 11;
/// Lowest hypervisor virtual address the guest tolerates (32-bit guests).
pub const XEN_ELFNOTE_HV_START_LOW: u32 = 12;
/// PTE mask and value identifying valid L1 MFNs.
pub const XEN_ELFNOTE_L1_MFN_VALID: u32 = 13;
/// Guest supports suspend cancellation.
pub const XEN_ELFNOTE_SUSPEND_CANCEL: u32 = 14;
/// Virtual address for the initial p2m list.
pub const XEN_ELFNOTE_INIT_P2M: u32 = 15;
/// Guest understands `mod_start` as a PFN.
pub const XEN_ELFNOTE_MOD_START_PFN: u32 = 16;
/// Bitmap of supported features (32-bit words).
pub const XEN_ELFNOTE_SUPPORTED_FEATURES: u32 = 17;
/// 32-bit physical entry point (PVH only).
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// Physical relocation constraints (PVH only; newer than Xen 4.17's headers).
pub const XEN_ELFNOTE_PHYS32_RELOC: u32 = 19;
/// Highest note number this crate knows (Xen 4.17's headers stop at 18).
pub const XEN_ELFNOTE_MAX: u32 = XEN_ELFNOTE_PHYS32_RELOC;

/// The note owner name (without its NUL terminator).
pub const XEN_ELFNOTE_NAME: &[u8] = b"Xen";
/// The ELF section guest kernels put their Xen notes in.
pub const XEN_ELFNOTE_SECTION: &str = ".note.Xen";
/// The `XEN_VERSION` note value for the 3.0+ interface.
pub const XEN_VERSION_STRING: &str = "xen-3.0";
/// The `LOADER` note value.
pub const LOADER_GENERIC: &str = "generic";

/// Emits a kernel's Xen ELF notes into the `.note.Xen` section.
///
/// Symbols are given by their assembler name (use `#[no_mangle]` or define
/// them in `global_asm!`); addresses are constant expressions. The notes
/// emitted are `GUEST_OS`, `XEN_VERSION` (`"xen-3.0"`), `LOADER`
/// (`"generic"`), `VIRT_BASE`, `PADDR_OFFSET`, `ENTRY`, `HYPERCALL_PAGE` and
/// `FEATURES`.
///
/// ```ignore
/// guest_abi::xen_elfnotes! {
///     guest_os: "pv-guest",
///     virt_base: 0xFFFF_FFFF_8000_0000u64,
///     paddr_offset: 0xFFFF_FFFF_8000_0000u64,
///     entry: "_start",
///     hypercall_page: "hypercall_page",
///     features: "mmu_pt_update_preserve_ad",
/// }
/// ```
#[macro_export]
macro_rules! xen_elfnotes {
    (
        guest_os: $os:literal,
        virt_base: $vb:expr,
        paddr_offset: $po:expr,
        entry: $entry:literal,
        hypercall_page: $hp:literal,
        features: $feat:literal $(,)?
    ) => {
        ::core::arch::global_asm!(
            ".pushsection .note.Xen, \"a\", @note",
            // Each note: namesz, descsz, type, "Xen\0", descriptor, pad to 4.
            ".macro __xen_note_begin ty",
            ".balign 4",
            ".long 4",
            ".long 2f - 1f",
            ".long \\ty",
            ".asciz \"Xen\"",
            ".balign 4",
            "1:",
            ".endm",
            ".macro __xen_note_end",
            "2:",
            ".balign 4",
            ".endm",
            "__xen_note_begin 6",
            concat!(".asciz \"", $os, "\""),
            "__xen_note_end",
            "__xen_note_begin 5",
            ".asciz \"xen-3.0\"",
            "__xen_note_end",
            "__xen_note_begin 8",
            ".asciz \"generic\"",
            "__xen_note_end",
            "__xen_note_begin 3",
            ".quad {vb}",
            "__xen_note_end",
            "__xen_note_begin 4",
            ".quad {po}",
            "__xen_note_end",
            "__xen_note_begin 1",
            concat!(".quad ", $entry),
            "__xen_note_end",
            "__xen_note_begin 2",
            concat!(".quad ", $hp),
            "__xen_note_end",
            "__xen_note_begin 10",
            concat!(".asciz \"", $feat, "\""),
            "__xen_note_end",
            ".purgem __xen_note_begin",
            ".purgem __xen_note_end",
            ".popsection",
            vb = const $vb,
            po = const $po,
            options(att_syntax),
        );
    };
}
