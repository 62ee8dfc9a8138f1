//! Steps the tests of Debian's Linux as a PV domU share (tests/tests/linux*.rs): the machine
//! they boot, `xl create -c` up to Linux's shell, typing into that shell, and detaching from
//! and attaching to its console. The guest is the kernel of linux-image-amd64 with the busybox
//! initramfs `cargo xtask build --guests` makes (xtask/src/guests.rs); its shell's prompt is
//! `linux# `.

use crate::system::{OrFail, System};
use crate::BootOptions;
use std::time::Duration;

/// Linux's shell prompt (the initramfs's /etc/profile, the disk's too).
pub const PROMPT: &str = "linux# ";
/// From `xl create` to Linux's shell (10-20 s here; generous for a loaded CI machine).
pub const BOOT: Duration = Duration::from_secs(180);
/// One command typed into Linux's shell.
pub const CMD: Duration = Duration::from_secs(60);
/// What the initramfs's /init prints once /proc, /sys and /dev are mounted.
pub const BANNER: &str = "busybox initramfs up: Linux 6.1";

/// The machine the Linux tests boot: 1 GiB, dom0 512 MiB (the builder decompresses the
/// 60-odd MiB kernel in dom0's heap, which grows with dom0's memory).
pub fn machine(name: &str) -> BootOptions {
    BootOptions::new(name).memory("1G").cmdline("dom0_mem=512M")
}

/// [`machine`] booted to dom0's prompt.
pub fn boot(name: &str) -> System {
    System::boot_to_prompt(machine(name))
}

/// A Linux domU to create with its console attached (`xl create -c`).
pub struct Create<'a> {
    /// The domain's name in the config.
    pub name: &'a str,
    /// The config under /etc/xen/ and any `key=value` overrides after it.
    pub cfg: String,
    /// Console lines to wait for (each somewhere after the create) after the kernel's and
    /// the initramfs's banners and before the shell's prompt.
    pub lines: &'a [&'a str],
    /// A console line for which this holds fails the step at once, quoting it.
    pub trouble: fn(&str) -> bool,
}

impl<'a> Create<'a> {
    /// Domain `name` from `/etc/xen/<cfg>` (with any overrides after it).
    pub fn new(name: &'a str, cfg: &str) -> Self {
        Create {
            name,
            cfg: cfg.to_string(),
            lines: &[],
            trouble: |_| false,
        }
    }

    /// `linux.cfg` (domain `linux`) with `overrides` (may be empty).
    pub fn linux(overrides: &str) -> Self {
        Create::new("linux", format!("linux.cfg {overrides}").trim_end())
    }

    /// Wait for `lines` too.
    pub fn lines(self, lines: &'a [&'a str]) -> Self {
        Create { lines, ..self }
    }

    /// Fail at once on a console line for which `trouble` holds.
    pub fn trouble(self, trouble: fn(&str) -> bool) -> Self {
        Create { trouble, ..self }
    }

    /// `xl create -c /etc/xen/<cfg>`, then wait for xl's `Started domain <name> (id=`,
    /// the kernel's `Linux version 6.1`, the initramfs's [`BANNER`], each of `lines` and the
    /// shell's prompt, and type an empty line so the console is at a fresh prompt. Returns
    /// the transcript's mark from before the create.
    pub fn to_shell(&self, sys: &mut System) -> usize {
        let mark = sys.mark();
        sys.send(&format!("xl create -c /etc/xen/{}\n", self.cfg))
            .or_fail();
        let started = format!("Started domain {} (id=", self.name);
        let standard = [started.as_str(), "Linux version 6.1", BANNER];
        for want in standard.iter().chain(self.lines) {
            let trouble = self.trouble;
            let line = sys
                .wait_line_where(mark, want, BOOT, |l| l.contains(want) || trouble(l))
                .or_fail();
            if !line.contains(want) {
                sys.fail(format!(
                    "waiting for {want:?} while {} came up: {line}",
                    self.name
                ));
            }
        }
        if let Err(f) = sys.expect(PROMPT, BOOT) {
            sys.fail(format!("{} (Linux's shell after `xl create`)", f.msg));
        }
        sh(sys, "");
        mark
    }
}

/// Type `cmd` into Linux's shell (attached) and return what it printed up to the next
/// prompt, the echo included, without carriage returns.
pub fn sh(sys: &mut System, cmd: &str) -> String {
    sys.send(&format!("{cmd}\n")).or_fail();
    match sys.expect(PROMPT, CMD) {
        Ok(out) => out.replace('\r', ""),
        Err(f) => sys.fail(format!("{} (after typing {cmd:?} into Linux)", f.msg)),
    }
}

/// [`sh`], checking that the output has a line equal to `want`.
pub fn sh_says(sys: &mut System, cmd: &str, want: &str) -> String {
    let out = sh(sys, cmd);
    sys.check(
        out.lines().any(|l| l.trim() == want),
        format!("`{cmd}` in Linux: want a line {want:?}, got:\n{out}"),
    );
    out
}

/// The value printed after `key=` on a line of `out` (for commands that echo
/// `key=$(...)`; the echoed command line itself is skipped).
pub fn value<'o>(out: &'o str, key: &str) -> Option<&'o str> {
    let key = format!("{key}=");
    out.lines()
        .filter(|l| !l.contains("$("))
        .find_map(|l| l.trim().strip_prefix(key.as_str()))
        .map(str::trim)
}

/// Ctrl-] detaches from the console; dom0's prompt comes back.
pub fn detach(sys: &mut System) {
    sys.send("\x1d").or_fail();
    sys.expect_prompt().or_fail();
}

/// `xl console <name>` and a fresh prompt from Linux's shell.
pub fn attach(sys: &mut System, name: &str) {
    sys.send(&format!("xl console {name}\n")).or_fail();
    sys.expect("Ctrl-] detaches", CMD).or_fail();
    sh(sys, "");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_after_their_key_skipping_the_echoed_command() {
        let out = "echo online=$(cat /sys/devices/system/cpu/online)\nonline=0-3\ncount=4\n";
        assert_eq!(value(out, "online"), Some("0-3"));
        assert_eq!(value(out, "count"), Some("4"));
        assert_eq!(value(out, "present"), None);
        assert_eq!(value("online= 0-1 \n", "online"), Some("0-1"));
    }

    #[test]
    fn overrides_follow_the_config() {
        assert_eq!(Create::linux("").cfg, "linux.cfg");
        assert_eq!(Create::linux("vcpus=4").cfg, "linux.cfg vcpus=4");
        assert_eq!(Create::linux("vcpus=4").name, "linux");
        let c = Create::linux("")
            .lines(&["x"])
            .trouble(|l| l.contains("bad"));
        assert_eq!(c.lines, ["x"]);
        assert!((c.trouble)("a bad line") && !(c.trouble)("a good one"));
    }
}
