//! The dom0 shell: running a command at the prompt, and the `xl`, `xenperf` and `poweroff`
//! commands built on that.

use super::{Failure, System, CMD_TIMEOUT, PROMPT};
use crate::xl::{self, XlInfo, XlRow};
use std::time::Duration;

/// Remove the shell's echo of `cmd` (the first line equal to it) from a command's output.
pub fn strip_echo(out: &str, cmd: &str) -> String {
    let cmd = cmd.trim();
    let mut lines: Vec<&str> = out.split_inclusive('\n').collect();
    if let Some(i) = lines.iter().position(|l| l.trim_end() == cmd) {
        lines.remove(i);
    } else if let Some(rest) = out.strip_prefix(cmd) {
        return rest.strip_prefix('\n').unwrap_or(rest).to_string();
    }
    lines.concat()
}

/// Where a console line of a domain or of the hypervisor starts inside `line` (not at its
/// start): `(dN) ` or `(XEN) `.
fn foreign_line_at(line: &str) -> Option<usize> {
    let mut from = 1;
    while let Some(i) = line.get(from..).and_then(|t| t.find('(')) {
        let at = from + i;
        let rest = &line[at + 1..];
        let digits = rest
            .strip_prefix('d')
            .map_or(0, |r| r.bytes().take_while(u8::is_ascii_digit).count());
        if (digits > 0 && rest[1 + digits..].starts_with(") ")) || rest.starts_with("XEN) ") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Puts the whole lines that a domain or the hypervisor printed in the middle of one of dom0's
/// lines (the console interleaves them at line granularity: dom0's echo of a command may be
/// cut by a guest's `(d1) ...` line) before the line they cut, so dom0's line reads whole.
pub fn untangle(out: &str) -> String {
    let mut result = String::new();
    let mut rest = out;
    // The dom0 text of the line being rebuilt, and the lines moved before it.
    let mut line = String::new();
    let mut moved = String::new();
    while !rest.is_empty() {
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let chunk = &rest[..end];
        rest = &rest[end..];
        let mut piece = chunk;
        // A foreign line starting inside: everything from it to the end of the chunk is it.
        let probe = format!("{line}{piece}");
        match foreign_line_at(&probe).filter(|&at| at >= line.len()) {
            Some(at) if !line.is_empty() || at > 0 => {
                let cut = at - line.len();
                line.push_str(&piece[..cut]);
                moved.push_str(&piece[cut..]);
                if !moved.ends_with('\n') {
                    moved.push('\n');
                }
                piece = "";
            }
            _ => {}
        }
        line.push_str(piece);
        if line.ends_with('\n') || (rest.is_empty() && !line.is_empty()) {
            result.push_str(&moved);
            result.push_str(&line);
            moved.clear();
            line.clear();
        }
    }
    result.push_str(&moved);
    result.push_str(&line);
    result
}

impl System {
    /// Type a command line and wait for the next prompt; the output without the echo.
    pub fn try_run(&mut self, cmd: &str, timeout: Duration) -> Result<String, Failure> {
        self.send(&format!("{cmd}\n"))?;
        let out = self.expect(PROMPT, timeout).map_err(|f| Failure {
            msg: format!("{} (after typing {cmd:?})", f.msg),
            ..f
        })?;
        Ok(strip_echo(&untangle(&out), cmd))
    }

    /// Run a dom0 shell command; panics with the transcript if no prompt comes back.
    #[track_caller]
    pub fn run(&mut self, cmd: &str) -> String {
        match self.try_run(cmd, CMD_TIMEOUT) {
            Ok(s) => s,
            Err(f) => {
                panic!("{f}")
            }
        }
    }

    /// `xl list`, parsed. Fails on output that is not a valid listing.
    #[track_caller]
    pub fn xl_list(&mut self) -> Vec<XlRow> {
        let out = self.run("xl list");
        match xl::parse_xl_list(&out) {
            Ok(rows) => rows,
            Err(e) => self.fail(format!("`xl list` output not understood: {e}\n{out}")),
        }
    }

    /// `xl info`, parsed; fails unless it has numeric `total_memory` and `free_memory`.
    #[track_caller]
    pub fn xl_info(&mut self) -> XlInfo {
        let out = self.run("xl info");
        let info = xl::parse_xl_info(&out);
        if info.total_memory().is_none() || info.free_memory().is_none() {
            self.fail(format!(
                "`xl info` has no numeric `total_memory : N` and `free_memory : N` lines:\n{out}"
            ));
        }
        info
    }

    /// The hypervisor's performance counters (`xenperf`): name and total.
    #[track_caller]
    pub fn xenperf(&mut self) -> Vec<(String, u64)> {
        let out = self.run("xenperf");
        let counters: Vec<(String, u64)> = out
            .lines()
            .filter_map(|l| {
                let (name, v) = l.split_once(" T=")?;
                Some((name.trim().to_string(), v.trim().parse().ok()?))
            })
            .collect();
        if counters.is_empty() {
            self.fail(format!("`xenperf` printed no counters:\n{out}"));
        }
        counters
    }

    /// One counter of [`System::xenperf`].
    #[track_caller]
    pub fn xenperf_counter(&mut self, name: &str) -> u64 {
        let counters = self.xenperf();
        match counters.iter().find(|(n, _)| n == name) {
            Some((_, v)) => *v,
            None => self.fail(format!("`xenperf` has no counter {name}: {counters:?}")),
        }
    }

    /// `free_memory` from `xl info`, in MiB.
    #[track_caller]
    pub fn free_memory(&mut self) -> u64 {
        self.xl_info().free_memory().unwrap_or_default()
    }

    /// Type `poweroff` at the prompt and return QEMU's exit status (33 is a clean poweroff).
    #[track_caller]
    pub fn poweroff(&mut self) -> i32 {
        let r = self
            .send("poweroff\n")
            .and_then(|_| self.wait_exit(CMD_TIMEOUT));
        match r {
            Ok(Some(code)) => code,
            Ok(None) => self.fail("QEMU was killed by a signal after `poweroff`"),
            Err(f) => {
                panic!("{f}")
            }
        }
    }
}

#[cfg(test)]
mod untangle_tests {
    use super::untangle;

    #[test]
    fn guest_lines_inside_a_dom0_line_move_before_it() {
        let out = "xenstore-read /local/domain/0/backe(d1) xenbus: front end Initialising\nnd/v(d1) console: on\nbd/1/51712/frontend\n/local/domain/1\n";
        assert_eq!(
            untangle(out),
            "(d1) xenbus: front end Initialising\n(d1) console: on\nxenstore-read /local/domain/0/backend/vbd/1/51712/frontend\n/local/domain/1\n"
        );
        // The hypervisor's lines too; whole lines stay where they are.
        assert_eq!(
            untangle("ec(XEN) hi\nho x\n(d2) y\nz\n"),
            "(XEN) hi\necho x\n(d2) y\nz\n"
        );
        // Nothing foreign: unchanged, even with parentheses and an unfinished last line.
        for s in ["a (b) c\n(dx) d\nlast", "", "\n\n", "f(d) (d12x) g\n"] {
            assert_eq!(untangle(s), s, "{s:?}");
        }
    }
}
