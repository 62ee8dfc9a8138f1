//! The one checked layer through which the hypervisor reads and writes guest memory.
//!
//! Guest pointers are translated by a software walk of the caller's live page tables
//! ([`super::guest_walk`]), so a bad pointer is `-EFAULT`, never a hypervisor fault, and the
//! hole and supervisor-only mappings are out of reach.

use super::access::{Readable, Writable};
use super::guest_walk::{chunks, translate};
use super::machine::Machine;
use guest_abi::errno::Errno;
use guest_abi::types::Mfn;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

fn l4() -> Mfn {
    Mfn::containing(crate::arch::cpu::read_cr3())
}

/// Copy `out.len()` bytes from guest virtual address `va`.
pub fn copy_from_guest(mem: &Machine, va: u64, out: &mut [u8]) -> Result<(), Errno> {
    let root = l4();
    let mut done = 0;
    for (cva, len) in chunks(va, out.len()).ok_or(Errno::EFAULT)? {
        let ma = translate(mem, root, cva, false)?;
        // The walk of the caller's own validated tables is the proof it may read the page.
        let page = Readable::new(Mfn::containing(ma));
        mem.read_frame(&page, (ma & 0xFFF) as usize, &mut out[done..done + len])?;
        done += len;
    }
    Ok(())
}

/// Copy `data` to guest virtual address `va` (which must be mapped writable).
pub fn copy_to_guest(mem: &Machine, va: u64, data: &[u8]) -> Result<(), Errno> {
    copy_to_guest_via(mem, l4(), va, data)
}

/// Copy `data` to `va` as the page tables rooted at `root` map it: for a vCPU that is not the
/// one running (its registered runstate area). `root` must be a validated L4 of the domain
/// the write is for (its vCPU's kernel table): the walk then reaches only that domain's
/// writable pages, as for its own hypercalls.
pub fn copy_to_guest_via(mem: &Machine, root: Mfn, va: u64, data: &[u8]) -> Result<(), Errno> {
    // Check the whole range first so a fault never leaves a partial write.
    for (cva, _) in chunks(va, data.len()).ok_or(Errno::EFAULT)? {
        translate(mem, root, cva, true)?;
    }
    let mut done = 0;
    for (cva, len) in chunks(va, data.len()).ok_or(Errno::EFAULT)? {
        let ma = translate(mem, root, cva, true)?;
        // Mapped writable in validated tables: never a page table or descriptor page.
        let page = Writable::new(Mfn::containing(ma));
        mem.write_frame(&page, (ma & 0xFFF) as usize, &data[done..done + len])?;
        done += len;
    }
    Ok(())
}

/// Read a `T` from the guest.
pub fn read<T: FromBytes + IntoBytes + KnownLayout>(mem: &Machine, va: u64) -> Result<T, Errno> {
    let mut v = T::new_zeroed();
    copy_from_guest(mem, va, v.as_mut_bytes())?;
    Ok(v)
}

/// Write a `T` to the guest.
pub fn write<T: IntoBytes + Immutable>(mem: &Machine, va: u64, v: &T) -> Result<(), Errno> {
    copy_to_guest(mem, va, v.as_bytes())
}

/// Write a `T` through the page tables rooted at `root` ([`copy_to_guest_via`]).
pub fn write_via<T: IntoBytes + Immutable>(
    mem: &Machine,
    root: Mfn,
    va: u64,
    v: &T,
) -> Result<(), Errno> {
    copy_to_guest_via(mem, root, va, v.as_bytes())
}
