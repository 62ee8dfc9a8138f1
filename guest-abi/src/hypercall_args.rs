//! Typed views of each hypercall's argument registers.
//!
//! A hypercall arrives as five 64-bit registers (`rdi, rsi, rdx, r10, r8`, see
//! [`crate::hypercall`]). Xen declares most of them narrower (`unsigned int count`,
//! `domid_t`, `int cmd`); each view here decodes the registers into the declared widths once,
//! and a register whose value does not fit its declared type is refused with `-EINVAL`
//! rather than silently truncated.

use crate::errno::Errno;
use crate::memory::MEMOP_EXTENT_SHIFT;
use crate::types::DomId;

/// The five argument registers as the guest left them.
pub type RawArgs = [u64; 5];

/// A hypercall's arguments, decoded from its argument registers.
pub trait HypercallArgs: Sized {
    /// Decode `raw`, refusing (`EINVAL`) any register too wide for its declared type.
    fn decode(raw: RawArgs) -> Result<Self, Errno>;
}

/// `reg` as the narrower type `T` the ABI declares, or `EINVAL` if it does not fit.
pub fn narrow<T: TryFrom<u64>>(reg: u64) -> Result<T, Errno> {
    T::try_from(reg).map_err(|_| Errno::EINVAL)
}

/// A domain id passed in a register (`domid_t`, 16 bits).
pub fn domid(reg: u64) -> Result<DomId, Errno> {
    narrow::<u16>(reg).map(DomId)
}

/// `iret(void)`: the context is on the guest stack; the registers carry nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoArgs;

impl HypercallArgs for NoArgs {
    fn decode(_: RawArgs) -> Result<Self, Errno> {
        Ok(NoArgs)
    }
}

/// One guest pointer: `set_trap_table(traps)`, `domctl(op)`, `sysctl(op)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtrArg {
    /// Guest virtual address of the argument structure (0 may mean "none").
    pub ptr: u64,
}

impl HypercallArgs for PtrArg {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(PtrArg { ptr: r[0] })
    }
}

/// `(int cmd, void *arg)`: `xen_version`, `sched_op`, `event_channel_op`, `callback_op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdArg {
    /// The sub-command.
    pub cmd: u32,
    /// Its argument: usually a guest pointer.
    pub arg: u64,
}

impl HypercallArgs for CmdArg {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(CmdArg {
            cmd: narrow(r[0])?,
            arg: r[1],
        })
    }
}

/// `mmu_update` / `mmuext_op(reqs, unsigned int count, unsigned int *done, domid)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchArgs {
    /// The request array.
    pub list: u64,
    /// The number of requests (Xen keeps a continuation flag in bit 31).
    pub count: u32,
    /// Where the number of completed requests is written (0: nowhere).
    pub done: u64,
    /// The domain whose frames the requests name (DOMID_SELF: the caller).
    pub foreign_dom: DomId,
}

impl HypercallArgs for BatchArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(BatchArgs {
            list: r[0],
            count: narrow(r[1])?,
            done: r[2],
            foreign_dom: domid(r[3])?,
        })
    }
}

/// `set_gdt(frame_list, unsigned int entries)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetGdtArgs {
    /// The frame list (machine frame numbers).
    pub frames: u64,
    /// The number of descriptors.
    pub entries: u32,
}

impl HypercallArgs for SetGdtArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(SetGdtArgs {
            frames: r[0],
            entries: narrow(r[1])?,
        })
    }
}

/// `update_descriptor(u64 maddr, u64 desc)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateDescriptorArgs {
    /// Machine address of the descriptor slot.
    pub maddr: u64,
    /// The new descriptor.
    pub desc: u64,
}

impl HypercallArgs for UpdateDescriptorArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(UpdateDescriptorArgs {
            maddr: r[0],
            desc: r[1],
        })
    }
}

/// `stack_switch(unsigned long ss, unsigned long esp)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackSwitchArgs {
    /// The kernel stack segment.
    pub ss: u64,
    /// The kernel stack pointer.
    pub sp: u64,
}

impl HypercallArgs for StackSwitchArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(StackSwitchArgs { ss: r[0], sp: r[1] })
    }
}

/// `set_callbacks(event, failsafe, syscall)`: three entry addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetCallbacksArgs {
    /// Event upcall entry.
    pub event: u64,
    /// Failsafe callback entry.
    pub failsafe: u64,
    /// Syscall entry from guest user mode.
    pub syscall: u64,
}

impl HypercallArgs for SetCallbacksArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(SetCallbacksArgs {
            event: r[0],
            failsafe: r[1],
            syscall: r[2],
        })
    }
}

/// `set_segment_base(unsigned int which, unsigned long base)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentBaseArgs {
    /// Which base (`SEGBASE_*`).
    pub which: u32,
    /// The new base.
    pub base: u64,
}

impl HypercallArgs for SegmentBaseArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(SegmentBaseArgs {
            which: narrow(r[0])?,
            base: r[1],
        })
    }
}

/// `fpu_taskswitch(int set)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpuTaskswitchArgs {
    /// Set (true) or clear the virtual CR0.TS.
    pub set: bool,
}

impl HypercallArgs for FpuTaskswitchArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(FpuTaskswitchArgs {
            set: narrow::<u32>(r[0])? != 0,
        })
    }
}

/// `vm_assist(unsigned int cmd, unsigned int type)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmAssistArgs {
    /// `VMASST_CMD_enable` or `VMASST_CMD_disable`.
    pub cmd: u32,
    /// The assist (`VMASST_TYPE_*`).
    pub type_: u32,
}

impl HypercallArgs for VmAssistArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(VmAssistArgs {
            cmd: narrow(r[0])?,
            type_: narrow(r[1])?,
        })
    }
}

/// `set_debugreg(int reg, unsigned long value)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetDebugregArgs {
    /// The debug register (0–3, 6, 7).
    pub reg: u32,
    /// Its new value.
    pub value: u64,
}

impl HypercallArgs for SetDebugregArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(SetDebugregArgs {
            reg: narrow(r[0])?,
            value: r[1],
        })
    }
}

/// `get_debugreg(int reg)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetDebugregArgs {
    /// The debug register (0–3, 6, 7).
    pub reg: u32,
}

impl HypercallArgs for GetDebugregArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(GetDebugregArgs { reg: narrow(r[0])? })
    }
}

/// `set_timer_op(u64 timeout)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetTimerArgs {
    /// System time (ns) of the one-shot deadline; 0 cancels it.
    pub timeout: u64,
}

impl HypercallArgs for SetTimerArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(SetTimerArgs { timeout: r[0] })
    }
}

/// `memory_op(unsigned long cmd, void *arg)`: the command word also carries the extent a
/// continued call restarts at, above [`MEMOP_EXTENT_SHIFT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryOpArgs {
    /// The sub-command (`XENMEM_*`).
    pub cmd: u32,
    /// The extent to start at (0 unless continued).
    pub start_extent: u64,
    /// The argument structure.
    pub arg: u64,
}

impl MemoryOpArgs {
    /// The command word that continues this call at extent `at`.
    pub fn continue_at(&self, at: u64) -> u64 {
        u64::from(self.cmd) | (at << MEMOP_EXTENT_SHIFT)
    }
}

impl HypercallArgs for MemoryOpArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(MemoryOpArgs {
            cmd: (r[0] & ((1 << MEMOP_EXTENT_SHIFT) - 1)) as u32,
            start_extent: r[0] >> MEMOP_EXTENT_SHIFT,
            arg: r[1],
        })
    }
}

/// `multicall(call_list, uint32_t nr_calls)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulticallArgs {
    /// The `multicall_entry` array.
    pub list: u64,
    /// The number of entries.
    pub count: u32,
}

impl HypercallArgs for MulticallArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(MulticallArgs {
            list: r[0],
            count: narrow(r[1])?,
        })
    }
}

/// `update_va_mapping(va, u64 val, flags)` and `update_va_mapping_otherdomain(…, domid)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateVaArgs {
    /// The virtual address whose L1 entry changes.
    pub va: u64,
    /// The new entry.
    pub val: u64,
    /// `UVMF_*` flush flags.
    pub flags: u64,
    /// The domain owning the frame (`update_va_mapping_otherdomain` only; else DOMID_SELF).
    pub domid: DomId,
}

impl HypercallArgs for UpdateVaArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(UpdateVaArgs {
            va: r[0],
            val: r[1],
            flags: r[2],
            domid: DomId::SELF,
        })
    }
}

/// `update_va_mapping_otherdomain(va, u64 val, flags, domid_t domid)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateVaOtherArgs(pub UpdateVaArgs);

impl HypercallArgs for UpdateVaOtherArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(UpdateVaOtherArgs(UpdateVaArgs {
            domid: domid(r[3])?,
            ..UpdateVaArgs::decode(r)?
        }))
    }
}

/// `console_io(unsigned int cmd, unsigned int count, char *buffer)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleIoArgs {
    /// `CONSOLEIO_*`.
    pub cmd: u32,
    /// Bytes to write, or the buffer size to read into.
    pub count: u32,
    /// The guest buffer.
    pub buf: u64,
}

impl HypercallArgs for ConsoleIoArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(ConsoleIoArgs {
            cmd: narrow(r[0])?,
            count: narrow(r[1])?,
            buf: r[2],
        })
    }
}

/// `grant_table_op(unsigned int cmd, void *uops, unsigned int count)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantTableOpArgs {
    /// `GNTTABOP_*`.
    pub cmd: u32,
    /// The operation array.
    pub uops: u64,
    /// The number of operations.
    pub count: u32,
}

impl HypercallArgs for GrantTableOpArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(GrantTableOpArgs {
            cmd: narrow(r[0])?,
            uops: r[1],
            count: narrow(r[2])?,
        })
    }
}

/// `vcpu_op(int cmd, unsigned int vcpuid, void *arg)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuOpArgs {
    /// `VCPUOP_*`.
    pub cmd: u32,
    /// The vCPU the command applies to.
    pub vcpu: u32,
    /// The argument structure.
    pub arg: u64,
}

impl HypercallArgs for VcpuOpArgs {
    fn decode(r: RawArgs) -> Result<Self, Errno> {
        Ok(VcpuOpArgs {
            cmd: narrow(r[0])?,
            vcpu: narrow(r[1])?,
            arg: r[2],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_refuses_what_does_not_fit() {
        assert_eq!(narrow::<u32>(u64::from(u32::MAX)), Ok(u32::MAX));
        assert_eq!(narrow::<u32>(1 << 32), Err(Errno::EINVAL));
        assert_eq!(narrow::<u16>(0x1_0000), Err(Errno::EINVAL));
        assert_eq!(domid(0x7FF0), Ok(DomId::SELF));
        assert_eq!(domid(0x1_7FF0), Err(Errno::EINVAL));
    }

    #[test]
    fn views_decode_each_register_at_its_width() {
        let b = BatchArgs::decode([0x1000, 3, 0x2000, 0x7FF0, 99]).unwrap();
        assert_eq!(
            (b.list, b.count, b.done, b.foreign_dom),
            (0x1000, 3, 0x2000, DomId::SELF)
        );
        // A count or domid with high bits set is refused, never truncated to a valid one.
        assert_eq!(
            BatchArgs::decode([0, 1 << 32 | 3, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(BatchArgs::decode([0, 3, 0, 1 << 16, 0]), Err(Errno::EINVAL));
        assert_eq!(CmdArg::decode([1 << 32, 0, 0, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(
            GrantTableOpArgs::decode([0, 0, u64::MAX, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            VcpuOpArgs::decode([0, 1 << 40, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ConsoleIoArgs::decode([0, 1 << 32, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            MulticallArgs::decode([0, 1 << 32, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            SetGdtArgs::decode([0, 1 << 32, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            SegmentBaseArgs::decode([1 << 32, 0, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            FpuTaskswitchArgs::decode([1 << 32, 0, 0, 0, 0]),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            FpuTaskswitchArgs::decode([1, 0, 0, 0, 0]),
            Ok(FpuTaskswitchArgs { set: true })
        );
        let o = UpdateVaOtherArgs::decode([0x4000, 7, 2, 5, 0]).unwrap().0;
        assert_eq!((o.va, o.val, o.flags, o.domid), (0x4000, 7, 2, DomId(5)));
        assert_eq!(
            UpdateVaArgs::decode([0x4000, 7, 2, 5, 0]).unwrap().domid,
            DomId::SELF
        );
    }

    #[test]
    fn memory_op_command_word_carries_the_restart_extent() {
        let m = MemoryOpArgs::decode([(7 << MEMOP_EXTENT_SHIFT) | 6, 0x5000, 0, 0, 0]).unwrap();
        assert_eq!((m.cmd, m.start_extent, m.arg), (6, 7, 0x5000));
        assert_eq!(m.continue_at(9), (9 << MEMOP_EXTENT_SHIFT) | 6);
    }
}
