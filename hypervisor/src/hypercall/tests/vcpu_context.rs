//! A vCPU's whole context (`domain::vcpu_context`, through `VCPUOP_initialise` and
//! `XEN_DOMCTL_setvcpucontext`): what Linux's secondary-vCPU bring-up sets — GDT frames and
//! entries, LDT, callbacks with the `VGCF_*_disables_events` flags, debug registers, FPU
//! image — loaded as `set_gdt`, `MMUEXT_SET_LDT`, `callback_op` and `set_debugreg` would,
//! and hostile contexts refused whole, with every frame's type and count as before.

use super::descriptors::{
    desc_frame, frame, info, loaded, numbered, snapshot, spare, system, Tables, HOLE,
    KERNEL_CODE64, KERNEL_DATA,
};
use super::domctl::{context_of, kernel_l4, set_context};
use super::smp::{ap_context, initialise, smp_domu, vcpu_op};
use crate::domain::VcpuId;
use crate::mm::page_types::PageType;
use crate::testbed::{err, Testbed};
use guest_abi::arch::{VcpuGuestContext, VgcfFlags};
use guest_abi::errno::Errno;
use guest_abi::types::DomId;
use guest_abi::vcpu::*;

/// `v`'s descriptor tables.
fn tables_of(tb: &Testbed, v: VcpuId) -> Tables {
    tb.st(|st| numbered(&st.vcpu(v).expect("vCPU").desc))
}

/// A context as Linux's `cpu_initialize_context` builds one for vCPU `vcpu` of `dom`: a
/// GDT frame of its own (kernel code and data in it), ring-0 selectors, IOPL 1 in RFLAGS,
/// kernel mode, event and failsafe callbacks, a per-CPU kernel GS base.
fn linux_like(tb: &mut Testbed, dom: DomId, vcpu: u32, gdt_k: u64) -> (VcpuGuestContext, u64) {
    let g = desc_frame(tb, gdt_k, &[(2, KERNEL_CODE64), (3, KERNEL_DATA)]);
    let mut c = ap_context(tb, dom, vcpu);
    c.gdt_frames[0] = g;
    c.gdt_ents = 16 * 8;
    c.user_regs.cs = 0x10;
    c.user_regs.ss = 0x18;
    c.user_regs.ds = 0x2b;
    c.user_regs.rflags = 0x1000;
    c.kernel_ss = 0x18;
    c.gs_base_kernel = 0xFFFF_8880_0010_0000 + u64::from(vcpu) * 0x1000;
    c.failsafe_callback_eip = 0xFFFF_FFFF_8000_4100;
    (c, g)
}

#[test]
fn initialise_loads_the_gdt_ldt_callback_flags_debug_registers_and_fpu() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    tb.run(u);
    let (mut c, g) = linux_like(&mut tb, u, 1, 0);
    // An LDT of 600 entries (two frames) at spare pages 1–2, mapped by the kernel table.
    let l0 = desc_frame(&mut tb, 1, &[]);
    let l1 = desc_frame(&mut tb, 2, &[]);
    c.ldt_base = spare(&tb, 1);
    c.ldt_ents = 600;
    c.flags = (VgcfFlags::IN_KERNEL
        | VgcfFlags::FAILSAFE_DISABLES_EVENTS
        | VgcfFlags::SYSCALL_DISABLES_EVENTS
        | VgcfFlags::I387_VALID)
        .bits();
    c.syscall_callback_eip = 0xFFFF_FFFF_8000_4200;
    c.debugreg[0] = 0xFFFF_FFFF_8000_5000;
    c.debugreg[7] = 0x1 | 1 << 16; // L0, a write breakpoint
    c.debugreg[4] = 0xDEAD; // DR4/DR5 are not kept
                            // An FXSAVE image with a control word of its own and every MXCSR bit set.
    c.fpu_ctxt[0..2].copy_from_slice(&0x027Fu16.to_le_bytes());
    c.fpu_ctxt[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    c.fpu_ctxt[160] = 0xAB; // XMM0's first byte
    assert_eq!(initialise(&mut tb, 1, &c), 0);
    let v1 = VcpuId::new(u, 1);
    assert_eq!(
        tables_of(&tb, v1),
        (vec![g], 128, vec![l0, l1], 600, spare(&tb, 1))
    );
    for m in [g, l0, l1] {
        assert_eq!(info(&tb, m), (PageType::SegDesc, 1), "frame {m}");
    }
    // vCPU 0's own tables are untouched and still loaded.
    assert_eq!(tables_of(&tb, VcpuId::new(u, 0)), (vec![], 0, vec![], 0, 0));
    assert_eq!(loaded(), (vec![], 0, vec![], 0, 0));
    tb.st(|st| {
        let v = st.vcpu(v1).unwrap();
        assert_eq!((v.regs.cs, v.regs.ss), (0x13, 0x1b));
        assert_eq!(v.regs.rflags & 0x3000, 0, "IOPL is not the guest's to set");
        assert!(v.in_kernel);
        assert_eq!(v.kernel_ss, 0x1b);
        assert_eq!(v.gs_base_kernel, c.gs_base_kernel);
        let cb = v.callbacks;
        assert_eq!(
            (cb.event, cb.failsafe, cb.syscall),
            (
                c.event_callback_eip,
                c.failsafe_callback_eip,
                c.syscall_callback_eip
            )
        );
        assert!(cb.failsafe_masks_events && cb.syscall_masks_events);
        assert_eq!(v.debugreg[0], 0xFFFF_FFFF_8000_5000);
        assert_eq!(v.debugreg[4], 0);
        assert_eq!(
            v.debugreg[7] & 0xFFFF_0003,
            0x1 | 1 << 16,
            "DR7 as checked by set_debugreg"
        );
        assert_eq!(v.fpu.area.0[0..2], 0x027Fu16.to_le_bytes());
        assert_eq!(v.fpu.area.0[160], 0xAB);
        let mxcsr = u32::from_le_bytes(v.fpu.area.0[24..28].try_into().unwrap());
        assert_eq!(mxcsr, 0xFFBF, "MXCSR's reserved bits (and DAZ) cleared");
    });
    // Up and on the CPU, vCPU 1 runs with its own GDT and LDT loaded.
    assert_eq!(vcpu_op(&mut tb, VCPUOP_UP, 1, 0), 0);
    tb.run_vcpu(v1);
    assert_eq!(loaded(), (vec![g], 128, vec![l0, l1], 600, spare(&tb, 1)));
    assert_eq!(crate::arch::cpu::gs_base(), c.gs_base_kernel);
    tb.run_vcpu(VcpuId::new(u, 0));
    assert_eq!(loaded(), (vec![], 0, vec![], 0, 0));
}

#[test]
fn without_the_flags_the_callbacks_leave_events_alone_and_the_fpu_is_reset() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    tb.run(u);
    let (mut c, _) = linux_like(&mut tb, u, 1, 0);
    c.flags = VgcfFlags::IN_KERNEL.bits();
    c.fpu_ctxt = [0xFF; 512]; // not valid: ignored
    assert_eq!(initialise(&mut tb, 1, &c), 0);
    tb.st(|st| {
        let v = st.vcpu(VcpuId::new(u, 1)).unwrap();
        assert!(!v.callbacks.failsafe_masks_events && !v.callbacks.syscall_masks_events);
        assert_eq!(v.fpu.area.0, crate::arch::fpu::reset_area().0);
        assert_eq!(v.debugreg, crate::domain::debugreg::RESET);
    });
}

#[test]
fn hostile_contexts_are_refused_whole_and_take_nothing() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    let l4_0 = kernel_l4(&tb, DomId::DOM0);
    tb.run(DomId::DOM0);
    let dom0_frame = desc_frame(&mut tb, 0, &[]);
    tb.run(u);
    let l4 = kernel_l4(&tb, u);
    let (good, g) = linux_like(&mut tb, u, 1, 0);
    let gate = desc_frame(&mut tb, 1, &[(5, system(0xC) | 0xE008 << 16 | 0x1000)]);
    let ldt_ok = desc_frame(&mut tb, 2, &[]);
    // A frame the domU maps writable (its scratch area).
    let writable = frame(&tb, tb.scratch());
    let before = snapshot(&tb);
    let mut cases: Vec<(&str, VcpuGuestContext)> = Vec::new();
    let mut with = |name, f: &dyn Fn(&mut VcpuGuestContext)| {
        let mut c = good;
        f(&mut c);
        cases.push((name, c));
    };
    with("GDT entries into the reserved area", &|c| {
        c.gdt_ents = 14 * 512 + 1
    });
    with("GDT entries beyond every frame", &|c| c.gdt_ents = u64::MAX);
    with("a GDT frame mapped writable", &|c| {
        c.gdt_frames[0] = writable
    });
    with("dom0's frame as GDT", &|c| c.gdt_frames[0] = dom0_frame);
    with("the domain's L4 as GDT", &|c| c.gdt_frames[0] = l4);
    with("dom0's L4 as GDT", &|c| c.gdt_frames[0] = l4_0);
    with("a GDT frame beyond memory", &|c| c.gdt_frames[0] = 1 << 40);
    with("a call gate in the GDT", &|c| c.gdt_frames[0] = gate);
    with("a good GDT frame then a bad one", &|c| {
        c.gdt_frames[1] = writable;
        c.gdt_ents = 600;
    });
    with("an LDT base not page-aligned", &|c| {
        c.ldt_base = spare(&tb, 2) + 8;
        c.ldt_ents = 1;
    });
    with("an LDT in the hypervisor hole", &|c| {
        c.ldt_base = HOLE;
        c.ldt_ents = 1;
    });
    with("an LDT non-canonical", &|c| {
        c.ldt_base = 0x0000_8000_0000_0000;
        c.ldt_ents = 1;
    });
    with("too many LDT entries", &|c| {
        c.ldt_base = spare(&tb, 2);
        c.ldt_ents = 8193;
    });
    with("an LDT at an unmapped address", &|c| {
        c.ldt_base = 0x0000_7000_0000_0000;
        c.ldt_ents = 1;
    });
    with("an LDT on a writable frame", &|c| {
        c.ldt_base = tb.scratch();
        c.ldt_ents = 1;
    });
    with("an LDT running onto a writable frame", &|c| {
        c.ldt_base = spare(&tb, 2);
        c.ldt_ents = 1024; // two pages: spare 2, then spare 3 (still writable)
    });
    with("a breakpoint in the hypervisor hole", &|c| {
        c.debugreg[1] = HOLE
    });
    with("a non-canonical breakpoint", &|c| {
        c.debugreg[2] = 0x0000_8000_0000_0000
    });
    with("DR6 wider than 32 bits", &|c| c.debugreg[6] = 1 << 32);
    with("DR7 wider than 32 bits", &|c| c.debugreg[7] = 1 << 40);
    with("an I/O breakpoint", &|c| c.debugreg[7] = 0x1 | 2 << 16);
    for (name, c) in &cases {
        assert_eq!(initialise(&mut tb, 1, c), err(Errno::EINVAL), "{name}");
        assert!(
            !tb.st(|st| st.vcpu(VcpuId::new(u, 1)).unwrap().initialised),
            "{name}"
        );
        assert_eq!(tables_of(&tb, VcpuId::new(u, 1)).0, Vec::<u64>::new());
        assert!(snapshot(&tb) == before, "{name}: a frame's type changed");
    }
    // A bad page table after good descriptor frames: its error, the frames given back.
    let mut bad_l4 = good;
    bad_l4.ctrlreg[3] = writable << 12;
    bad_l4.ldt_base = spare(&tb, 2);
    bad_l4.ldt_ents = 1;
    assert!(initialise(&mut tb, 1, &bad_l4) < 0);
    assert!(snapshot(&tb) == before, "bad L4: a frame's type changed");
    // The good one still loads after all that.
    assert_eq!(initialise(&mut tb, 1, &good), 0);
    assert_eq!(info(&tb, g), (PageType::SegDesc, 1));
    assert_eq!(info(&tb, ldt_ok), (PageType::None, 0));
}

#[test]
fn setvcpucontext_replaces_the_tables_and_gives_the_old_frames_back() {
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    tb.run(u);
    let (c1, g1) = linux_like(&mut tb, u, 1, 0);
    let (mut c2, g2) = linux_like(&mut tb, u, 1, 1);
    let l = desc_frame(&mut tb, 2, &[]);
    c2.ldt_base = spare(&tb, 2);
    c2.ldt_ents = 3;
    tb.run(DomId::DOM0);
    assert_eq!(set_context(&mut tb, u, 1, &c1), 0);
    assert_eq!(info(&tb, g1), (PageType::SegDesc, 1));
    assert_eq!(set_context(&mut tb, u, 1, &c2), 0);
    assert_eq!(info(&tb, g1).1, 0, "the old GDT frame was given back");
    assert_eq!(info(&tb, g2), (PageType::SegDesc, 1));
    assert_eq!(info(&tb, l), (PageType::SegDesc, 1));
    assert_eq!(
        tables_of(&tb, VcpuId::new(u, 1)),
        (vec![g2], 128, vec![l], 3, spare(&tb, 2))
    );
    // dom0's frames are not the domU's to use, even when dom0 sets the context.
    let mut foreign = c1;
    let d0 = desc_frame(&mut tb, 3, &[]);
    foreign.gdt_frames[0] = d0;
    assert_eq!(set_context(&mut tb, u, 1, &foreign), err(Errno::EINVAL));
    assert_eq!(info(&tb, d0), (PageType::None, 0));
    assert_eq!(info(&tb, g2), (PageType::SegDesc, 1), "the loaded one kept");
}

/// The domain's `vm_assist` types.
fn assists(tb: &Testbed, dom: DomId) -> u64 {
    tb.st(|st| st.dom(dom).expect("domain").vm_assist)
}

#[test]
fn vcpu0s_first_context_sets_the_vm_assists_other_vcpus_do_not() {
    use guest_abi::mmu::*;
    let mut tb = Testbed::boot();
    let u = smp_domu(&mut tb, 2);
    let wpt = 1 << VMASST_TYPE_WRITABLE_PAGETABLES;
    let runstate = 1 << VMASST_TYPE_RUNSTATE_UPDATE_FLAG;
    let strict = 1 << VMASST_TYPE_M2P_STRICT;
    // The builder's context named none: writable page tables, always in force, only.
    assert_eq!(assists(&tb, u), wpt);
    let mut c = context_of(&tb, u);
    tb.run(DomId::DOM0);
    // vCPU 0 as a fresh domain's (not initialised yet), as a builder or restore sets it.
    tb.st(|st| st.dom(u).unwrap().vcpus[0].initialised = false);
    // A type a 64-bit PV guest may not turn on: EINVAL, nothing loaded, assists unchanged.
    for bad in [1 << 6, 1 << 31, 1 << 63] {
        c.vm_assist = runstate | bad;
        assert_eq!(
            set_context(&mut tb, u, 0, &c),
            err(Errno::EINVAL),
            "{bad:#x}"
        );
        assert_eq!(assists(&tb, u), wpt, "{bad:#x}");
        assert!(!tb.st(|st| st.dom(u).unwrap().vcpus[0].initialised));
    }
    c.vm_assist = runstate | strict;
    assert_eq!(set_context(&mut tb, u, 0, &c), 0);
    assert_eq!(assists(&tb, u), wpt | runstate | strict);
    // Once initialised, vCPU 0's context no longer changes them (but still has them checked).
    c.vm_assist = 0;
    assert_eq!(set_context(&mut tb, u, 0, &c), 0);
    assert_eq!(assists(&tb, u), wpt | runstate | strict);
    c.vm_assist = 1 << 63;
    assert_eq!(set_context(&mut tb, u, 0, &c), err(Errno::EINVAL));
    // Another vCPU's vm_assist is ignored, whatever it holds (Linux leaves it zero).
    tb.run(u);
    let (mut ap, _) = linux_like(&mut tb, u, 1, 0);
    ap.vm_assist = u64::MAX;
    assert_eq!(initialise(&mut tb, 1, &ap), 0);
    assert_eq!(assists(&tb, u), wpt | runstate | strict);
}
