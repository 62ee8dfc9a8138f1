//! Conformance of every layout and number in `guest-abi` with Xen's public C
//! headers: a C probe is generated, compiled with `cc` against
//! `/usr/include/xen` and run, and each value it prints is compared with the
//! Rust side. Missing headers are a failure, never a skip.

use core::mem::{offset_of, size_of};
use guest_abi::arch::*;
use guest_abi::callback::*;
use guest_abi::console::*;
use guest_abi::domctl::*;
use guest_abi::elfnote::*;
use guest_abi::errno::Errno;
use guest_abi::event_channel::*;
use guest_abi::grant_table::*;
use guest_abi::hypercall::nr;
use guest_abi::io::blkif::*;
use guest_abi::io::netif::*;
use guest_abi::io::xenbus::XenbusState;
use guest_abi::io::xenstore::*;
use guest_abi::memory::*;
use guest_abi::mmu::*;
use guest_abi::multicall::*;
use guest_abi::physdev::*;
use guest_abi::ring::{ring_geometry, SharedRing};
use guest_abi::sched::*;
use guest_abi::shared_info::*;
use guest_abi::start_info::*;
use guest_abi::sysctl::*;
use guest_abi::types::DomId;
use guest_abi::vcpu::*;
use guest_abi::version::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "install libxen-dev (apt-get install libxen-dev)";

/// One check: a C expression and the value the Rust side has for it.
struct Check {
    c: String,
    rust: i128,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn add(&mut self, c: impl Into<String>, rust: impl TryInto<i128>) {
        let rust = rust
            .try_into()
            .unwrap_or_else(|_| panic!("value out of range"));
        self.0.push(Check { c: c.into(), rust });
    }
}

/// `layout!(k, "c_struct", RustType, [field, c_name => rust_name, ...])`:
/// checks the size and every listed field offset.
macro_rules! layout {
    ($k:ident, $cs:literal, $rt:ty, [$($cf:tt $(=> $rf:ident)?),* $(,)?]) => {{
        $k.add(concat!("sizeof(struct ", $cs, ")"), size_of::<$rt>());
        $(
            $k.add(
                concat!("offsetof(struct ", $cs, ", ", stringify!($cf), ")"),
                layout!(@off $rt, $cf $(=> $rf)?),
            );
        )*
    }};
    (@off $rt:ty, $cf:tt => $rf:ident) => { offset_of!($rt, $rf) };
    (@off $rt:ty, $cf:ident) => { offset_of!($rt, $cf) };
}

/// `consts!(k, C_NAME => rust_expr, ...)`.
macro_rules! consts {
    ($k:ident, $($c:ident => $r:expr),* $(,)?) => {
        $( $k.add(stringify!($c), $r as i128); )*
    };
}

fn layouts(k: &mut Checks) {
    // xen.h / arch-x86
    layout!(
        k,
        "start_info",
        StartInfo,
        [
            magic,
            nr_pages,
            shared_info,
            flags,
            store_mfn,
            store_evtchn,
            console,
            pt_base,
            nr_pt_frames,
            mfn_list,
            mod_start,
            mod_len,
            cmd_line,
            first_p2m_pfn,
            nr_p2m_frames
        ]
    );
    k.add(
        "sizeof(((struct start_info *)0)->console)",
        size_of::<StartInfoConsole>(),
    );
    k.add(
        "offsetof(struct start_info, console.domU.mfn)",
        offset_of!(StartInfo, console) + offset_of!(DomUConsole, mfn),
    );
    k.add(
        "offsetof(struct start_info, console.domU.evtchn)",
        offset_of!(StartInfo, console) + offset_of!(DomUConsole, evtchn),
    );
    k.add(
        "offsetof(struct start_info, console.dom0.info_off)",
        offset_of!(StartInfo, console) + offset_of!(Dom0Console, info_off),
    );
    k.add(
        "offsetof(struct start_info, console.dom0.info_size)",
        offset_of!(StartInfo, console) + offset_of!(Dom0Console, info_size),
    );
    layout!(
        k,
        "vcpu_time_info",
        VcpuTimeInfo,
        [
            version,
            pad0,
            tsc_timestamp,
            system_time,
            tsc_to_system_mul,
            tsc_shift,
            flags,
            pad1
        ]
    );
    layout!(k, "arch_vcpu_info", ArchVcpuInfo, [cr2, pad]);
    layout!(
        k,
        "vcpu_info",
        VcpuInfo,
        [
            evtchn_upcall_pending,
            evtchn_upcall_mask,
            evtchn_pending_sel,
            arch,
            time
        ]
    );
    layout!(
        k,
        "arch_shared_info",
        ArchSharedInfo,
        [
            max_pfn,
            pfn_to_mfn_frame_list_list,
            nmi_reason,
            p2m_cr3,
            p2m_vaddr,
            p2m_generation
        ]
    );
    layout!(
        k,
        "shared_info",
        SharedInfo,
        [
            vcpu_info,
            evtchn_pending,
            evtchn_mask,
            wc_version,
            wc_sec,
            wc_nsec,
            wc_sec_hi,
            arch
        ]
    );
    layout!(
        k,
        "cpu_user_regs",
        CpuUserRegs,
        [
            r15,
            r14,
            r13,
            r12,
            rbp,
            rbx,
            r11,
            r10,
            r9,
            r8,
            rax,
            rcx,
            rdx,
            rsi,
            rdi,
            error_code,
            entry_vector,
            rip,
            cs,
            _pad0,
            saved_upcall_mask,
            _pad1,
            rflags,
            rsp,
            ss,
            _pad2,
            es,
            _pad3,
            ds,
            _pad4,
            fs,
            _pad5,
            gs,
            _pad6
        ]
    );
    layout!(
        k,
        "iret_context",
        IretContext,
        [rax, r11, rcx, flags, rip, cs, rflags, rsp, ss]
    );
    layout!(k, "trap_info", TrapInfo, [vector, flags, cs, address]);
    layout!(
        k,
        "vcpu_guest_context",
        VcpuGuestContext,
        [
            fpu_ctxt,
            flags,
            user_regs,
            trap_ctxt,
            ldt_base,
            ldt_ents,
            gdt_frames,
            gdt_ents,
            kernel_ss,
            kernel_sp,
            ctrlreg,
            debugreg,
            event_callback_eip,
            failsafe_callback_eip,
            syscall_callback_eip,
            vm_assist,
            fs_base,
            gs_base_kernel,
            gs_base_user
        ]
    );
    layout!(k, "mmu_update", MmuUpdate, [ptr, val]);
    layout!(k, "mmuext_op", MmuextOp, [cmd, arg1, arg2]);
    layout!(k, "multicall_entry", MulticallEntry, [op, result, args]);
    // callback.h
    layout!(k, "callback_register", CallbackRegister, [type => type_, flags, address]);
    layout!(k, "callback_unregister", CallbackUnregister, [type => type_]);
    // memory.h
    layout!(
        k,
        "xen_memory_reservation",
        XenMemoryReservation,
        [extent_start, nr_extents, extent_order, mem_flags, domid]
    );
    layout!(
        k,
        "xen_machphys_mfn_list",
        XenMachphysMfnList,
        [max_extents, extent_start, nr_extents]
    );
    layout!(
        k,
        "xen_machphys_mapping",
        XenMachphysMapping,
        [v_start, v_end, max_mfn]
    );
    layout!(
        k,
        "xen_add_to_physmap",
        XenAddToPhysmap,
        [domid, size, space, idx, gpfn]
    );
    layout!(k, "xen_memory_map", XenMemoryMap, [nr_entries, buffer]);
    // sched.h
    layout!(k, "sched_shutdown", SchedShutdown, [reason]);
    layout!(k, "sched_poll", SchedPoll, [ports, nr_ports, timeout]);
    layout!(
        k,
        "sched_remote_shutdown",
        SchedRemoteShutdown,
        [domain_id, reason]
    );
    layout!(k, "sched_watchdog", SchedWatchdog, [id, timeout]);
    // vcpu.h
    layout!(
        k,
        "vcpu_runstate_info",
        VcpuRunstateInfo,
        [state, state_entry_time, time]
    );
    layout!(
        k,
        "vcpu_set_periodic_timer",
        VcpuSetPeriodicTimer,
        [period_ns]
    );
    layout!(
        k,
        "vcpu_set_singleshot_timer",
        VcpuSetSingleshotTimer,
        [timeout_abs_ns, flags]
    );
    layout!(
        k,
        "vcpu_register_runstate_memory_area",
        VcpuRegisterRunstateMemoryArea,
        [addr]
    );
    layout!(
        k,
        "vcpu_register_time_memory_area",
        VcpuRegisterTimeMemoryArea,
        [addr]
    );
    layout!(
        k,
        "vcpu_register_vcpu_info",
        VcpuRegisterVcpuInfo,
        [mfn, offset, rsvd]
    );
    // physdev.h
    layout!(k, "physdev_set_iopl", PhysdevSetIopl, [iopl]);
    layout!(
        k,
        "physdev_irq_status_query",
        PhysdevIrqStatusQuery,
        [irq, flags]
    );
    layout!(k, "physdev_eoi", PhysdevEoi, [irq]);
    layout!(
        k,
        "physdev_map_pirq",
        PhysdevMapPirq,
        [domid, type => kind, index, pirq, bus, devfn, entry_nr, table_base]
    );
    layout!(k, "physdev_unmap_pirq", PhysdevUnmapPirq, [domid, pirq]);
    layout!(
        k,
        "physdev_setup_gsi",
        PhysdevSetupGsi,
        [gsi, triggering, polarity]
    );
    layout!(k, "physdev_get_free_pirq", PhysdevGetFreePirq, [type => kind, pirq]);
    // version.h
    layout!(k, "xen_feature_info", XenFeatureInfo, [submap_idx, submap]);
    layout!(
        k,
        "xen_compile_info",
        XenCompileInfo,
        [compiler, compile_by, compile_domain, compile_date]
    );
    layout!(
        k,
        "xen_platform_parameters",
        XenPlatformParameters,
        [virt_start]
    );
    k.add("sizeof(xen_extraversion_t)", size_of::<XenExtraversion>());
    k.add(
        "sizeof(xen_capabilities_info_t)",
        size_of::<XenCapabilitiesInfo>(),
    );
    k.add(
        "sizeof(xen_changeset_info_t)",
        size_of::<XenChangesetInfo>(),
    );
    // event_channel.h
    layout!(
        k,
        "evtchn_bind_interdomain",
        EvtchnBindInterdomain,
        [remote_dom, remote_port, local_port]
    );
    layout!(k, "evtchn_bind_virq", EvtchnBindVirq, [virq, vcpu, port]);
    layout!(k, "evtchn_bind_pirq", EvtchnBindPirq, [pirq, flags, port]);
    layout!(k, "evtchn_close", EvtchnClose, [port]);
    layout!(k, "evtchn_send", EvtchnSend, [port]);
    layout!(
        k,
        "evtchn_status",
        EvtchnStatus,
        [dom, port, status, vcpu, u]
    );
    k.add(
        "offsetof(struct evtchn_status, u.interdomain.dom)",
        offset_of!(EvtchnStatus, u),
    );
    k.add(
        "offsetof(struct evtchn_status, u.interdomain.port)",
        offset_of!(EvtchnStatus, u) + 4,
    );
    k.add(
        "offsetof(struct evtchn_status, u.virq)",
        offset_of!(EvtchnStatus, u),
    );
    layout!(
        k,
        "evtchn_alloc_unbound",
        EvtchnAllocUnbound,
        [dom, remote_dom, port]
    );
    layout!(k, "evtchn_bind_ipi", EvtchnBindIpi, [vcpu, port]);
    layout!(k, "evtchn_bind_vcpu", EvtchnBindVcpu, [port, vcpu]);
    layout!(k, "evtchn_unmask", EvtchnUnmask, [port]);
    layout!(k, "evtchn_reset", EvtchnReset, [dom]);
    layout!(
        k,
        "evtchn_init_control",
        EvtchnInitControl,
        [control_gfn, offset, vcpu, link_bits, _pad]
    );
    layout!(k, "evtchn_expand_array", EvtchnExpandArray, [array_gfn]);
    layout!(
        k,
        "evtchn_set_priority",
        EvtchnSetPriority,
        [port, priority]
    );
    // grant_table.h
    layout!(k, "grant_entry_v1", GrantEntryV1, [flags, domid, frame]);
    layout!(k, "gnttab_map_grant_ref", GnttabMapGrantRef, [host_addr, flags, ref => ref_, dom,
        status, handle, dev_bus_addr]);
    layout!(
        k,
        "gnttab_unmap_grant_ref",
        GnttabUnmapGrantRef,
        [host_addr, dev_bus_addr, handle, status]
    );
    layout!(
        k,
        "gnttab_setup_table",
        GnttabSetupTable,
        [dom, nr_frames, status, frame_list]
    );
    layout!(k, "gnttab_dump_table", GnttabDumpTable, [dom, status]);
    layout!(k, "gnttab_transfer", GnttabTransfer, [mfn, domid, ref => ref_, status]);
    layout!(
        k,
        "gnttab_copy",
        GnttabCopy,
        [source, dest, len, flags, status]
    );
    k.add(
        "offsetof(struct gnttab_copy, source.domid)",
        offset_of!(GnttabCopy, source) + offset_of!(GnttabCopyPtr, domid),
    );
    k.add(
        "offsetof(struct gnttab_copy, source.offset)",
        offset_of!(GnttabCopy, source) + offset_of!(GnttabCopyPtr, offset),
    );
    k.add(
        "offsetof(struct gnttab_copy, dest.u.gmfn)",
        offset_of!(GnttabCopy, dest) + offset_of!(GnttabCopyPtr, u),
    );
    k.add(
        "sizeof(((struct gnttab_copy *)0)->source)",
        size_of::<GnttabCopyPtr>(),
    );
    layout!(
        k,
        "gnttab_query_size",
        GnttabQuerySize,
        [dom, nr_frames, max_nr_frames, status]
    );
    layout!(
        k,
        "gnttab_unmap_and_replace",
        GnttabUnmapAndReplace,
        [host_addr, new_addr, handle, status]
    );
    layout!(k, "gnttab_set_version", GnttabSetVersion, [version]);
    layout!(
        k,
        "gnttab_get_version",
        GnttabGetVersion,
        [dom, pad, version]
    );
    // domctl.h
    layout!(
        k,
        "xen_domctl",
        XenDomctl,
        [cmd, interface_version, domain, _pad, u]
    );
    k.add(
        "sizeof(((struct xen_domctl *)0)->u)",
        size_of::<[u64; 16]>(),
    );
    layout!(
        k,
        "xen_arch_domainconfig",
        XenArchDomainconfig,
        [emulation_flags, misc_flags]
    );
    layout!(
        k,
        "xen_domctl_createdomain",
        DomctlCreateDomain,
        [
            ssidref,
            handle,
            flags,
            iommu_opts,
            max_vcpus,
            max_evtchn_port,
            max_grant_frames,
            max_maptrack_frames,
            grant_opts,
            vmtrace_size,
            cpupool_id,
            arch
        ]
    );
    layout!(
        k,
        "xen_domctl_getdomaininfo",
        DomctlGetDomainInfo,
        [
            domain,
            pad1,
            flags,
            tot_pages,
            max_pages,
            outstanding_pages,
            shr_pages,
            paged_pages,
            shared_info_frame,
            cpu_time,
            nr_online_vcpus,
            max_vcpu_id,
            ssidref,
            handle,
            cpupool,
            gpaddr_bits,
            pad2,
            arch_config
        ]
    );
    layout!(k, "xen_domctl_max_mem", DomctlMaxMem, [max_memkb]);
    layout!(k, "xen_domctl_max_vcpus", DomctlMaxVcpus, [max]);
    layout!(
        k,
        "xen_domctl_sendtrigger",
        DomctlSendTrigger,
        [trigger, vcpu]
    );
    layout!(k, "xen_domctl_vcpucontext", DomctlVcpuContext, [vcpu, ctxt]);
    layout!(
        k,
        "xen_domctl_getpageframeinfo3",
        DomctlGetPageFrameInfo3,
        [num, array]
    );
    layout!(
        k,
        "xen_domctl_getvcpuinfo",
        DomctlGetVcpuInfo,
        [vcpu, online, blocked, running, cpu_time, cpu]
    );
    layout!(k, "xen_domctl_hypercall_init", DomctlHypercallInit, [gmfn]);
    layout!(
        k,
        "xen_domctl_shadow_op_stats",
        DomctlShadowOpStats,
        [fault_count, dirty_count]
    );
    layout!(
        k,
        "xen_domctl_shadow_op",
        DomctlShadowOp,
        [op, mode, mb, dirty_bitmap, pages, stats]
    );
    layout!(k, "xenctl_bitmap", XenctlBitmap, [bitmap, nr_bits]);
    layout!(
        k,
        "xen_domctl_vcpuaffinity",
        DomctlVcpuAffinity,
        [vcpu, flags, cpumap_hard, cpumap_soft]
    );
    layout!(
        k,
        "xen_domctl_setdomainhandle",
        DomctlSetDomainHandle,
        [handle]
    );
    layout!(
        k,
        "xen_domctl_irq_permission",
        DomctlIrqPermission,
        [pirq, allow_access, pad]
    );
    layout!(
        k,
        "xen_domctl_iomem_permission",
        DomctlIomemPermission,
        [first_mfn, nr_mfns, allow_access]
    );
    layout!(
        k,
        "xen_domctl_ioport_permission",
        DomctlIoportPermission,
        [first_port, nr_ports, allow_access]
    );
    layout!(
        k,
        "xen_domctl_settimeoffset",
        DomctlSetTimeOffset,
        [time_offset_seconds]
    );
    layout!(k, "xen_domctl_address_size", DomctlAddressSize, [size]);
    layout!(
        k,
        "xen_domctl_sched_credit",
        DomctlSchedCredit,
        [weight, cap]
    );
    layout!(
        k,
        "xen_domctl_scheduler_op",
        DomctlSchedulerOp,
        [sched_id, cmd]
    );
    k.add(
        "offsetof(struct xen_domctl_scheduler_op, u.credit)",
        offset_of!(DomctlSchedulerOp, credit),
    );
    layout!(k, "xen_domctl_set_target", DomctlSetTarget, [target]);
    // sysctl.h
    layout!(k, "xen_sysctl", XenSysctl, [cmd, interface_version, u]);
    k.add(
        "sizeof(((struct xen_sysctl *)0)->u)",
        size_of::<[u64; 16]>(),
    );
    layout!(
        k,
        "xen_sysctl_perfc_op",
        SysctlPerfcOp,
        [cmd, nr_counters, nr_vals, desc, val]
    );
    layout!(k, "xen_sysctl_perfc_desc", SysctlPerfcDesc, [name, nr_vals]);
    layout!(
        k,
        "xen_sysctl_readconsole",
        SysctlReadconsole,
        [clear, incremental, pad0, pad1, index, buffer, count]
    );
    layout!(
        k,
        "xen_sysctl_physinfo",
        SysctlPhysinfo,
        [
            threads_per_core,
            cores_per_socket,
            nr_cpus,
            max_cpu_id,
            nr_nodes,
            max_node_id,
            cpu_khz,
            capabilities,
            arch_capabilities,
            pad,
            total_pages,
            free_pages,
            scrub_pages,
            outstanding_pages,
            max_mfn,
            hw_cap
        ]
    );
    layout!(
        k,
        "xen_sysctl_getdomaininfolist",
        SysctlGetdomaininfolist,
        [first_domain, max_domains, buffer, num_domains]
    );
    layout!(k, "xen_sysctl_sched_id", SysctlSchedId, [sched_id]);
    // io/
    layout!(k, "xencons_interface", XenconsInterface, [in => in_, out, in_cons, in_prod,
        out_cons, out_prod]);
    layout!(
        k,
        "xenstore_domain_interface",
        XenstoreDomainInterface,
        [
            req,
            rsp,
            req_cons,
            req_prod,
            rsp_cons,
            rsp_prod,
            server_features,
            connection,
            error
        ]
    );
    layout!(k, "xsd_sockmsg", XsdSockmsg, [type => type_, req_id, tx_id, len]);
    layout!(
        k,
        "blkif_request_segment",
        BlkifRequestSegment,
        [gref, first_sect, last_sect]
    );
    layout!(
        k,
        "blkif_request",
        BlkifRequest,
        [operation, nr_segments, handle, id, sector_number, seg]
    );
    layout!(k, "blkif_response", BlkifResponse, [id, operation, status]);
    layout!(
        k,
        "blkif_request_indirect",
        BlkifRequestIndirect,
        [
            operation,
            indirect_op,
            nr_segments,
            id,
            sector_number,
            handle,
            indirect_grefs
        ]
    );
    layout!(
        k,
        "netif_tx_request",
        NetifTxRequest,
        [gref, offset, flags, id, size]
    );
    layout!(k, "netif_tx_response", NetifTxResponse, [id, status]);
    layout!(k, "netif_rx_request", NetifRxRequest, [id, pad, gref]);
    layout!(k, "netif_extra_info", NetifExtraInfo, [type => type_, flags, u]);
    layout!(
        k,
        "netif_rx_response",
        NetifRxResponse,
        [id, offset, flags, status]
    );
    // io/ring.h: the shared ring header and slot counts.
    // The C type declares one slot (`ring[1]`); our page type has them all,
    // so compare the header offsets only.
    for (f, o) in [
        ("req_prod", offset_of!(SharedRing, req_prod)),
        ("req_event", offset_of!(SharedRing, req_event)),
        ("rsp_prod", offset_of!(SharedRing, rsp_prod)),
        ("rsp_event", offset_of!(SharedRing, rsp_event)),
        ("ring", offset_of!(SharedRing, ring)),
    ] {
        k.add(format!("offsetof(struct blkif_sring, {f})"), o);
        k.add(format!("offsetof(struct netif_tx_sring, {f})"), o);
    }
    k.add(
        "__CONST_RING_SIZE(blkif, 4096)",
        ring_geometry::<BlkifRequest, BlkifResponse>().1,
    );
    k.add(
        "sizeof(union blkif_sring_entry)",
        ring_geometry::<BlkifRequest, BlkifResponse>().0,
    );
    // Multi-page blkif rings (ring-page-order 1..4).
    for pages in [2usize, 4, 8, 16] {
        k.add(
            format!("__CONST_RING_SIZE(blkif, {})", pages * 4096),
            blkif_ring_entries(pages),
        );
    }
    k.add("sizeof(union blkif_sring_entry)", BLKIF_RING_SLOT);
    k.add(
        "__CONST_RING_SIZE(netif_tx, 4096)",
        ring_geometry::<NetifTxRequest, NetifTxResponse>().1,
    );
    k.add(
        "__CONST_RING_SIZE(netif_rx, 4096)",
        ring_geometry::<NetifRxRequest, NetifRxResponse>().1,
    );
}

fn constants(k: &mut Checks) {
    consts!(k,
        __HYPERVISOR_set_trap_table => nr::SET_TRAP_TABLE, __HYPERVISOR_mmu_update => nr::MMU_UPDATE,
        __HYPERVISOR_set_gdt => nr::SET_GDT, __HYPERVISOR_stack_switch => nr::STACK_SWITCH,
        __HYPERVISOR_set_callbacks => nr::SET_CALLBACKS,
        __HYPERVISOR_fpu_taskswitch => nr::FPU_TASKSWITCH,
        __HYPERVISOR_sched_op_compat => nr::SCHED_OP_COMPAT,
        __HYPERVISOR_platform_op => nr::PLATFORM_OP,
        __HYPERVISOR_set_debugreg => nr::SET_DEBUGREG,
        __HYPERVISOR_get_debugreg => nr::GET_DEBUGREG,
        __HYPERVISOR_update_descriptor => nr::UPDATE_DESCRIPTOR,
        __HYPERVISOR_memory_op => nr::MEMORY_OP, __HYPERVISOR_multicall => nr::MULTICALL,
        __HYPERVISOR_update_va_mapping => nr::UPDATE_VA_MAPPING,
        __HYPERVISOR_set_timer_op => nr::SET_TIMER_OP,
        __HYPERVISOR_event_channel_op_compat => nr::EVENT_CHANNEL_OP_COMPAT,
        __HYPERVISOR_xen_version => nr::XEN_VERSION, __HYPERVISOR_console_io => nr::CONSOLE_IO,
        __HYPERVISOR_physdev_op_compat => nr::PHYSDEV_OP_COMPAT,
        __HYPERVISOR_grant_table_op => nr::GRANT_TABLE_OP,
        __HYPERVISOR_vm_assist => nr::VM_ASSIST,
        __HYPERVISOR_update_va_mapping_otherdomain => nr::UPDATE_VA_MAPPING_OTHERDOMAIN,
        __HYPERVISOR_iret => nr::IRET, __HYPERVISOR_vcpu_op => nr::VCPU_OP,
        __HYPERVISOR_set_segment_base => nr::SET_SEGMENT_BASE,
        __HYPERVISOR_mmuext_op => nr::MMUEXT_OP, __HYPERVISOR_xsm_op => nr::XSM_OP,
        __HYPERVISOR_nmi_op => nr::NMI_OP, __HYPERVISOR_sched_op => nr::SCHED_OP,
        __HYPERVISOR_callback_op => nr::CALLBACK_OP, __HYPERVISOR_xenoprof_op => nr::XENOPROF_OP,
        __HYPERVISOR_event_channel_op => nr::EVENT_CHANNEL_OP,
        __HYPERVISOR_physdev_op => nr::PHYSDEV_OP, __HYPERVISOR_hvm_op => nr::HVM_OP,
        __HYPERVISOR_sysctl => nr::SYSCTL, __HYPERVISOR_domctl => nr::DOMCTL,
        __HYPERVISOR_kexec_op => nr::KEXEC_OP, __HYPERVISOR_tmem_op => nr::TMEM_OP,
        __HYPERVISOR_argo_op => nr::ARGO_OP, __HYPERVISOR_xenpmu_op => nr::XENPMU_OP,
        __HYPERVISOR_dm_op => nr::DM_OP, __HYPERVISOR_hypfs_op => nr::HYPFS_OP,
        __HYPERVISOR_arch_0 => nr::ARCH_0, __HYPERVISOR_arch_1 => nr::ARCH_1,
        __HYPERVISOR_arch_2 => nr::ARCH_2, __HYPERVISOR_arch_3 => nr::ARCH_3,
        __HYPERVISOR_arch_4 => nr::ARCH_4, __HYPERVISOR_arch_5 => nr::ARCH_5,
        __HYPERVISOR_arch_6 => nr::ARCH_6, __HYPERVISOR_arch_7 => nr::ARCH_7,
    );
    consts!(k,
        XEN_ELFNOTE_INFO => XEN_ELFNOTE_INFO, XEN_ELFNOTE_ENTRY => XEN_ELFNOTE_ENTRY,
        XEN_ELFNOTE_HYPERCALL_PAGE => XEN_ELFNOTE_HYPERCALL_PAGE,
        XEN_ELFNOTE_VIRT_BASE => XEN_ELFNOTE_VIRT_BASE,
        XEN_ELFNOTE_PADDR_OFFSET => XEN_ELFNOTE_PADDR_OFFSET,
        XEN_ELFNOTE_XEN_VERSION => XEN_ELFNOTE_XEN_VERSION,
        XEN_ELFNOTE_GUEST_OS => XEN_ELFNOTE_GUEST_OS,
        XEN_ELFNOTE_GUEST_VERSION => XEN_ELFNOTE_GUEST_VERSION,
        XEN_ELFNOTE_LOADER => XEN_ELFNOTE_LOADER, XEN_ELFNOTE_PAE_MODE => XEN_ELFNOTE_PAE_MODE,
        XEN_ELFNOTE_FEATURES => XEN_ELFNOTE_FEATURES,
        XEN_ELFNOTE_BSD_SYMTAB => XEN_ELFNOTE_BSD_SYMTAB,
        XEN_ELFNOTE_HV_START_LOW => XEN_ELFNOTE_HV_START_LOW,
        XEN_ELFNOTE_L1_MFN_VALID => XEN_ELFNOTE_L1_MFN_VALID,
        XEN_ELFNOTE_SUSPEND_CANCEL => XEN_ELFNOTE_SUSPEND_CANCEL,
        XEN_ELFNOTE_INIT_P2M => XEN_ELFNOTE_INIT_P2M,
        XEN_ELFNOTE_MOD_START_PFN => XEN_ELFNOTE_MOD_START_PFN,
        XEN_ELFNOTE_SUPPORTED_FEATURES => XEN_ELFNOTE_SUPPORTED_FEATURES,
        XEN_ELFNOTE_PHYS32_ENTRY => XEN_ELFNOTE_PHYS32_ENTRY,
    );
    consts!(k,
        SIF_PRIVILEGED => SifFlags::PRIVILEGED.bits(), SIF_INITDOMAIN => SifFlags::INITDOMAIN.bits(),
        SIF_MULTIBOOT_MOD => SifFlags::MULTIBOOT_MOD.bits(),
        SIF_MOD_START_PFN => SifFlags::MOD_START_PFN.bits(),
        SIF_VIRT_P2M_4TOOLS => SifFlags::VIRT_P2M_4TOOLS.bits(),
        MAX_GUEST_CMDLINE => MAX_GUEST_CMDLINE,
        XEN_LEGACY_MAX_VCPUS => XEN_LEGACY_MAX_VCPUS,
        EVTCHN_2L_NR_CHANNELS => EVTCHN_2L_NR_CHANNELS,
        XEN_PVCLOCK_TSC_STABLE_BIT => XEN_PVCLOCK_TSC_STABLE_BIT,
        XEN_PVCLOCK_GUEST_STOPPED => XEN_PVCLOCK_GUEST_STOPPED,
        DOMID_FIRST_RESERVED => DomId::FIRST_RESERVED.0, DOMID_SELF => DomId::SELF.0,
        DOMID_IO => DomId::IO.0, DOMID_XEN => DomId::XEN.0, DOMID_COW => DomId::COW.0,
        DOMID_INVALID => DomId::INVALID.0, DOMID_IDLE => DomId::IDLE.0,
    );
    consts!(k,
        FLAT_RING3_CS32 => FLAT_RING3_CS32, FLAT_RING3_CS64 => FLAT_RING3_CS64,
        FLAT_RING3_DS32 => FLAT_RING3_DS32, FLAT_RING3_DS64 => FLAT_RING3_DS64,
        FLAT_RING3_SS32 => FLAT_RING3_SS32, FLAT_RING3_SS64 => FLAT_RING3_SS64,
        FLAT_KERNEL_DS64 => FLAT_KERNEL_DS64, FLAT_KERNEL_DS32 => FLAT_KERNEL_DS32,
        FLAT_KERNEL_DS => FLAT_KERNEL_DS, FLAT_KERNEL_CS64 => FLAT_KERNEL_CS64,
        FLAT_KERNEL_CS32 => FLAT_KERNEL_CS32, FLAT_KERNEL_CS => FLAT_KERNEL_CS,
        FLAT_KERNEL_SS64 => FLAT_KERNEL_SS64, FLAT_KERNEL_SS32 => FLAT_KERNEL_SS32,
        FLAT_KERNEL_SS => FLAT_KERNEL_SS, FLAT_USER_DS64 => FLAT_USER_DS64,
        FLAT_USER_DS32 => FLAT_USER_DS32, FLAT_USER_DS => FLAT_USER_DS,
        FLAT_USER_CS64 => FLAT_USER_CS64, FLAT_USER_CS32 => FLAT_USER_CS32,
        FLAT_USER_CS => FLAT_USER_CS, FLAT_USER_SS64 => FLAT_USER_SS64,
        FLAT_USER_SS32 => FLAT_USER_SS32, FLAT_USER_SS => FLAT_USER_SS,
        __HYPERVISOR_VIRT_START => HYPERVISOR_VIRT_START,
        __HYPERVISOR_VIRT_END => HYPERVISOR_VIRT_END,
        __MACH2PHYS_VIRT_START => MACH2PHYS_VIRT_START,
        __MACH2PHYS_VIRT_END => MACH2PHYS_VIRT_END,
        MACH2PHYS_NR_ENTRIES => MACH2PHYS_NR_ENTRIES,
        SEGBASE_FS => SEGBASE_FS, SEGBASE_GS_USER => SEGBASE_GS_USER,
        SEGBASE_GS_KERNEL => SEGBASE_GS_KERNEL, SEGBASE_GS_USER_SEL => SEGBASE_GS_USER_SEL,
        VGCF_i387_valid => VgcfFlags::I387_VALID.bits(),
        VGCF_in_kernel => VgcfFlags::IN_KERNEL.bits(),
        VGCF_failsafe_disables_events => VgcfFlags::FAILSAFE_DISABLES_EVENTS.bits(),
        VGCF_syscall_disables_events => VgcfFlags::SYSCALL_DISABLES_EVENTS.bits(),
        VGCF_online => VgcfFlags::ONLINE.bits(), VGCF_in_syscall => VgcfFlags::IN_SYSCALL.bits(),
    );
    consts!(k,
        CALLBACKTYPE_event => CALLBACKTYPE_EVENT, CALLBACKTYPE_failsafe => CALLBACKTYPE_FAILSAFE,
        CALLBACKTYPE_syscall => CALLBACKTYPE_SYSCALL,
        CALLBACKTYPE_sysenter_deprecated => CALLBACKTYPE_SYSENTER_DEPRECATED,
        CALLBACKTYPE_nmi => CALLBACKTYPE_NMI, CALLBACKTYPE_syscall32 => CALLBACKTYPE_SYSCALL32,
        CALLBACKF_mask_events => CALLBACKF_MASK_EVENTS,
        CALLBACKOP_register => CALLBACKOP_REGISTER, CALLBACKOP_unregister => CALLBACKOP_UNREGISTER,
        MMU_NORMAL_PT_UPDATE => MMU_NORMAL_PT_UPDATE, MMU_MACHPHYS_UPDATE => MMU_MACHPHYS_UPDATE,
        MMU_PT_UPDATE_PRESERVE_AD => MMU_PT_UPDATE_PRESERVE_AD,
        VMASST_CMD_enable => VMASST_CMD_ENABLE, VMASST_CMD_disable => VMASST_CMD_DISABLE,
        VMASST_TYPE_4gb_segments => VMASST_TYPE_4GB_SEGMENTS,
        VMASST_TYPE_4gb_segments_notify => VMASST_TYPE_4GB_SEGMENTS_NOTIFY,
        VMASST_TYPE_writable_pagetables => VMASST_TYPE_WRITABLE_PAGETABLES,
        VMASST_TYPE_pae_extended_cr3 => VMASST_TYPE_PAE_EXTENDED_CR3,
        VMASST_TYPE_architectural_iopl => VMASST_TYPE_ARCHITECTURAL_IOPL,
        VMASST_TYPE_runstate_update_flag => VMASST_TYPE_RUNSTATE_UPDATE_FLAG,
        VMASST_TYPE_m2p_strict => VMASST_TYPE_M2P_STRICT,
        MMU_PT_UPDATE_NO_TRANSLATE => MMU_PT_UPDATE_NO_TRANSLATE,
        MMUEXT_PIN_L1_TABLE => MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE => MMUEXT_PIN_L2_TABLE,
        MMUEXT_PIN_L3_TABLE => MMUEXT_PIN_L3_TABLE, MMUEXT_PIN_L4_TABLE => MMUEXT_PIN_L4_TABLE,
        MMUEXT_UNPIN_TABLE => MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR => MMUEXT_NEW_BASEPTR,
        MMUEXT_TLB_FLUSH_LOCAL => MMUEXT_TLB_FLUSH_LOCAL,
        MMUEXT_INVLPG_LOCAL => MMUEXT_INVLPG_LOCAL,
        MMUEXT_TLB_FLUSH_MULTI => MMUEXT_TLB_FLUSH_MULTI,
        MMUEXT_INVLPG_MULTI => MMUEXT_INVLPG_MULTI, MMUEXT_TLB_FLUSH_ALL => MMUEXT_TLB_FLUSH_ALL,
        MMUEXT_INVLPG_ALL => MMUEXT_INVLPG_ALL, MMUEXT_FLUSH_CACHE => MMUEXT_FLUSH_CACHE,
        MMUEXT_SET_LDT => MMUEXT_SET_LDT, MMUEXT_NEW_USER_BASEPTR => MMUEXT_NEW_USER_BASEPTR,
        MMUEXT_CLEAR_PAGE => MMUEXT_CLEAR_PAGE, MMUEXT_COPY_PAGE => MMUEXT_COPY_PAGE,
        MMUEXT_FLUSH_CACHE_GLOBAL => MMUEXT_FLUSH_CACHE_GLOBAL,
        MMUEXT_MARK_SUPER => MMUEXT_MARK_SUPER, MMUEXT_UNMARK_SUPER => MMUEXT_UNMARK_SUPER,
        UVMF_NONE => UvmfFlags::NONE.bits(), UVMF_TLB_FLUSH => UvmfFlags::TLB_FLUSH.bits(),
        UVMF_INVLPG => UvmfFlags::INVLPG.bits(), UVMF_ALL => UvmfFlags::ALL.bits(),
        UVMF_FLUSHTYPE_MASK => UvmfFlags::FLUSHTYPE_MASK,
    );
    consts!(k,
        XENMEM_increase_reservation => XENMEM_INCREASE_RESERVATION,
        XENMEM_decrease_reservation => XENMEM_DECREASE_RESERVATION,
        XENMEM_maximum_ram_page => XENMEM_MAXIMUM_RAM_PAGE,
        XENMEM_current_reservation => XENMEM_CURRENT_RESERVATION,
        XENMEM_maximum_reservation => XENMEM_MAXIMUM_RESERVATION,
        XENMEM_machphys_mfn_list => XENMEM_MACHPHYS_MFN_LIST,
        XENMEM_populate_physmap => XENMEM_POPULATE_PHYSMAP,
        XENMEM_add_to_physmap => XENMEM_ADD_TO_PHYSMAP, XENMEM_memory_map => XENMEM_MEMORY_MAP,
        XENMEM_machine_memory_map => XENMEM_MACHINE_MEMORY_MAP,
        XENMEM_exchange => XENMEM_EXCHANGE, XENMEM_machphys_mapping => XENMEM_MACHPHYS_MAPPING,
        XENMEM_set_memory_map => XENMEM_SET_MEMORY_MAP,
        XENMEM_maximum_gpfn => XENMEM_MAXIMUM_GPFN,
        XENMEM_remove_from_physmap => XENMEM_REMOVE_FROM_PHYSMAP,
        XENMAPSPACE_shared_info => XENMAPSPACE_SHARED_INFO,
        XENMAPSPACE_grant_table => XENMAPSPACE_GRANT_TABLE, XENMAPSPACE_gmfn => XENMAPSPACE_GMFN,
        XENMAPSPACE_gmfn_range => XENMAPSPACE_GMFN_RANGE,
        XENMAPSPACE_gmfn_foreign => XENMAPSPACE_GMFN_FOREIGN,
        SCHEDOP_yield => SCHEDOP_YIELD, SCHEDOP_block => SCHEDOP_BLOCK,
        SCHEDOP_shutdown => SCHEDOP_SHUTDOWN, SCHEDOP_poll => SCHEDOP_POLL,
        SCHEDOP_remote_shutdown => SCHEDOP_REMOTE_SHUTDOWN,
        SCHEDOP_shutdown_code => SCHEDOP_SHUTDOWN_CODE, SCHEDOP_watchdog => SCHEDOP_WATCHDOG,
        SCHEDOP_pin_override => SCHEDOP_PIN_OVERRIDE,
        SHUTDOWN_poweroff => SHUTDOWN_POWEROFF, SHUTDOWN_reboot => SHUTDOWN_REBOOT,
        SHUTDOWN_suspend => SHUTDOWN_SUSPEND, SHUTDOWN_crash => SHUTDOWN_CRASH,
        SHUTDOWN_watchdog => SHUTDOWN_WATCHDOG, SHUTDOWN_soft_reset => SHUTDOWN_SOFT_RESET,
        SHUTDOWN_MAX => SHUTDOWN_MAX,
        VCPUOP_initialise => VCPUOP_INITIALISE, VCPUOP_up => VCPUOP_UP, VCPUOP_down => VCPUOP_DOWN,
        VCPUOP_is_up => VCPUOP_IS_UP, VCPUOP_get_runstate_info => VCPUOP_GET_RUNSTATE_INFO,
        VCPUOP_register_runstate_memory_area => VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA,
        VCPUOP_set_periodic_timer => VCPUOP_SET_PERIODIC_TIMER,
        VCPUOP_stop_periodic_timer => VCPUOP_STOP_PERIODIC_TIMER,
        VCPUOP_set_singleshot_timer => VCPUOP_SET_SINGLESHOT_TIMER,
        VCPUOP_stop_singleshot_timer => VCPUOP_STOP_SINGLESHOT_TIMER,
        VCPUOP_register_vcpu_info => VCPUOP_REGISTER_VCPU_INFO,
        VCPUOP_send_nmi => VCPUOP_SEND_NMI, VCPUOP_get_physid => VCPUOP_GET_PHYSID,
        VCPUOP_register_vcpu_time_memory_area => VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA,
        RUNSTATE_running => RUNSTATE_RUNNING, RUNSTATE_runnable => RUNSTATE_RUNNABLE,
        RUNSTATE_blocked => RUNSTATE_BLOCKED, RUNSTATE_offline => RUNSTATE_OFFLINE,
        VCPU_SSHOTTMR_future => VCPU_SSHOTTMR_FUTURE,
        XEN_RUNSTATE_UPDATE => XEN_RUNSTATE_UPDATE,
        PHYSDEVOP_set_iopl => PHYSDEVOP_SET_IOPL,
        PHYSDEVOP_irq_status_query => PHYSDEVOP_IRQ_STATUS_QUERY,
        PHYSDEVOP_eoi => PHYSDEVOP_EOI,
        PHYSDEVOP_map_pirq => PHYSDEVOP_MAP_PIRQ,
        PHYSDEVOP_unmap_pirq => PHYSDEVOP_UNMAP_PIRQ,
        PHYSDEVOP_pirq_eoi_gmfn_v1 => PHYSDEVOP_PIRQ_EOI_GMFN_V1,
        PHYSDEVOP_setup_gsi => PHYSDEVOP_SETUP_GSI,
        PHYSDEVOP_get_free_pirq => PHYSDEVOP_GET_FREE_PIRQ,
        PHYSDEVOP_pirq_eoi_gmfn_v2 => PHYSDEVOP_PIRQ_EOI_GMFN_V2,
        MAP_PIRQ_TYPE_MSI => MAP_PIRQ_TYPE_MSI,
        MAP_PIRQ_TYPE_GSI => MAP_PIRQ_TYPE_GSI,
        MAP_PIRQ_TYPE_UNKNOWN => MAP_PIRQ_TYPE_UNKNOWN,
        MAP_PIRQ_TYPE_MSI_SEG => MAP_PIRQ_TYPE_MSI_SEG,
        MAP_PIRQ_TYPE_MULTI_MSI => MAP_PIRQ_TYPE_MULTI_MSI,
        XENIRQSTAT_needs_eoi => XENIRQSTAT_NEEDS_EOI,
        XENIRQSTAT_shared => XENIRQSTAT_SHARED,
    );
    consts!(k,
        XENVER_version => XENVER_VERSION, XENVER_extraversion => XENVER_EXTRAVERSION,
        XENVER_compile_info => XENVER_COMPILE_INFO, XENVER_capabilities => XENVER_CAPABILITIES,
        XENVER_changeset => XENVER_CHANGESET,
        XENVER_platform_parameters => XENVER_PLATFORM_PARAMETERS,
        XENVER_get_features => XENVER_GET_FEATURES, XENVER_pagesize => XENVER_PAGESIZE,
        XENVER_guest_handle => XENVER_GUEST_HANDLE, XENVER_commandline => XENVER_COMMANDLINE,
        XENVER_build_id => XENVER_BUILD_ID,
        XENFEAT_writable_page_tables => XENFEAT_WRITABLE_PAGE_TABLES,
        XENFEAT_writable_descriptor_tables => XENFEAT_WRITABLE_DESCRIPTOR_TABLES,
        XENFEAT_auto_translated_physmap => XENFEAT_AUTO_TRANSLATED_PHYSMAP,
        XENFEAT_supervisor_mode_kernel => XENFEAT_SUPERVISOR_MODE_KERNEL,
        XENFEAT_pae_pgdir_above_4gb => XENFEAT_PAE_PGDIR_ABOVE_4GB,
        XENFEAT_mmu_pt_update_preserve_ad => XENFEAT_MMU_PT_UPDATE_PRESERVE_AD,
        XENFEAT_highmem_assist => XENFEAT_HIGHMEM_ASSIST,
        XENFEAT_gnttab_map_avail_bits => XENFEAT_GNTTAB_MAP_AVAIL_BITS,
        XENFEAT_hvm_callback_vector => XENFEAT_HVM_CALLBACK_VECTOR,
        XENFEAT_hvm_safe_pvclock => XENFEAT_HVM_SAFE_PVCLOCK,
        XENFEAT_hvm_pirqs => XENFEAT_HVM_PIRQS, XENFEAT_dom0 => XENFEAT_DOM0,
        XENFEAT_NR_SUBMAPS => XENFEAT_NR_SUBMAPS,
        CONSOLEIO_write => CONSOLEIO_WRITE, CONSOLEIO_read => CONSOLEIO_READ,
    );
    consts!(k,
        EVTCHNOP_bind_interdomain => EVTCHNOP_BIND_INTERDOMAIN,
        EVTCHNOP_bind_virq => EVTCHNOP_BIND_VIRQ, EVTCHNOP_bind_pirq => EVTCHNOP_BIND_PIRQ,
        EVTCHNOP_close => EVTCHNOP_CLOSE, EVTCHNOP_send => EVTCHNOP_SEND,
        EVTCHNOP_status => EVTCHNOP_STATUS, EVTCHNOP_alloc_unbound => EVTCHNOP_ALLOC_UNBOUND,
        EVTCHNOP_bind_ipi => EVTCHNOP_BIND_IPI, EVTCHNOP_bind_vcpu => EVTCHNOP_BIND_VCPU,
        EVTCHNOP_unmask => EVTCHNOP_UNMASK, EVTCHNOP_reset => EVTCHNOP_RESET,
        EVTCHNOP_init_control => EVTCHNOP_INIT_CONTROL,
        EVTCHNOP_expand_array => EVTCHNOP_EXPAND_ARRAY,
        EVTCHNOP_set_priority => EVTCHNOP_SET_PRIORITY,
        EVTCHNSTAT_closed => EVTCHNSTAT_CLOSED, EVTCHNSTAT_unbound => EVTCHNSTAT_UNBOUND,
        EVTCHNSTAT_interdomain => EVTCHNSTAT_INTERDOMAIN, EVTCHNSTAT_pirq => EVTCHNSTAT_PIRQ,
        EVTCHNSTAT_virq => EVTCHNSTAT_VIRQ, EVTCHNSTAT_ipi => EVTCHNSTAT_IPI,
        BIND_PIRQ__WILL_SHARE => BIND_PIRQ_WILL_SHARE,
        VIRQ_TIMER => VIRQ_TIMER, VIRQ_DEBUG => VIRQ_DEBUG, VIRQ_CONSOLE => VIRQ_CONSOLE,
        VIRQ_DOM_EXC => VIRQ_DOM_EXC, VIRQ_TBUF => VIRQ_TBUF, VIRQ_DEBUGGER => VIRQ_DEBUGGER,
        VIRQ_XENOPROF => VIRQ_XENOPROF, VIRQ_CON_RING => VIRQ_CON_RING,
        VIRQ_PCPU_STATE => VIRQ_PCPU_STATE, VIRQ_MEM_EVENT => VIRQ_MEM_EVENT,
        VIRQ_ARGO => VIRQ_ARGO, VIRQ_ENOMEM => VIRQ_ENOMEM, VIRQ_XENPMU => VIRQ_XENPMU,
        NR_VIRQS => NR_VIRQS,
    );
    consts!(k,
        GNTTABOP_map_grant_ref => GNTTABOP_MAP_GRANT_REF,
        GNTTABOP_unmap_grant_ref => GNTTABOP_UNMAP_GRANT_REF,
        GNTTABOP_setup_table => GNTTABOP_SETUP_TABLE, GNTTABOP_dump_table => GNTTABOP_DUMP_TABLE,
        GNTTABOP_transfer => GNTTABOP_TRANSFER, GNTTABOP_copy => GNTTABOP_COPY,
        GNTTABOP_query_size => GNTTABOP_QUERY_SIZE,
        GNTTABOP_unmap_and_replace => GNTTABOP_UNMAP_AND_REPLACE,
        GNTTABOP_set_version => GNTTABOP_SET_VERSION,
        GNTTABOP_get_status_frames => GNTTABOP_GET_STATUS_FRAMES,
        GNTTABOP_get_version => GNTTABOP_GET_VERSION,
        GNTTABOP_swap_grant_ref => GNTTABOP_SWAP_GRANT_REF,
        GNTTABOP_cache_flush => GNTTABOP_CACHE_FLUSH,
        GNTTAB_NR_RESERVED_ENTRIES => GNTTAB_NR_RESERVED_ENTRIES,
        GNTTAB_RESERVED_CONSOLE => GNTTAB_RESERVED_CONSOLE.0,
        GNTTAB_RESERVED_XENSTORE => GNTTAB_RESERVED_XENSTORE.0,
        GTF_invalid => GtfFlags::INVALID.bits(), GTF_permit_access => GtfFlags::PERMIT_ACCESS.bits(),
        GTF_accept_transfer => GtfFlags::ACCEPT_TRANSFER.bits(),
        GTF_transitive => GtfFlags::TRANSITIVE.bits(), GTF_type_mask => GtfFlags::TYPE_MASK.bits(),
        GTF_readonly => GtfFlags::READONLY.bits(), GTF_reading => GtfFlags::READING.bits(),
        GTF_writing => GtfFlags::WRITING.bits(), GTF_PWT => GtfFlags::PWT.bits(),
        GTF_PCD => GtfFlags::PCD.bits(), GTF_PAT => GtfFlags::PAT.bits(),
        GTF_sub_page => GtfFlags::SUB_PAGE.bits(),
        GTF_transfer_committed => GtfFlags::TRANSFER_COMMITTED,
        GTF_transfer_completed => GtfFlags::TRANSFER_COMPLETED,
        GNTMAP_device_map => GntmapFlags::DEVICE_MAP.bits(),
        GNTMAP_host_map => GntmapFlags::HOST_MAP.bits(),
        GNTMAP_readonly => GntmapFlags::READONLY.bits(),
        GNTMAP_application_map => GntmapFlags::APPLICATION_MAP.bits(),
        GNTMAP_contains_pte => GntmapFlags::CONTAINS_PTE.bits(),
        GNTCOPY_source_gref => GNTCOPY_SOURCE_GREF, GNTCOPY_dest_gref => GNTCOPY_DEST_GREF,
        GNTST_okay => GntStatus::OKAY.0, GNTST_general_error => GntStatus::GENERAL_ERROR.0,
        GNTST_bad_domain => GntStatus::BAD_DOMAIN.0, GNTST_bad_gntref => GntStatus::BAD_GNTREF.0,
        GNTST_bad_handle => GntStatus::BAD_HANDLE.0,
        GNTST_bad_virt_addr => GntStatus::BAD_VIRT_ADDR.0,
        GNTST_bad_dev_addr => GntStatus::BAD_DEV_ADDR.0,
        GNTST_no_device_space => GntStatus::NO_DEVICE_SPACE.0,
        GNTST_permission_denied => GntStatus::PERMISSION_DENIED.0,
        GNTST_bad_page => GntStatus::BAD_PAGE.0, GNTST_bad_copy_arg => GntStatus::BAD_COPY_ARG.0,
        GNTST_address_too_big => GntStatus::ADDRESS_TOO_BIG.0,
        GNTST_eagain => GntStatus::EAGAIN.0, GNTST_no_space => GntStatus::NO_SPACE.0,
    );
    consts!(k,
        XEN_DOMCTL_INTERFACE_VERSION => XEN_DOMCTL_INTERFACE_VERSION,
        XEN_DOMCTL_createdomain => XEN_DOMCTL_CREATEDOMAIN,
        XEN_DOMCTL_destroydomain => XEN_DOMCTL_DESTROYDOMAIN,
        XEN_DOMCTL_pausedomain => XEN_DOMCTL_PAUSEDOMAIN,
        XEN_DOMCTL_unpausedomain => XEN_DOMCTL_UNPAUSEDOMAIN,
        XEN_DOMCTL_getdomaininfo => XEN_DOMCTL_GETDOMAININFO,
        XEN_DOMCTL_setvcpuaffinity => XEN_DOMCTL_SETVCPUAFFINITY,
        XEN_DOMCTL_shadow_op => XEN_DOMCTL_SHADOW_OP, XEN_DOMCTL_max_mem => XEN_DOMCTL_MAX_MEM,
        XEN_DOMCTL_setvcpucontext => XEN_DOMCTL_SETVCPUCONTEXT,
        XEN_DOMCTL_getvcpucontext => XEN_DOMCTL_GETVCPUCONTEXT,
        XEN_DOMCTL_getvcpuinfo => XEN_DOMCTL_GETVCPUINFO,
        XEN_DOMCTL_max_vcpus => XEN_DOMCTL_MAX_VCPUS,
        XEN_DOMCTL_scheduler_op => XEN_DOMCTL_SCHEDULER_OP,
        XEN_SCHEDULER_CREDIT => XEN_SCHEDULER_CREDIT, XEN_SCHEDULER_CREDIT2 => XEN_SCHEDULER_CREDIT2,
        XEN_SCHEDULER_ARINC653 => XEN_SCHEDULER_ARINC653, XEN_SCHEDULER_RTDS => XEN_SCHEDULER_RTDS,
        XEN_SCHEDULER_NULL => XEN_SCHEDULER_NULL,
        XEN_DOMCTL_SCHEDOP_putinfo => XEN_DOMCTL_SCHEDOP_PUTINFO,
        XEN_DOMCTL_SCHEDOP_getinfo => XEN_DOMCTL_SCHEDOP_GETINFO,
        XEN_DOMCTL_SCHEDOP_putvcpuinfo => XEN_DOMCTL_SCHEDOP_PUTVCPUINFO,
        XEN_DOMCTL_SCHEDOP_getvcpuinfo => XEN_DOMCTL_SCHEDOP_GETVCPUINFO,
        XEN_DOMCTL_setdomainhandle => XEN_DOMCTL_SETDOMAINHANDLE,
        XEN_DOMCTL_setdebugging => XEN_DOMCTL_SETDEBUGGING,
        XEN_DOMCTL_irq_permission => XEN_DOMCTL_IRQ_PERMISSION,
        XEN_DOMCTL_iomem_permission => XEN_DOMCTL_IOMEM_PERMISSION,
        XEN_DOMCTL_ioport_permission => XEN_DOMCTL_IOPORT_PERMISSION,
        XEN_DOMCTL_hypercall_init => XEN_DOMCTL_HYPERCALL_INIT,
        XEN_DOMCTL_settimeoffset => XEN_DOMCTL_SETTIMEOFFSET,
        XEN_DOMCTL_getvcpuaffinity => XEN_DOMCTL_GETVCPUAFFINITY,
        XEN_DOMCTL_resumedomain => XEN_DOMCTL_RESUMEDOMAIN,
        XEN_DOMCTL_sendtrigger => XEN_DOMCTL_SENDTRIGGER,
        XEN_DOMCTL_SENDTRIGGER_NMI => XEN_DOMCTL_SENDTRIGGER_NMI,
        XEN_DOMCTL_SENDTRIGGER_RESET => XEN_DOMCTL_SENDTRIGGER_RESET,
        XEN_DOMCTL_SENDTRIGGER_INIT => XEN_DOMCTL_SENDTRIGGER_INIT,
        XEN_DOMCTL_SENDTRIGGER_POWER => XEN_DOMCTL_SENDTRIGGER_POWER,
        XEN_DOMCTL_SENDTRIGGER_SLEEP => XEN_DOMCTL_SENDTRIGGER_SLEEP,
        XEN_DOMCTL_subscribe => XEN_DOMCTL_SUBSCRIBE,
        XEN_DOMCTL_set_address_size => XEN_DOMCTL_SET_ADDRESS_SIZE,
        XEN_DOMCTL_get_address_size => XEN_DOMCTL_GET_ADDRESS_SIZE,
        XEN_DOMCTL_memory_mapping => XEN_DOMCTL_MEMORY_MAPPING,
        XEN_DOMCTL_set_ext_vcpucontext => XEN_DOMCTL_SET_EXT_VCPUCONTEXT,
        XEN_DOMCTL_get_ext_vcpucontext => XEN_DOMCTL_GET_EXT_VCPUCONTEXT,
        XEN_DOMCTL_set_target => XEN_DOMCTL_SET_TARGET,
        XEN_DOMCTL_getpageframeinfo3 => XEN_DOMCTL_GETPAGEFRAMEINFO3,
        XEN_DOMCTL_set_virq_handler => XEN_DOMCTL_SET_VIRQ_HANDLER,
        XEN_DOMCTL_soft_reset => XEN_DOMCTL_SOFT_RESET,
        XEN_DOMCTL_CDF_hvm => XEN_DOMCTL_CDF_HVM, XEN_DOMCTL_CDF_hap => XEN_DOMCTL_CDF_HAP,
        XEN_DOMCTL_CDF_s3_integrity => XEN_DOMCTL_CDF_S3_INTEGRITY,
        XEN_DOMCTL_CDF_oos_off => XEN_DOMCTL_CDF_OOS_OFF,
        XEN_DOMCTL_CDF_xs_domain => XEN_DOMCTL_CDF_XS_DOMAIN,
        XEN_DOMCTL_CDF_iommu => XEN_DOMCTL_CDF_IOMMU,
        XEN_DOMCTL_CDF_nested_virt => XEN_DOMCTL_CDF_NESTED_VIRT,
        XEN_DOMCTL_CDF_vpmu => XEN_DOMCTL_CDF_VPMU,
        XEN_DOMCTL_GRANT_version_mask => XEN_DOMCTL_GRANT_VERSION_MASK,
        XEN_DOMINF_dying => DominfFlags::DYING.bits(),
        XEN_DOMINF_hvm_guest => DominfFlags::HVM_GUEST.bits(),
        XEN_DOMINF_shutdown => DominfFlags::SHUTDOWN.bits(),
        XEN_DOMINF_paused => DominfFlags::PAUSED.bits(),
        XEN_DOMINF_blocked => DominfFlags::BLOCKED.bits(),
        XEN_DOMINF_running => DominfFlags::RUNNING.bits(),
        XEN_DOMINF_debugged => DominfFlags::DEBUGGED.bits(),
        XEN_DOMINF_xs_domain => DominfFlags::XS_DOMAIN.bits(),
        XEN_DOMINF_hap => DominfFlags::HAP.bits(),
        XEN_DOMINF_shutdownmask => XEN_DOMINF_SHUTDOWNMASK,
        XEN_DOMINF_shutdownshift => XEN_DOMINF_SHUTDOWNSHIFT,
        XEN_INVALID_MAX_VCPU_ID => XEN_INVALID_MAX_VCPU_ID,
        XEN_DOMCTL_SHADOW_OP_OFF => XEN_DOMCTL_SHADOW_OP_OFF,
        XEN_DOMCTL_SHADOW_OP_ENABLE => XEN_DOMCTL_SHADOW_OP_ENABLE,
        XEN_DOMCTL_SHADOW_OP_ENABLE_TEST => XEN_DOMCTL_SHADOW_OP_ENABLE_TEST,
        XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY => XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY,
        XEN_DOMCTL_SHADOW_OP_CLEAN => XEN_DOMCTL_SHADOW_OP_CLEAN,
        XEN_DOMCTL_SHADOW_OP_PEEK => XEN_DOMCTL_SHADOW_OP_PEEK,
        XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION => XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION,
        XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION => XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION,
        XEN_VCPUAFFINITY_HARD => XEN_VCPUAFFINITY_HARD,
        XEN_VCPUAFFINITY_SOFT => XEN_VCPUAFFINITY_SOFT,
        XEN_VCPUAFFINITY_FORCE => XEN_VCPUAFFINITY_FORCE,
    );
    consts!(k,
        XEN_SYSCTL_INTERFACE_VERSION => XEN_SYSCTL_INTERFACE_VERSION,
        XEN_SYSCTL_readconsole => XEN_SYSCTL_READCONSOLE, XEN_SYSCTL_tbuf_op => XEN_SYSCTL_TBUF_OP,
        XEN_SYSCTL_physinfo => XEN_SYSCTL_PHYSINFO, XEN_SYSCTL_sched_id => XEN_SYSCTL_SCHED_ID,
        XEN_SYSCTL_perfc_op => XEN_SYSCTL_PERFC_OP,
        XEN_SYSCTL_PERFCOP_reset => XEN_SYSCTL_PERFCOP_RESET,
        XEN_SYSCTL_PERFCOP_query => XEN_SYSCTL_PERFCOP_QUERY,
        XEN_SYSCTL_getdomaininfolist => XEN_SYSCTL_GETDOMAININFOLIST,
        XEN_SYSCTL_debug_keys => XEN_SYSCTL_DEBUG_KEYS,
        XEN_SYSCTL_getcpuinfo => XEN_SYSCTL_GETCPUINFO,
        XEN_SYSCTL_availheap => XEN_SYSCTL_AVAILHEAP,
        XEN_SYSCTL_get_pmstat => XEN_SYSCTL_GET_PMSTAT,
        XEN_SYSCTL_cpu_hotplug => XEN_SYSCTL_CPU_HOTPLUG, XEN_SYSCTL_pm_op => XEN_SYSCTL_PM_OP,
        XEN_SYSCTL_page_offline_op => XEN_SYSCTL_PAGE_OFFLINE_OP,
        XEN_SYSCTL_lockprof_op => XEN_SYSCTL_LOCKPROF_OP,
        XEN_SYSCTL_cputopoinfo => XEN_SYSCTL_CPUTOPOINFO,
        XEN_SYSCTL_numainfo => XEN_SYSCTL_NUMAINFO,
        XEN_SYSCTL_cpupool_op => XEN_SYSCTL_CPUPOOL_OP,
        XEN_SYSCTL_scheduler_op => XEN_SYSCTL_SCHEDULER_OP,
        XEN_SYSCTL_coverage_op => XEN_SYSCTL_COVERAGE_OP,
        XEN_SYSCTL_get_cpu_featureset => XEN_SYSCTL_GET_CPU_FEATURESET,
        XEN_SYSCTL_livepatch_op => XEN_SYSCTL_LIVEPATCH_OP,
        XEN_SYSCTL_get_cpu_policy => XEN_SYSCTL_GET_CPU_POLICY,
        XEN_SYSCTL_PHYSCAP_hvm => XEN_SYSCTL_PHYSCAP_HVM,
        XEN_SYSCTL_PHYSCAP_pv => XEN_SYSCTL_PHYSCAP_PV,
        XEN_SYSCTL_PHYSCAP_directio => XEN_SYSCTL_PHYSCAP_DIRECTIO,
        XEN_SYSCTL_PHYSCAP_hap => XEN_SYSCTL_PHYSCAP_HAP,
        XEN_SYSCTL_PHYSCAP_shadow => XEN_SYSCTL_PHYSCAP_SHADOW,
        XEN_SYSCTL_PHYSCAP_gnttab_v1 => XEN_SYSCTL_PHYSCAP_GNTTAB_V1,
        XEN_SYSCTL_PHYSCAP_gnttab_v2 => XEN_SYSCTL_PHYSCAP_GNTTAB_V2,
    );
    consts!(k,
        XENSTORE_RING_SIZE => XENSTORE_RING_SIZE, XENSTORE_PAYLOAD_MAX => XENSTORE_PAYLOAD_MAX,
        XENSTORE_ABS_PATH_MAX => XENSTORE_ABS_PATH_MAX,
        XENSTORE_REL_PATH_MAX => XENSTORE_REL_PATH_MAX,
        XENSTORE_SERVER_FEATURE_RECONNECTION => XENSTORE_SERVER_FEATURE_RECONNECTION,
        XENSTORE_SERVER_FEATURE_ERROR => XENSTORE_SERVER_FEATURE_ERROR,
        XENSTORE_CONNECTED => XENSTORE_CONNECTED, XENSTORE_RECONNECT => XENSTORE_RECONNECT,
        XENSTORE_ERROR_NONE => XENSTORE_ERROR_NONE, XENSTORE_ERROR_COMM => XENSTORE_ERROR_COMM,
        XENSTORE_ERROR_RINGIDX => XENSTORE_ERROR_RINGIDX,
        XENSTORE_ERROR_PROTO => XENSTORE_ERROR_PROTO,
        XS_CONTROL => XsType::Control, XS_DIRECTORY => XsType::Directory, XS_READ => XsType::Read,
        XS_GET_PERMS => XsType::GetPerms, XS_WATCH => XsType::Watch,
        XS_UNWATCH => XsType::Unwatch, XS_TRANSACTION_START => XsType::TransactionStart,
        XS_TRANSACTION_END => XsType::TransactionEnd, XS_INTRODUCE => XsType::Introduce,
        XS_RELEASE => XsType::Release, XS_GET_DOMAIN_PATH => XsType::GetDomainPath,
        XS_WRITE => XsType::Write, XS_MKDIR => XsType::Mkdir, XS_RM => XsType::Rm,
        XS_SET_PERMS => XsType::SetPerms, XS_WATCH_EVENT => XsType::WatchEvent,
        XS_ERROR => XsType::Error, XS_IS_DOMAIN_INTRODUCED => XsType::IsDomainIntroduced,
        XS_RESUME => XsType::Resume, XS_SET_TARGET => XsType::SetTarget,
        XS_RESET_WATCHES => XsType::ResetWatches, XS_DIRECTORY_PART => XsType::DirectoryPart,
        XS_TYPE_COUNT => XS_TYPE_COUNT, XS_INVALID => XsType::Invalid,
        XS_WATCH_PATH => XS_WATCH_PATH, XS_WATCH_TOKEN => XS_WATCH_TOKEN,
        XenbusStateUnknown => XenbusState::Unknown,
        XenbusStateInitialising => XenbusState::Initialising,
        XenbusStateInitWait => XenbusState::InitWait,
        XenbusStateInitialised => XenbusState::Initialised,
        XenbusStateConnected => XenbusState::Connected, XenbusStateClosing => XenbusState::Closing,
        XenbusStateClosed => XenbusState::Closed,
        XenbusStateReconfiguring => XenbusState::Reconfiguring,
        XenbusStateReconfigured => XenbusState::Reconfigured,
    );
    consts!(k,
        BLKIF_OP_READ => BLKIF_OP_READ, BLKIF_OP_WRITE => BLKIF_OP_WRITE,
        BLKIF_OP_WRITE_BARRIER => BLKIF_OP_WRITE_BARRIER,
        BLKIF_OP_FLUSH_DISKCACHE => BLKIF_OP_FLUSH_DISKCACHE,
        BLKIF_OP_DISCARD => BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT => BLKIF_OP_INDIRECT,
        BLKIF_MAX_SEGMENTS_PER_REQUEST => BLKIF_MAX_SEGMENTS_PER_REQUEST,
        BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST => BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
        BLKIF_RSP_OKAY => BLKIF_RSP_OKAY, BLKIF_RSP_ERROR => BLKIF_RSP_ERROR,
        BLKIF_RSP_EOPNOTSUPP => BLKIF_RSP_EOPNOTSUPP,
        VDISK_CDROM => VDISK_CDROM, VDISK_REMOVABLE => VDISK_REMOVABLE,
        VDISK_READONLY => VDISK_READONLY,
        NETTXF_csum_blank => NETTXF_CSUM_BLANK, NETTXF_data_validated => NETTXF_DATA_VALIDATED,
        NETTXF_more_data => NETTXF_MORE_DATA, NETTXF_extra_info => NETTXF_EXTRA_INFO,
        NETRXF_data_validated => NETRXF_DATA_VALIDATED, NETRXF_csum_blank => NETRXF_CSUM_BLANK,
        NETRXF_more_data => NETRXF_MORE_DATA, NETRXF_extra_info => NETRXF_EXTRA_INFO,
        NETRXF_gso_prefix => NETRXF_GSO_PREFIX,
        NETIF_RSP_DROPPED => NETIF_RSP_DROPPED, NETIF_RSP_ERROR => NETIF_RSP_ERROR,
        NETIF_RSP_OKAY => NETIF_RSP_OKAY, NETIF_RSP_NULL => NETIF_RSP_NULL,
        XEN_NETIF_MAX_TX_SIZE => XEN_NETIF_MAX_TX_SIZE,
        XEN_NETIF_NR_SLOTS_MIN => XEN_NETIF_NR_SLOTS_MIN,
        XEN_NETIF_EXTRA_TYPE_NONE => XEN_NETIF_EXTRA_TYPE_NONE,
        XEN_NETIF_EXTRA_TYPE_GSO => XEN_NETIF_EXTRA_TYPE_GSO,
        XEN_NETIF_EXTRA_TYPE_MCAST_ADD => XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
        XEN_NETIF_EXTRA_TYPE_MCAST_DEL => XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
        XEN_NETIF_EXTRA_TYPE_HASH => XEN_NETIF_EXTRA_TYPE_HASH,
        XEN_NETIF_EXTRA_TYPE_MAX => XEN_NETIF_EXTRA_TYPE_MAX,
        XEN_NETIF_EXTRA_FLAG_MORE => XEN_NETIF_EXTRA_FLAG_MORE,
        XEN_NETIF_GSO_TYPE_NONE => XEN_NETIF_GSO_TYPE_NONE,
        XEN_NETIF_GSO_TYPE_TCPV4 => XEN_NETIF_GSO_TYPE_TCPV4,
        XEN_NETIF_GSO_TYPE_TCPV6 => XEN_NETIF_GSO_TYPE_TCPV6,
    );
}

const PRELUDE: &str = r#"
#define __XEN_TOOLS__ 1
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/physdev.h>
#include <xen/callback.h>
#include <xen/version.h>
#include <xen/features.h>
#include <xen/elfnote.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>
#include <xen/io/xenbus.h>
"#;

fn probe_source(checks: &Checks) -> String {
    let mut s = String::from(PRELUDE);
    s.push_str("int main(void) {\n");
    for (i, c) in checks.0.iter().enumerate() {
        s.push_str(&format!(
            "    printf(\"v {i} %lld\\n\", (long long)({}));\n",
            c.c
        ));
    }
    // Every errno Xen defines, by name.
    s.push_str("#define XEN_ERRNO(name, value) printf(\"e %s %d\\n\", #name, value);\n");
    s.push_str("#include <xen/errno.h>\n    return 0;\n}\n");
    s
}

fn headers_present() -> bool {
    [
        "xen.h",
        "arch-x86/xen.h",
        "domctl.h",
        "sysctl.h",
        "io/ring.h",
        "io/xs_wire.h",
    ]
    .iter()
    .all(|h| Path::new("/usr/include/xen").join(h).exists())
}

fn run_probe(src: &str) -> String {
    let dir: PathBuf = std::env::temp_dir().join(format!("guest-abi-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&c, src).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(
        out.status.success(),
        "compiling the C probe failed (if Xen headers are missing: {INSTALL_HINT}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run the C probe");
    assert!(run.status.success(), "the C probe failed");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn layouts_and_constants_match_xen_headers() {
    assert!(
        headers_present(),
        "Xen public headers not found under /usr/include/xen: {INSTALL_HINT}"
    );
    let mut checks = Checks::default();
    layouts(&mut checks);
    constants(&mut checks);
    let out = run_probe(&probe_source(&checks));

    let mut bad = Vec::new();
    let mut seen = 0;
    let mut xen_errnos = 0;
    for line in out.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("v"), Some(i), Some(v)) => {
                let i: usize = i.parse().unwrap();
                let v: i128 = v.parse().unwrap();
                // C prints through `long long`: compare modulo 2^64.
                let r = checks.0[i].rust as i64 as i128;
                if v != r {
                    bad.push(format!("{}: C says {v:#x}, Rust has {r:#x}", checks.0[i].c));
                }
                seen += 1;
            }
            (Some("e"), Some(name), Some(v)) => {
                let v: i32 = v.parse().unwrap();
                xen_errnos += 1;
                match Errno::from_name(name) {
                    Some(e) if e.0 == v => {}
                    Some(e) => bad.push(format!("errno {name}: Xen {v}, Rust {}", e.0)),
                    None => bad.push(format!("errno {name} ({v}) missing in Errno")),
                }
            }
            _ => panic!("unexpected probe output: {line}"),
        }
    }
    assert_eq!(seen, checks.0.len(), "the probe did not report every check");
    assert!(xen_errnos > 40, "the probe reported too few errnos");
    assert!(
        bad.is_empty(),
        "{} mismatches with the Xen headers:\n{}",
        bad.len(),
        bad.join("\n")
    );
    eprintln!(
        "{} layout/constant checks and {xen_errnos} errnos agree",
        seen
    );
}
