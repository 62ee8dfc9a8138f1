//! The harness's own tests: `System` driving a fake machine (a shell script), and the
//! console text helpers.

use super::*;

/// A fake machine: prints a boot log and a prompt, echoes lines, answers a few commands.
const FAKE: &str = r#"
printf '(XEN) fake hypervisor\r\n(XEN) building dom0\r\n'
printf 'dom0# '
while IFS= read -r line; do
  printf '%s\r\n' "$line"
  case "$line" in
    "xl list") printf 'Name ID Mem VCPUs State Time(s)\nDomain-0 0 64 1 r----- 1.0\n' ;;
    "xl info") printf 'total_memory : 511\nfree_memory : 400\n' ;;
    "xl create") printf 'dom0# '; sleep 0.2; printf '(d1) Hello from pv-guest domU, cmdline "greet"\n'; continue ;;
    poweroff) exit 33 ;;
    crash) exit 0 ;;
    hang) exec sleep 100 ;;
  esac
  printf 'dom0# '
done
"#;

fn fake(name: &str, hard: Duration) -> System {
    let args = vec!["-c".to_string(), FAKE.to_string()];
    let mut s = System::spawn(name, "sh", &args, hard);
    s.expect(PROMPT, Duration::from_secs(10)).or_fail();
    s
}

#[test]
fn echo_stripping() {
    assert_eq!(strip_echo("xl list\nA\nB\n", "xl list"), "A\nB\n");
    assert_eq!(strip_echo("noise\nxl list\nA\n", "xl list"), "noise\nA\n");
    assert_eq!(strip_echo("A\n", "xl list"), "A\n");
    assert_eq!(strip_echo("xl list", "xl list"), "");
    assert_eq!(strip_prompts("dom0# dom0# (d1) x"), "(d1) x");
    assert_eq!(strip_prompts("(d1) dom0# x"), "(d1) dom0# x");
}

#[test]
fn drives_a_fake_machine() {
    let mut s = fake("harness-selftest-drive", HARD_TIMEOUT);
    assert!(s.transcript().starts_with("(XEN) fake hypervisor\n"));
    let rows = s.xl_list();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "Domain-0");
    assert_eq!(s.free_memory(), 400);
    let m = s.mark();
    s.run("xl create");
    let l = s
        .wait_line(m, "Hello from pv-guest domU", Duration::from_secs(5))
        .or_fail();
    assert_eq!(l, "(d1) Hello from pv-guest domU, cmdline \"greet\"");
    assert_eq!(s.poweroff(), 33);
    let log = s.log_path();
    drop(s);
    let saved = std::fs::read_to_string(&log).unwrap();
    assert!(saved.contains("cmdline \"greet\"\npoweroff\n"), "{saved}");
}

#[test]
fn reports_early_exit() {
    let mut s = fake("harness-selftest-exit", HARD_TIMEOUT);
    s.send("crash\n").or_fail();
    let f = s.expect("never", Duration::from_secs(10)).unwrap_err();
    assert!(f.msg.contains("QEMU exited (0: triple fault"), "{f}");
    assert!(f.tail.contains("crash"), "{f}");
    assert!(f.to_string().contains("whole transcript"), "{f}");
}

#[test]
fn times_out() {
    let mut s = fake("harness-selftest-timeout", HARD_TIMEOUT);
    let t = Instant::now();
    let f = s.try_run("hang", Duration::from_millis(300)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(f.msg.contains("timed out"), "{f}");
    assert!(f.msg.contains("after typing \"hang\""), "{f}");
}

#[test]
fn hard_timeout_kills() {
    let mut s = fake("harness-selftest-hard", Duration::from_secs(2));
    // (If the machine is already gone under heavy load, typing fails: fine.)
    let _ = s.send("hang\n");
    let t = Instant::now();
    let f = s.expect("never", Duration::from_secs(30)).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "{f}");
    assert!(f.msg.contains("killed by a signal"), "{f}");
    assert!(f.tail.contains("hard timeout"), "{f}");
}

#[test]
fn names_tests() {
    assert_eq!(test_name!(), "tests-system-tests-names_tests");
}
