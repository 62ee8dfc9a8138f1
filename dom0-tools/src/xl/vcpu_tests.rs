//! Multi-vCPU domains through xl: `vcpus`/`maxvcpus`/`cpus`/`cpus_soft` at create, the
//! `cpu/<n>/availability` nodes, `xl vcpu-set`, `xl vcpu-pin`, `xl vcpu-list`, `xl info`; on
//! the hypervisor with several CPUs and multi-vCPU domains modelled around it ([`SmpHv`]).

use super::*;
use crate::cpumap::CpuMap;
use crate::elf::testimg::TestElf;
use crate::initrd::write_newc;
use crate::testhv::smp::{AffinityCall, SmpHv};
use crate::testhv::{FailPoint, TestHv};
use guest_abi::domctl::*;

fn initrd_bytes() -> Vec<u8> {
    let kernel = TestElf::pv().bytes();
    write_newc(&[
        (
            "/etc/xen/domu.cfg",
            b"name = \"domu\"\nkernel = \"/boot/pv-guest\"\nmemory = 8\n",
        ),
        ("/boot/pv-guest", &kernel),
    ])
}

fn toolstack(rd: &[u8], cpus: u32) -> Toolstack<'_, SmpHv> {
    Toolstack::new(SmpHv::boot(96, cpus), Initrd::parse(rd).unwrap())
}

fn xl<H: Hypervisor>(ts: &mut Toolstack<'_, H>, cmd: &str) -> (i32, String) {
    let argv: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = String::new();
    let rc = ts.run(&argv, &mut out);
    (rc, out)
}

/// Runs `cmd`, which must succeed.
fn ok<H: Hypervisor>(ts: &mut Toolstack<'_, H>, cmd: &str) -> String {
    let (rc, out) = xl(ts, cmd);
    assert_eq!(rc, 0, "{cmd}: {out}");
    out
}

/// Runs `cmd`, which must fail with `want` as its error line.
fn fails<H: Hypervisor>(ts: &mut Toolstack<'_, H>, cmd: &str, want: &str) {
    let (rc, out) = xl(ts, cmd);
    assert_eq!(rc, 1, "{cmd}: {out}");
    let err = out
        .lines()
        .find(|l| l.starts_with("xl: "))
        .unwrap_or_else(|| panic!("{cmd}: no error in {out:?}"));
    assert_eq!(err, want, "{cmd}");
}

fn xs_read<H: Hypervisor>(ts: &mut Toolstack<'_, H>, p: &str) -> Option<String> {
    ts.xenstore()
        .read(0, p)
        .ok()
        .map(|v| String::from_utf8(v).unwrap())
}

/// Domain `id`'s `cpu/<n>/availability` for n in 0..8 (`None` where there is no node).
fn availability<H: Hypervisor>(ts: &mut Toolstack<'_, H>, id: u16) -> Vec<Option<String>> {
    (0..8)
        .map(|n| xs_read(ts, &format!("/local/domain/{id}/cpu/{n}/availability")))
        .collect()
}

fn avail(online: usize, max: usize) -> Vec<Option<String>> {
    (0..8)
        .map(|n| match n {
            n if n < online => Some(String::from("online")),
            n if n < max => Some(String::from("offline")),
            _ => None,
        })
        .collect()
}

/// The CPUs of a map, as a vector.
fn cpus(m: CpuMap) -> Vec<u32> {
    m.iter().collect()
}

/// The model's (hard, soft) affinity of each vCPU of `dom`.
fn model_affinity(ts: &mut Toolstack<'_, SmpHv>, dom: u16) -> Vec<(Vec<u32>, Vec<u32>)> {
    ts.hypervisor()
        .vcpus(DomId(dom))
        .unwrap()
        .iter()
        .map(|v| (cpus(v.hard), cpus(v.soft)))
        .collect()
}

/// The words of `xl vcpu-list <dom>`'s rows for domain `dom`.
fn vcpu_rows(ts: &mut Toolstack<'_, SmpHv>, dom: &str) -> Vec<String> {
    let out = ok(ts, &format!("xl vcpu-list {dom}"));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(vcpu::VCPU_HEADER));
    lines.map(String::from).collect()
}

#[test]
fn create_writes_availability_and_applies_cpus_and_cpus_soft() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ok(
        &mut ts,
        "xl create domu.cfg vcpus=2 maxvcpus=4 cpus=1-2 cpus_soft=[\"2\",\"1\",\"all\"]",
    );
    let d = DomId(1);
    // The domain has 4 vCPUs, as createdomain was asked.
    assert_eq!(ts.hypervisor().vcpus(d).unwrap().len(), 4);
    let info = ts.hypervisor().domain_info(d).unwrap();
    assert_eq!(info.max_vcpu_id, 3);
    // vCPUs 0 and 1 online, 2 and 3 offline, nothing beyond maxvcpus.
    assert_eq!(availability(&mut ts, 1), avail(2, 4));
    // dom0's, readable by the guest (libxl's roperm on ~/cpu, which the nodes inherit).
    for n in 0..4 {
        let p = format!("/local/domain/1/cpu/{n}/availability");
        let perms = ts.xenstore().store().get(&p).unwrap().perms.texts();
        assert_eq!(perms, ["n0", "r1"], "{p}");
        assert!(ts.xenstore().read(1, &p).is_ok(), "the guest reads {p}");
        assert_eq!(
            ts.xenstore().write(1, &p, b"online"),
            Err(Errno::EACCES),
            "{p} is the toolstack's to write"
        );
    }
    // Hard affinity 1-2 for every vCPU, soft one list per vCPU: 2, 1, all, then none.
    let calls = &ts.hypervisor().affinity_calls;
    let set: Vec<&AffinityCall> = calls
        .iter()
        .filter(|c| c.cmd == XEN_DOMCTL_SETVCPUAFFINITY)
        .collect();
    assert_eq!(set.len(), 4, "{calls:?}");
    for (v, c) in set.iter().enumerate() {
        assert_eq!((c.domid, c.vcpu), (d, v as u32));
        assert_eq!(c.nr_bits, 8, "maps as wide as the host's CPUs, in bytes");
        assert_eq!(cpus(c.hard), [1, 2]);
        let soft = if v < 3 { XEN_VCPUAFFINITY_SOFT } else { 0 };
        assert_eq!(c.flags, XEN_VCPUAFFINITY_HARD | soft, "vCPU {v}");
    }
    assert_eq!(
        model_affinity(&mut ts, 1),
        [
            (vec![1, 2], vec![2]),
            (vec![1, 2], vec![1]),
            (vec![1, 2], vec![0, 1, 2, 3]),
            (vec![1, 2], vec![0, 1, 2, 3]),
        ]
    );
    // `xl list` counts the vCPUs up: vCPU 0 until the guest brings up vCPU 1.
    let vcpus_col = |ts: &mut Toolstack<'_, SmpHv>| -> String {
        let out = ok(ts, "xl list domu");
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .to_string()
    };
    assert_eq!(vcpus_col(&mut ts), "1");
    ts.hypervisor().guest_vcpu_up(d, 1, true);
    assert_eq!(vcpus_col(&mut ts), "2");
}

#[test]
fn create_checks_the_vcpu_limit_and_the_cpus_before_anything_is_created() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    fails(
        &mut ts,
        "xl create domu.cfg vcpus=9",
        "xl: domain \"domu\": vcpus = 9, maxvcpus = 9: this hypervisor runs at most 8 vCPUs \
         per domain",
    );
    fails(
        &mut ts,
        "xl create domu.cfg vcpus=2 maxvcpus=12",
        "xl: domain \"domu\": vcpus = 2, maxvcpus = 12: this hypervisor runs at most 8 vCPUs \
         per domain",
    );
    fails(
        &mut ts,
        "xl create domu.cfg cpus=2-5",
        "xl: domain \"domu\": cpus: CPU list \"2-5\": CPU 4 does not exist (the host has CPUs 0-3)",
    );
    fails(
        &mut ts,
        "xl create domu.cfg vcpus=2 cpus_soft=[\"0\",\"7\"]",
        "xl: domain \"domu\": cpus_soft: vCPU 1: CPU list \"7\": CPU 7 does not exist (the host \
         has CPUs 0-3)",
    );
    fails(
        &mut ts,
        "xl create domu.cfg cpus=0-3,x",
        "xl: <command line>:1: cpus: \"x\" is not a CPU, a range of CPUs or \"all\" (e.g. 3, \
         0-3, ^1, all)",
    );
    assert!(ts.hypervisor().affinity_calls.is_empty());
    assert_eq!(
        ts.hypervisor().hv.domain_ids(),
        [DomId(0)],
        "nothing was created"
    );
    // 8 is the limit, and fine.
    ok(&mut ts, "xl create domu.cfg vcpus=8");
    assert_eq!(availability(&mut ts, 1), avail(8, 8));
    assert_eq!(ts.hypervisor().vcpus(DomId(1)).unwrap().len(), 8);
    assert!(
        ts.hypervisor().affinity_calls.is_empty(),
        "no cpus/cpus_soft: no affinity set"
    );
}

#[test]
fn a_refused_affinity_at_create_destroys_the_domain() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ts.hypervisor().set_cpu_online(3, false);
    let free = ts.hypervisor().hv.free_pages();
    fails(
        &mut ts,
        "xl create domu.cfg vcpus=2 cpus=[\"0\",\"3\"]",
        "xl: cannot start domain \"domu\" (domain 1): vCPU 1: hard affinity 3 (cpus) has no \
         online CPU: EINVAL",
    );
    assert_eq!(ts.hypervisor().hv.domain_ids(), [DomId(0)]);
    assert_eq!(ts.hypervisor().hv.free_pages(), free);
    assert_eq!(xs_read(&mut ts, "/local/domain/1/name"), None);
    assert!(ts.domains().is_empty());
    // Any other refusal is named as the domctl's.
    ts.hypervisor().hv.fail = Some((FailPoint::Domctl(XEN_DOMCTL_SETVCPUAFFINITY), Errno::EPERM));
    fails(
        &mut ts,
        "xl create domu.cfg cpus_soft=1",
        "xl: cannot start domain \"domu\" (domain 2): vCPU 0: setvcpuaffinity (cpus, \
         cpus_soft): EPERM",
    );
    assert_eq!(ts.hypervisor().hv.domain_ids(), [DomId(0)]);
}

#[test]
fn vcpu_set_rewrites_the_availability_nodes() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ok(&mut ts, "xl create domu.cfg vcpus=1 maxvcpus=4");
    assert_eq!(availability(&mut ts, 1), avail(1, 4));
    assert_eq!(ok(&mut ts, "xl vcpu-set domu 3"), "");
    assert_eq!(availability(&mut ts, 1), avail(3, 4));
    assert_eq!(ts.domains()[0].config.vcpus, 3, "a restart keeps 3");
    ok(&mut ts, "xl vcpu-set 1 4");
    assert_eq!(availability(&mut ts, 1), avail(4, 4));
    ok(&mut ts, "xl vcpu-set domu 1");
    assert_eq!(availability(&mut ts, 1), avail(1, 4));
    // The permissions stay libxl's.
    let perms = ts
        .xenstore()
        .store()
        .get("/local/domain/1/cpu/2/availability")
        .unwrap()
        .perms
        .texts();
    assert_eq!(perms, ["n0", "r1"]);
    // Refusals name the limit and change nothing.
    for (cmd, want) in [
        (
            "xl vcpu-set domu 5",
            "xl: vcpu-set: domain 1 (\"domu\") may have 1 to 4 vCPUs (its maxvcpus), not 5",
        ),
        (
            "xl vcpu-set domu 0",
            "xl: vcpu-set: domain 1 (\"domu\") may have 1 to 4 vCPUs (its maxvcpus), not 0",
        ),
        (
            "xl vcpu-set domu x",
            "xl: vcpu-set: \"x\" is not a number of vCPUs",
        ),
        (
            "xl vcpu-set domu +2",
            "xl: vcpu-set: \"+2\" is not a number of vCPUs",
        ),
        (
            "xl vcpu-set nosuch 2",
            "xl: vcpu-set: no such domain: \"nosuch\"",
        ),
        (
            "xl vcpu-set domu",
            "xl: vcpu-set: wrong arguments: give a domain and a number of vCPUs",
        ),
    ] {
        fails(&mut ts, cmd, want);
        assert_eq!(availability(&mut ts, 1), avail(1, 4), "{cmd}");
    }
    assert_eq!(ts.domains()[0].config.vcpus, 1);
    // More vCPUs than the host has CPUs: only when asked for.
    ts.hypervisor().set_cpu_online(3, false);
    ts.hypervisor().set_cpu_online(2, false);
    fails(
        &mut ts,
        "xl vcpu-set domu 3",
        "xl: vcpu-set: 3 vCPUs for domain 1 (\"domu\") are more than the host's 2 CPUs: that \
         overcommits them (-i/--ignore-host to do it anyway)",
    );
    assert_eq!(availability(&mut ts, 1), avail(1, 4));
    ok(&mut ts, "xl vcpu-set -i domu 3");
    assert_eq!(availability(&mut ts, 1), avail(3, 4));
    ok(&mut ts, "xl vcpu-set --ignore-host domu 4");
    assert_eq!(availability(&mut ts, 1), avail(4, 4));
    let (rc, usage) = xl(&mut ts, "xl vcpu-set --help");
    assert_eq!(rc, 0);
    assert!(usage.starts_with("Usage: xl vcpu-set [-i|--ignore-host] <Domain> <vCPUs>"));
}

#[test]
fn vcpu_pin_sets_hard_and_soft_affinity_as_xl() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ok(&mut ts, "xl create domu.cfg vcpus=2 maxvcpus=3");
    let all = vec![0, 1, 2, 3];
    assert_eq!(ok(&mut ts, "xl vcpu-pin domu 1 2-3"), "");
    assert_eq!(
        model_affinity(&mut ts, 1),
        [
            (all.clone(), all.clone()),
            (vec![2, 3], all.clone()),
            (all.clone(), all.clone())
        ]
    );
    // `-` keeps the hard map; the soft one alone changes.
    ok(&mut ts, "xl vcpu-pin 1 1 - 3");
    assert_eq!(model_affinity(&mut ts, 1)[1], (vec![2, 3], vec![3]));
    ok(&mut ts, "xl vcpu-pin domu 0 0-3,^1 -");
    assert_eq!(model_affinity(&mut ts, 1)[0], (vec![0, 2, 3], all.clone()));
    // `all`: every vCPU, hard and soft.
    ok(&mut ts, "xl vcpu-pin domu all 1 all,^0");
    assert_eq!(
        model_affinity(&mut ts, 1),
        [
            (vec![1], vec![1, 2, 3]),
            (vec![1], vec![1, 2, 3]),
            (vec![1], vec![1, 2, 3])
        ]
    );
    // A soft affinity outside the hard one has no effect: said so.
    let out = ok(&mut ts, "xl vcpu-pin domu 2 - 3");
    assert_eq!(
        out,
        "xl: vcpu-pin: note: vCPU 2 of domain 1: soft affinity 3 has no CPU within its hard \
         affinity: it has no effect\n"
    );
    // Only the maps named were sent.
    let last = ts.hypervisor().affinity_calls.last().unwrap().clone();
    assert_eq!(
        (last.cmd, last.vcpu, last.flags, cpus(last.soft)),
        (
            XEN_DOMCTL_SETVCPUAFFINITY,
            2,
            XEN_VCPUAFFINITY_SOFT,
            vec![3]
        )
    );
    let (rc, usage) = xl(&mut ts, "xl vcpu-pin --help");
    assert_eq!(rc, 0);
    assert!(usage.starts_with(
        "Usage: xl vcpu-pin [-f|--force] <Domain> <VCPU|all> <Hard affinity> [Soft affinity]"
    ));
}

#[test]
fn vcpu_pin_errors_name_the_vcpu_the_domain_and_the_cause() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 6);
    ok(&mut ts, "xl create domu.cfg vcpus=3");
    ts.hypervisor().set_cpu_online(4, false);
    ts.hypervisor().set_cpu_online(5, false);
    let before = model_affinity(&mut ts, 1);
    for (cmd, want) in [
        (
            "xl vcpu-pin 1 2 4-5",
            "xl: vcpu-pin: vCPU 2 of domain 1: hard affinity 4-5 has no online CPU: EINVAL",
        ),
        (
            "xl vcpu-pin domu 3 1",
            "xl: vcpu-pin: domain 1 (\"domu\") has vCPUs 0-2: there is no vCPU 3",
        ),
        (
            "xl vcpu-pin domu x 1",
            "xl: vcpu-pin: \"x\" is not a vCPU number (nor \"all\")",
        ),
        (
            "xl vcpu-pin domu 0 6",
            "xl: vcpu-pin: hard affinity: CPU list \"6\": CPU 6 does not exist (the host has \
             CPUs 0-5)",
        ),
        (
            "xl vcpu-pin domu 0 - 1,,2",
            "xl: vcpu-pin: soft affinity: empty item in CPU list \"1,,2\"",
        ),
        (
            "xl vcpu-pin domu 0 ^1",
            "xl: vcpu-pin: hard affinity: CPU list \"^1\" selects no CPU (a list starts empty: \
             \"all,^1\" is every CPU but 1)",
        ),
        (
            "xl vcpu-pin domu 0 - -",
            "xl: vcpu-pin: nothing to do: hard and soft affinity are both \"-\" (left as they are)",
        ),
        (
            "xl vcpu-pin domu 0",
            "xl: vcpu-pin: wrong arguments: give a domain, a vCPU (or all), the hard affinity \
             and optionally the soft affinity",
        ),
        (
            "xl vcpu-pin nosuch 0 1",
            "xl: vcpu-pin: no such domain: \"nosuch\"",
        ),
        (
            "xl vcpu-pin -x domu 0 1",
            "xl: vcpu-pin: unknown option \"-x\"",
        ),
    ] {
        fails(&mut ts, cmd, want);
        assert_eq!(model_affinity(&mut ts, 1), before, "{cmd} changed nothing");
    }
    // `all` with a vCPU the guest pinned for now: the vCPUs done before get their old
    // affinity back.
    ts.hypervisor().guest_pin_override(DomId(1), 2, Some(0));
    fails(
        &mut ts,
        "xl vcpu-pin domu all 3",
        "xl: vcpu-pin: vCPU 2 of domain 1: the guest has pinned it for now (-f/--force \
         overrides its pin): EBUSY",
    );
    assert_eq!(model_affinity(&mut ts, 1), before);
    assert!(ts
        .hypervisor()
        .affinity_calls
        .iter()
        .any(|c| c.cmd == XEN_DOMCTL_SETVCPUAFFINITY && c.vcpu == 0 && cpus(c.hard) == [3]));
    ok(&mut ts, "xl vcpu-pin -f domu all 3");
    let after = model_affinity(&mut ts, 1);
    assert!(after.iter().all(|(h, _)| h == &[3]), "{after:?}");
    assert_eq!(ts.hypervisor().vcpus(DomId(1)).unwrap()[2].pinned, None);
    let last = ts.hypervisor().affinity_calls.last().unwrap().clone();
    assert_eq!(last.flags, XEN_VCPUAFFINITY_HARD | XEN_VCPUAFFINITY_FORCE);
    ok(&mut ts, "xl vcpu-pin --force domu 0 2");
    // Another refusal of the hypervisor's is named as the domctl's.
    ts.hypervisor().hv.fail = Some((FailPoint::Domctl(XEN_DOMCTL_SETVCPUAFFINITY), Errno::EPERM));
    fails(
        &mut ts,
        "xl vcpu-pin domu 1 1",
        "xl: vcpu-pin: vCPU 1 of domain 1: setvcpuaffinity: EPERM",
    );
    ts.hypervisor().hv.fail = Some((FailPoint::Domctl(XEN_DOMCTL_GETVCPUAFFINITY), Errno::EIO));
    fails(
        &mut ts,
        "xl vcpu-pin domu 1 1",
        "xl: vcpu-pin: vCPU 1 of domain 1: getvcpuaffinity: EIO",
    );
}

#[test]
fn vcpu_list_shows_each_vcpu_with_its_cpu_state_and_affinity() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ok(
        &mut ts,
        "xl create domu.cfg vcpus=2 maxvcpus=3 cpus_soft=1,3",
    );
    ts.hypervisor().guest_vcpu_up(DomId(1), 1, true);
    ts.hypervisor().vcpus(DomId(1)).unwrap()[1].cpu_time = 2_340_000_000;
    ok(&mut ts, "xl vcpu-pin domu 1 2-3");
    let rows = vcpu_rows(&mut ts, "domu");
    assert_eq!(rows.len(), 3, "{rows:?}");
    // vCPU 0 as the hypervisor has it (running or not), moved to CPU 1 by its soft affinity.
    let w0: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(w0[..4], ["domu", "1", "0", "1"]);
    assert_eq!(w0[6..], ["all", "/", "1,3"]);
    // vCPU 1: up, blocked, moved to CPU 3 (within its hard affinity, soft-preferred).
    assert_eq!(
        rows[1],
        "domu                                 1     1     3   -b-       2.3  2-3 / 1,3"
    );
    // vCPU 2: down, as xl shows it.
    assert_eq!(
        rows[2],
        "domu                                 1     2     -   --p       0.0  all / 1,3"
    );
    // All domains: Domain-0's one vCPU first.
    let out = ok(&mut ts, "xl vcpu-list");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[1].starts_with("Domain-0                             0     0     0   r"));
    assert!(lines[1].ends_with("all / all"), "{}", lines[1]);
    assert_eq!(
        lines[2..],
        rows.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    // JSON: the same facts.
    let json = ok(&mut ts, "xl vcpu-list --json domu");
    for want in [
        "\"vcpu\": 1,\n        \"cpu\": 3,",
        "\"vcpu\": 2,\n        \"cpu\": null,\n        \"online\": 0,\n        \"state\": \"--p\",",
        "\"hard_affinity\": \"2-3\",\n        \"soft_affinity\": \"1,3\"",
        "\"hard_affinity\": \"all\",",
    ] {
        assert!(json.contains(want), "{want} in {json}");
    }
    // A refusal of getvcpuaffinity is reported, not shown as "all".
    ts.hypervisor().hv.fail = Some((FailPoint::Domctl(XEN_DOMCTL_GETVCPUAFFINITY), Errno::EPERM));
    fails(
        &mut ts,
        "xl vcpu-list domu",
        "xl: vcpu-list: vCPU 0 of domain 1: getvcpuaffinity: EPERM",
    );
}

#[test]
fn vcpu_list_affinity_columns_follow_the_hosts_cpus() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 8);
    ok(
        &mut ts,
        "xl create domu.cfg vcpus=3 cpus=[\"0-3\",\"1,3\",\"all,^7\"]",
    );
    let rows = vcpu_rows(&mut ts, "domu");
    let aff: Vec<String> = rows
        .iter()
        .map(|r| r.split_whitespace().skip(6).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(aff, ["0-3 / all", "1,3 / all", "0-6 / all"]);
}

#[test]
fn on_the_real_hypervisor_vcpu_list_works_with_or_without_affinity() {
    let rd = initrd_bytes();
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    ok(&mut ts, "xl create domu.cfg");
    let out = ok(&mut ts, "xl vcpu-list");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    // One CPU: every vCPU may use all of them.
    for r in &rows {
        assert!(r.ends_with("  all / all"), "{r}");
    }
    assert!(rows[1].starts_with("domu                                 1     0     0   "));
}

#[test]
fn xl_info_reports_the_hosts_cpus() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 6);
    ts.hypervisor().set_threads_per_core(2);
    ts.hypervisor().set_cpu_online(5, false);
    let khz = ts.hypervisor().hv.physinfo().unwrap().cpu_khz;
    let out = ok(&mut ts, "xl info");
    for want in [
        "nr_cpus                : 5\n".to_string(),
        "max_cpu_id             : 5\n".to_string(),
        "cores_per_socket       : 3\n".to_string(),
        "threads_per_core       : 2\n".to_string(),
        format!("cpu_mhz                : {}\n", khz / 1000),
    ] {
        assert!(out.contains(&want), "{want} in {out}");
    }
    let json = ok(&mut ts, "xl info --json");
    assert!(json.contains("\"nr_cpus\": 5,"), "{json}");
    assert!(json.contains("\"max_cpu_id\": 5,"), "{json}");
    // The cap bound follows the CPUs.
    fails(
        &mut ts,
        "xl create domu.cfg cap=600",
        "xl: domain \"domu\": cap = 600: must be 0 to 500 (percent of the host's 5 CPUs; 0: no \
         cap)",
    );
}

#[test]
fn help_lists_the_vcpu_commands() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 1);
    let help = ok(&mut ts, "xl help");
    for c in ["vcpu-list", "vcpu-pin", "vcpu-set"] {
        assert!(
            help.lines().any(|l| l.split_whitespace().next() == Some(c)),
            "{c} in {help}"
        );
    }
}

/// `xl sched-credit -c` accepts what the hypervisor and `cap=` do: up to one CPU's worth
/// (100) per CPU of the host. (The model's CPUs are `SmpHv`'s; the hypervisor under it runs
/// on one, so it is xl's own check that is shown here.)
#[test]
fn sched_credit_caps_go_up_to_one_cpu_per_host_cpu() {
    let rd = initrd_bytes();
    let mut ts = toolstack(&rd, 4);
    ok(&mut ts, "xl create domu.cfg vcpus=4");
    fails(
        &mut ts,
        "xl sched-credit -d domu -c 401",
        "xl: sched-credit: cap 401 out of range: valid caps are 0 (none) to 400 \
         (percent of the host's 4 CPUs)",
    );
    let (_, out) = xl(&mut ts, "xl sched-credit -d domu -c 400");
    assert!(!out.contains("out of range"), "{out}");
    ok(&mut ts, "xl sched-credit -d domu -c 100");
}
