//! Writable page tables ("ptwr", `VMASST_TYPE_writable_pagetables`): a 64-bit PV guest
//! kernel writes an entry of one of its own L1 page tables directly, through the read-only
//! mapping every table has; the write faults, and here it is decoded, validated exactly as
//! `mmu_update` would (`FrameTable::mod_entry`) and carried out, and the guest resumes after
//! the instruction.
//!
//! As Xen: only L1 tables (typed, in use, owned by the caller), only from guest kernel
//! mode, only a present read-only mapping, and only a naturally aligned store within
//! the faulting page. The forms Linux's PTE helpers use are emulated: `mov` of a register or
//! of a sign-extended immediate, `xchg` and `(lock) cmpxchg`, all 64-bit, and the atomic
//! bit operations of `clear_bit`/`set_bit`/`test_and_clear_bit` on an entry (`lock
//! and`/`or` of a byte or qword, `lock btr`/`bts` with an immediate bit), the byte merged
//! into the entry before validation as Xen does. Anything else —
//! another width, a misaligned or displaced address, an FS/GS-relative operand, instruction
//! bytes that cannot be read or decoded, an entry validation refuses — is not emulated and
//! the caller delivers the original #PF to the guest.
//!
//! Instructions are decoded with `iced-x86` (a maintained, table-driven decoder built
//! `no_std`), never by hand: a hostile encoding (prefix floods, over-long instructions) is
//! simply an invalid instruction to it.

use crate::arch;
use crate::domain::state::State;
use crate::mm::guest_copy;
use crate::mm::guest_walk::l1_slot;
use crate::mm::page_types::{PageType, TableMem};
use crate::mm::pte;
use guest_abi::arch::CpuUserRegs;
use guest_abi::types::Mfn;
use iced_x86::{Code, Decoder, DecoderOptions, Instruction, OpKind, Register};

/// #PF error code: the page was present (a protection fault).
const PFEC_PRESENT: u32 = 1 << 0;
/// #PF error code: a write.
const PFEC_WRITE: u32 = 1 << 1;
/// #PF error code: a reserved bit was set in an entry.
const PFEC_RESERVED: u32 = 1 << 3;
/// #PF error code: an instruction fetch.
const PFEC_FETCH: u32 = 1 << 4;
/// The longest x86 instruction.
const MAX_INSN: usize = 15;

/// The arithmetic flags `cmpxchg` sets (CF, PF, AF, ZF, SF, OF).
const CF: u64 = 1 << 0;
const PF: u64 = 1 << 2;
const AF: u64 = 1 << 4;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const OF: u64 = 1 << 11;

/// A write #PF of the current guest: true if it was a write to one of its own L1 tables
/// that was emulated.
pub fn page_fault(st: &mut State, regs: &mut CpuUserRegs) -> bool {
    emulate(st, regs).is_some()
}

/// What the decoded instruction does to the entry.
enum Op {
    /// `mov`: store the value.
    Store(u64),
    /// `xchg` with a register: store its value, the old entry goes into it.
    Exchange(Register),
    /// `cmpxchg` with a register: store it if the entry equals rax.
    CompareExchange(Register),
    /// `(lock) and`/`or` of an operand into `width` bytes of the entry (Linux's
    /// `clear_bit`/`set_bit` of a constant bit is a byte-wide `lock andb`/`orb`).
    Logic { and: bool, src: u64, width: u64 },
    /// `(lock) btr`/`bts` with an immediate bit number (`test_and_clear_bit`): CF gets the
    /// bit's old value.
    BitTest { set: bool, bit: u32 },
}

impl Op {
    /// Bytes of the entry the instruction writes (its address must be aligned to them).
    fn width(&self) -> u64 {
        match self {
            Op::Logic { width, .. } => *width,
            _ => 8,
        }
    }
}

fn emulate(st: &mut State, regs: &mut CpuUserRegs) -> Option<()> {
    // A write to a present page from the guest kernel: a protection fault, nothing else.
    let ec = regs.error_code;
    if ec & (PFEC_PRESENT | PFEC_WRITE | PFEC_RESERVED | PFEC_FETCH) != PFEC_PRESENT | PFEC_WRITE
        || !st.cur_vcpu().in_kernel
    {
        return None;
    }
    let cr2 = arch::cpu::read_cr2();
    let cur = st.current.dom;
    // The L1 entry mapping the faulting address must map the page present and read-only.
    let root = Mfn::containing(arch::cpu::read_cr3());
    let (l1, slot) = l1_slot(&st.mem, root, cr2)?;
    let mapping = st.mem.read(l1, slot);
    if mapping & (pte::P | pte::RW) != pte::P {
        return None;
    }
    // And the page it maps must be an L1 table of the caller's, in use.
    let table = pte::mfn(mapping);
    {
        let (ft, _) = st.frame_table();
        let t = ft.get(table)?;
        if t.owner != cur || t.ptype != PageType::L1 || t.type_count == 0 {
            return None;
        }
    }

    let insn = fetch_and_decode(st, regs.rip)?;
    let op = decode_op(&insn, regs)?;
    let addr = insn.virtual_address(0, 0, |r, _, _| segment_or_reg(regs, r))?;
    // Only naturally aligned stores within the page that faulted.
    if (addr ^ cr2) & !0xFFF != 0 || addr % op.width() != 0 {
        return None;
    }
    let idx = ((addr & 0xFFF) >> 3) as usize;

    let (mut ft, mem) = st.frame_table();
    let old = mem.read(table, idx);
    let arith = CF | PF | AF | ZF | SF | OF;
    match op {
        Op::Store(v) => ft.mod_entry(mem, table, idx, v, cur, cur).ok()?,
        Op::Exchange(r) => {
            ft.mod_entry(mem, table, idx, reg(regs, r)?, cur, cur)
                .ok()?;
            set_reg(regs, r, old)?;
        }
        Op::CompareExchange(r) => {
            let expected = regs.rax;
            if old == expected {
                ft.mod_entry(mem, table, idx, reg(regs, r)?, cur, cur)
                    .ok()?;
            } else {
                regs.rax = old;
            }
            // The flags of `cmp rax, old`, as the CPU leaves them.
            regs.rflags = (regs.rflags & !arith) | cmp_flags(expected, old);
        }
        Op::Logic { and, src, width } => {
            let shift = (addr & 7) * 8;
            let mask = if width == 8 {
                u64::MAX
            } else {
                (1 << (width * 8)) - 1
            };
            let part = old >> shift & mask;
            let res = if and { part & src } else { part | src } & mask;
            let new = (old & !(mask << shift)) | res << shift;
            ft.mod_entry(mem, table, idx, new, cur, cur).ok()?;
            // and/or clear CF and OF and set SF, ZF, PF from the result (AF undefined: 0).
            regs.rflags = (regs.rflags & !arith) | logic_flags(res, width);
        }
        Op::BitTest { set, bit } => {
            let m = 1u64 << bit;
            let new = if set { old | m } else { old & !m };
            ft.mod_entry(mem, table, idx, new, cur, cur).ok()?;
            regs.rflags = (regs.rflags & !CF) | if old & m != 0 { CF } else { 0 };
        }
    }
    regs.rip = insn.next_ip();
    Some(())
}

/// Read the instruction at `rip` through the guest-copy layer (as many of its up to 15 bytes
/// as are mapped) and decode it as 64-bit code; `None` if unreadable or invalid.
fn fetch_and_decode(st: &State, rip: u64) -> Option<Instruction> {
    let mut bytes = [0u8; MAX_INSN];
    // The bytes up to the end of rip's page, then (if the instruction may go on) the next.
    let first = MAX_INSN.min(0x1000 - (rip & 0xFFF) as usize);
    guest_copy::copy_from_guest(&st.mem, rip, &mut bytes[..first]).ok()?;
    let mut len = first;
    if first < MAX_INSN
        && guest_copy::copy_from_guest(&st.mem, rip.wrapping_add(first as u64), &mut bytes[first..])
            .is_ok()
    {
        len = MAX_INSN;
    }
    let mut decoder = Decoder::with_ip(64, &bytes[..len], rip, DecoderOptions::NONE);
    let insn = decoder.decode();
    (!insn.is_invalid()).then_some(insn)
}

/// The entry update an instruction performs, if it is one of the emulated forms with a
/// memory destination.
fn decode_op(insn: &Instruction, regs: &CpuUserRegs) -> Option<Op> {
    if insn.op0_kind() != OpKind::Memory {
        return None;
    }
    let logic = |and: bool, width: u64| Op::Logic {
        and,
        src: insn.immediate(1),
        width,
    };
    match insn.code() {
        Code::Mov_rm64_r64 => Some(Op::Store(reg(regs, insn.op1_register())?)),
        Code::Mov_rm64_imm32 => Some(Op::Store(insn.immediate32to64() as u64)),
        Code::Xchg_rm64_r64 => Some(Op::Exchange(insn.op1_register())),
        Code::Cmpxchg_rm64_r64 => Some(Op::CompareExchange(insn.op1_register())),
        Code::And_rm8_imm8 => Some(logic(true, 1)),
        Code::Or_rm8_imm8 => Some(logic(false, 1)),
        Code::And_rm64_imm8 | Code::And_rm64_imm32 => Some(logic(true, 8)),
        Code::Or_rm64_imm8 | Code::Or_rm64_imm32 => Some(logic(false, 8)),
        Code::And_rm64_r64 | Code::Or_rm64_r64 => Some(Op::Logic {
            and: insn.code() == Code::And_rm64_r64,
            src: reg(regs, insn.op1_register())?,
            width: 8,
        }),
        Code::Btr_rm64_imm8 | Code::Bts_rm64_imm8 => Some(Op::BitTest {
            set: insn.code() == Code::Bts_rm64_imm8,
            bit: (insn.immediate(1) & 63) as u32,
        }),
        _ => None,
    }
}

/// The value of a register in an address computation: the 64-bit general registers, and
/// the segments whose base is 0 in long mode. FS/GS (and 32-bit address registers) are not
/// emulated.
fn segment_or_reg(regs: &CpuUserRegs, r: Register) -> Option<u64> {
    match r {
        Register::ES | Register::CS | Register::SS | Register::DS => Some(0),
        _ => reg(regs, r),
    }
}

/// The slot of 64-bit general register `r` in the guest frame.
fn reg_slot(regs: &mut CpuUserRegs, r: Register) -> Option<&mut u64> {
    Some(match r {
        Register::RAX => &mut regs.rax,
        Register::RCX => &mut regs.rcx,
        Register::RDX => &mut regs.rdx,
        Register::RBX => &mut regs.rbx,
        Register::RSP => &mut regs.rsp,
        Register::RBP => &mut regs.rbp,
        Register::RSI => &mut regs.rsi,
        Register::RDI => &mut regs.rdi,
        Register::R8 => &mut regs.r8,
        Register::R9 => &mut regs.r9,
        Register::R10 => &mut regs.r10,
        Register::R11 => &mut regs.r11,
        Register::R12 => &mut regs.r12,
        Register::R13 => &mut regs.r13,
        Register::R14 => &mut regs.r14,
        Register::R15 => &mut regs.r15,
        _ => return None,
    })
}

fn reg(regs: &CpuUserRegs, r: Register) -> Option<u64> {
    let mut copy = *regs;
    reg_slot(&mut copy, r).map(|v| *v)
}

fn set_reg(regs: &mut CpuUserRegs, r: Register, v: u64) -> Option<()> {
    *reg_slot(regs, r)? = v;
    Some(())
}

/// SF, ZF and PF of a logical result `r` of `width` bytes (CF, OF and AF clear).
fn logic_flags(r: u64, width: u64) -> u64 {
    let mut f = 0;
    if r == 0 {
        f |= ZF;
    }
    if r >> (width * 8 - 1) & 1 != 0 {
        f |= SF;
    }
    if (r as u8).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    f
}

/// The arithmetic flags of `a - b` (64-bit), as `cmp a, b` sets them.
fn cmp_flags(a: u64, b: u64) -> u64 {
    let r = a.wrapping_sub(b);
    let mut f = 0;
    if a < b {
        f |= CF;
    }
    if (r as u8).count_ones().is_multiple_of(2) {
        f |= PF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if r == 0 {
        f |= ZF;
    }
    if r >> 63 != 0 {
        f |= SF;
    }
    if ((a ^ b) & (a ^ r)) >> 63 != 0 {
        f |= OF;
    }
    f
}

#[cfg(test)]
mod tests;
