//! The flags `cmpxchg` leaves, checked against the CPU's definition of `cmp`.

use super::*;

#[test]
fn cmp_flags_are_those_of_a_subtraction() {
    // Equal: ZF and PF (zero has even parity), nothing else.
    assert_eq!(cmp_flags(5, 5), ZF | PF);
    // 0 - 1 borrows: CF, SF, AF; the result 0xff..ff has even parity.
    assert_eq!(cmp_flags(0, 1), CF | SF | AF | PF);
    // 3 - 1 = 2: one bit set, odd parity, no borrow.
    assert_eq!(cmp_flags(3, 1), 0);
    // Signed overflow: i64::MIN - 1.
    assert_eq!(cmp_flags(1 << 63, 1) & (OF | SF | CF), OF);
    // 0x10 - 1 = 0xf: a borrow out of bit 4 (AF), even parity.
    assert_eq!(cmp_flags(0x10, 1), AF | PF);
}

// ---- Host tests on the modelled machine: the guest writes its own page tables. ----

use crate::arch::cpu::set_cr2;
use crate::mm::guest_walk::translate;
use crate::mm::page_types::PageInfo;
use crate::testbed::{Testbed, SCRATCH_LEN};
use guest_abi::arch::TrapInfo;
use guest_abi::hypercall::nr;
use guest_abi::shared_info::{ArchVcpuInfo, VcpuInfo};
use guest_abi::types::DomId;

/// A read-only data mapping as the builder makes them, and a writable one.
const RO: u64 = pte::P | pte::US | pte::A | pte::D;
const RW: u64 = RO | pte::RW;
/// The guest's #PF handler (never run: the tests look at the bounce).
const PF_HANDLER: u64 = 0xFFFF_FFFF_8000_2000;
/// The hardware's error code for a write to a present page from ring 3 (where a PV guest
/// kernel runs).
const EC_WRITE: u32 = PFEC_PRESENT | PFEC_WRITE | 4;
const RFLAGS_IF: u64 = 1 << 9;

/// The `k`th spare page past the scratch area (mapped writable by the builder).
fn spare(tb: &Testbed, k: u64) -> u64 {
    tb.scratch() + SCRATCH_LEN + k * 4096
}

/// The frame behind `va` for the current domain, if mapped.
fn frame(tb: &Testbed, va: u64) -> Option<u64> {
    tb.st(|st| {
        let l4 = st.cur_vcpu().active_l4();
        translate(&st.mem, l4, va, false).ok().map(|ma| ma >> 12)
    })
}

/// The L1 table and index mapping `va`.
fn l1_of(tb: &Testbed, va: u64) -> (Mfn, usize) {
    tb.st(|st| {
        let l4 = st.cur_vcpu().active_l4();
        l1_slot(&st.mem, l4, va).expect("mapped")
    })
}

fn entry(tb: &Testbed, t: Mfn, idx: usize) -> u64 {
    tb.st(|st| st.mem.read(t, idx))
}

fn info(tb: &Testbed, mfn: u64) -> PageInfo {
    tb.st(|st| st.frames[mfn as usize])
}

/// Where the guest itself sees the L1 table that maps `va` (its read-only mapping in the
/// builder's region), and the guest address of `va`'s entry in it.
fn entry_va(tb: &Testbed, va: u64) -> u64 {
    let (t, idx) = l1_of(tb, va);
    let base = 0xFFFF_FFFF_8000_0000u64;
    let page = (0..1024u64)
        .map(|i| base + i * 4096)
        .find(|&p| frame(tb, p) == Some(t.0))
        .expect("the L1 table is mapped in the initial region");
    page + idx as u64 * 8
}

/// Spare page 0: its address, the L1 table and slot mapping it, where the guest sees that
/// entry (read-only), and the entry.
fn spare_entry(tb: &Testbed) -> (u64, Mfn, usize, u64, u64) {
    let va = spare(tb, 0);
    let (t, idx) = l1_of(tb, va);
    (va, t, idx, entry_va(tb, va), entry(tb, t, idx))
}

/// Boot with a #PF handler registered; the guest's code goes at spare page 8.
fn boot() -> Testbed {
    let mut tb = Testbed::boot();
    let at = tb.scratch() + 0x100;
    tb.write(at, &TrapInfo::new(14, 0, false, 0xe033, PF_HANDLER));
    tb.write(at + 16, &TrapInfo::default());
    assert_eq!(tb.hypercall(nr::SET_TRAP_TABLE, [at, 0, 0, 0, 0]), 0);
    tb.regs.rsp = tb.scratch() - 0x100;
    tb.regs.rflags = RFLAGS_IF | 2;
    tb
}

/// The guest executes `code` at `rip`, which writes to `cr2` and faults with `ec`: the
/// hypervisor handles the #PF.
fn fault_at(tb: &mut Testbed, rip: u64, code: &[u8], cr2: u64, ec: u32) {
    if !code.is_empty() {
        tb.write_bytes(rip, code);
    }
    tb.regs.rip = rip;
    tb.regs.entry_vector = 14;
    tb.regs.error_code = ec;
    set_cr2(cr2);
    crate::traps::guest_exception(&mut tb.regs);
}

fn code_va(tb: &Testbed) -> u64 {
    spare(tb, 8) + 0x10
}

/// [`fault_at`] at the usual code address; true if emulated (rip past the instruction,
/// still in the guest's code), false if bounced to the #PF handler.
fn fault(tb: &mut Testbed, code: &[u8], cr2: u64) -> bool {
    let rip = code_va(tb);
    let sp = tb.regs.rsp;
    fault_at(tb, rip, code, cr2, EC_WRITE);
    if tb.regs.rip == PF_HANDLER {
        assert_eq!(
            tb.regs.rsp,
            (sp & !0xF) - 8 * 8,
            "an error-code bounce frame"
        );
        false
    } else {
        assert_eq!(tb.regs.rip, rip + code.len() as u64, "emulated and retired");
        assert_eq!(tb.regs.rsp, sp);
        true
    }
}

/// The bounce frame the guest's #PF handler got: (error code, rip) and the CR2 it reads.
fn bounced(tb: &Testbed) -> (u64, u64, u64) {
    let sp = tb.regs.rsp;
    let cr2 = tb.st(|st| {
        let mut b = [0u8; 8];
        let off = core::mem::offset_of!(VcpuInfo, arch) + core::mem::offset_of!(ArchVcpuInfo, cr2);
        crate::mm::machine::xen_read(&st.cur().shared_info, off, &mut b).expect("vcpu_info");
        u64::from_le_bytes(b)
    });
    (tb.read::<u64>(sp + 16), tb.read::<u64>(sp + 24), cr2)
}

/// `mov [rdi], rsi`
const MOV_RDI_RSI: [u8; 3] = [0x48, 0x89, 0x37];
/// `lock cmpxchg [rdi], rsi`
const LOCK_CMPXCHG: [u8; 5] = [0xF0, 0x48, 0x0F, 0xB1, 0x37];
/// `xchg [rdi], rsi`
const XCHG: [u8; 3] = [0x48, 0x87, 0x37];

#[test]
fn a_mov_to_an_own_l1_entry_is_validated_and_done_as_mmu_update_would() {
    let mut tb = boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va).unwrap();
    let (t, idx) = l1_of(&tb, va);
    let at = entry_va(&tb, va);
    assert_eq!(entry(&tb, t, idx), m << 12 | RW);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::Writable, 1, 1));

    // The write really faults: the table is mapped read-only to the guest.
    assert!(tb.st(|st| guest_copy::write(&st.mem, at, &0u64)).is_err());

    // mov [rdi], rsi: read-only now; the writable type goes, the reference stays.
    tb.regs.rdi = at;
    tb.regs.rsi = m << 12 | RO;
    assert!(fault(&mut tb, &MOV_RDI_RSI, at));
    assert_eq!(entry(&tb, t, idx), m << 12 | RO);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 1));
    assert!(tb.st(|st| guest_copy::write(&st.mem, va, &1u64)).is_err());

    // mov qword [rdi + 8], imm32 (sign-extended): the next entry (spare page 1's) to spare
    // page 2's frame (a second writable mapping of it).
    let other = frame(&tb, spare(&tb, 2)).unwrap();
    let imm = u32::try_from(other << 12 | RW).unwrap();
    let mut code = vec![0x48, 0xC7, 0x47, 0x08];
    code.extend_from_slice(&imm.to_le_bytes());
    let next_old = entry(&tb, t, idx + 1);
    let next_frame = pte::mfn(next_old).0;
    assert!(fault(&mut tb, &code, at + 8));
    assert_eq!(entry(&tb, t, idx + 1), other << 12 | RW);
    let o = info(&tb, other);
    assert_eq!((o.ptype, o.type_count, o.refs), (PageType::Writable, 2, 2));
    assert_eq!(
        info(&tb, next_frame).refs,
        0,
        "the old entry's reference is dropped"
    );
    tb.write(spare(&tb, 2), &0x5EED_u64);
    assert_eq!(tb.read::<u64>(va + 4096), 0x5EED);

    // And back, writable, with the register form.
    tb.regs.rsi = m << 12 | RW;
    assert!(fault(&mut tb, &MOV_RDI_RSI, at));
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::Writable, 1, 1));
    tb.write(va, &7u64);
    assert_eq!(tb.read::<u64>(va), 7);
}

#[test]
fn cmpxchg_stores_only_on_a_match_and_leaves_rax_and_flags_as_the_cpu_does() {
    let mut tb = boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va).unwrap();
    let (t, idx) = l1_of(&tb, va);
    let at = entry_va(&tb, va);
    let old = m << 12 | RW;
    tb.regs.rdi = at;
    tb.regs.rsi = m << 12 | RO;

    // Mismatch (rax above the entry): nothing stored, rax gets the entry, ZF and CF clear.
    tb.regs.rax = old + 1;
    tb.regs.rflags = RFLAGS_IF | 2 | ZF | CF;
    let before = tb.frame_snapshot();
    assert!(fault(&mut tb, &LOCK_CMPXCHG, at));
    assert_eq!(entry(&tb, t, idx), old);
    assert_eq!(tb.regs.rax, old);
    assert_eq!(tb.regs.rflags & (ZF | CF), 0);
    assert_eq!(
        tb.regs.rflags & (RFLAGS_IF | 2),
        RFLAGS_IF | 2,
        "other flags kept"
    );
    assert_eq!(before, tb.frame_snapshot());

    // Mismatch with rax below: CF set (a borrow), ZF clear.
    tb.regs.rax = 0;
    assert!(fault(&mut tb, &LOCK_CMPXCHG, at));
    assert_eq!(tb.regs.rax, old);
    assert_eq!(tb.regs.rflags & (ZF | CF | SF), CF | SF);

    // Match (without lock): stored through validation, rax unchanged, ZF set, CF clear.
    tb.regs.rax = old;
    assert!(fault(&mut tb, &LOCK_CMPXCHG[1..], at));
    assert_eq!(entry(&tb, t, idx), m << 12 | RO);
    assert_eq!(tb.regs.rax, old);
    assert_eq!(tb.regs.rflags & (ZF | CF | SF | OF), ZF);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 1));
}

#[test]
fn xchg_swaps_the_entry_with_the_register() {
    let mut tb = boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va).unwrap();
    let (t, idx) = l1_of(&tb, va);
    let at = entry_va(&tb, va);
    tb.regs.rdi = at;
    tb.regs.rsi = 0;
    assert!(fault(&mut tb, &XCHG, at));
    assert_eq!(entry(&tb, t, idx), 0, "unmapped");
    assert_eq!(tb.regs.rsi, m << 12 | RW);
    assert_eq!(info(&tb, m).refs, 0);
    assert!(frame(&tb, va).is_none());
}

#[test]
fn a_write_validation_refuses_is_the_guests_page_fault_and_changes_nothing() {
    let mut tb = boot();
    let (va, t, idx, at, old) = spare_entry(&tb);
    let foreign = {
        let d = tb.domu(1024);
        tb.st(|st| st.dom(d).unwrap().pages.first().unwrap().0)
    };
    assert_eq!(tb.current(), DomId::DOM0);
    let refused = [
        // The L1 table itself, writable.
        t.0 << 12 | RW,
        // Another domain's frame.
        foreign << 12 | RO,
        // Reserved bits.
        frame(&tb, va).unwrap() << 12 | RW | 1 << 51,
    ];
    for val in refused {
        let before = tb.frame_snapshot();
        tb.regs = {
            let mut r = tb.regs;
            r.rdi = at;
            r.rsi = val;
            r.rsp = tb.scratch() - 0x100;
            r
        };
        let rip = code_va(&tb);
        assert!(!fault(&mut tb, &MOV_RDI_RSI, at), "{val:#x} refused");
        // The original fault, as a guest kernel sees it (the user bit clear), at the
        // instruction, with CR2.
        assert_eq!(bounced(&tb), (u64::from(EC_WRITE & !4), rip, at));
        assert_eq!(entry(&tb, t, idx), old);
        assert_eq!(
            before,
            tb.frame_snapshot(),
            "{val:#x}: bookkeeping unchanged"
        );
    }
}

#[test]
fn a_write_to_a_read_only_page_that_is_no_table_is_the_guests_page_fault() {
    let mut tb = boot();
    let va = spare(&tb, 2);
    let m = frame(&tb, va).unwrap();
    assert_eq!(
        tb.hypercall(nr::UPDATE_VA_MAPPING, [va, m << 12 | RO, 0, 0, 0]),
        0
    );
    tb.regs.rsp = tb.scratch() - 0x100;
    let before: Vec<u8> = tb.read_bytes(va, 4096);
    tb.regs.rdi = va + 8;
    tb.regs.rsi = 0x1234;
    let rip = code_va(&tb);
    assert!(!fault(&mut tb, &MOV_RDI_RSI, va + 8));
    assert_eq!(bounced(&tb), (3, rip, va + 8));
    assert_eq!(tb.read_bytes(va, 4096), before);
}

#[test]
fn forms_that_are_not_emulated_are_the_guests_page_fault() {
    let mut tb = boot();
    let (_, t, idx, at, old) = spare_entry(&tb);
    let ro = pte::mfn(old).0 << 12 | RO;
    let cases: [(&str, &[u8], u64); 8] = [
        ("32-bit mov", &[0x89, 0x37], at),
        ("16-bit mov", &[0x66, 0x89, 0x37], at),
        ("misaligned", &MOV_RDI_RSI, at + 4),
        ("fs-relative", &[0x64, 0x48, 0x89, 0x37], at),
        ("32-bit address", &[0x67, 0x48, 0x89, 0x37], at),
        ("an add", &[0x48, 0x01, 0x37], at),
        ("a register destination", &[0x48, 0x89, 0xF7, 0x90], at),
        ("lock mov (#UD)", &[0xF0, 0x48, 0x89, 0x37], at),
    ];
    for (what, code, rdi) in cases {
        tb.regs.rdi = rdi;
        tb.regs.rsi = ro;
        tb.regs.rsp = tb.scratch() - 0x100;
        assert!(!fault(&mut tb, code, rdi), "{what}");
        assert_eq!(entry(&tb, t, idx), old, "{what}");
    }
    // A store elsewhere than the page that faulted (the operand does not match CR2).
    tb.regs.rdi = spare(&tb, 3);
    tb.regs.rsp = tb.scratch() - 0x100;
    assert!(!fault(&mut tb, &MOV_RDI_RSI, at));
    // A fault that is not a write to a present page.
    for ec in [
        PFEC_WRITE | 4,
        PFEC_PRESENT | 4,
        EC_WRITE | PFEC_RESERVED,
        EC_WRITE | PFEC_FETCH,
    ] {
        tb.regs.rdi = at;
        tb.regs.rsp = tb.scratch() - 0x100;
        let rip = code_va(&tb);
        fault_at(&mut tb, rip, &MOV_RDI_RSI, at, ec);
        assert_eq!(tb.regs.rip, PF_HANDLER, "error code {ec:#x}");
        assert_eq!(entry(&tb, t, idx), old);
    }
    // The same write is emulated once everything is right.
    tb.regs.rdi = at;
    tb.regs.rsp = tb.scratch() - 0x100;
    assert!(fault(&mut tb, &MOV_RDI_RSI, at));
    assert_eq!(entry(&tb, t, idx), ro);
}

#[test]
fn a_fault_from_guest_user_mode_is_bounced_with_the_user_bit() {
    let mut tb = boot();
    let (_, t, idx, at, old) = spare_entry(&tb);
    let ksp = tb.scratch() - 0x200;
    tb.st(|st| {
        st.cur_vcpu().in_kernel = false;
        st.cur_vcpu().kernel_sp = ksp;
    });
    tb.regs.rdi = at;
    tb.regs.rsi = pte::mfn(old).0 << 12 | RO;
    let rip = code_va(&tb);
    fault_at(&mut tb, rip, &MOV_RDI_RSI, at, EC_WRITE);
    assert_eq!(tb.regs.rip, PF_HANDLER);
    assert_eq!(tb.regs.rsp, ksp - 8 * 8);
    assert_eq!(bounced(&tb), (u64::from(EC_WRITE), rip, at));
    assert_eq!(entry(&tb, t, idx), old);
}

#[test]
fn unreadable_or_hostile_instructions_are_contained() {
    let mut tb = boot();
    let (_, t, idx, at, old) = spare_entry(&tb);
    let ro = pte::mfn(old).0 << 12 | RO;

    // rip where nothing is mapped, in the hypervisor hole, non-canonical.
    let unmapped = spare(&tb, 9);
    assert_eq!(
        tb.hypercall(nr::UPDATE_VA_MAPPING, [unmapped, 0, 0, 0, 0]),
        0
    );
    tb.regs.rsi = ro;
    for rip in [
        unmapped,
        0x1000,
        0xFFFF_8000_0010_0000,
        0x0000_8000_0000_0000,
        u64::MAX - 1,
    ] {
        tb.regs.rdi = at;
        tb.regs.rsp = tb.scratch() - 0x100;
        fault_at(&mut tb, rip, &[], at, EC_WRITE);
        assert_eq!(tb.regs.rip, PF_HANDLER, "rip {rip:#x}");
        assert_eq!(bounced(&tb), (3, rip, at));
    }
    // Prefix floods: 14 redundant prefixes make the mov 17 bytes, past the 15-byte limit
    // (the CPU's #GP); 12 make it 15 bytes, which is still an instruction.
    let flood = |n: usize| {
        let mut c = vec![0x3E; n];
        c.extend_from_slice(&MOV_RDI_RSI);
        c
    };
    for n in [13, 14, 40] {
        tb.regs.rdi = at;
        tb.regs.rsp = tb.scratch() - 0x100;
        assert!(!fault(&mut tb, &flood(n), at), "{n} prefixes");
        assert_eq!(entry(&tb, t, idx), old);
    }
    tb.regs.rdi = at;
    tb.regs.rsp = tb.scratch() - 0x100;
    assert!(fault(&mut tb, &flood(12), at));
    assert_eq!(entry(&tb, t, idx), ro);

    // An instruction ending at the last byte before an unmapped page is read whole; one
    // running into that page is not.
    tb.regs.rsi = old;
    let end = unmapped;
    tb.regs.rdi = at;
    tb.regs.rsp = tb.scratch() - 0x100;
    fault_at(&mut tb, end - 3, &MOV_RDI_RSI, at, EC_WRITE);
    assert_eq!(tb.regs.rip, end, "emulated");
    assert_eq!(entry(&tb, t, idx), old);
    tb.write_bytes(end - 2, &MOV_RDI_RSI[..2]);
    tb.regs.rsi = ro;
    fault_at(&mut tb, end - 2, &[], at, EC_WRITE);
    assert_eq!(tb.regs.rip, PF_HANDLER);
    assert_eq!(entry(&tb, t, idx), old);
}

#[test]
fn linux_bit_operations_on_an_entry_are_merged_and_validated() {
    let mut tb = boot();
    let va = spare(&tb, 0);
    let m = frame(&tb, va).unwrap();
    let (t, idx) = l1_of(&tb, va);
    let at = entry_va(&tb, va);
    tb.regs.rdi = at;

    // clear_bit(_PAGE_BIT_RW): lock andb $~2, (rdi). The result byte 0x65 has even parity.
    tb.regs.rflags = RFLAGS_IF | 2 | CF | ZF | OF;
    assert!(fault(&mut tb, &[0xF0, 0x80, 0x27, 0xFD], at));
    assert_eq!(entry(&tb, t, idx), m << 12 | RO);
    assert_eq!(tb.regs.rflags, RFLAGS_IF | 2 | PF);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::None, 0, 1));

    // set_bit(_PAGE_BIT_RW): lock orb $2, (rdi).
    assert!(fault(&mut tb, &[0xF0, 0x80, 0x0F, 0x02], at));
    assert_eq!(entry(&tb, t, idx), m << 12 | RW);
    let p = info(&tb, m);
    assert_eq!((p.ptype, p.type_count, p.refs), (PageType::Writable, 1, 1));

    // test_and_clear_bit(_PAGE_BIT_ACCESSED): lock btrq $5, (rdi); CF is the old bit.
    let btr = [0xF0, 0x48, 0x0F, 0xBA, 0x37, 0x05];
    assert!(fault(&mut tb, &btr, at));
    assert_ne!(tb.regs.rflags & CF, 0);
    assert_eq!(entry(&tb, t, idx), m << 12 | (RW & !pte::A));
    assert!(fault(&mut tb, &btr, at));
    assert_eq!(tb.regs.rflags & CF, 0);
    // lock btsq $5, (rdi) sets it back.
    assert!(fault(&mut tb, &[0xF0, 0x48, 0x0F, 0xBA, 0x2F, 0x05], at));
    assert_eq!(tb.regs.rflags & CF, 0);
    assert_eq!(entry(&tb, t, idx), m << 12 | RW);

    // A byte above the first: lock andb $0xff, 1(rdi) leaves the entry, and sets the flags
    // from that byte (the entry's bits 8..15), not from the whole entry.
    assert!(fault(&mut tb, &[0xF0, 0x80, 0x67, 0x01, 0xFF], at + 1));
    assert_eq!(entry(&tb, t, idx), m << 12 | RW);
    let byte1 = (m << 12 | RW) >> 8 & 0xFF;
    assert_eq!(tb.regs.rflags & ZF != 0, byte1 == 0);
    assert_eq!(tb.regs.rflags & SF != 0, byte1 & 0x80 != 0);
    assert_eq!(
        tb.regs.rflags & PF != 0,
        byte1.count_ones().is_multiple_of(2)
    );

    // Making the entry that maps a page table writable is refused: the guest's #PF.
    let l1_va = at & !0xFFF;
    let (t2, idx2) = l1_of(&tb, l1_va);
    let at2 = entry_va(&tb, l1_va);
    let before = (entry(&tb, t2, idx2), tb.frame_snapshot());
    tb.regs.rdi = at2;
    tb.regs.rsp = tb.scratch() - 0x100;
    assert!(!fault(&mut tb, &[0xF0, 0x80, 0x0F, 0x02], at2));
    assert_eq!((entry(&tb, t2, idx2), tb.frame_snapshot()), before);
    // A qword bit operation at a misaligned address is not emulated either.
    tb.regs.rdi = at + 1;
    tb.regs.rsp = tb.scratch() - 0x100;
    assert!(!fault(&mut tb, &btr, at + 1));
    assert_eq!(entry(&tb, t, idx), m << 12 | RW);
}
