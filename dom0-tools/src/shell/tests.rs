use super::*;
use crate::initrd::{write_newc, Initrd};
use crate::testhv::TestHv;

fn with_shell(f: impl FnOnce(&mut Shell<'_, TestHv>)) {
    let rd = write_newc(&[
        ("/etc/xen/domu.cfg", b"name = \"domu\"\n"),
        ("/etc/xen/x.cfg", b"no newline"),
        ("/boot/k", b"\xff\xfeab\n"),
    ]);
    let ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    let mut sh = Shell::new(ts);
    f(&mut sh);
}

fn type_str(sh: &mut Shell<'_, TestHv>, input: &[u8]) -> (String, ShellAction) {
    let mut out = String::new();
    let mut last = ShellAction::Continue;
    for &b in input {
        last = sh.feed(b, &mut out);
    }
    (out, last)
}

#[test]
fn echo_editing_and_line_ends() {
    with_shell(|sh| {
        let mut out = String::new();
        sh.prompt(&mut out);
        assert_eq!(out, "dom0# ");
        let (out, _) = type_str(sh, b"echo hx\x7fi\r\n");
        assert_eq!(out, "echo hx\x08 \x08i\nhi\ndom0# ");
        // CRLF is one line end; a lone LF too; an empty line just prompts.
        let (out, _) = type_str(sh, b"\r\n\n");
        assert_eq!(out, "\ndom0# \ndom0# ");
        // Ctrl-U erases the line, backspace on an empty line does nothing.
        let (out, _) = type_str(sh, b"ab\x15\x08echo 'a  b'\n");
        assert_eq!(out, "ab\x08 \x08\x08 \x08echo 'a  b'\na  b\ndom0# ");
        let (out, _) = type_str(sh, b"xyz\x03");
        assert_eq!(out, "xyz^C\ndom0# ");
        // Control and non-ASCII bytes are ignored.
        let (out, _) = type_str(sh, b"\x1b\xc3echo\tok\r");
        assert_eq!(out, "echo ok\nok\ndom0# ");
    });
}

#[test]
fn commands() {
    with_shell(|sh| {
        let (out, _) = type_str(sh, b"frob 1\n");
        assert_eq!(out, "frob 1\nsh: frob: command not found\ndom0# ");
        let mut out = String::new();
        sh.run_line("ls", &mut out);
        assert_eq!(out, "/etc/xen/domu.cfg\n/etc/xen/x.cfg\n/boot/k\n");
        out.clear();
        sh.run_line("ls /etc/xen/ /nope", &mut out);
        assert_eq!(
            out,
            "/etc/xen/domu.cfg\n/etc/xen/x.cfg\nls: /nope: No such file or directory\n"
        );
        out.clear();
        sh.run_line(
            "cat /etc/xen/domu.cfg etc/xen/x.cfg /boot/k /nope",
            &mut out,
        );
        assert_eq!(
            out,
            "name = \"domu\"\nno newline\n\u{fffd}\u{fffd}ab\ncat: /nope: No such file or directory\n"
        );
        out.clear();
        sh.run_line("xl list", &mut out);
        assert!(out.starts_with("Name "));
        out.clear();
        sh.run_line("help", &mut out);
        assert!(out.contains("poweroff"));
        out.clear();
        sh.run_line("echo \"unterminated", &mut out);
        assert_eq!(out, "sh: unterminated quote\n");
        let (out, action) = type_str(sh, b"poweroff\r");
        assert_eq!(
            (out.as_str(), action),
            ("poweroff\n", ShellAction::PowerOff)
        );
        let (_, action) = type_str(sh, b"reboot\n");
        assert_eq!(action, ShellAction::Reboot);
    });
}

#[test]
fn long_lines_are_capped() {
    with_shell(|sh| {
        let input = alloc::vec![b'a'; MAX_LINE + 10];
        let (out, _) = type_str(sh, &input);
        assert_eq!(out.len(), MAX_LINE);
    });
}

#[test]
fn xenperf_shows_the_hypervisors_counters() {
    with_shell(|sh| {
        let mut out = String::new();
        sh.run_line("xenperf", &mut out);
        let names: Vec<&str> = out
            .lines()
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "heap_used_bytes",
                "heap_free_bytes",
                "irqoff_max_ns",
                "free_frames",
                "console_rx_irqs",
                "device_irqs"
            ],
            "{out}"
        );
        let free = hypervisor::phys::frames::free_count();
        assert!(
            out.lines()
                .any(|l| l.starts_with("free_frames ") && l.ends_with(&format!("T={free:>10}"))),
            "{out}"
        );
        out.clear();
        sh.run_line("xenperf -r", &mut out);
        assert_eq!(out, "xenperf: counters reset\n");
    });
}
