//! A growing text buffer fed by a reader thread (QEMU's serial output), with waiting.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

#[derive(Default)]
pub struct State {
    /// Everything read so far, `\r` removed.
    pub text: String,
    /// The stream ended (QEMU exited or was killed).
    pub eof: bool,
}

/// Shared between the reader thread and the test.
#[derive(Default)]
pub struct Transcript {
    state: Mutex<State>,
    cond: Condvar,
}

impl Transcript {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append text (used by the reader and for harness notes).
    pub fn push(&self, s: &str) {
        let mut st = self.lock();
        st.text.extend(s.chars().filter(|&c| c != '\r'));
        drop(st);
        self.cond.notify_all();
    }

    pub fn close(&self) {
        self.lock().eof = true;
        self.cond.notify_all();
    }

    pub fn text(&self) -> String {
        self.lock().text.clone()
    }

    /// Wait until `f(text, eof)` returns `Some`, or the deadline passes (then `None`).
    /// `f` is called with the lock held whenever the text grows, the stream ends, or at least
    /// every 100 ms.
    pub fn wait_until<T>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&str, bool) -> Option<T>,
    ) -> Option<T> {
        let mut st = self.lock();
        loop {
            if let Some(v) = f(&st.text, st.eof) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let step = (deadline - now).min(std::time::Duration::from_millis(100));
            st = self
                .cond
                .wait_timeout(st, step)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Start a thread copying `r` into this transcript until EOF (also echoing to stderr when
    /// `$E2E_ECHO` is set, handy with `--nocapture`).
    pub fn spawn_reader(self: &Arc<Self>, mut r: impl Read + Send + 'static) {
        let t = Arc::clone(self);
        let echo = std::env::var_os("E2E_ECHO").is_some();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut pending: Vec<u8> = Vec::new();
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        let s = take_utf8(&mut pending);
                        if echo {
                            eprint!("{s}");
                        }
                        t.push(&s);
                    }
                }
            }
            if !pending.is_empty() {
                t.push(&String::from_utf8_lossy(&pending));
            }
            t.close();
        });
    }
}

/// Take the decodable prefix of `buf` as text (invalid bytes become U+FFFD), leaving an
/// incomplete trailing UTF-8 sequence in `buf` for the next read.
pub fn take_utf8(buf: &mut Vec<u8>) -> String {
    let mut out = String::new();
    let mut rest: &[u8] = buf;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let ok = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..ok]).unwrap_or_default());
                match e.error_len() {
                    Some(bad) => {
                        out.push('\u{fffd}');
                        rest = &rest[ok + bad..];
                    }
                    None => {
                        rest = &rest[ok..];
                        break;
                    }
                }
            }
        }
    }
    let keep = rest.to_vec();
    *buf = keep;
    out
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The complete lines (ended by `\n`) of `text` that end after byte `since`: the line holding
/// `since` and every later one. Returns `(start offset, line without newline)`.
pub fn complete_lines_since(text: &str, since: usize) -> impl Iterator<Item = (usize, &str)> {
    let since = since.min(text.len());
    let start = text[..since].rfind('\n').map_or(0, |i| i + 1);
    let mut pos = start;
    std::iter::from_fn(move || {
        let rest = &text[pos..];
        let nl = rest.find('\n')?;
        let at = pos;
        pos += nl + 1;
        Some((at, &rest[..nl]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utf8_split_across_reads() {
        let mut b = vec![b'a', 0xc3];
        assert_eq!(take_utf8(&mut b), "a");
        assert_eq!(b, [0xc3]);
        b.push(0xa9);
        assert_eq!(take_utf8(&mut b), "é");
        assert!(b.is_empty());
        let mut b = vec![b'x', 0xff, b'y'];
        assert_eq!(take_utf8(&mut b), "x\u{fffd}y");
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn lines_since() {
        let t = "one\ntwo\nthree\npartial";
        let v: Vec<_> = complete_lines_since(t, 5).collect();
        assert_eq!(v, [(4, "two"), (8, "three")]);
        let v: Vec<_> = complete_lines_since(t, 0).map(|x| x.1).collect();
        assert_eq!(v, ["one", "two", "three"]);
        assert_eq!(complete_lines_since(t, 100).count(), 0);
    }

    #[test]
    fn reader_and_wait() {
        let t = Transcript::new();
        t.spawn_reader(&b"hello\r\nworld"[..]);
        let deadline = Instant::now() + Duration::from_secs(5);
        let eof = t.wait_until(deadline, |_, eof| eof.then_some(()));
        assert!(eof.is_some());
        assert_eq!(t.text(), "hello\nworld");
        let never = t.wait_until(Instant::now() + Duration::from_millis(50), |s, _| {
            s.contains("nope").then_some(())
        });
        assert!(never.is_none());
    }
}
