//! The virtio-mmio transports the namespace describes: devices whose `_HID` is
//! [`VIRTIO_MMIO_HID`] (as QEMU's microvm and other machines declare them), each with its
//! register window and interrupt from its `_CRS`.

use super::aml::{Namespace, Path, Value};
use super::resources::{self, Resource};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The hardware ID of a virtio-mmio transport.
pub const VIRTIO_MMIO_HID: &str = "LNRO0005";

/// How an interrupt is triggered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Level,
    Edge,
}

/// The level at which an interrupt is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    High,
    Low,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Level => "level",
            Trigger::Edge => "edge",
        })
    }
}

impl fmt::Display for Polarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Polarity::High => "high",
            Polarity::Low => "low",
        })
    }
}

/// A virtio-mmio transport as the firmware describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtioMmio {
    /// Machine address of its registers.
    pub base: u64,
    /// Bytes of its register window.
    pub size: u64,
    /// Its interrupt (a GSI: an I/O APIC input).
    pub gsi: u32,
    pub trigger: Trigger,
    pub polarity: Polarity,
    /// Its path in the ACPI namespace, e.g. `\_SB_.VR23`.
    pub path: String,
}

/// A `_HID` as text: a string as it is, an integer as the EISA ID it encodes ("PNP0501").
pub fn hid_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => u32::try_from(*i).ok().map(eisa_id),
        _ => None,
    }
}

/// Decodes a compressed EISA ID (ACPI 6.5, 6.1.5: stored little-endian, read big-endian:
/// three 5-bit letters, 'A' = 1, then four hex digits).
pub fn eisa_id(v: u32) -> String {
    let b = v.swap_bytes();
    let letter = |shift: u32| char::from(b'@' + ((b >> shift) & 0x1F) as u8);
    format!(
        "{}{}{}{:04X}",
        letter(26),
        letter(21),
        letter(16),
        b & 0xFFFF
    )
}

/// The virtio-mmio transports of `ns`, in address order; devices that say they are absent
/// (`_STA` bit 0 clear) are left out, and those whose description is unusable are left out
/// with a note naming the device and the reason.
pub fn virtio_mmio(ns: &Namespace, notes: &mut Vec<String>) -> Vec<VirtioMmio> {
    let mut out = Vec::new();
    for path in &ns.devices {
        let is_virtio = ns
            .object(path, b"_HID")
            .and_then(hid_text)
            .is_some_and(|h| h == VIRTIO_MMIO_HID);
        if !is_virtio {
            continue;
        }
        if let Some(Value::Integer(sta)) = ns.object(path, b"_STA") {
            if sta & 1 == 0 {
                continue;
            }
        }
        match transport(ns, path) {
            Ok(d) => out.push(d),
            Err(why) => notes.push(format!("{path} ({VIRTIO_MMIO_HID}): {why}: left out")),
        }
    }
    out.sort_by_key(|d| d.base);
    out
}

/// The one register window and the one interrupt of the transport at `path`.
fn transport(ns: &Namespace, path: &Path) -> Result<VirtioMmio, String> {
    let crs = match ns.object(path, b"_CRS") {
        Some(Value::Buffer(b)) => b,
        Some(Value::Method) => return Err("its _CRS is a method (not evaluated)".into()),
        Some(_) => return Err("its _CRS is not a buffer".into()),
        None => return Err("no _CRS".into()),
    };
    let res = resources::parse(crs).map_err(|e| format!("_CRS: {e}"))?;
    let mut windows = res.iter().filter_map(|r| match r {
        Resource::Memory32Fixed { base, len, .. } => Some((*base, *len)),
        _ => None,
    });
    let mut irqs = res.iter().filter_map(|r| match r {
        Resource::Interrupt {
            trigger,
            polarity,
            gsis,
            ..
        } => Some((*trigger, *polarity, gsis)),
        _ => None,
    });
    let (base, size) = match (windows.next(), windows.next()) {
        (Some(w), None) => w,
        (None, _) => return Err("_CRS has no Memory32Fixed register window".into()),
        (Some(_), Some(_)) => return Err("_CRS has more than one register window".into()),
    };
    let (trigger, polarity, gsis) = match (irqs.next(), irqs.next()) {
        (Some(i), None) => i,
        (None, _) => return Err("_CRS has no Extended Interrupt".into()),
        (Some(_), Some(_)) => return Err("_CRS has more than one interrupt descriptor".into()),
    };
    let gsi = match gsis[..] {
        [g] => g,
        _ => return Err(format!("_CRS lists {} interrupts, not one", gsis.len())),
    };
    if size == 0 {
        return Err(format!("its register window at {base:#x} is empty"));
    }
    Ok(VirtioMmio {
        base: u64::from(base),
        size: u64::from(size),
        gsi,
        trigger,
        polarity,
        path: format!("{path}"),
    })
}
