//! The machine's devices as its ACPI tables describe them, read by dom0 through the I/O
//! memory the hypervisor lets it map ([`Hypervisor::read_io_bytes`]): the virtio-mmio
//! transports of the DSDT and SSDTs ([`find_virtio_mmio`]), for `lsdev` and the drivers.
//!
//! [`tables`] finds and checks the tables (RSDP, XSDT/RSDT, FADT, DSDT, SSDTs), [`aml`]
//! walks their AML for devices and their `_HID`/`_CRS`/`_UID`/`_STA` data, [`resources`]
//! reads resource templates, and [`devices`] picks the virtio-mmio transports.
//!
//! Not evaluated: AML code. A `_CRS` that is a method, or devices defined under an `If`,
//! are reported in [`Discovery::notes`], not guessed at (QEMU's microvm declares its
//! transports as plain data).

pub mod aml;
pub mod devices;
pub mod resources;
pub mod tables;
#[cfg(test)]
pub(crate) mod testmachine;
#[cfg(test)]
mod tests;

pub use devices::{Polarity, Trigger, VirtioMmio, VIRTIO_MMIO_HID};

use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use guest_abi::errno::Errno;
use tables::{sig_str, MAX_ROOT_ENTRIES, MAX_TABLE_LEN};

/// Why the ACPI tables could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No "RSD PTR " signature anywhere searched.
    NoRsdp,
    /// An RSDP signature whose structure is not valid (the first such one found).
    BadRsdp {
        maddr: u64,
        why: String,
    },
    /// Memory that could not be read (`EPERM`: not I/O memory dom0 may map).
    Read {
        what: String,
        maddr: u64,
        len: usize,
        errno: Errno,
    },
    Signature {
        want: [u8; 4],
        found: [u8; 4],
        maddr: u64,
    },
    /// A length shorter than the header or longer than [`MAX_TABLE_LEN`].
    Length {
        signature: [u8; 4],
        maddr: u64,
        len: u32,
    },
    /// The bytes of a table do not sum to 0 (`sum` is what they sum to).
    Checksum {
        signature: [u8; 4],
        maddr: u64,
        sum: u8,
    },
    /// A table's header read differently the second time.
    Changed {
        signature: [u8; 4],
        maddr: u64,
    },
    TooManyTables {
        signature: [u8; 4],
        maddr: u64,
        count: usize,
    },
    NoFadt {
        signature: [u8; 4],
        maddr: u64,
    },
    NoDsdt {
        maddr: u64,
    },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(
                f,
                "no RSDP (\"RSD PTR \") in the EBDA or in 0xe0000-0xfffff"
            ),
            AcpiError::BadRsdp { maddr, why } => write!(f, "the RSDP at {maddr:#x} is invalid: {why}"),
            AcpiError::Read {
                what,
                maddr,
                len,
                errno: Errno::EPERM,
            } => write!(
                f,
                "cannot read {what} ({len} bytes at {maddr:#x}): not I/O memory dom0 may map (EPERM)"
            ),
            AcpiError::Read {
                what,
                maddr,
                len,
                errno,
            } => write!(f, "cannot read {what} ({len} bytes at {maddr:#x}): {errno}"),
            AcpiError::Signature { want, found, maddr } => write!(
                f,
                "the table at {maddr:#x} should be {} but its signature is {:?}",
                sig_str(*want),
                sig_str(*found)
            ),
            AcpiError::Length {
                signature,
                maddr,
                len,
            } => write!(
                f,
                "{} at {maddr:#x}: length {len} is outside 36..={MAX_TABLE_LEN} bytes",
                sig_str(*signature)
            ),
            AcpiError::Checksum {
                signature,
                maddr,
                sum,
            } => write!(
                f,
                "{} at {maddr:#x}: bad checksum (its bytes sum to {sum:#04x}, not 0)",
                sig_str(*signature)
            ),
            AcpiError::Changed { signature, maddr } => write!(
                f,
                "{} at {maddr:#x}: its header changed while it was read",
                sig_str(*signature)
            ),
            AcpiError::TooManyTables {
                signature,
                maddr,
                count,
            } => write!(
                f,
                "{} at {maddr:#x} lists {count} tables, more than {MAX_ROOT_ENTRIES}",
                sig_str(*signature)
            ),
            AcpiError::NoFadt { signature, maddr } => write!(
                f,
                "{} at {maddr:#x} lists no FADT (FACP)",
                sig_str(*signature)
            ),
            AcpiError::NoDsdt { maddr } => {
                write!(f, "the FADT at {maddr:#x} names no DSDT")
            }
        }
    }
}

/// The virtio-mmio transports found, and what could not be read on the way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// In address order.
    pub devices: Vec<VirtioMmio>,
    /// Parts of the tables left unread or devices left out, each naming where and why.
    pub notes: Vec<String>,
}

/// The virtio-mmio transports the machine's ACPI tables describe. Errors are about the
/// tables as a whole (no RSDP, a bad DSDT); anything smaller is a note.
pub fn find_virtio_mmio(hv: &mut dyn Hypervisor) -> Result<Discovery, AcpiError> {
    let mut notes = Vec::new();
    let t = tables::find(hv, &mut notes)?;
    Ok(from_tables(&t.dsdt, &t.ssdts, notes))
}

/// The transports described by the definition blocks `dsdt` and `ssdts`.
pub fn from_tables(
    dsdt: &tables::Table,
    ssdts: &[tables::Table],
    mut notes: Vec<String>,
) -> Discovery {
    let mut ns = aml::Namespace::default();
    aml::walk(&dsdt.bytes, "DSDT", &mut ns);
    for (i, t) in ssdts.iter().enumerate() {
        aml::walk(&t.bytes, &format!("SSDT{}@{:#x}", i + 1, t.maddr), &mut ns);
    }
    notes.append(&mut ns.notes);
    if ns.notes_dropped > 0 {
        notes.push(format!(
            "{} more notes about the AML left out",
            ns.notes_dropped
        ));
    }
    let devices = devices::virtio_mmio(&ns, &mut notes);
    Discovery { devices, notes }
}
