//! `sysctl`: physinfo against the frame allocator, getdomaininfolist against the domains,
//! readconsole against the log ring (incremental reads, clear), perfc_op's counters; the
//! interface version, dom0-only access and bad pointers.

use crate::arch::cpu::advance_ns;
use crate::console::{LOG_RING, RING_SIZE};
use crate::phys::frames;
use crate::testbed::{err, Testbed, DOM0_PAGES};
use guest_abi::domctl::DomctlGetDomainInfo;
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::sysctl::*;
use guest_abi::types::DomId;

const INFO: u64 = core::mem::size_of::<DomctlGetDomainInfo>() as u64;
const DESC: u64 = core::mem::size_of::<SysctlPerfcDesc>() as u64;

/// Issues `op` from the current domain's scratch area; the result and the op as written
/// back.
fn sysctl(tb: &mut Testbed, op: &XenSysctl) -> (i64, XenSysctl) {
    let buf = tb.scratch();
    tb.write(buf, op);
    let r = tb.hypercall(nr::SYSCTL, [buf, 0, 0, 0, 0]);
    (r, tb.read(buf))
}

/// Scratch memory past the sysctl structure, for the buffers it points to.
fn area(tb: &Testbed, off: u64) -> u64 {
    tb.scratch() + 4096 + off
}

fn physinfo(tb: &mut Testbed) -> SysctlPhysinfo {
    let (r, op) = sysctl(tb, &XenSysctl::new(XEN_SYSCTL_PHYSINFO));
    assert_eq!(r, 0);
    op.payload()
}

fn readconsole(tb: &mut Testbed, rc: SysctlReadconsole) -> (i64, SysctlReadconsole, Vec<u8>) {
    let (r, op) = sysctl(tb, &XenSysctl::with_payload(XEN_SYSCTL_READCONSOLE, &rc));
    let out: SysctlReadconsole = op.payload();
    let got = if r == 0 {
        tb.read_bytes(rc.buffer, out.count as usize)
    } else {
        Vec::new()
    };
    (r, out, got)
}

/// Everything the log ring holds now, and its end index (read directly).
fn ring() -> (Vec<u8>, u32) {
    let mut all = vec![0u8; RING_SIZE];
    let (n, end) = LOG_RING.lock().read(&mut all, false, 0, false);
    all.truncate(n);
    (all, end)
}

#[test]
fn physinfo_adds_up_with_the_frame_allocator() {
    let mut tb = Testbed::boot();
    let p = physinfo(&mut tb);
    assert_eq!(
        (
            p.nr_cpus,
            p.threads_per_core,
            p.cores_per_socket,
            p.nr_nodes
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(u64::from(p.cpu_khz), crate::arch::tsc_khz());
    assert_eq!(p.total_pages, frames::total_count());
    assert!(p.total_pages <= crate::phys::ram::frames());
    assert_eq!(
        p.free_pages,
        frames::free_count() - frames::reserve_for(p.total_pages),
        "free for domains: what the allocator has, less the hypervisor's reserve"
    );
    assert_eq!(p.max_mfn + 1, crate::arch::paging::max_mfn());
    // Every domain page and shared_info frame is out of the free count.
    let owned = tb.st(|st| st.domains.values().map(|d| d.tot_pages + 1).sum::<u64>());
    assert_eq!(owned, DOM0_PAGES + 1);
    assert!(p.total_pages - frames::free_count() >= owned);
}

#[test]
fn physinfo_free_pages_drop_by_what_a_new_domain_takes() {
    let mut tb = Testbed::boot();
    let before = physinfo(&mut tb);
    let allocator_before = frames::free_count();
    let u = tb.domu(2048);
    let after = physinfo(&mut tb);
    let taken = allocator_before - frames::free_count();
    assert_eq!(after.total_pages, before.total_pages);
    assert_eq!(before.free_pages - after.free_pages, taken);
    assert_eq!(tb.st(|st| st.dom(u).unwrap().tot_pages), 2048);
    assert!(taken > 2048, "its memory, shared_info and more: {taken}");
}

#[test]
fn a_domu_gets_eperm_for_every_sysctl_and_nothing_written_back() {
    let mut tb = Testbed::boot();
    let u = tb.domu(1024);
    tb.run(u);
    let buffer = area(&tb, 0);
    let ops = [
        XenSysctl::new(XEN_SYSCTL_PHYSINFO),
        XenSysctl::with_payload(
            XEN_SYSCTL_READCONSOLE,
            &SysctlReadconsole {
                buffer,
                count: 256,
                clear: 1,
                ..Default::default()
            },
        ),
        XenSysctl::with_payload(
            XEN_SYSCTL_GETDOMAININFOLIST,
            &SysctlGetdomaininfolist {
                max_domains: 4,
                buffer,
                ..Default::default()
            },
        ),
        XenSysctl::with_payload(
            XEN_SYSCTL_PERFC_OP,
            &SysctlPerfcOp {
                cmd: XEN_SYSCTL_PERFCOP_RESET,
                ..Default::default()
            },
        ),
        XenSysctl::new(XEN_SYSCTL_SCHED_ID),
        XenSysctl::new(999),
    ];
    let (log_before, _) = ring();
    for op in ops {
        tb.write_bytes(buffer, &[0x77; 256]);
        let (r, back) = sysctl(&mut tb, &op);
        assert_eq!(r, err(Errno::EPERM), "cmd {}", op.cmd);
        assert_eq!(back, op, "cmd {}: the op is not written back", op.cmd);
        assert_eq!(tb.read_bytes(buffer, 256), vec![0x77; 256]);
    }
    assert_eq!(ring().0, log_before, "the log was not cleared");
    // Even with a bad pointer, a domU learns nothing but EPERM.
    assert_eq!(tb.hypercall(nr::SYSCTL, [0, 0, 0, 0, 0]), err(Errno::EPERM));
}

#[test]
fn a_wrong_interface_version_is_eacces() {
    let mut tb = Testbed::boot();
    for v in [
        0,
        XEN_SYSCTL_INTERFACE_VERSION - 1,
        XEN_SYSCTL_INTERFACE_VERSION + 1,
        !0,
    ] {
        let op = XenSysctl {
            interface_version: v,
            ..XenSysctl::new(XEN_SYSCTL_PHYSINFO)
        };
        let (r, back) = sysctl(&mut tb, &op);
        assert_eq!(r, err(Errno::EACCES), "version {v:#x}");
        assert_eq!(back, op, "nothing written back");
    }
}

#[test]
fn unknown_commands_are_enosys() {
    let mut tb = Testbed::boot();
    for cmd in [0, XEN_SYSCTL_TBUF_OP, XEN_SYSCTL_DEBUG_KEYS, 999, u32::MAX] {
        let (r, back) = sysctl(&mut tb, &XenSysctl::new(cmd));
        assert_eq!(r, err(Errno::ENOSYS), "cmd {cmd}");
        assert_eq!(back, XenSysctl::new(cmd));
    }
}

#[test]
fn bad_sysctl_pointers_fault() {
    let mut tb = Testbed::boot();
    for p in [
        0,
        0x10,
        0xFFFF_8000_0000_0000,
        0x0000_8000_0000_0000,
        u64::MAX - 7,
    ] {
        assert_eq!(
            tb.hypercall(nr::SYSCTL, [p, 0, 0, 0, 0]),
            err(Errno::EFAULT),
            "{p:#x}"
        );
    }
    // Straddling the end of the mapping.
    let end = tb.mapped_end(tb.scratch());
    tb.write(end - 64, &[0u8; 64]);
    assert_eq!(
        tb.hypercall(nr::SYSCTL, [end - 64, 0, 0, 0, 0]),
        err(Errno::EFAULT)
    );
}

#[test]
fn getdomaininfolist_lists_the_domains_from_first_domain() {
    let mut tb = Testbed::boot();
    // The ids as the guest reads them in the list.
    let a = tb.domu(1024).0;
    let b = tb.domu(1536).0;
    let buffer = area(&tb, 0);
    let list = |tb: &mut Testbed, first: u16, max: u32| {
        tb.write_bytes(buffer, &vec![0xEE; 5 * INFO as usize]);
        let (r, op) = sysctl(
            tb,
            &XenSysctl::with_payload(
                XEN_SYSCTL_GETDOMAININFOLIST,
                &SysctlGetdomaininfolist {
                    first_domain: DomId(first),
                    max_domains: max,
                    buffer,
                    ..Default::default()
                },
            ),
        );
        assert_eq!(r, 0);
        let l: SysctlGetdomaininfolist = op.payload();
        let infos: Vec<DomctlGetDomainInfo> = (0..u64::from(l.num_domains))
            .map(|i| tb.read(buffer + i * INFO))
            .collect();
        // Nothing past the entries written.
        let rest = tb.read_bytes(buffer + u64::from(l.num_domains) * INFO, INFO as usize);
        assert_eq!(rest, vec![0xEE; INFO as usize]);
        infos
    };
    let expected = |tb: &Testbed, id: DomId| {
        tb.st(|st| {
            let cur = st.current;
            crate::hypercall::domctl::domain_info(st.dom(id).unwrap(), cur)
        })
    };
    let all = list(&mut tb, 0, 100);
    let ids: Vec<u16> = all.iter().map(|i| i.domain.0).collect();
    assert_eq!(ids, vec![0, a, b]);
    for info in &all {
        assert_eq!(*info, expected(&tb, info.domain));
    }
    assert_eq!(all[0].tot_pages, DOM0_PAGES);
    assert_eq!(all[2].tot_pages, 1536);
    assert_ne!(all[0].flags & 1 << 5, 0, "dom0, the caller, is running");
    // From a later id, and at most max_domains.
    let ids = |v: Vec<DomctlGetDomainInfo>| v.iter().map(|i| i.domain.0).collect::<Vec<_>>();
    assert_eq!(ids(list(&mut tb, a, 100)), vec![a, b]);
    assert_eq!(ids(list(&mut tb, a + 1, 100)), vec![b]);
    assert_eq!(ids(list(&mut tb, 0, 2)), vec![0, a]);
    assert_eq!(ids(list(&mut tb, 0, 0)), Vec::<u16>::new());
    assert_eq!(ids(list(&mut tb, b + 1, 100)), Vec::<u16>::new());
    assert_eq!(ids(list(&mut tb, 0x7FF0, u32::MAX)), Vec::<u16>::new());
}

#[test]
fn getdomaininfolist_into_a_bad_buffer_faults() {
    let mut tb = Testbed::boot();
    tb.domu(1024);
    let end = tb.mapped_end(tb.scratch());
    let ro = tb.read_only_va();
    let ro_before = tb.read_bytes(ro, 2 * INFO as usize);
    for buffer in [0, 0xFFFF_8000_0000_0000, ro, end - INFO, u64::MAX - INFO] {
        let op = XenSysctl::with_payload(
            XEN_SYSCTL_GETDOMAININFOLIST,
            &SysctlGetdomaininfolist {
                max_domains: 2,
                buffer,
                ..Default::default()
            },
        );
        let (r, back) = sysctl(&mut tb, &op);
        assert_eq!(r, err(Errno::EFAULT), "{buffer:#x}");
        assert_eq!(back, op, "num_domains not written back");
    }
    assert_eq!(tb.read_bytes(ro, 2 * INFO as usize), ro_before);
}

#[test]
fn readconsole_returns_the_log_and_reads_on_from_an_index() {
    let mut tb = Testbed::boot();
    crate::xen_println!("readconsole marker one");
    let (log, end) = ring();
    let buffer = area(&tb, 0);
    let (r, out, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    assert_eq!(got, log);
    assert_eq!(out.count as usize, log.len());
    assert_eq!(out.index, end);
    assert!(got.ends_with(b"(XEN) readconsole marker one\n"));
    // Incremental from the index returned: only what came since.
    crate::xen_println!("marker two");
    let (r, out2, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            incremental: 1,
            index: out.index,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    assert_eq!(got, b"(XEN) marker two\n");
    assert_eq!(out2.index, end + got.len() as u32);
    // Nothing new: nothing read, the index stays.
    let (r, out3, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            incremental: 1,
            index: out2.index,
            ..Default::default()
        },
    );
    assert_eq!((r, out3.count, out3.index), (0, 0, out2.index));
    assert!(got.is_empty());
    // A small buffer gets the oldest bytes kept; the index says where to go on.
    let (r, small, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: 10,
            ..Default::default()
        },
    );
    assert_eq!((r, small.count), (0, 10));
    assert_eq!(got, &log[..10]);
    assert_eq!(small.index, end - log.len() as u32 + 10);
    // Nothing was cleared by reading.
    assert_eq!(ring().0.len(), log.len() + "(XEN) marker two\n".len());
}

#[test]
fn readconsole_clear_empties_the_ring_and_the_index_runs_on() {
    let mut tb = Testbed::boot();
    crate::xen_println!("a line to clear");
    let (log, end) = ring();
    let buffer = area(&tb, 0);
    // A full read with clear: everything read, then nothing left.
    let (r, out, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            clear: 1,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    assert_eq!(got, log);
    assert_eq!(out.index, end);
    assert!(ring().0.is_empty());
    let (r, out, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            ..Default::default()
        },
    );
    assert_eq!((r, out.count, out.index), (0, 0, end));
    assert!(got.is_empty());
    // New lines are kept, at indexes that go on from the old ones.
    crate::xen_println!("after the clear");
    let (r, out, got) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer,
            count: RING_SIZE as u32,
            incremental: 1,
            index: end,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    assert_eq!(got, b"(XEN) after the clear\n");
    assert_eq!(out.index, end + got.len() as u32);
    // `xl dmesg -c` reads first, then clears with an empty read: that empties it too.
    let (r, out, _) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer: 0,
            count: 0,
            clear: 1,
            ..Default::default()
        },
    );
    assert_eq!((r, out.count), (0, 0));
    assert!(ring().0.is_empty());
}

#[test]
fn readconsole_into_a_bad_buffer_faults_and_keeps_the_log() {
    let mut tb = Testbed::boot();
    crate::xen_println!("do not lose me");
    let (log, _) = ring();
    let end = tb.mapped_end(tb.scratch());
    let ro = tb.read_only_va();
    for buffer in [0, 0x10, 0xFFFF_8000_0000_0000, ro, end - 8] {
        let op = XenSysctl::with_payload(
            XEN_SYSCTL_READCONSOLE,
            &SysctlReadconsole {
                buffer,
                count: 64,
                clear: 1,
                ..Default::default()
            },
        );
        let (r, back) = sysctl(&mut tb, &op);
        assert_eq!(r, err(Errno::EFAULT), "{buffer:#x}");
        assert_eq!(back, op);
        assert_eq!(ring().0, log, "cleared despite the fault ({buffer:#x})");
    }
    // A zero count reads nothing and touches no buffer.
    let (r, out, _) = readconsole(
        &mut tb,
        SysctlReadconsole {
            buffer: 0,
            count: 0,
            ..Default::default()
        },
    );
    assert_eq!((r, out.count), (0, 0));
}

fn perfc(tb: &mut Testbed, p: SysctlPerfcOp) -> (i64, SysctlPerfcOp) {
    let (r, op) = sysctl(tb, &XenSysctl::with_payload(XEN_SYSCTL_PERFC_OP, &p));
    (r, op.payload())
}

#[test]
fn perfc_query_gives_the_sizes_then_the_descriptions_and_values() {
    let mut tb = Testbed::boot();
    // First call: sizes only.
    let (r, sizes) = perfc(
        &mut tb,
        SysctlPerfcOp {
            cmd: XEN_SYSCTL_PERFCOP_QUERY,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    let n = crate::hypercall::perfc::NAMES.len() as u32;
    assert_eq!((sizes.nr_counters, sizes.nr_vals), (n, n));
    // Second call: arrays of that size.
    let desc = area(&tb, 0);
    let val = area(&tb, 4096);
    tb.write_bytes(
        desc,
        &vec![0xCC; (u64::from(n) + 1) as usize * DESC as usize],
    );
    tb.write_bytes(val, &vec![0xCC; 4 * (n as usize + 1)]);
    let (r, got) = perfc(
        &mut tb,
        SysctlPerfcOp {
            cmd: XEN_SYSCTL_PERFCOP_QUERY,
            desc,
            val,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    assert_eq!(
        (got.nr_counters, got.nr_vals, got.desc, got.val),
        (n, n, desc, val)
    );
    for (i, name) in crate::hypercall::perfc::NAMES.iter().enumerate() {
        let d: SysctlPerfcDesc = tb.read(desc + i as u64 * DESC);
        assert_eq!(d.name(), name.as_bytes());
        assert_eq!(d.nr_vals, 1);
    }
    assert_eq!(
        tb.read_bytes(desc + u64::from(n) * DESC, DESC as usize),
        vec![0xCC; DESC as usize],
        "nothing past the descriptions"
    );
    let vals: Vec<u32> = (0..n)
        .map(|i| tb.read::<u32>(val + 4 * u64::from(i)))
        .collect();
    let free_frames = crate::hypercall::perfc::NAMES
        .iter()
        .position(|&s| s == "free_frames")
        .unwrap();
    assert_eq!(u64::from(vals[free_frames]), frames::free_count());
    assert_eq!(
        tb.read_bytes(val + 4 * u64::from(n), 4),
        vec![0xCC; 4],
        "nothing past the values"
    );
}

#[test]
fn perfc_reset_zeroes_the_irqoff_maximum_and_keeps_the_gauges() {
    let mut tb = Testbed::boot();
    let irqoff = crate::hypercall::perfc::NAMES
        .iter()
        .position(|&s| s == "irqoff_max_ns")
        .unwrap();
    let free_frames = crate::hypercall::perfc::NAMES
        .iter()
        .position(|&s| s == "free_frames")
        .unwrap();
    let val = area(&tb, 0);
    let query = |tb: &mut Testbed| -> Vec<u32> {
        let (r, _) = perfc(
            tb,
            SysctlPerfcOp {
                cmd: XEN_SYSCTL_PERFCOP_QUERY,
                val,
                ..Default::default()
            },
        );
        assert_eq!(r, 0);
        (0..crate::hypercall::perfc::NAMES.len() as u64)
            .map(|i| tb.read::<u32>(val + 4 * i))
            .collect()
    };
    // A 3 ms stretch with interrupts off.
    crate::arch::irqoff::reset();
    crate::arch::irqoff::enable();
    crate::arch::irqoff::enter();
    advance_ns(3_000_000);
    crate::arch::irqoff::leave();
    let v = query(&mut tb);
    assert_eq!(v[irqoff], 3_000_000);
    let (r, _) = perfc(
        &mut tb,
        SysctlPerfcOp {
            cmd: XEN_SYSCTL_PERFCOP_RESET,
            ..Default::default()
        },
    );
    assert_eq!(r, 0);
    let v2 = query(&mut tb);
    assert_eq!(v2[irqoff], 0);
    assert_eq!(u64::from(v2[free_frames]), frames::free_count());
}

#[test]
fn perfc_refuses_unknown_commands_and_bad_arrays() {
    let mut tb = Testbed::boot();
    for cmd in [0, 3, u32::MAX] {
        let (r, _) = perfc(
            &mut tb,
            SysctlPerfcOp {
                cmd,
                ..Default::default()
            },
        );
        assert_eq!(r, err(Errno::EINVAL), "cmd {cmd}");
    }
    let end = tb.mapped_end(tb.scratch());
    let ro = tb.read_only_va();
    let good = area(&tb, 0);
    for bad in [0x10, 0xFFFF_8000_0000_0000, ro, end - 8] {
        for (desc, val) in [(bad, good), (good, bad)] {
            let p = SysctlPerfcOp {
                cmd: XEN_SYSCTL_PERFCOP_QUERY,
                desc,
                val,
                ..Default::default()
            };
            let (r, back) = perfc(&mut tb, p);
            assert_eq!(r, err(Errno::EFAULT), "desc {desc:#x} val {val:#x}");
            assert_eq!(back, p, "the op is not written back");
        }
    }
}
