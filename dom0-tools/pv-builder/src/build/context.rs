//! The initial vCPU state of a freshly built PV domain (fact sheet §2 "Entry").

use super::BuildResult;
use guest_abi::arch::{
    xen_pfn_to_cr3, VcpuGuestContext, VgcfFlags, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64,
};

/// rflags on entry: IF set (events are masked through vcpu_info instead).
pub const ENTRY_RFLAGS: u64 = 0x200;

/// Fills `ctx` (zeroed first) to start `r`: rip = entry, rsp = top of the boot stack,
/// rsi = start_info, rflags 0x200, flat kernel CS/SS, null data selectors, CR3 = the L4,
/// kernel_ss/kernel_sp = the boot stack, flags IN_KERNEL | ONLINE.
pub fn fill_vcpu_context(r: &BuildResult, ctx: &mut VcpuGuestContext) {
    *ctx = VcpuGuestContext::default();
    ctx.flags = (VgcfFlags::IN_KERNEL | VgcfFlags::ONLINE).bits();
    let regs = &mut ctx.user_regs;
    regs.rip = r.entry;
    regs.rsp = r.stack_top;
    regs.rsi = r.start_info_va;
    regs.rflags = ENTRY_RFLAGS;
    regs.cs = FLAT_KERNEL_CS64;
    regs.ss = FLAT_KERNEL_SS64;
    regs.ds = 0;
    regs.es = 0;
    regs.fs = 0;
    regs.gs = 0;
    ctx.kernel_ss = FLAT_KERNEL_SS64.into();
    ctx.kernel_sp = r.stack_top;
    ctx.ctrlreg[3] = xen_pfn_to_cr3(r.l4_mfn);
}
