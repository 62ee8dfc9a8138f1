//! A hostile guest: pv-guest's `test=hostile` tries every escape we could think of, one by
//! one. Each attack's exact verdict is asserted (so removing the hypervisor check behind any
//! of them fails this test), then dom0 must still answer and a new domU must still start.

use std::time::Duration;
use tests::steps::{create_and_wait_guest_line, list_with_healthy_dom0};
use tests::test_name;
use tests::xl::domu_line;
use tests::{BootOptions, System};

/// The classes of attacks, each with every attack and the verdict the hypervisor must force,
/// in the order they run.
fn expected() -> Vec<(&'static str, Vec<String>)> {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mmu = strings(&[
        "map a dom0 frame: refused (EPERM)",
        "map a hypervisor frame: refused (EPERM)",
        "map own L1 writable: refused (EBUSY)",
        "map own L2 writable: refused (EBUSY)",
        "map own L4 writable: refused (EBUSY)",
        "register_vcpu_info on own L1: refused (EINVAL)",
        "register_vcpu_info on own L4: refused (EINVAL)",
        "register_vcpu_info on a dom0 frame: refused (EINVAL)",
        "register_vcpu_info on a hypervisor frame: refused (EINVAL)",
        "register_vcpu_info across a page end: refused (EINVAL)",
        "register_vcpu_time_memory_area in the hypervisor hole: refused (EFAULT)",
        "write a hypervisor L4 slot: refused (EPERM)",
        "point a hypervisor L4 slot at own L3: refused (EPERM)",
        "mmu_update on a dom0 frame: refused (EPERM)",
        "mmu_update into the hypervisor's image: refused (EPERM)",
        "machphys_update of a dom0 frame: refused (EPERM)",
        "mmu_update with foreigndom dom0: refused (EPERM)",
        "pin a dom0 frame: refused (EPERM)",
        "new baseptr to a dom0 frame: refused (EPERM)",
        "clear a dom0 frame: refused (EINVAL)",
        "copy a dom0 frame: refused (EINVAL)",
        "flush the machine's caches (wbinvd): refused (EACCES)",
        "map the local APIC (MMIO): refused (EPERM)",
        "map a device's registers (virtio-mmio; dom0's I/O memory): refused (EPERM)",
        "mmu_update naming DOMID_IO: refused (EPERM)",
        "map own page uncached (PCD): refused (EPERM)",
        "superpage (PSE) at L2: refused (EINVAL)",
        "superpage (PSE) at L3: refused (EINVAL)",
        "update_va_mapping in the hypervisor hole: refused (EINVAL)",
        "pin an L1 that maps itself writable: refused (EBUSY)",
        "unpin the L4 in use, then map it writable: contained (still in use as a page table: EBUSY)",
        "unpin a table never pinned: refused (EINVAL)",
        "decrease_reservation of a pinned table: contained (0 of 1 released)",
        "decrease_reservation of a mapped frame: contained (0 of 1 released)",
        "write the M2P: contained (#PF on a read-only page)",
        "read the hypervisor image: contained (#PF)",
    ]);
    let mut pointers = Vec::new();
    for kind in ["hole", "unmapped", "non-canonical"] {
        for hc in [
            "set_trap_table",
            "mmu_update",
            "mmuext_op",
            "multicall",
            "set_gdt",
            "memory_op",
            "console_io",
            "callback_op",
            "xen_version",
            "sched_op",
        ] {
            pointers.push(format!("{hc} with a {kind} pointer: refused (EFAULT)"));
        }
    }
    let cost = strings(&[
        "mmu_update count 2^31-1 (256 done): refused (EFAULT)",
        "mmuext_op count 2^31-1 (170 done): refused (EFAULT)",
        "multicall count 2^32-1 (64 ran): refused (EFAULT)",
        "multicall of 64 x 170 TLB flushes: contained (all 10880 ran, in slices)",
        "pin and unpin an L4 over 256 L1 tables: contained (done, in slices; every frame writable again)",
    ]);
    let descriptors = strings(&[
        "set_gdt with a ring-0 code segment: contained (installed with DPL 3)",
        "update_descriptor with ring-0 code: contained (installed with DPL 3)",
        "iret to our own GDT's code segment: contained (ran there, at ring 3)",
        "iret with a data segment as CS: contained (failsafe callback)",
        "iret with a not-present CS: contained (failsafe callback)",
        "iret with a code segment as SS: contained (failsafe callback)",
        "iret with a CS beyond the GDT: contained (failsafe callback)",
        "iret with an LDT CS and no LDT: contained (failsafe callback)",
        "load_gs_index with the hypervisor's code selector: contained (the null selector loaded instead)",
        "load_gs_index with the TSS selector: contained (the null selector loaded instead)",
        "load_gs_index with a not-present segment: contained (the null selector loaded instead)",
        "set_gdt with 15 frames: refused (EINVAL)",
        "update_descriptor with a call gate: refused (EINVAL)",
        "update_descriptor with conforming code: refused (EINVAL)",
        "update_descriptor into a page table: refused (EINVAL)",
        "set_ldt on a misaligned address: refused (EINVAL)",
        "set_ldt in the hypervisor hole: refused (EINVAL)",
        "set_trap_table with a hole handler: refused (EINVAL)",
        "register a callback in the hole: refused (EINVAL)",
        "register a syscall32 callback in the hole: refused (EINVAL)",
        "register an NMI callback in the hole: refused (EINVAL)",
        "register a sysenter callback at a non-canonical address: refused (EINVAL)",
        "sysenter in guest kernel mode: contained (a fault delivered to the kernel)",
    ]);
    let traps = strings(&[
        "iret to ring 0 (cs 0xe030): contained (ran with RPL 3)",
        "iret with the hypervisor's code selector: contained (failsafe callback)",
        "iret with the hypervisor's stack selector: contained (failsafe callback)",
        "iret inside a multicall: contained (returned to its context; the batch ended there)",
        "physdev set_iopl 4: refused (EINVAL)",
        "iret to a non-canonical rip: contained (#GP to our handler)",
        "in from port 0x64 in the guest kernel: contained (emulated: reads all ones, no port touched)",
        "cli in the guest kernel: contained (#GP to our handler)",
        "hlt in the guest kernel: contained (#GP to our handler)",
        "mov to cr3 in the guest kernel: contained (#GP to our handler)",
        "wrmsr in the guest kernel: contained (#GP to our handler)",
        "lgdt in the guest kernel: contained (#GP to our handler)",
        "int 0x80 (no gate) in the guest kernel: contained (#GP to our handler)",
    ]);
    // The hypervisor's pages shared with the guest: never a table, descriptors, freed or
    // passed on (findings 1 and 2 of the isolation review).
    let misuses = |what: &str| {
        vec![
            format!("hook {what} into an L2 as an L1 table: refused (EPERM)"),
            format!("load {what} as a GDT frame: refused (EINVAL)"),
            format!("pin {what} as an L1 table: refused (EPERM)"),
            format!("pin {what} as an L2 table: refused (EPERM)"),
            format!("pin {what} as an L3 table: refused (EPERM)"),
            format!("pin {what} as an L4 table: refused (EPERM)"),
            format!("give {what} back (decrease_reservation): contained (0 of 1 released)"),
        ]
    };
    let mut xen = misuses("shared_info");
    for what in ["our shared_info", "a grant-table frame"] {
        xen.push(format!(
            "grant {what} to ourselves and map it: contained (GNTST_bad_page)"
        ));
        xen.push(format!(
            "grant copy into {what}: contained (GNTST_bad_page)"
        ));
    }
    xen.extend(misuses("a grant-table frame"));
    // Linear page tables under Xen's rules: one read-only step at L2/L3, no chains, no
    // loops, none at L4 (finding 3, and the M2P's table frames of finding 9).
    let mut linear = Vec::new();
    for level in [2, 3] {
        linear.extend([
            format!("writable linear entry at L{level}: refused (EINVAL)"),
            format!("linear chain of three L{level} tables: refused (EINVAL)"),
            format!("linear loop between two L{level} tables: refused (EINVAL)"),
            format!("linear entry into an L{level} that holds linear entries: refused (EINVAL)"),
        ]);
    }
    linear.push("linear entry between two L4 tables: refused (EINVAL)".to_string());
    linear.push(
        "L4 mapping itself (reaches the hypervisor's table frames): refused (EINVAL)".to_string(),
    );
    let grants = strings(&[
        "map a reference past the table: contained (GNTST_BAD_GNTREF)",
        "map from a domain that does not exist: contained (GNTST_BAD_DOMAIN)",
        "map an entry granted to dom0: contained (GNTST_PERMISSION_DENIED)",
        "map an entry not granted at all: contained (GNTST_BAD_GNTREF)",
        "map at an address in the hypervisor hole: contained (GNTST_BAD_VIRT_ADDR)",
        "map at a non-canonical address: contained (GNTST_BAD_VIRT_ADDR)",
        "map over a present entry: contained (GNTST_BAD_VIRT_ADDR)",
        "map with a PTE address in a data page: contained (GNTST_GENERAL_ERROR)",
        "map with a PTE address in our L2: contained (GNTST_BAD_VIRT_ADDR)",
        "map our own L1 (granted to ourselves) writable: contained (GNTST_BAD_PAGE)",
        "map our own L1 writable for device access only: contained (GNTST_BAD_PAGE)",
        "unmap a handle never made: contained (GNTST_BAD_HANDLE)",
        "unmap one mapping twice: contained (GNTST_BAD_HANDLE)",
        "grant copy into our own L1: contained (GNTST_BAD_PAGE)",
        "grant copy into our descriptor page: contained (GNTST_BAD_PAGE)",
        "grant copy out of a dom0 frame without a grant: contained (GNTST_PERMISSION_DENIED)",
        "grant copy across the end of a page: contained (GNTST_BAD_COPY_ARG)",
        "set up a table of 1000 frames: contained (GNTST_GENERAL_ERROR)",
        "set up dom0's table: contained (GNTST_PERMISSION_DENIED)",
        "switch to grant table version 2: refused (ENOSYS)",
        "transfer a page: refused (ENOSYS)",
        "an unknown grant command: refused (ENOSYS)",
    ]);
    let events = strings(&[
        "send on port 0: refused (EINVAL)",
        "send on port 2^31: refused (EINVAL)",
        "close port 0: refused (EINVAL)",
        "close a port never allocated: refused (EINVAL)",
        "unmask port 2^32-1: refused (EINVAL)",
        "bind to a port of a domain that does not exist: refused (ESRCH)",
        "bind to a dom0 port not offered to us: refused (EINVAL)",
        "bind to DOMID_XEN: refused (ESRCH)",
        "allocate a port in dom0 for ourselves: refused (EPERM)",
        "bind VIRQ 4096: refused (EINVAL)",
        "bind a VIRQ to vCPU 7: refused (ENOENT)",
        "bind a physical IRQ: refused (EPERM)",
        "bind a port to vCPU 1: refused (ENOENT)",
        "status of a dom0 port: refused (EPERM)",
        "reset dom0's event channels: refused (EPERM)",
        "an unknown command: refused (ENOSYS)",
        "100000 sends to our own port: contained (every send a pending bit, nothing queued)",
        "allocate ports until refused: refused (ENOSPC)",
    ]);
    let devices = strings(&[
        "map the disk's interrupt line for ourselves: refused (EPERM)",
        "map an interrupt line for dom0: refused (EPERM)",
        "map an MSI: refused (EPERM)",
        "set the disk line's trigger mode: refused (EPERM)",
        "unmap dom0's disk interrupt: refused (EPERM)",
        "acknowledge dom0's disk interrupt (EOI): refused (EINVAL)",
        "query dom0's disk interrupt: refused (EINVAL)",
    ]);
    let lifecycle = strings(&[
        "destroy dom0: refused (EPERM)",
        "pause dom0: refused (EPERM)",
        "send dom0 an NMI (xl trigger): refused (EPERM)",
        "shut dom0 down (remote_shutdown): refused (EPERM)",
        "give dom0 more memory: refused (EPERM)",
        "take 4 GiB more memory: contained (stopped at our maximum)",
        "bring up vCPU 5: refused (ENOENT)",
    ]);
    let tlb = strings(&[
        "write through a stale entry after the frame became an L1: contained (#PF: the hypervisor flushed first)",
        "write through a stale entry after the frame was given back: contained (#PF: the hypervisor flushed first)",
    ]);
    vec![
        ("PV MMU", mmu),
        ("hypercall pointers", pointers),
        ("per-operation cost", cost),
        ("descriptors and callbacks", descriptors),
        ("traps and iret", traps),
        ("hypervisor-owned frames", xen),
        ("linear page tables", linear),
        ("grants", grants),
        ("event channels", events),
        ("physical devices", devices),
        ("domain lifecycle", lifecycle),
        ("stale TLB entries", tlb),
        (
            "resource floods",
            vec![
                "1 MiB through console_io: contained (every write accepted; the hypervisor rate-limits what it shows)"
                    .to_string(),
                "10000 refusals the hypervisor logs: contained (all refused; the hypervisor rate-limits its warnings)"
                    .to_string(),
            ],
        ),
        (
            "argument widths",
            strings(&[
                "mmu_update with foreigndom DOMID_SELF + 2^16: refused (EINVAL)",
                "mmuext_op with count 2^32: refused (EINVAL)",
                "multicall with count 2^32: refused (EINVAL)",
                "grant_table_op query_size + 2^32 with count 0: refused (EINVAL)",
                "sched_op yield + 2^32: refused (EINVAL)",
                "xen_version version + 2^32: refused (EINVAL)",
                "vcpu_op is_up + 2^32: refused (EINVAL)",
                "vcpu_op is_up on vCPU 2^32: refused (EINVAL)",
            ]),
        ),
        (
            "emulation",
            strings(&[
                "a valid entry stored into its L1 through the read-only mapping: contained (emulated: the entry is what mmu_update would have made it)",
                "its own L4 mapped writable through a store to its L1: contained (#PF to our handler)",
                "a frame not its own mapped through a store to its L1: contained (#PF to our handler)",
                "cpuid escape asking for VMX: contained (emulated: VMX hidden, hypervisor bit set)",
                "rdmsr of an unknown MSR: contained (#GP to our handler)",
                "wrmsr of an unknown MSR: contained (#GP to our handler)",
                "set_debugreg DR0 inside the hypervisor hole: refused (EPERM)",
                "vm_assist with an unknown assist: refused (EINVAL)",
            ]),
        ),
    ]
}

#[test]
fn hostile_guest_is_refused_or_contained_and_the_system_stays_healthy() {
    // On instruction-count time, so the longest interrupts-off stretch is the emulated
    // machine's, whatever the host's load.
    let opts = BootOptions::new(&test_name!())
        .cmdline("irqoff_stats")
        .icount();
    let mut sys = System::boot_to_prompt(opts);
    sys.run("xenperf -r");
    let mark = sys.mark();
    // The first domU: domain 1 (`me=` lets it grant to itself).
    let out = sys.run("xl create /etc/xen/domu.cfg name=hostile extra=\"test=hostile me=1\"");
    sys.check(!out.contains("xl: "), format!("`xl create` failed: {out}"));
    let classes = expected();
    let mut want: Vec<String> = classes.iter().flat_map(|(_, v)| v.clone()).collect();
    let total = want.len();
    for (name, v) in &classes {
        want.push(format!(
            "class {name}: {n} tried, {n} contained",
            n = v.len()
        ));
    }
    let summary = format!("hostile: {total} attacks tried, {total} refused or contained");
    sys.wait_line_where(
        mark,
        "hostile: N attacks tried",
        Duration::from_secs(60),
        |l| {
            domu_line(l)
                .is_some_and(|(_, t)| t.starts_with("hostile: ") && t.contains(" attacks tried"))
        },
    )
    .unwrap_or_else(|f| sys.fail(f.msg));
    let got: Vec<String> = sys
        .since(mark)
        .lines()
        .filter_map(domu_line)
        .filter_map(|(_, t)| t.strip_prefix("hostile: ").map(str::to_string))
        .collect();
    // One assertion per attack: its own verdict line, in order.
    for (i, w) in want.iter().enumerate() {
        let g = got.get(i).map(String::as_str).unwrap_or("<missing>");
        sys.check(
            g == w,
            format!("attack {i}: want `hostile: {w}`, got `hostile: {g}`"),
        );
    }
    let last = got
        .last()
        .map(|s| format!("hostile: {s}"))
        .unwrap_or_default();
    sys.check(last == summary, format!("want `{summary}`, got `{last}`"));
    let crashes = sys.lines_since(mark, " crashed:");
    sys.check(crashes.is_empty(), format!("a domain crashed: {crashes:?}"));
    // The console flood: a bounded share reached the console (64 KiB at once, 16 KiB/s
    // after), the rest was dropped and reported.
    let flood = sys
        .since(mark)
        .lines()
        .filter(|l| l.contains("FLOOD xxxx"))
        .count();
    sys.check(
        flood > 0 && flood <= 4096,
        format!("{flood} lines of the 16384-line console flood reached the console"),
    );
    let drops = sys.lines_since(mark, "console output over 16384 bytes/s:");
    sys.check(
        !drops.is_empty(),
        "the hypervisor did not report dropping the console flood",
    );
    // The refusal flood: the hypervisor logged a bounded number of its 10000 warnings.
    let warnings = sys
        .since(mark)
        .lines()
        .filter(|l| l.contains("grant table of 1000 frames refused"))
        .count();
    sys.check(
        warnings > 0 && warnings <= 400,
        format!("{warnings} of 10000 refusal warnings reached the console"),
    );
    sys.check(
        !sys.lines_since(mark, "warnings suppressed").is_empty(),
        "the hypervisor did not say it suppressed warnings",
    );
    // No attack made the hypervisor run 1 ms (of the emulated machine) with interrupts off.
    let longest = sys.xenperf_counter("irqoff_max_ns");
    println!("longest interrupts-off stretch during the hostile suite: {longest} ns");
    sys.check(
        longest > 0 && longest < 1_000_000,
        format!("longest interrupts-off stretch during the attacks: {longest} ns (limit 1 ms)"),
    );
    // dom0 answers, and the hypervisor can still build and run a new guest.
    list_with_healthy_dom0(&mut sys);
    let (_, greet) = create_and_wait_guest_line(&mut sys, "domu.cfg", "Hello from pv-guest domU");
    sys.check(
        greet == "Hello from pv-guest domU, cmdline \"greet\"",
        format!("a new domU after the attacks said `{greet}`"),
    );
    list_with_healthy_dom0(&mut sys);
}
