//! Emulation: what the hypervisor does for the guest kernel's faulting instructions must stay
//! inside the rules — a page-table write through the read-only mapping (writable page
//! tables) is validated as `mmu_update` would, emulated privileged instructions refuse what
//! a PV guest may not do, and the hypercalls that came with them check their arguments.

use super::Tally;
use crate::mm::{peek, Space, PTE_KERNEL_RO};
use crate::pagetable::PTE_KERNEL_RW;
use crate::traps::catch;
use guest_abi::arch::HYPERVISOR_VIRT_START;
use guest_abi::errno::Errno;
use guest_abi::guest::hypercall2;
use guest_abi::hypercall::nr;
use guest_abi::mmu::VMASST_CMD_ENABLE;

fn r(v: i64) -> Result<u64, Errno> {
    Errno::from_ret(v)
}

/// Store `val` at `va` (a page-table entry, through our read-only mapping of the table): the
/// fault it took, if any.
fn store(va: u64, val: u64) -> Option<crate::traps::Fault> {
    catch(|| {
        // SAFETY: `va` is an entry of one of our own tables, mapped read-only: the store
        // faults and the hypervisor either performs it validated or delivers the #PF.
        unsafe { core::ptr::write_volatile(va as *mut u64, val) }
    })
}

pub fn all(sp: &Space, t: &Tally) {
    t.class("emulation");
    let page = sp.spare(3);
    let (Ok(slot), Ok(frame)) = (sp.entry_va(page, 1), sp.mfn_of(page)) else {
        t.contained("writable page tables", Err("no spare page to use"));
        return;
    };
    let before = peek(slot);
    // A store the PV MMU accepts: our own page, read-only, through the table's mapping.
    let fault = store(slot, (frame << 12) | PTE_KERNEL_RO);
    t.contained(
        "a valid entry stored into its L1 through the read-only mapping",
        match fault {
            None if peek(slot) == (frame << 12) | PTE_KERNEL_RO => {
                Ok("emulated: the entry is what mmu_update would have made it")
            }
            None => Err("no fault, but the entry is not what was stored"),
            Some(_) => Err("faulted: writable page tables not emulated"),
        },
    );
    for (name, val) in [
        (
            "its own L4 mapped writable through a store to its L1",
            (sp.l4_mfn() << 12) | PTE_KERNEL_RW,
        ),
        (
            "a frame not its own mapped through a store to its L1",
            (0x10 << 12) | PTE_KERNEL_RW,
        ),
    ] {
        let prev = peek(slot);
        let f = store(slot, val);
        t.contained(
            name,
            match f {
                Some(f) if f.vector == 14 && peek(slot) == prev => Ok("#PF to our handler"),
                Some(_) => Err("faulted, but the entry changed or not a #PF"),
                None => Err("stored"),
            },
        );
    }
    let _ = sp.update(sp.entry_maddr(page, 1).unwrap_or(0), before);
    // The PV CPUID escape: answered from the PV policy (VMX is never offered).
    let mut ecx = 0u32;
    let f = catch(|| {
        // SAFETY: the forced-emulation prefix (`ud2; .ascii "xen"`) then cpuid: the
        // hypervisor emulates it; rbx is saved around it as LLVM reserves it.
        unsafe {
            core::arch::asm!(
                "xchg {b}, rbx",
                "ud2",
                ".ascii \"xen\"",
                "cpuid",
                "xchg {b}, rbx",
                b = out(reg) _,
                inout("eax") 1u32 => _,
                inout("ecx") 0u32 => ecx,
                out("edx") _,
            )
        }
    });
    t.contained(
        "cpuid escape asking for VMX",
        match f {
            None if ecx & (1 << 5) == 0 && ecx & (1 << 31) != 0 => {
                Ok("emulated: VMX hidden, hypervisor bit set")
            }
            None => Err("VMX offered or the hypervisor bit missing"),
            Some(_) => Err("faulted: the escape is not emulated"),
        },
    );
    for (name, write) in [
        ("rdmsr of an unknown MSR", false),
        ("wrmsr of an unknown MSR", true),
    ] {
        let f = catch(|| {
            // SAFETY: an MSR outside the PV policy: the hypervisor injects #GP (caught).
            unsafe {
                if write {
                    core::arch::asm!("wrmsr", in("ecx") 0x1234u32, in("eax") 1, in("edx") 0);
                } else {
                    core::arch::asm!("rdmsr", in("ecx") 0x1234u32, out("eax") _, out("edx") _);
                }
            }
        });
        t.contained(
            name,
            match f {
                Some(f) if f.vector == 13 => Ok("#GP to our handler"),
                _ => Err("allowed"),
            },
        );
    }
    // SAFETY: plain register arguments; refused before anything is stored.
    unsafe {
        t.refused(
            "set_debugreg DR0 inside the hypervisor hole",
            r(hypercall2(
                nr::SET_DEBUGREG,
                0,
                HYPERVISOR_VIRT_START + 0x1000,
            )),
        );
        t.refused(
            "vm_assist with an unknown assist",
            r(hypercall2(nr::VM_ASSIST, u64::from(VMASST_CMD_ENABLE), 99)),
        );
    }
}
