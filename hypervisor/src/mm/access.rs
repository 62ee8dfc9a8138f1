//! Proofs that the hypervisor may touch a frame's contents on a domain's behalf. `Machine`
//! reads and writes guest frames only given one of these, and they are made only here in
//! `mm`, by the checks that justify them: the frame table's ownership and type rules
//! ([`FrameTable::readable`](super::page_types::FrameTable::readable),
//! [`FrameTable::writable`](super::page_types::FrameTable::writable)) or a walk of the
//! caller's own validated page tables (`guest_copy`). The hypervisor's own pages shared with
//! a guest have their own proof, [`XenPage`](super::page_types::XenPage).

use guest_abi::types::Mfn;

/// A frame whose contents may be read for a domain: its own memory, or a page mapped in its
/// validated page tables.
#[derive(Debug, PartialEq, Eq)]
pub struct Readable {
    mfn: Mfn,
}

/// A frame whose contents may be written for a domain: its own memory that is neither a page
/// table nor a descriptor page (writing those would bypass validation), or a page mapped
/// writable in its validated page tables (which validation only allows for such frames).
#[derive(Debug, PartialEq, Eq)]
pub struct Writable {
    mfn: Mfn,
}

impl Readable {
    /// Made by the checks in `mm` only.
    pub(in crate::mm) fn new(mfn: Mfn) -> Self {
        Readable { mfn }
    }

    /// The frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }
}

impl Writable {
    /// Made by the checks in `mm` only.
    pub(in crate::mm) fn new(mfn: Mfn) -> Self {
        Writable { mfn }
    }

    /// The frame.
    pub fn mfn(&self) -> Mfn {
        self.mfn
    }

    /// What may be written may be read.
    pub fn readable(&self) -> Readable {
        Readable { mfn: self.mfn }
    }
}
