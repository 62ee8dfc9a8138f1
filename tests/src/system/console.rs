//! The serial console: the transcript so far, typing into it, and waiting for what QEMU
//! prints (a pattern after the cursor, or a whole line after a mark).

use super::{describe_exit, Failure, System, CMD_TIMEOUT, PROMPT};
use crate::launch;
use crate::transcript::complete_lines_since;
use std::io::Write;
use std::time::{Duration, Instant};

/// A console line with any leading `dom0# ` prompts removed: output that arrives while the
/// shell waits for input lands right after the prompt.
pub fn strip_prompts(mut line: &str) -> &str {
    while let Some(rest) = line.strip_prefix(PROMPT) {
        line = rest;
    }
    line
}

impl System {
    /// The whole console transcript so far.
    pub fn transcript(&self) -> String {
        self.out.text()
    }

    /// The current end of the transcript, to search from later with [`System::wait_line`].
    pub fn mark(&self) -> usize {
        self.out.lock().text.len()
    }

    /// The transcript from `mark` on.
    pub fn since(&self, mark: usize) -> String {
        let t = self.out.lock();
        t.text.get(mark..).unwrap_or("").to_string()
    }

    /// The failure for "the console ended while waiting for `what`".
    fn ended(&mut self, what: &str) -> Failure {
        let st = self.reap(Duration::from_secs(5));
        self.failure(format!(
            "QEMU exited ({}) while waiting for {what}",
            describe_exit(st.and_then(|s| s.code()))
        ))
    }

    /// Wait for `pat` after the cursor; return the text between the cursor and the match and
    /// move the cursor past it.
    pub fn expect(&mut self, pat: &str, timeout: Duration) -> Result<String, Failure> {
        let timeout = launch::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let from = self.cursor;
        let r = self.out.wait_until(deadline, |text, eof| {
            let hay = text.get(from..).unwrap_or("");
            match hay.find(pat) {
                Some(i) => Some(Ok((hay[..i].to_string(), from + i + pat.len()))),
                None if eof => Some(Err(())),
                None => None,
            }
        });
        match r {
            Some(Ok((before, end))) => {
                self.cursor = end;
                Ok(before)
            }
            Some(Err(())) => Err(self.ended(&format!("{pat:?}"))),
            None => Err(self.failure(format!("timed out after {timeout:?} waiting for {pat:?}"))),
        }
    }

    /// Wait for the next `dom0# ` prompt.
    pub fn expect_prompt(&mut self) -> Result<String, Failure> {
        self.expect(PROMPT, CMD_TIMEOUT)
    }

    /// Wait for a complete console line containing `pat`, anywhere after byte `since` of the
    /// transcript (see [`System::mark`]); the cursor does not move. Returns the line, leading
    /// prompts stripped.
    pub fn wait_line(
        &mut self,
        since: usize,
        pat: &str,
        timeout: Duration,
    ) -> Result<String, Failure> {
        self.wait_line_where(since, pat, timeout, |l| l.contains(pat))
    }

    /// Like [`System::wait_line`] with any predicate; `what` describes it for the failure.
    pub fn wait_line_where(
        &mut self,
        since: usize,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, Failure> {
        let timeout = launch::scaled(timeout);
        let deadline = Instant::now() + timeout;
        let r = self.out.wait_until(deadline, |text, eof| {
            match complete_lines_since(text, since)
                .map(|(_, l)| strip_prompts(l))
                .find(|l| pred(l))
            {
                Some(l) => Some(Ok(l.to_string())),
                None if eof => Some(Err(())),
                None => None,
            }
        });
        match r {
            Some(Ok(l)) => Ok(l),
            Some(Err(())) => Err(self.ended(&format!("a line with {what:?}"))),
            None => Err(self.failure(format!(
                "timed out after {timeout:?} waiting for a line with {what:?}"
            ))),
        }
    }

    /// The complete lines after byte `since` that contain `pat` (no waiting).
    pub fn lines_since(&self, since: usize, pat: &str) -> Vec<String> {
        let t = self.out.lock();
        complete_lines_since(&t.text, since)
            .map(|(_, l)| strip_prompts(l))
            .filter(|l| l.contains(pat))
            .map(str::to_string)
            .collect()
    }

    /// Type `s` on the serial console.
    pub fn send(&mut self, s: &str) -> Result<(), Failure> {
        let r = match self.stdin.as_mut() {
            Some(w) => w.write_all(s.as_bytes()).and_then(|_| w.flush()),
            None => Err(std::io::Error::other("stdin closed")),
        };
        r.map_err(|e| self.failure(format!("cannot type {s:?} into QEMU: {e}")))
    }
}
