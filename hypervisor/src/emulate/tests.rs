//! Emulation of the guest kernel's privileged instructions and of the PV CPUID escape, on
//! the modelled machine: the instruction bytes are written at a guest rip, the fault raised
//! through `traps::guest_exception`, and the registers, rip and the vCPU's state checked;
//! what is not emulated reaches the guest's own handler through a bounce frame.

use super::{dispatch, Emulation};
use crate::domain::vcpu_info;
use crate::mm::page_types::TableMem;
use crate::testbed::Testbed;
use crate::traps::guest_exception;
use guest_abi::arch::{TrapInfo, FLAT_KERNEL_CS64, HYPERVISOR_VIRT_START};
use guest_abi::cpu::{leaf1_ecx, leaf1_edx, leaf7_ebx, msr};
use guest_abi::hypercall::nr;
use guest_abi::mmu::UvmfFlags;
use guest_abi::types::Mfn;

const UD_HANDLER: u64 = 0xFFFF_FFFF_8000_2600;
const GP_HANDLER: u64 = 0xFFFF_FFFF_8000_2700;
const PF_HANDLER: u64 = 0xFFFF_FFFF_8000_2800;

/// Boot, with handlers for #UD, #GP and #PF registered.
fn boot() -> Testbed {
    let mut tb = Testbed::boot();
    let at = tb.scratch() + 0xA000;
    let t = |vector, address| TrapInfo {
        vector,
        flags: 0,
        cs: FLAT_KERNEL_CS64,
        _pad: 0,
        address,
    };
    let traps = [t(6, UD_HANDLER), t(13, GP_HANDLER), t(14, PF_HANDLER)];
    for (i, tr) in traps.iter().enumerate() {
        tb.write(at + 16 * i as u64, tr);
    }
    tb.write(at + 16 * traps.len() as u64, &TrapInfo::default());
    assert_eq!(tb.hypercall(nr::SET_TRAP_TABLE, [at, 0, 0, 0, 0]), 0);
    tb
}

/// Where test instructions are placed.
fn code(tb: &Testbed) -> u64 {
    tb.scratch() + 0x8000
}

/// Raise `vector` (error code `error`) at `rip`.
fn raise_at(tb: &mut Testbed, rip: u64, vector: u32, error: u32) {
    tb.regs.rip = rip;
    tb.regs.entry_vector = vector;
    tb.regs.error_code = error;
    guest_exception(&mut tb.regs);
}

/// The guest kernel executes `insn`, which faults with `vector`; the rip it started at.
fn exec(tb: &mut Testbed, insn: &[u8], vector: u32) -> u64 {
    let rip = code(tb);
    tb.write_bytes(rip, insn);
    raise_at(tb, rip, vector, 0);
    rip
}

/// A #GP from `insn` that must be emulated: rip advanced by its length.
fn emulated(tb: &mut Testbed, insn: &[u8]) {
    let rip = exec(tb, insn, 13);
    assert_eq!(
        tb.regs.rip,
        rip + insn.len() as u64,
        "{insn:x?} not emulated"
    );
}

/// The guest's handler at `handler` was entered for a fault at `rip` with error code
/// `error` (the bounce frame: rcx, r11, error, rip, ...).
fn delivered(tb: &Testbed, handler: u64, rip: u64, error: Option<u64>) {
    assert_eq!(tb.regs.rip, handler, "handler not entered");
    let sp = tb.regs.rsp;
    match error {
        Some(e) => {
            assert_eq!(tb.read::<u64>(sp + 16), e, "error code");
            assert_eq!(tb.read::<u64>(sp + 24), rip, "faulting rip");
        }
        None => assert_eq!(tb.read::<u64>(sp + 16), rip, "faulting rip"),
    }
}

/// The PV CPUID escape for `leaf`/`sub`: (eax, ebx, ecx, edx).
fn pv_cpuid(tb: &mut Testbed, leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    tb.regs.rax = u64::from(leaf) | 0xDEAD_0000_0000_0000;
    tb.regs.rcx = u64::from(sub);
    let rip = exec(tb, b"\x0f\x0bxen\x0f\xa2", 6);
    assert_eq!(tb.regs.rip, rip + 7);
    let r = &tb.regs;
    for v in [r.rax, r.rbx, r.rcx, r.rdx] {
        assert_eq!(v >> 32, 0, "upper halves cleared");
    }
    (r.rax as u32, r.rbx as u32, r.rcx as u32, r.rdx as u32)
}

#[test]
fn cpuid_escape_answers_xen_hypervisor_leaves() {
    let mut tb = boot();
    let (max, b, c, d) = pv_cpuid(&mut tb, 0x4000_0000, 0);
    let mut sig = Vec::new();
    for w in [b, c, d] {
        sig.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(&sig, b"XenVMMXenVMM");
    assert_eq!(max, 0x4000_0002);
    let version = tb.hypercall(nr::XEN_VERSION, [0, 0, 0, 0, 0]);
    assert_eq!(pv_cpuid(&mut tb, 0x4000_0001, 0).0 as i64, version);
    assert_eq!(pv_cpuid(&mut tb, 0x4000_0002, 0), (1, 0x4000_0000, 0, 0));
    assert_eq!(pv_cpuid(&mut tb, 0x4000_0003, 0), (0, 0, 0, 0));
}

#[test]
fn cpuid_escape_hides_what_a_pv_guest_cannot_use() {
    let mut tb = boot();
    let host1 = crate::arch::cpu::cpuid(1, 0);
    let hidden_ecx = leaf1_ecx::VMX
        | leaf1_ecx::MONITOR
        | leaf1_ecx::X2APIC
        | leaf1_ecx::TSC_DEADLINE
        | leaf1_ecx::PCID
        | leaf1_ecx::XSAVE
        | leaf1_ecx::OSXSAVE
        | leaf1_ecx::AVX;
    // The modelled host has them, so hiding is what the test sees.
    assert_eq!(host1.2 & hidden_ecx, hidden_ecx);
    let (a, b, c, d) = pv_cpuid(&mut tb, 1, 0);
    assert_eq!(a, host1.0, "family/model/stepping kept");
    assert_eq!(c & hidden_ecx, 0, "hidden: {:#x}", c & hidden_ecx);
    assert_ne!(c & leaf1_ecx::HYPERVISOR, 0);
    assert_eq!(
        c & (1 << 0 | 1 << 9 | 1 << 20),
        host1.2 & (1 << 0 | 1 << 9 | 1 << 20)
    );
    assert_eq!(d & leaf1_edx::APIC, 0);
    // No superpages or global pages (Linux would map its direct map with 2 MiB pages).
    let no_pages = leaf1_edx::PSE | leaf1_edx::PGE | leaf1_edx::PSE36;
    assert_eq!(host1.3 & no_pages, no_pages, "the modelled host has them");
    assert_eq!(d & no_pages, 0);
    assert_ne!(d & (1 << 25 | 1 << 26), 0, "SSE/SSE2 kept");
    assert_eq!(b >> 24, 0, "APIC id 0");
    // MONITOR/MWAIT leaf and XSAVE leaf empty; leaf 7 only the harmless bits.
    assert_eq!(pv_cpuid(&mut tb, 5, 0), (0, 0, 0, 0));
    assert_eq!(pv_cpuid(&mut tb, 0xD, 0), (0, 0, 0, 0));
    let (_, b7, c7, d7) = pv_cpuid(&mut tb, 7, 0);
    assert_ne!(crate::arch::cpu::cpuid(7, 0).1 & leaf7_ebx::SMEP, 0);
    assert_eq!(
        b7 & (leaf7_ebx::SMEP | leaf7_ebx::AVX2 | leaf7_ebx::FSGSBASE | leaf7_ebx::INVPCID),
        0
    );
    assert_ne!(b7 & leaf7_ebx::BMI1, 0);
    assert_eq!((c7, d7), (0, 0));
    // Extended leaves: no 1 GiB pages, long mode kept.
    let (_, _, _, e1) = pv_cpuid(&mut tb, 0x8000_0001, 0);
    assert_eq!(e1 & (1 << 26), 0);
    assert_ne!(e1 & (1 << 29), 0);
    assert_eq!(pv_cpuid(&mut tb, 0, 0).0, 0xD);
}

#[test]
fn a_ud_that_is_not_the_escape_reaches_the_guest_handler() {
    let mut tb = boot();
    // ud2 followed by something else than "xen; cpuid".
    let rip = exec(&mut tb, b"\x0f\x0bxem\x0f\xa2", 6);
    delivered(&tb, UD_HANDLER, rip, None);
    // The escape prefix without the cpuid.
    drop(tb);
    let mut tb = boot();
    let rip = exec(&mut tb, b"\x0f\x0bxen\x0f\x09", 6);
    delivered(&tb, UD_HANDLER, rip, None);
}

#[test]
fn plain_cpuid_under_gp_uses_the_same_policy() {
    let mut tb = boot();
    tb.regs.rax = 0x4000_0000;
    emulated(&mut tb, b"\x0f\xa2");
    assert_eq!(tb.regs.rbx, 0x566e_6558);
}

/// rdmsr of `m`: edx:eax.
fn rdmsr(tb: &mut Testbed, m: u32) -> u64 {
    tb.regs.rcx = u64::from(m);
    tb.regs.rax = !0;
    tb.regs.rdx = !0;
    emulated(tb, b"\x0f\x32");
    assert_eq!((tb.regs.rax >> 32, tb.regs.rdx >> 32), (0, 0));
    (tb.regs.rdx << 32) | tb.regs.rax
}

fn wrmsr_regs(tb: &mut Testbed, m: u32, v: u64) {
    tb.regs.rcx = u64::from(m);
    tb.regs.rax = v & 0xFFFF_FFFF | 0xAAAA_0000_0000_0000;
    tb.regs.rdx = v >> 32;
}

fn wrmsr(tb: &mut Testbed, m: u32, v: u64) {
    wrmsr_regs(tb, m, v);
    emulated(tb, b"\x0f\x30");
}

/// wrmsr (or rdmsr, `read`) of `m` that must be refused with #GP(0).
fn msr_faults(tb: &mut Testbed, m: u32, v: u64, read: bool) {
    wrmsr_regs(tb, m, v);
    let rip = exec(tb, if read { b"\x0f\x32" } else { b"\x0f\x30" }, 13);
    delivered(tb, GP_HANDLER, rip, Some(0));
}

#[test]
fn segment_base_msrs_are_the_vcpus() {
    let mut tb = boot();
    wrmsr(&mut tb, msr::FS_BASE, 0x7000_1000);
    assert_eq!(crate::arch::cpu::fs_base(), 0x7000_1000);
    tb.st(|st| assert_eq!(st.cur_vcpu().fs_base, 0x7000_1000));
    assert_eq!(rdmsr(&mut tb, msr::FS_BASE), 0x7000_1000);
    wrmsr(&mut tb, msr::GS_BASE, 0xFFFF_FFFF_8012_3000);
    assert_eq!(crate::arch::cpu::gs_base(), 0xFFFF_FFFF_8012_3000);
    tb.st(|st| assert_eq!(st.cur_vcpu().gs_base_kernel, 0xFFFF_FFFF_8012_3000));
    wrmsr(&mut tb, msr::SHADOW_GS_BASE, 0x6000_0000);
    tb.st(|st| assert_eq!(st.cur_vcpu().gs_base_user, 0x6000_0000));
    assert_eq!(rdmsr(&mut tb, msr::SHADOW_GS_BASE), 0x6000_0000);
    assert_eq!(rdmsr(&mut tb, msr::GS_BASE), 0xFFFF_FFFF_8012_3000);
    // A non-canonical base would fault the hypervisor's own load: #GP for the guest.
    msr_faults(&mut tb, msr::FS_BASE, 0x0000_8000_0000_0000, false);
    assert_eq!(crate::arch::cpu::fs_base(), 0x7000_1000);
}

#[test]
fn the_msrs_a_pv_kernel_reads_answer_xens_values() {
    let mut tb = boot();
    let efer = rdmsr(&mut tb, msr::EFER);
    assert_eq!(efer, 0xD01, "SCE, LME, LMA, NXE");
    assert_eq!(rdmsr(&mut tb, msr::PAT), 0x0005_0100_0704_0406);
    assert_eq!(rdmsr(&mut tb, msr::APIC_BASE), 0xFEE0_0900);
    let misc = rdmsr(&mut tb, msr::MISC_ENABLE);
    assert_eq!(misc & (1 << 18), 0, "no MONITOR enable");
    assert_ne!(misc & (1 << 11), 0, "BTS unavailable");
    // Writing what is read is accepted; changing it is #GP.
    wrmsr(&mut tb, msr::EFER, efer);
    msr_faults(&mut tb, msr::EFER, efer & !1, false);
    msr_faults(&mut tb, msr::PAT, 0x0007_0406_0007_0406, false);
    wrmsr(&mut tb, msr::UCODE_REV, 0);
}

#[test]
fn unknown_msrs_are_a_gp_for_the_guest() {
    let mut tb = boot();
    for m in [0x1234, 0xC000_0081, 0xC000_0082, 0x40, 0x4000_0000] {
        msr_faults(&mut tb, m, 0, true);
        msr_faults(&mut tb, m, 0, false);
    }
}

#[test]
fn control_register_reads() {
    let mut tb = boot();
    // mov %cr0,%rax; TS is the guest's own.
    emulated(&mut tb, b"\x0f\x20\xc0");
    assert_eq!(tb.regs.rax & (1 << 3), 0);
    assert_eq!(tb.regs.rax & 0x8000_0001, 0x8000_0001, "PG, PE");
    assert_eq!(tb.hypercall(nr::FPU_TASKSWITCH, [1, 0, 0, 0, 0]), 0);
    emulated(&mut tb, b"\x0f\x20\xc0");
    assert_ne!(tb.regs.rax & (1 << 3), 0);
    // clts clears it.
    emulated(&mut tb, b"\x0f\x06");
    tb.st(|st| assert!(!st.cur_vcpu().fpu.guest_ts));
    // mov %cr3,%rbx: the machine address of the L4 in use.
    emulated(&mut tb, b"\x0f\x20\xdb");
    let l4 = tb.st(|st| st.cur_vcpu().active_l4());
    assert_eq!(tb.regs.rbx, l4.addr());
    // mov %cr2,%rdx: the guest's recorded fault address.
    tb.st(|st| vcpu_info::set_cr2(&st.cur_vcpu_info(), 0x1234_5000));
    emulated(&mut tb, b"\x0f\x20\xd2");
    assert_eq!(tb.regs.rdx, 0x1234_5000);
    // mov %cr4,%r9.
    emulated(&mut tb, b"\x41\x0f\x20\xe1");
    assert_eq!(tb.regs.r9 & (1 << 5), 1 << 5, "PAE");
    assert_eq!(
        tb.regs.r9 & (1 << 7 | 1 << 17 | 1 << 18),
        0,
        "no PGE, PCIDE or OSXSAVE"
    );
}

#[test]
fn mov_to_cr4_is_taken_and_changes_nothing_the_guest_sees() {
    // As Xen: the visible bits (PAE, OSFXSR, OSXMMEXCPT) are the hypervisor's; the bits a
    // guest could choose (TSD, DE, FSGSBASE, OSXSAVE) are not offered, so they are dropped.
    let mut tb = boot();
    emulated(&mut tb, b"\x41\x0f\x20\xe1");
    let cr4 = tb.regs.r9;
    for v in [
        0,
        cr4 | 1 << 7,
        1 << 2 | 1 << 3 | 1 << 16 | 1 << 18,
        u64::MAX,
    ] {
        // mov %rdi,%cr4 (Linux's native_write_cr4), then read it back.
        tb.regs.rdi = v;
        emulated(&mut tb, b"\x0f\x22\xe7");
        emulated(&mut tb, b"\x41\x0f\x20\xe1");
        assert_eq!(tb.regs.r9, cr4, "after writing {v:#x}");
    }
}

#[test]
fn mov_to_cr3_is_new_baseptr() {
    let mut tb = boot();
    let l4 = tb.st(|st| st.cur_vcpu().kernel_l4);
    let writes = crate::arch::cpu::cr3_writes();
    tb.regs.rax = l4.addr();
    emulated(&mut tb, b"\x0f\x22\xd8");
    assert_eq!(crate::arch::cpu::cr3_writes(), writes + 1);
    assert_eq!(crate::arch::cpu::read_cr3(), l4.addr());
    // A data page is no page table: #GP, the base pointer kept.
    let va = code(&tb);
    let data = tb.st(|st| {
        let (t, i) = crate::mm::guest_walk::l1_slot(&st.mem, l4, va).expect("mapped");
        crate::mm::pte::mfn(st.mem.read(t, i))
    });
    assert_ne!(data, l4);
    tb.regs.rax = data.addr();
    let rip = exec(&mut tb, b"\x0f\x22\xd8", 13);
    delivered(&tb, GP_HANDLER, rip, Some(0));
    tb.st(|st| assert_eq!(st.cur_vcpu().kernel_l4, l4));
    // Nor is CR8 (the task priority: no local APIC for a PV guest).
    let rip = exec(&mut tb, b"\x44\x0f\x22\xc0", 13);
    delivered(&tb, GP_HANDLER, rip, Some(0));
    let _ = Mfn(0);
}

#[test]
fn wbinvd_rdtsc_and_port_io() {
    let mut tb = boot();
    let before = tb.regs;
    emulated(&mut tb, b"\x0f\x09");
    assert_eq!((tb.regs.rax, tb.regs.rsp), (before.rax, before.rsp));
    crate::arch::cpu::advance_ns(0x1_2345_6789);
    emulated(&mut tb, b"\x0f\x31");
    let tsc = (tb.regs.rdx << 32) | tb.regs.rax;
    assert_eq!(tsc, crate::arch::cpu::rdtsc());
    // in $0x60,%al: all ones in AL, the rest of rax kept.
    tb.regs.rax = 0x1111_2222_3333_4400;
    emulated(&mut tb, b"\xe4\x60");
    assert_eq!(tb.regs.rax, 0x1111_2222_3333_44FF);
    tb.regs.rax = 0x1111_2222_3333_4400;
    emulated(&mut tb, b"\x66\xed");
    assert_eq!(tb.regs.rax, 0x1111_2222_3333_FFFF);
    tb.regs.rax = 0x1111_2222_3333_4400;
    emulated(&mut tb, b"\xed");
    assert_eq!(tb.regs.rax, 0xFFFF_FFFF);
    // out %al,%dx / out %eax,$0x80: dropped.
    tb.regs.rax = 0x55;
    emulated(&mut tb, b"\xee");
    emulated(&mut tb, b"\xe7\x80");
    assert_eq!(tb.regs.rax, 0x55);
}

#[test]
fn debug_registers_through_mov() {
    let mut tb = boot();
    // mov %rax,%dr0; mov %dr0,%rcx.
    tb.regs.rax = 0x40_1000;
    emulated(&mut tb, b"\x0f\x23\xc0");
    emulated(&mut tb, b"\x0f\x21\xc1");
    assert_eq!(tb.regs.rcx, 0x40_1000);
    // mov %rax,%dr7 with L0 set: reserved-one bit 10 appears.
    tb.regs.rax = 1;
    emulated(&mut tb, b"\x0f\x23\xf8");
    tb.st(|st| assert_eq!(st.cur_vcpu().debugreg[7], 0x401));
    // DR5 aliases DR7 (CR4.DE clear).
    emulated(&mut tb, b"\x0f\x21\xea");
    assert_eq!(tb.regs.rdx, 0x401);
    // A breakpoint on the hypervisor: #GP, not stored.
    tb.regs.rax = HYPERVISOR_VIRT_START + 0x1000;
    let rip = exec(&mut tb, b"\x0f\x23\xc8", 13);
    delivered(&tb, GP_HANDLER, rip, Some(0));
    tb.st(|st| assert_eq!(st.cur_vcpu().debugreg[1], 0));
}

#[test]
fn what_is_not_emulated_is_bounced_with_the_original_error_code() {
    // hlt, lgdt, a plain memory load, ud2: #GP with error code 0x18 to the guest.
    for insn in [&b"\xf4"[..], b"\x0f\x01\x10", b"\x48\x8b\x00", b"\x0f\x0b"] {
        let mut tb = boot();
        let rip = code(&tb);
        tb.write_bytes(rip, insn);
        raise_at(&mut tb, rip, 13, 0x18);
        delivered(&tb, GP_HANDLER, rip, Some(0x18));
    }
    // A lock prefix where none is allowed: an invalid encoding, not emulated.
    let mut tb = boot();
    let rip = code(&tb);
    tb.write_bytes(rip, b"\xf0\x0f\x09");
    raise_at(&mut tb, rip, 13, 0x20);
    delivered(&tb, GP_HANDLER, rip, Some(0x20));
}

#[test]
fn guest_user_mode_gets_no_emulation() {
    let tb = boot();
    let rip = code(&tb);
    tb.write_bytes(rip, b"\x0f\x32");
    tb.st(|st| {
        let mut regs = st.cur_vcpu().regs;
        regs.rip = rip;
        regs.rcx = u64::from(msr::EFER);
        st.cur_vcpu().in_kernel = false;
        assert_eq!(dispatch(st, &mut regs, 13), Emulation::NotEmulated);
        assert_eq!(regs.rip, rip);
        assert_eq!(regs.rcx, u64::from(msr::EFER));
        st.cur_vcpu().in_kernel = true;
        assert_eq!(dispatch(st, &mut regs, 13), Emulation::Done);
        assert_eq!(regs.rip, rip + 2);
    });
}

#[test]
fn prefix_floods_and_overlong_instructions_are_not_emulated() {
    let mut tb = boot();
    // 14 prefixes + wbinvd = 16 bytes: longer than the CPU allows.
    let mut long = vec![0x66u8; 14];
    long.extend_from_slice(b"\x0f\x09");
    let rip = code(&tb);
    tb.write_bytes(rip, &long);
    raise_at(&mut tb, rip, 13, 0);
    delivered(&tb, GP_HANDLER, rip, Some(0));
    drop(tb);
    // 13 prefixes + wbinvd = 15 bytes: still an instruction.
    let mut tb = boot();
    emulated(&mut tb, &long[1..]);
    drop(tb);
    // A run of prefixes.
    let mut tb = boot();
    let rip = code(&tb);
    tb.write_bytes(rip, &[0xF3; 64]);
    raise_at(&mut tb, rip, 13, 0);
    delivered(&tb, GP_HANDLER, rip, Some(0));
}

#[test]
fn unreadable_instruction_bytes_are_a_page_fault_for_the_guest() {
    for rip in [HYPERVISOR_VIRT_START + 0x1000, 0x0000_1000_0000_0000] {
        let mut tb = boot();
        raise_at(&mut tb, rip, 13, 0);
        delivered(&tb, PF_HANDLER, rip, Some(1 << 4));
        tb.st(|st| assert_eq!(vcpu_info::cr2(&st.cur_vcpu_info()), rip));
    }
}

#[test]
fn an_instruction_running_into_an_unmapped_page() {
    let mut tb = boot();
    let page = (code(&tb) + 0x1000) & !0xFFF;
    let next = page + 0x1000;
    assert_eq!(
        tb.hypercall(
            nr::UPDATE_VA_MAPPING,
            [next, 0, UvmfFlags::TLB_FLUSH.bits(), 0, 0]
        ),
        0
    );
    // wbinvd ending at the page end: emulated.
    tb.write_bytes(next - 2, b"\x0f\x09");
    raise_at(&mut tb, next - 2, 13, 0);
    assert_eq!(tb.regs.rip, next);
    // rdmsr cut in half by the page end: #PF at the next page.
    tb.write_bytes(next - 1, b"\x0f");
    raise_at(&mut tb, next - 1, 13, 0);
    delivered(&tb, PF_HANDLER, next - 1, Some(1 << 4));
    tb.st(|st| assert_eq!(vcpu_info::cr2(&st.cur_vcpu_info()), next));
}

#[test]
fn a_non_canonical_rip_is_a_gp() {
    let mut tb = boot();
    raise_at(&mut tb, 0x0000_8000_0000_0000, 13, 0x30);
    delivered(&tb, GP_HANDLER, 0x0000_8000_0000_0000, Some(0));
    // The escape at a non-canonical rip is not emulated: the #UD is delivered.
    drop(tb);
    let mut tb = boot();
    raise_at(&mut tb, 0x0000_8000_0000_0000, 6, 0);
    delivered(&tb, UD_HANDLER, 0x0000_8000_0000_0000, None);
}

#[test]
fn cli_and_sti_set_the_event_mask_only_with_a_virtual_iopl() {
    use guest_abi::physdev::{PhysdevSetIopl, PHYSDEVOP_SET_IOPL};
    let mut tb = boot();
    let masked = |tb: &Testbed| tb.st(|st| vcpu_info::upcall_masked(&st.cur_vcpu_info()));
    // IOPL 0 (the default): a #GP for the guest, the mask untouched.
    let before = masked(&tb);
    let rip = exec(&mut tb, b"\xfa", 13);
    delivered(&tb, GP_HANDLER, rip, Some(0));
    assert_eq!(masked(&tb), before);
    // IOPL 1, as Linux sets it: cli masks, sti unmasks.
    let buf = tb.scratch();
    tb.write(buf, &PhysdevSetIopl { iopl: 1 });
    let cmd = u64::from(PHYSDEVOP_SET_IOPL);
    assert_eq!(tb.hypercall(nr::PHYSDEV_OP, [cmd, buf, 0, 0, 0]), 0);
    emulated(&mut tb, b"\xfb");
    assert!(!masked(&tb));
    emulated(&mut tb, b"\xfa");
    assert!(masked(&tb));
    emulated(&mut tb, b"\xfb");
    assert!(!masked(&tb));
}
