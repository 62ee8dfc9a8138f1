use super::create::KERNEL_HEAP_HEADROOM;
use super::shutdown::ACK_WAIT_NS;
use super::*;
use crate::elf::testimg::TestElf;
use crate::initrd::write_newc;
use crate::testalloc::{peak_during, unmetered};
use crate::testhv::guest::Planned;
use crate::testhv::{FailPoint, TestHv};
use guest_abi::domctl::*;
use guest_abi::sched::ShutdownReason;
use guest_abi::sysctl::XEN_SYSCTL_READCONSOLE;
use guest_abi::types::{DomId, Mfn, Pfn};

const DOMU: &[u8] =
    b"name = \"domu\"\nkernel = \"/boot/pv-guest\"\nmemory = 16\nextra = \"greet\"\n";

fn initrd_bytes() -> Vec<u8> {
    let kernel = TestElf::pv().bytes();
    let big = b"name = \"big\"\nkernel = \"/boot/pv-guest\"\nmemory = 200\n";
    let tiny = b"name = \"tiny\"\nkernel = \"/boot/pv-guest\"\nmemory = 1\n";
    // A 2 MiB domain with a 3 MiB ramdisk.
    let tinyrd =
        b"name = \"tinyrd\"\nkernel = \"/boot/pv-guest\"\nramdisk = \"/boot/big-rd\"\nmemory = 2\n";
    let notelf = b"name = \"notelf\"\nkernel = \"/etc/xen/domu.cfg\"\n";
    let other = b"name = \"other\"\nkernel = \"/boot/pv-guest\"\nmemory = 16\n";
    let rd = b"name = \"rd\"\nkernel = \"/boot/pv-guest\"\nramdisk = \"/boot/nope\"\n";
    let wpt_kernel = TestElf::pv()
        .with_note(
            guest_abi::elfnote::XEN_ELFNOTE_FEATURES,
            b"!writable_page_tables\0".to_vec(),
        )
        .bytes();
    let wpt = b"name = \"wpt\"\nkernel = \"/boot/wpt\"\n";
    // A kernel that insists on being dom0: a domU is never offered XENFEAT_dom0.
    let dom0_kernel = TestElf::pv()
        .with_note(
            guest_abi::elfnote::XEN_ELFNOTE_FEATURES,
            b"!dom0\0".to_vec(),
        )
        .bytes();
    let dom0k = b"name = \"dom0k\"\nkernel = \"/boot/dom0k\"\n";
    write_newc(&[
        ("/etc/xen/domu.cfg", DOMU),
        ("/etc/xen/big.cfg", big),
        ("/etc/xen/tiny.cfg", tiny),
        ("/etc/xen/tinyrd.cfg", tinyrd),
        ("/boot/big-rd", &[0x5A; 3 << 20]),
        ("/etc/xen/notelf.cfg", notelf),
        ("/etc/xen/other.cfg", other),
        ("/etc/xen/rd.cfg", rd),
        (
            "/etc/xen/bad-kernel.cfg",
            include_bytes!("../../examples/bad-kernel.cfg"),
        ),
        (
            "/etc/xen/bad-memory.cfg",
            include_bytes!("../../examples/bad-memory.cfg"),
        ),
        ("/boot/pv-guest", &kernel),
        ("/etc/xen/wpt.cfg", wpt),
        ("/boot/wpt", &wpt_kernel),
        ("/etc/xen/dom0k.cfg", dom0k),
        ("/boot/dom0k", &dom0_kernel),
    ])
}

/// A 96 MiB host (dom0 has 4 MiB of it: `hypervisor::testbed::DOM0_PAGES`).
fn toolstack(rd: &[u8]) -> Toolstack<'_, TestHv> {
    Toolstack::new(TestHv::boot(96), Initrd::parse(rd).unwrap())
}

/// The memory the hypervisor has free for domains, in MiB (read from its state).
fn free_mib(ts: &mut Toolstack<'_, TestHv>) -> u64 {
    ts.hypervisor().free_pages() / 256
}

fn xl<H: Hypervisor>(ts: &mut Toolstack<'_, H>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

/// What an error must leave unchanged.
fn state(ts: &mut Toolstack<'_, TestHv>) -> (u64, Vec<DomId>, String) {
    let hv = ts.hypervisor();
    let free = hv.free_pages();
    let ids = hv.domain_ids();
    (free, ids, xl(ts, "xl list").1)
}

#[test]
fn list_shows_domain0_like_xen() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    // dom0 has run for 0.3 s (its own CPU time, as the hypervisor counts it).
    ts.hypervisor().pass_time(300_000_000);
    let (rc, out) = xl(&mut ts, "xl list");
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "Name                                        ID   Mem VCPUs\tState\tTime(s)\n\
         Domain-0                                     0     4     1     r-----       0.3\n"
    );
}

#[test]
fn create_list_destroy() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    let free0 = ts.hypervisor().free_pages();
    let (rc, out) = xl(&mut ts, "xl create /etc/xen/domu.cfg");
    assert_eq!(
        (rc, out.as_str()),
        (
            0,
            "Parsing config from /etc/xen/domu.cfg\nStarted domain domu (id=1)\n"
        )
    );
    let hv = ts.hypervisor();
    // Its pages and its shared_info frame.
    assert_eq!(hv.free_pages(), free0 - 4096 - 1);
    let d = hv.domain(DomId(1)).unwrap();
    assert!(!d.paused);
    assert_eq!(d.tot_pages, 4096);
    assert_eq!(d.max_pages, 4096);
    // Its vCPU runs on the L4 the toolstack pinned, from the kernel's entry.
    assert!(d.online && d.l4 != 0 && d.l4_pinned, "{d:?}");
    assert_eq!(d.rip, 0xFFFF_FFFF_8000_0020);
    assert_eq!(d.cs, 0xe033);
    // start_info, where the guest's page tables map rsi.
    let si = hv.guest_bytes(DomId(1), d.rsi, 160);
    assert_eq!(&si[..14], b"xen-3.0-x86_64");
    assert_eq!(&si[128..134], b"greet\0");
    assert_eq!(
        u64::from_le_bytes(si[40..48].try_into().unwrap()),
        d.shared_info_mfn << 12
    );
    // Its kernel starts and idles.
    hv.guest(DomId(1)).block().unwrap();

    let (rc, out) = xl(&mut ts, "xl list");
    assert_eq!(rc, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[2],
        "domu                                         1    16     1     -b----       0.0"
    );
    // By name and by id.
    assert_eq!(xl(&mut ts, "xl list domu").1.lines().count(), 2);
    assert_eq!(xl(&mut ts, "xl list 1").1.lines().nth(1).unwrap(), lines[2]);

    // A second domain gets the next id.
    let (rc, out) = xl(&mut ts, "xl create other.cfg");
    assert_eq!(
        (rc, out.lines().nth(1)),
        (0, Some("Started domain other (id=2)"))
    );

    // A kernel that requires writable page tables (as Linux's do) is accepted.
    let (rc, out) = xl(&mut ts, "xl create wpt.cfg");
    assert_eq!(
        (rc, out.lines().nth(1)),
        (0, Some("Started domain wpt (id=3)")),
        "{out}"
    );

    let (rc, out) = xl(&mut ts, "xl destroy domu");
    assert_eq!((rc, out.as_str()), (0, ""));
    let (rc, _) = xl(&mut ts, "xl destroy 2");
    assert_eq!(rc, 0);
    let (rc, _) = xl(&mut ts, "xl destroy wpt");
    assert_eq!(rc, 0);
    assert_eq!(ts.hypervisor().free_pages(), free0);
    assert_eq!(xl(&mut ts, "xl list").1.lines().count(), 2);
    assert!(ts.domains().is_empty());
}

fn refused(ts: &mut Toolstack<'_, TestHv>, cmd: &str, want: &str) {
    let before = state(ts);
    let (rc, out) = xl(ts, cmd);
    assert_eq!(rc, 1, "{cmd}: {out}");
    let err = out
        .lines()
        .find(|l| l.starts_with("xl: "))
        .unwrap_or_else(|| panic!("{cmd}: no error in {out:?}"));
    assert_eq!(err, want, "{cmd}");
    assert_eq!(state(ts), before, "{cmd} changed something");
}

#[test]
fn errors_change_nothing() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    let free = free_mib(&mut ts);
    refused(
        &mut ts,
        "xl create /etc/xen/bad-kernel.cfg",
        "xl: kernel \"/boot/nope\" not found in dom0's initrd",
    );
    refused(
        &mut ts,
        "xl create bad-memory.cfg",
        "xl: bad-memory.cfg:4: memory: expected a number of MiB, got \"lots\"",
    );
    refused(
        &mut ts,
        "xl create nope.cfg",
        "xl: config file \"nope.cfg\" not found in dom0's initrd (nor under /etc/xen/)",
    );
    refused(
        &mut ts,
        "xl create big.cfg",
        &format!("xl: not enough memory: domain needs 200 MiB, {free} MiB free"),
    );
    refused(
        &mut ts,
        "xl create tiny.cfg",
        "xl: domain \"tiny\" does not fit in memory = 1 MiB: guest needs 1024 pages (4096 KiB) but has 256 (1024 KiB)",
    );
    let before = state(&mut ts);
    let (rc, out) = xl(&mut ts, "xl create tinyrd.cfg");
    assert_eq!((rc, state(&mut ts)), (1, before), "{out}");
    assert!(
        out.contains("xl: domain \"tinyrd\" does not fit in memory = 2 MiB with its 3072 KiB ramdisk: guest needs"),
        "{out}"
    );
    refused(
        &mut ts,
        "xl create notelf.cfg",
        "xl: kernel \"/etc/xen/domu.cfg\": not an ELF file nor a bzImage",
    );
    refused(
        &mut ts,
        "xl create dom0k.cfg",
        "xl: kernel \"/boot/dom0k\": the kernel requires features this hypervisor lacks: dom0",
    );
    refused(
        &mut ts,
        "xl create rd.cfg",
        "xl: ramdisk \"/boot/nope\" not found in dom0's initrd",
    );
    refused(
        &mut ts,
        "xl destroy foo",
        "xl: destroy: no such domain: \"foo\"",
    );
    refused(
        &mut ts,
        "xl destroy 7",
        "xl: destroy: no such domain: \"7\"",
    );
    refused(
        &mut ts,
        "xl destroy Domain-0",
        "xl: destroy: Domain-0 (domain 0) cannot be destroyed",
    );
    refused(&mut ts, "xl list bar", "xl: list: no such domain: \"bar\"");
    refused(
        &mut ts,
        "xl frob",
        "xl: unknown command \"frob\" (see `xl help`)",
    );
    refused(
        &mut ts,
        "xl create",
        "xl: create: wrong arguments: no config file given",
    );
    refused(
        &mut ts,
        "xl create domu.cfg junk",
        "xl: create: wrong arguments: \"junk\" after the config file is not KEY=VALUE",
    );
    refused(
        &mut ts,
        "xl create domu.cfg memory=lots",
        "xl: <command line>:1: memory: expected a number of MiB, got \"lots\"",
    );
    refused(
        &mut ts,
        "xl create domu.cfg -z",
        "xl: create: unknown option \"-z\"",
    );

    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    refused(
        &mut ts,
        "xl create domu.cfg",
        "xl: domain \"domu\" already exists (domain 1); names must be unique",
    );
}

#[test]
fn failures_after_createdomain_destroy_the_domain() {
    let rd = initrd_bytes();
    let points = [
        (
            FailPoint::Domctl(XEN_DOMCTL_MAX_MEM),
            "max_mem 16 MiB: ENOMEM",
        ),
        (FailPoint::PopulatePhysmap, "populate_physmap: ENOMEM"),
        (
            FailPoint::Domctl(XEN_DOMCTL_GETDOMAININFO),
            "getdomaininfo: ENOMEM",
        ),
        (
            FailPoint::ForeignMap,
            "building the domain: cannot map guest frame",
        ),
        (FailPoint::Mmuext, "pinning the L4"),
        (FailPoint::SetVcpuContext, "setvcpucontext: ENOMEM"),
        (
            FailPoint::Domctl(XEN_DOMCTL_UNPAUSEDOMAIN),
            "unpausedomain: ENOMEM",
        ),
    ];
    for (point, why) in points {
        let mut ts = toolstack(&rd);
        let before = state(&mut ts);
        ts.hypervisor().fail = Some((point, Errno::ENOMEM));
        let (rc, out) = xl(&mut ts, "xl create domu.cfg");
        ts.hypervisor().fail = None;
        assert_eq!(rc, 1, "{point:?}");
        let prefix = "xl: cannot start domain \"domu\" (domain 1): ";
        let err = out.lines().nth(1).unwrap();
        assert!(
            err.starts_with(prefix) && err[prefix.len()..].starts_with(why),
            "{point:?}: {err}"
        );
        assert_eq!(state(&mut ts), before, "{point:?}");
        // And the next attempt works.
        assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    }
    // Failing before the domain exists.
    let mut ts = toolstack(&rd);
    ts.hypervisor().fail = Some((FailPoint::Domctl(XEN_DOMCTL_CREATEDOMAIN), Errno::EPERM));
    refused(
        &mut ts,
        "xl create domu.cfg",
        "xl: cannot create domain \"domu\" (createdomain): EPERM",
    );
    ts.hypervisor().fail = Some((
        FailPoint::Sysctl(guest_abi::sysctl::XEN_SYSCTL_PHYSINFO),
        Errno::EACCES,
    ));
    refused(
        &mut ts,
        "xl create domu.cfg",
        "xl: cannot get the free memory (sysctl physinfo): EACCES",
    );
    // A destroy the hypervisor refuses.
    ts.hypervisor().fail = None;
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    ts.hypervisor().fail = Some((FailPoint::Domctl(XEN_DOMCTL_DESTROYDOMAIN), Errno::EBUSY));
    let (rc, out) = xl(&mut ts, "xl destroy domu");
    assert_eq!(
        (rc, out.as_str()),
        (
            1,
            "xl: destroy: cannot destroy domain 1 (\"domu\"): EBUSY\n"
        )
    );
    assert_eq!(ts.domains().len(), 1);
}

#[test]
fn crashed_and_vanished_domains() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    ts.hypervisor().crash(DomId(1), "a test");
    let out = xl(&mut ts, "xl list").1;
    assert!(out.lines().nth(2).unwrap().contains("---sc-"), "{out}");
    // The hypervisor logged it.
    let log = xl(&mut ts, "xl dmesg").1;
    assert!(log.contains("(XEN) domain 1 crashed: a test\n"), "{log}");
    // Destroyed behind the toolstack's back (by another toolstack): forgotten, and the name
    // is free again.
    destroy_domain(ts.hypervisor(), DomId(1)).unwrap();
    assert_eq!(xl(&mut ts, "xl list").1.lines().count(), 2);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
}

#[test]
fn info_and_help() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    let free = free_mib(&mut ts);
    let (rc, out) = xl(&mut ts, "xl info");
    assert_eq!(rc, 0);
    assert!(out.contains("total_memory           : 96\n"), "{out}");
    assert!(
        out.contains(&format!("free_memory            : {free}\n")),
        "{out}"
    );
    assert!(out.contains("xen_version            : 4.17\n"));
    assert!(out.contains("nr_cpus                : 1\n"));
    let (rc, help) = xl(&mut ts, "xl help");
    assert_eq!(rc, 0);
    for c in ["create", "destroy", "list", "info"] {
        assert!(help.contains(c));
    }
    assert_eq!(xl(&mut ts, "xl --help").1, help);
    assert_eq!(xl(&mut ts, "xl").0, 1);
    for c in ["create", "destroy", "list", "info", "help"] {
        let (rc, out) = xl(&mut ts, &format!("xl {c} --help"));
        assert_eq!(rc, 0);
        assert!(out.starts_with(&format!("Usage: xl {c}")), "{out}");
    }
}

#[test]
fn list_row_format() {
    let info = DomctlGetDomainInfo {
        domain: DomId(12),
        flags: (DominfFlags::PAUSED | DominfFlags::DYING).bits(),
        tot_pages: 1024 * 256,
        cpu_time: 123_456_000_000,
        nr_online_vcpus: 4,
        ..Default::default()
    };
    assert_eq!(
        report::list_row("a-very-long-name", &info),
        "a-very-long-name                            12  1024     4     --p--d     123.5"
    );
}

/// Every example config, packed as xtask packs them (under /etc/xen/, the kernel as
/// /boot/pv-guest): the good ones start, the bad ones are refused with the right error.
#[test]
fn example_configs_through_xl_create() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cfg"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (format!("/etc/xen/{name}"), std::fs::read(&p).unwrap())
        })
        .collect();
    files.push(("/boot/pv-guest".to_string(), TestElf::pv().bytes()));
    // As xtask packs it: the same kernel as a bzImage with a bzip2 payload.
    files.push((
        "/boot/pv-guest-bzip2".to_string(),
        pv_builder::bzimage::testimg::bzimage(
            pv_builder::decompress::Compression::Bzip2,
            &TestElf::pv().bytes(),
        ),
    ));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let rd = write_newc(&refs);
    let mut ts = Toolstack::new(TestHv::boot(512), Initrd::parse(&rd).unwrap());
    for (path, _) in files.iter().filter(|(n, _)| n.ends_with(".cfg")) {
        let name = path.rsplit('/').next().unwrap();
        let (rc, out) = xl(&mut ts, &format!("xl create {path}"));
        match name {
            "bad-kernel.cfg" => {
                assert!(out.contains("xl: kernel \"/boot/nope\" not found"), "{out}")
            }
            "bad-memory.cfg" => assert!(out.contains(": memory: "), "{out}"),
            "bad-key.cfg" => assert!(
                out.contains("xl: /etc/xen/bad-key.cfg:4: colour: unknown setting"),
                "{out}"
            ),
            "bad-many-keys.cfg" => assert!(
                out.contains(
                    "xl: /etc/xen/bad-many-keys.cfg:67: setting063: too many settings (a \
                     config may have at most 64, overrides included)"
                ),
                "{out}"
            ),
            _ => assert_eq!(rc, 0, "{name}: {out}"),
        }
    }
    // Every config but the four bad ones starts a domain.
    let cfgs = files.iter().filter(|(n, _)| n.ends_with(".cfg")).count();
    assert_eq!(ts.domains().len(), cfgs - 4);
}

#[test]
fn create_paused_with_overrides() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    let argv = [
        "xl",
        "create",
        "domu.cfg",
        "-p",
        "name=pong",
        "memory=8",
        "extra=test=pong peer=1",
    ];
    let mut out = String::new();
    assert_eq!(ts.run(&argv, &mut out), 0, "{out}");
    assert!(
        out.ends_with("Created paused domain pong (id=1)\n"),
        "{out}"
    );
    let rec = &ts.domains()[0];
    assert_eq!(rec.name, "pong");
    assert_eq!(rec.config.memory, 8);
    assert_eq!(rec.config.kernel_cmdline(), "test=pong peer=1");
    assert!(
        ts.hypervisor().domain(DomId(1)).unwrap().paused,
        "-p leaves the domain paused"
    );
    let list = xl(&mut ts, "xl list pong").1;
    assert!(list.lines().nth(1).unwrap().contains("--p---"), "{list}");
    // Quoted config syntax works too, and a later override wins.
    let argv = [
        "xl",
        "create",
        "-f",
        "domu.cfg",
        "extra=\"a b\"",
        "extra=\"c\"",
    ];
    let mut out = String::new();
    assert_eq!(ts.run(&argv, &mut out), 0, "{out}");
    assert_eq!(ts.domains()[1].config.kernel_cmdline(), "c");
    assert!(!ts.hypervisor().domain(DomId(2)).unwrap().paused);
}

#[test]
fn create_applies_weight_and_cap_and_refuses_extra_vcpus() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    let (rc, out) = xl(&mut ts, "xl create domu.cfg cpu_weight=512 cap=30");
    assert_eq!(rc, 0, "{out}");
    let d = ts.hypervisor().domain(DomId(1)).unwrap();
    assert_eq!((d.weight, d.cap), (512, 30));
    let (_, out) = xl(&mut ts, "xl sched-credit -d domu");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["domu", "1", "512", "30"]),
        "{out}"
    );
    // A cap above what the host's CPUs give: refused before anything is created.
    let before = state(&mut ts);
    refused(
        &mut ts,
        "xl create domu.cfg name=over cap=200",
        "xl: domain \"over\": cap = 200: must be 0 to 100 (percent of the host's 1 CPU; 0: no cap)",
    );
    // A cap the scheduler refuses: the half-built domain goes again.
    ts.hypervisor().fail = Some((FailPoint::Domctl(XEN_DOMCTL_SCHEDULER_OP), Errno::EINVAL));
    refused(
        &mut ts,
        "xl create domu.cfg name=over cap=100",
        "xl: cannot start domain \"over\" (domain 2): the credit scheduler refused \
         cpu_weight = 256 cap = 100 (EINVAL; weight 1 to 65535, cap 0 to 100 percent of our 1 CPU)",
    );
    ts.hypervisor().fail = None;
    assert_eq!(state(&mut ts), before);
    refused(
        &mut ts,
        "xl create domu.cfg name=two vcpus=9",
        "xl: domain \"two\": vcpus = 9, maxvcpus = 9: this hypervisor runs at most 8 vCPUs per domain",
    );
    assert_eq!(state(&mut ts), before);
}

#[test]
fn mem_set_checks_the_limit_and_waits_for_the_guest() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg maxmem=32").0, 0);
    refused(
        &mut ts,
        "xl mem-set domu 64",
        "xl: mem-set: 65536 KiB is above domain 1 (\"domu\")'s maximum of 32768 KiB (32 MiB, \
         maxmem); raise it first with `xl mem-max`",
    );
    refused(
        &mut ts,
        "xl mem-set Domain-0 8",
        "xl: mem-set: not permitted on Domain-0 (domain 0): it runs no balloon driver",
    );
    // The target goes into XenStore; the guest does not balloon (no kernel runs), so the
    // wait ends naming target and current memory.
    let (rc, out) = xl(&mut ts, "xl mem-set domu 8");
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("has not reached its memory target of 8192 KiB: it has 16384 KiB"),
        "{out}"
    );
    let v = ts
        .xenstore()
        .read(0, "/local/domain/1/memory/target")
        .unwrap();
    assert_eq!(v, b"8192");
    // Already at the target: done at once.
    let (rc, out) = xl(&mut ts, "xl mem-set domu 16");
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("Domain 1 (\"domu\") reached its memory target: 16384 KiB (16 MiB)"),
        "{out}"
    );
    // A guest whose balloon driver gives its last 8 MiB back 20 ms into the wait.
    let now = ts.hypervisor().guest_time();
    ts.hypervisor().plan(
        DomId(1),
        Planned::GiveBack {
            first: 2048,
            end: 4096,
        },
        now + 20_000_000,
    );
    let (rc, out) = xl(&mut ts, "xl mem-set domu 8");
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("Domain 1 (\"domu\") reached its memory target: 8192 KiB (8 MiB)"),
        "{out}"
    );
    assert_eq!(ts.hypervisor().domain(DomId(1)).unwrap().tot_pages, 2048);
}

#[test]
fn lifecycle_notice_says_how_the_shutdown_was_found() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    // The guest powers itself off; the hypervisor raises VIRQ_DOM_EXC to dom0.
    ts.hypervisor()
        .guest(DomId(1))
        .shutdown(ShutdownReason::Poweroff)
        .unwrap();
    ts.poll_lifecycle();
    let n = ts.take_notices();
    assert_eq!(
        n,
        "(xl) domain 1 \"domu\" shut down (poweroff): on_poweroff = destroy: destroyed \
         [VIRQ_DOM_EXC]\n"
    );
    assert_eq!(ts.hypervisor().domain(DomId(1)), None);
    // A dom0 that did not bind VIRQ_DOM_EXC: polling found it.
    drop(ts);
    let mut ts = Toolstack::new(TestHv::boot_with(96, false), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    ts.hypervisor()
        .guest(DomId(1))
        .shutdown(ShutdownReason::Poweroff)
        .unwrap();
    ts.poll_lifecycle();
    assert_eq!(
        ts.take_notices(),
        "(xl) domain 1 \"domu\" shut down (poweroff): on_poweroff = destroy: destroyed [poll]\n"
    );
}

#[test]
fn shutdown_asks_through_control_shutdown_and_times_out_without_an_answer() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    let t0 = ts.hypervisor().guest_time();
    // The guest does not watch control/shutdown: after 5 s the request is reported.
    let (rc, out) = xl(&mut ts, "xl shutdown domu");
    assert_eq!(rc, 1, "{out}");
    assert_eq!(
        out,
        "xl: domain 1 (\"domu\") did not respond to the shutdown request in 5 s; use -F to force\n"
    );
    assert!(ts.hypervisor().guest_time() - t0 >= ACK_WAIT_NS);
    let v = ts
        .xenstore()
        .read(0, "/local/domain/1/control/shutdown")
        .unwrap();
    assert_eq!(v, b"poweroff");
    assert_eq!(ts.hypervisor().domain(DomId(1)).unwrap().shutdown, None);
    // A reboot request names itself.
    let (rc, out) = xl(&mut ts, "xl reboot domu");
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("did not respond to the reboot request in 5 s"),
        "{out}"
    );
    let v = ts
        .xenstore()
        .read(0, "/local/domain/1/control/shutdown")
        .unwrap();
    assert_eq!(v, b"reboot");
    // -F: the hypervisor shuts it down from outside, at once.
    let t1 = ts.hypervisor().guest_time();
    let (rc, out) = xl(&mut ts, "xl shutdown -F domu");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(
        ts.hypervisor().guest_time(),
        t1,
        "-F must not wait for the guest"
    );
    assert_eq!(
        ts.hypervisor().domain(DomId(1)).unwrap().shutdown,
        Some(ShutdownReason::Poweroff)
    );
}

#[test]
fn shutdown_wait_follows_a_guest_that_acts() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    // The guest acts 50 ms after the request: reboot, reason code 1.
    let now = ts.hypervisor().guest_time();
    ts.hypervisor().plan(
        DomId(1),
        Planned::Shutdown(ShutdownReason::Reboot),
        now + 50_000_000,
    );
    let (rc, out) = xl(&mut ts, "xl reboot -w domu");
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("Domain 1 has been shut down, reason code 1"),
        "{out}"
    );
    assert!(
        out.contains(
            "(xl) domain 1 \"domu\" shut down (reboot): on_reboot = restart: restarted as domain "
        ),
        "{out}"
    );
    let new = ts.domains()[0].id;
    assert!(
        ts.hypervisor().guest_time() - now < ACK_WAIT_NS,
        "waited past the guest's answer"
    );
    // The new domain's control node starts empty.
    let node = format!("/local/domain/{new}/control/shutdown");
    assert_eq!(ts.xenstore().read(0, &node).unwrap(), b"");
    // A domain already shut down needs no request.
    ts.hypervisor()
        .guest(new)
        .shutdown(ShutdownReason::Poweroff)
        .unwrap();
    let (rc, out) = xl(&mut ts, "xl shutdown domu");
    assert_eq!(rc, 0, "{out}");
    let v = ts.xenstore().read(0, &node).unwrap();
    assert_eq!(v, b"");
}

#[test]
fn shutdown_help_names_force() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    for cmd in ["shutdown", "reboot"] {
        let (rc, out) = xl(&mut ts, &format!("xl {cmd} --help"));
        assert_eq!(rc, 0);
        assert!(out.contains("-F, --force"), "{out}");
        assert!(out.contains("control/shutdown"), "{out}");
    }
}

/// The hypervisor with its own work (its state, its copies of dom0's arguments) left out of
/// the heap metering: on a real machine that lives in the hypervisor, not on dom0's heap.
struct Unmetered(TestHv);

impl Hypervisor for Unmetered {
    fn domctl(&mut self, op: &mut XenDomctl) -> Result<(), Errno> {
        unmetered(|| self.0.domctl(op))
    }
    fn sysctl(&mut self, op: &mut guest_abi::sysctl::XenSysctl) -> Result<(), Errno> {
        unmetered(|| self.0.sysctl(op))
    }
    fn populate_physmap(&mut self, domid: DomId, extents: &mut [u64]) -> Result<usize, Errno> {
        unmetered(|| self.0.populate_physmap(domid, extents))
    }
    fn with_foreign_page(
        &mut self,
        domid: DomId,
        mfn: u64,
        f: &mut dyn FnMut(&mut [u8; 4096]),
    ) -> Result<(), Errno> {
        unmetered(|| self.0.with_foreign_page(domid, mfn, f))
    }
    fn mmuext_foreign(&mut self, domid: DomId, op: &guest_abi::mmu::MmuextOp) -> Result<(), Errno> {
        unmetered(|| self.0.mmuext_foreign(domid, op))
    }
    fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
        unmetered(|| self.0.xen_version())
    }
    fn features(&mut self) -> Result<u32, Errno> {
        unmetered(|| self.0.features())
    }
    fn evtchn_alloc_unbound(&mut self, domid: DomId, remote: DomId) -> Result<u32, Errno> {
        unmetered(|| self.0.evtchn_alloc_unbound(domid, remote))
    }
    fn evtchn_bind_interdomain(&mut self, remote: DomId, remote_port: u32) -> Result<u32, Errno> {
        unmetered(|| self.0.evtchn_bind_interdomain(remote, remote_port))
    }
    fn evtchn_take_pending(&mut self, port: u32) -> bool {
        unmetered(|| self.0.evtchn_take_pending(port))
    }
    fn evtchn_send(&mut self, port: u32) -> Result<(), Errno> {
        unmetered(|| self.0.evtchn_send(port))
    }
    fn evtchn_close(&mut self, port: u32) -> Result<(), Errno> {
        unmetered(|| self.0.evtchn_close(port))
    }
    fn set_vcpu_context(
        &mut self,
        domid: DomId,
        vcpu: u32,
        ctx: &guest_abi::arch::VcpuGuestContext,
    ) -> Result<(), Errno> {
        unmetered(|| self.0.set_vcpu_context(domid, vcpu, ctx))
    }
    fn domain_info_batch(
        &mut self,
        first: DomId,
        buf: &mut [DomctlGetDomainInfo],
    ) -> Result<usize, Errno> {
        // The list itself (the default `domain_info_list`) is dom0's.
        unmetered(|| self.0.domain_info_batch(first, buf))
    }
    fn now_ns(&mut self) -> Option<u64> {
        unmetered(|| self.0.now_ns())
    }
    fn dom_exc_count(&mut self) -> Option<u64> {
        unmetered(|| self.0.dom_exc_count())
    }
}

#[test]
fn creating_a_large_domain_needs_little_of_dom0s_heap() {
    let kernel = TestElf::pv().bytes();
    let cfg = b"name = \"huge\"\nkernel = \"/boot/pv-guest\"\nmemory = 512\n";
    let rd = write_newc(&[("/etc/xen/huge.cfg", cfg), ("/boot/pv-guest", &kernel)]);
    // A 600 MiB host. (The hypervisor scrubs every frame it gives a domain, so all of the
    // domain's RAM is touched on the test host: 512 MiB makes the point at a quarter of the
    // cost of the 2 GiB domain this test built on the simulated hypervisor.)
    let hv = unmetered(|| TestHv::boot(600));
    let mut ts = Toolstack::new(Unmetered(hv), Initrd::parse(&rd).unwrap());
    let free0 = ts.hypervisor().0.free_pages();
    let ((rc, out), peak) = peak_during(|| xl(&mut ts, "xl create huge.cfg"));
    assert_eq!(rc, 0, "{out}");
    let pages = 512 * 256;
    // A list of all its frames alone would be 1 MiB, a quarter of dom0's heap.
    assert!(
        peak < 64 * 1024,
        "xl create of a 512 MiB domain needed {peak} bytes of dom0's heap"
    );
    let hv = &mut ts.hypervisor().0;
    let d = hv.domain(DomId(1)).unwrap();
    assert_eq!(d.tot_pages, pages);
    assert_eq!(hv.free_pages(), free0 - pages - 1);
    // The guest's p2m list (in its own memory) names every frame it has, each at its PFN.
    let si = hv.guest_bytes(DomId(1), d.rsi, 4096 - (d.rsi & 0xFFF) as usize);
    let si = <guest_abi::start_info::StartInfo as zerocopy::FromBytes>::read_from_prefix(&si)
        .unwrap()
        .0;
    assert_eq!(si.nr_pages, pages);
    for k in 0..pages / 512 {
        let mfn = hv.guest_mfn(DomId(1), si.mfn_list + k * 4096).unwrap();
        let frame = hv.frame(mfn);
        let wrong = hv.testbed().st(|st| {
            frame.chunks_exact(8).enumerate().find_map(|(i, e)| {
                let pfn = k * 512 + i as u64;
                let mfn = u64::from_le_bytes(e.try_into().unwrap());
                let ok = st.frame_table().0.owner(Mfn(mfn)) == DomId(1)
                    && hypervisor::arch::page_tables::m2p_get(Mfn(mfn)) == Pfn(pfn);
                (!ok).then_some((pfn, mfn))
            })
        });
        assert_eq!(wrong, None, "(pfn, mfn) not the domain's");
    }
    let (rc, out) = xl(&mut ts, "xl destroy huge");
    assert_eq!((rc, out.as_str()), (0, ""));
    assert_eq!(ts.hypervisor().0.free_pages(), free0);
}

#[test]
fn create_checks_sizes_against_the_limits_and_the_host() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    // Absurd memory sizes: refused by the config's limits, naming them.
    for (arg, got) in [
        ("memory=18446744073709551615", "18446744073709551615"),
        ("memory=18446744073709551616", "18446744073709551616"),
        ("memory=0x10000000000000000", "0x10000000000000000"),
        ("memory=-1", "-1"),
        ("memory=4097", "4097"),
    ] {
        refused(
            &mut ts,
            &format!("xl create domu.cfg {arg}"),
            &format!("xl: <command line>:1: memory: must be between 1 and 4096 MiB, got {got}"),
        );
    }
    refused(
        &mut ts,
        "xl create domu.cfg maxmem=99999999999999999999",
        "xl: <command line>:1: maxmem: must be between 1 and 4096 MiB, got 99999999999999999999",
    );
    // Within the limits but not what this host has: free memory and total memory.
    let free = free_mib(&mut ts);
    refused(
        &mut ts,
        "xl create domu.cfg memory=4096",
        &format!("xl: not enough memory: domain needs 4096 MiB, {free} MiB free"),
    );
    refused(
        &mut ts,
        "xl create domu.cfg maxmem=4096",
        "xl: domain \"domu\": maxmem = 4096 MiB is more than the host's memory (96 MiB)",
    );
    // The domain's limit ends up below its memory (another toolstack lowers it between our
    // max_mem and getdomaininfo): found before memory is given.
    ts.hypervisor()
        .before(FailPoint::Domctl(XEN_DOMCTL_GETDOMAININFO), |hv| {
            let newest = *hv.domain_ids().last().unwrap();
            let mut op = XenDomctl::with_payload(
                XEN_DOMCTL_MAX_MEM,
                newest,
                &DomctlMaxMem { max_memkb: 4000 },
            );
            hv.domctl(&mut op).unwrap();
        });
    refused(
        &mut ts,
        "xl create domu.cfg",
        "xl: cannot start domain \"domu\" (domain 1): the hypervisor limits the domain to 1000 \
         pages, fewer than memory = 16 MiB (4096 pages)",
    );
    ts.hypervisor().clear_before();
    // The largest domain this host has room for.
    let free = free_mib(&mut ts);
    let (rc, out) = xl(&mut ts, &format!("xl create domu.cfg memory={}", free - 1));
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn create_bounds_the_initial_region() {
    // A kernel whose bss is 200 MiB: its region would need 200 MiB of MFNs... 400 KiB of
    // dom0's heap for the list alone. Refused before the domain exists.
    let mut elf = TestElf::pv();
    elf.segs[1].memsz = 200 << 20;
    let kernel = elf.bytes();
    let cfg = b"name = \"fat\"\nkernel = \"/boot/fat\"\nmemory = 256\n";
    let rd = write_newc(&[("/etc/xen/fat.cfg", cfg), ("/boot/fat", &kernel)]);
    let mut ts = Toolstack::new(TestHv::boot(512), Initrd::parse(&rd).unwrap());
    refused(
        &mut ts,
        "xl create fat.cfg",
        "xl: domain \"fat\": its initial region (kernel, ramdisk, p2m list, page tables) would \
         take 204 MiB; xl builds regions of at most 128 MiB",
    );
    // A region just under the limit is built.
    let mut elf = TestElf::pv();
    elf.segs[1].memsz = 100 << 20;
    let kernel = elf.bytes();
    let rd = write_newc(&[("/etc/xen/fat.cfg", cfg), ("/boot/fat", &kernel)]);
    drop(ts);
    let mut ts = Toolstack::new(TestHv::boot(512), Initrd::parse(&rd).unwrap());
    let (rc, out) = xl(&mut ts, "xl create fat.cfg");
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn mem_max_is_bounded_and_a_refusal_changes_nothing() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    let max_pages = ts.hypervisor().domain(DomId(1)).unwrap().max_pages;
    // The finding: accepted, and the next restart overflowed `maxmem * 1024`.
    for (arg, what) in [
        ("18446744073709551615k", "18446744073709551615 KiB"),
        ("18446744073709551616k", "\"18446744073709551616k\""),
        ("99999999999999999999t", "\"99999999999999999999t\""),
        ("97m", "99328 KiB"),
    ] {
        refused(
            &mut ts,
            &format!("xl mem-max domu {arg}"),
            &format!("xl: mem-max: {what} is above the host's memory of 98304 KiB (96 MiB)"),
        );
        assert_eq!(
            ts.hypervisor().domain(DomId(1)).unwrap().max_pages,
            max_pages
        );
        assert_eq!(ts.domains()[0].config.maxmem, 16);
    }
    refused(
        &mut ts,
        "xl mem-max domu 15",
        "xl: mem-max: 15360 KiB is below domain 1 (\"domu\")'s current memory of 16384 KiB \
         (16 MiB); shrink it first with `xl mem-set`",
    );
    refused(
        &mut ts,
        "xl mem-max domu 12q",
        "xl: mem-max: invalid memory size \"12q\" (e.g. 64, 64m, 65536k, 1g)",
    );
    // Within the host's memory: set, and a restart builds the domain with it.
    assert_eq!(xl(&mut ts, "xl mem-max domu 96m").0, 0);
    assert_eq!(
        ts.hypervisor().domain(DomId(1)).unwrap().max_pages,
        96 * 256
    );
    ts.hypervisor()
        .guest(DomId(1))
        .shutdown(ShutdownReason::Reboot)
        .unwrap();
    ts.poll_lifecycle();
    let n = ts.take_notices();
    assert!(
        n.contains("on_reboot = restart: restarted as domain"),
        "{n}"
    );
    let id = ts.domains()[0].id;
    assert_eq!(ts.hypervisor().domain(id).unwrap().max_pages, 96 * 256);

    // On a host with more memory than a domain may have, that is the limit.
    drop(ts);
    let mut ts = Toolstack::new(TestHv::boot(5000), Initrd::parse(&rd).unwrap());
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    refused(
        &mut ts,
        "xl mem-max domu 18446744073709551615k",
        "xl: mem-max: 18446744073709551615 KiB is above the limit of 4194304 KiB (4096 MiB, \
         the most a domain may have)",
    );
    assert_eq!(xl(&mut ts, "xl mem-max domu 4g").0, 0);
    assert_eq!(ts.domains()[0].config.maxmem, 4096);
}

#[test]
fn mem_max_below_the_config_memory_keeps_the_config_valid_for_a_restart() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    // The guest balloons down to 8 MiB (gives its last 2048 pages back).
    assert_eq!(
        ts.hypervisor().guest(DomId(1)).give_back(2048, 4096),
        Ok(2048)
    );
    assert_eq!(ts.hypervisor().domain(DomId(1)).unwrap().tot_pages, 2048);
    assert_eq!(xl(&mut ts, "xl mem-max domu 8").0, 0);
    let c = &ts.domains()[0].config;
    assert_eq!((c.memory, c.maxmem), (8, 8));
    ts.hypervisor()
        .guest(DomId(1))
        .shutdown(ShutdownReason::Reboot)
        .unwrap();
    ts.poll_lifecycle();
    let n = ts.take_notices();
    assert!(n.contains("restarted as domain"), "{n}");
    let id = ts.domains()[0].id;
    assert_eq!(ts.hypervisor().domain(id).unwrap().tot_pages, 2048);
}

#[test]
fn mem_set_sizes_beyond_64_bits_are_refused_naming_the_limit() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    refused(
        &mut ts,
        "xl mem-set domu 99999999999999999999t",
        "xl: mem-set: \"99999999999999999999t\" is above domain 1 (\"domu\")'s maximum of \
         16384 KiB (16 MiB, maxmem); raise it first with `xl mem-max`",
    );
    refused(
        &mut ts,
        "xl mem-set domu 18446744073709551615k",
        "xl: mem-set: 18446744073709551615 KiB is above domain 1 (\"domu\")'s maximum of \
         16384 KiB (16 MiB, maxmem); raise it first with `xl mem-max`",
    );
    assert!(ts
        .xenstore()
        .read(0, "/local/domain/1/memory/target")
        .is_ok_and(|v| v == b"16384"));
}

#[test]
fn sched_credit_numbers_are_checked_naming_the_range() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    let weights = "valid weights are 1 to 65535";
    let caps = "valid caps are 0 (none) to 100 (percent of the host's 1 CPU)";
    for (arg, want) in [
        ("-w 0", format!("weight 0 out of range: {weights}")),
        ("-w 65536", format!("weight 65536 out of range: {weights}")),
        // Beyond 32 and 64 bits: out of range as well, never wrapped into range.
        (
            "-w 4294967552",
            format!("weight 4294967552 out of range: {weights}"),
        ),
        (
            "-w 18446744073709551872",
            format!("weight 18446744073709551872 out of range: {weights}"),
        ),
        ("-c 101", format!("cap 101 out of range: {caps}")),
        (
            "-c 4294967296",
            format!("cap 4294967296 out of range: {caps}"),
        ),
        ("-w -1", String::from("weight \"-1\" is not a number")),
        ("-w=", String::from("weight \"\" is not a number")),
        ("-c 1e3", String::from("cap \"1e3\" is not a number")),
    ] {
        refused(
            &mut ts,
            &format!("xl sched-credit -d domu {arg}"),
            &format!("xl: sched-credit: {want}"),
        );
        let d = ts.hypervisor().domain(DomId(1)).unwrap();
        assert_eq!((d.weight, d.cap), (256, 0), "{arg}");
    }
    assert_eq!(xl(&mut ts, "xl sched-credit -d domu -w 65535 -c 100").0, 0);
    let d = ts.hypervisor().domain(DomId(1)).unwrap();
    assert_eq!((d.weight, d.cap), (65535, 100));
}

#[test]
fn dmesg_reads_a_bounded_amount() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    // A log far longer than the hypervisor's ring: it logs 4 KiB more before each read.
    ts.hypervisor()
        .before(FailPoint::Sysctl(XEN_SYSCTL_READCONSOLE), |_| {
            for _ in 0..80 {
                hypervisor::xen_println!("a line of the hypervisor's log, again and again");
            }
        });
    let (rc, out) = xl(&mut ts, "xl dmesg");
    assert_eq!(rc, 0);
    assert!(
        (super::dmesg::MAX_DMESG_BYTES..super::dmesg::MAX_DMESG_BYTES + 4096).contains(&out.len()),
        "{} bytes",
        out.len()
    );
}

#[test]
fn domain_ids_and_names_are_bounded() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd);
    assert_eq!(xl(&mut ts, "xl create domu.cfg").0, 0);
    // Ids beyond 16 bits name no domain (65537 must not wrap to domain 1).
    for id in ["65537", "99999999999999999999999"] {
        refused(
            &mut ts,
            &format!("xl destroy {id}"),
            &format!("xl: destroy: no such domain: \"{id}\""),
        );
        refused(
            &mut ts,
            &format!("xl mem-max {id} 32"),
            &format!("xl: mem-max: no such domain: \"{id}\""),
        );
    }
    let long = "n".repeat(64);
    refused(
        &mut ts,
        &format!("xl rename domu {long}"),
        "xl: rename: invalid name: too long (64 characters, at most 63)",
    );
    assert_eq!(xl(&mut ts, &format!("xl rename domu {}", &long[..63])).0, 0);
}

/// A config for `name` with `kernel`.
fn cfg_for(name: &str, kernel: &str) -> Vec<u8> {
    format!("name = \"{name}\"\nkernel = \"{kernel}\"\nmemory = 16\nextra = \"greet\"\n")
        .into_bytes()
}

#[test]
fn create_from_a_bzimage_builds_as_the_elf_would() {
    use pv_builder::bzimage::testimg::bzimage;
    use pv_builder::decompress::Compression;
    let elf = TestElf::pv().bytes();
    // xz as Debian's kernels, gzip as older ones.
    let xz = bzimage(Compression::Xz, &elf);
    let gz = bzimage(Compression::Gzip, &elf);
    let rd = write_newc(&[
        ("/etc/xen/elf.cfg", &cfg_for("elf", "/boot/pv-guest")),
        ("/etc/xen/xz.cfg", &cfg_for("xz", "/boot/vmlinuz")),
        ("/etc/xen/gz.cfg", &cfg_for("gz", "/boot/vmlinuz.gz")),
        ("/boot/pv-guest", &elf),
        ("/boot/vmlinuz", &xz),
        ("/boot/vmlinuz.gz", &gz),
    ]);
    let mut ts = toolstack(&rd);
    for (id, name) in [(1, "elf"), (2, "xz"), (3, "gz")] {
        let (rc, out) = xl(&mut ts, &format!("xl create {name}.cfg"));
        assert_eq!(
            (rc, out.as_str()),
            (
                0,
                format!("Parsing config from {name}.cfg\nStarted domain {name} (id={id})\n")
                    .as_str()
            )
        );
    }
    let hv = ts.hypervisor();
    let start_info = |hv: &mut TestHv, id: DomId| {
        let rsi = hv.domain(id).unwrap().rsi;
        let si = hv.guest_bytes(id, rsi, 4096 - (rsi & 0xFFF) as usize);
        <guest_abi::start_info::StartInfo as zerocopy::FromBytes>::read_from_prefix(&si)
            .unwrap()
            .0
    };
    // The kernel's six pages: text, data and bss.
    let kernel = |hv: &mut TestHv, id: DomId| {
        (0..6u64)
            .flat_map(|p| hv.guest_bytes(id, pv_builder::elf::testimg::BASE + p * 4096, 4096))
            .collect::<Vec<u8>>()
    };
    let want = hv.domain(DomId(1)).unwrap();
    let want_si = start_info(hv, DomId(1));
    let want_kernel = kernel(hv, DomId(1));
    // (Its second page is the hypercall page, which the builder fills.)
    assert!(want_kernel[..0x1000] == TestElf::pv().segs[0].data[..0x1000]);
    for id in [DomId(2), DomId(3)] {
        let d = hv.domain(id).unwrap();
        assert_eq!(
            (d.rip, d.cs, d.rsi, d.tot_pages, d.online, d.l4_pinned),
            (
                want.rip,
                want.cs,
                want.rsi,
                want.tot_pages,
                want.online,
                want.l4_pinned
            ),
            "domain {id}"
        );
        // The same layout (everything but the machine frames and event channels).
        let si = start_info(hv, id);
        assert_eq!(
            (
                si.magic,
                si.nr_pages,
                si.flags,
                si.pt_base,
                si.nr_pt_frames,
                si.mfn_list,
                si.mod_start,
                si.mod_len,
                si.first_p2m_pfn,
                si.nr_p2m_frames
            ),
            (
                want_si.magic,
                want_si.nr_pages,
                want_si.flags,
                want_si.pt_base,
                want_si.nr_pt_frames,
                want_si.mfn_list,
                want_si.mod_start,
                want_si.mod_len,
                want_si.first_p2m_pfn,
                want_si.nr_p2m_frames
            ),
            "domain {id}'s start_info"
        );
        assert_eq!(si.cmd_line, want_si.cmd_line);
        // The kernel where the ELF put it.
        assert!(kernel(hv, id) == want_kernel, "domain {id}'s kernel");
        // And it runs.
        hv.guest(id).block().unwrap();
    }
}

#[test]
fn create_refuses_bad_bzimages_naming_the_cause() {
    use pv_builder::bzimage::testimg::{bzimage, compress, TestBzImage};
    use pv_builder::decompress::Compression;
    let elf = TestElf::pv().bytes();
    let xz = bzimage(Compression::Xz, &elf);
    let lzo = TestBzImage::new(b"\x89LZO\0\r\n\x1a\n".to_vec()).bytes();
    let mut old = TestBzImage::new(compress(Compression::Xz, &elf));
    old.version = 0x0206;
    let old = old.bytes();
    // A corrupt payload: one byte of the compressed data changed.
    let mut bad = compress(Compression::Xz, &elf);
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let bad = TestBzImage::new(bad).bytes();
    let mut noxen = TestElf::pv();
    noxen.notes.clear();
    let noxen = bzimage(Compression::Xz, &noxen.bytes());
    let notelf = bzimage(Compression::Zstd, b"a kernel for some other machine");
    let kernels: [(&str, &[u8]); 7] = [
        ("/boot/cut", &xz[..xz.len() / 2]),
        ("/boot/lzo", &lzo),
        ("/boot/old", &old),
        ("/boot/bad", &bad),
        ("/boot/noxen", &noxen),
        ("/boot/notelf", &notelf),
        ("/boot/header", &xz[..0x220]),
    ];
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (path, bytes) in kernels {
        let name = &path[6..];
        files.push((format!("/etc/xen/{name}.cfg"), cfg_for(name, path)));
        files.push((path.to_string(), bytes.to_vec()));
    }
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let rd = write_newc(&entries);
    let mut ts = toolstack(&rd);
    let payload_len = compress(Compression::Xz, &elf).len();
    refused(
        &mut ts,
        "xl create cut.cfg",
        &format!(
            "xl: kernel \"/boot/cut\": bzImage payload out of bounds: {payload_len} bytes at \
             offset 1152 in a file of {} bytes",
            xz.len() / 2
        ),
    );
    refused(
        &mut ts,
        "xl create header.cfg",
        "xl: kernel \"/boot/header\": truncated bzImage: 544 bytes, the setup header needs 592",
    );
    refused(
        &mut ts,
        "xl create lzo.cfg",
        "xl: kernel \"/boot/lzo\": bzImage: unsupported compression: lzo",
    );
    refused(
        &mut ts,
        "xl create old.cfg",
        "xl: kernel \"/boot/old\": bzImage boot protocol 2.06 is too old: need 2.08 or later \
         (payload_offset)",
    );
    let before = state(&mut ts);
    let (rc, out) = xl(&mut ts, "xl create bad.cfg");
    assert_eq!(rc, 1);
    assert!(
        out.contains("xl: kernel \"/boot/bad\": bzImage: corrupt xz data: invalid LZMA2 data"),
        "{out}"
    );
    assert_eq!(state(&mut ts), before);
    refused(
        &mut ts,
        "xl create noxen.cfg",
        "xl: kernel \"/boot/noxen\": no Xen ELF notes: not a PV kernel",
    );
    refused(
        &mut ts,
        "xl create notelf.cfg",
        "xl: kernel \"/boot/notelf\": bzImage: its zstd payload is not an ELF file",
    );
}

/// What the toolstack sees as dom0's free heap in the next test.
static HEAP_FREE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

#[test]
fn decompressing_a_kernel_stays_within_dom0s_free_heap() {
    use core::sync::atomic::Ordering::Relaxed;
    use pv_builder::bzimage::testimg::bzimage;
    use pv_builder::decompress::Compression;
    let elf = TestElf::pv().bytes();
    let xz = bzimage(Compression::Xz, &elf);
    let rd = write_newc(&[
        ("/etc/xen/xz.cfg", &cfg_for("xz", "/boot/vmlinuz")),
        ("/boot/vmlinuz", &xz),
    ]);
    let mut ts = toolstack(&rd);
    ts.xs.heap_free = Some(|| HEAP_FREE.load(Relaxed));
    // Room for the kernel, not for the xz dictionary: refused, naming both and the heap.
    HEAP_FREE.store(KERNEL_HEAP_HEADROOM + (512 << 10), Relaxed);
    let before = state(&mut ts);
    let (rc, out) = xl(&mut ts, "xl create xz.cfg");
    assert_eq!(rc, 1, "{out}");
    let err = out.lines().find(|l| l.starts_with("xl: ")).unwrap();
    let want_start = format!(
        "xl: kernel \"/boot/vmlinuz\": bzImage: decompressing the xz payload needs 2 MiB ({} \
         bytes for the kernel, 1 MiB for the xz dictionary), more than the 524288 bytes allowed",
        elf.len() + (64 << 10)
    );
    assert!(err.starts_with(&want_start), "{err}");
    assert!(
        err.ends_with(&format!(
            ": dom0's heap has {} KiB free, of which 512 KiB may go to decompressing a kernel \
             (dom0's heap grows with its memory: dom0_mem=)",
            (KERNEL_HEAP_HEADROOM >> 10) + 512
        )),
        "{err}"
    );
    assert_eq!(state(&mut ts), before, "the refusal changed something");
    // With room for both (and measured: what it takes of the heap is within that room).
    HEAP_FREE.store(KERNEL_HEAP_HEADROOM + (4 << 20), Relaxed);
    let ((rc, out), peak) = peak_during(|| xl(&mut ts, "xl create xz.cfg"));
    assert_eq!(rc, 0, "{out}");
    assert!(
        peak > elf.len() as u64 && peak < (4 << 20) + (256 << 10),
        "xl create of a bzImage took {peak} bytes of dom0's heap"
    );
}
