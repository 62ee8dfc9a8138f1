//! Whole lines of the hypervisor and of the domUs are not put into the middle of one of
//! dom0's: while dom0's last output did not end its line (its shell echoing a command being
//! typed, a domU console it forwards), they wait here, and go out right after dom0 ends the
//! line, or after [`HOLD_NS`] (dom0 sitting at its prompt), or when [`HOLD_BYTES`] would be
//! exceeded. Pure logic over the bytes; `console` owns the one instance, under the UART's
//! lock.

/// The longest a line waits for dom0 to end its line.
pub const HOLD_NS: u64 = 100_000_000;
/// The most bytes of lines waiting.
pub const HOLD_BYTES: usize = 4096;

/// Lines waiting for dom0's line to end.
pub struct Held {
    buf: [u8; HOLD_BYTES],
    len: usize,
    /// When the first of them came.
    since_ns: u64,
    /// dom0's last output byte was not a newline.
    dom0_mid_line: bool,
}

/// What to do with output.
#[derive(Debug, PartialEq, Eq)]
pub enum Emit<'a> {
    /// Nothing now (held).
    Nothing,
    /// Write these bytes (held lines released), then, if any, the new output.
    Release(&'a [u8]),
}

impl Held {
    pub const fn new() -> Self {
        Held {
            buf: [0; HOLD_BYTES],
            len: 0,
            since_ns: 0,
            dom0_mid_line: false,
        }
    }

    /// A line (or lines) not from dom0, at `now_ns`: true if it is held, false if it is to be
    /// written now (after [`take`](Self::take)ing what is held, if anything: the caller
    /// writes both, held first).
    pub fn foreign(&mut self, bytes: &[u8], now_ns: u64) -> bool {
        if !self.dom0_mid_line || self.len + bytes.len() > HOLD_BYTES {
            return false;
        }
        if self.len == 0 {
            self.since_ns = now_ns;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    /// dom0 wrote `bytes` (already written): whether its line is now open.
    pub fn dom0_wrote(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.dom0_mid_line = last != b'\n';
        }
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether held lines are to go out now: dom0 ended its line, or they waited long enough.
    pub fn due(&self, now_ns: u64) -> bool {
        self.len > 0 && (!self.dom0_mid_line || now_ns.saturating_sub(self.since_ns) >= HOLD_NS)
    }

    /// The held lines, handed out (empty if none).
    pub fn take(&mut self) -> Emit<'_> {
        let n = core::mem::take(&mut self.len);
        if n == 0 {
            Emit::Nothing
        } else {
            Emit::Release(&self.buf[..n])
        }
    }
}

impl Default for Held {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_for_dom0_to_end_its_line() {
        let mut h = Held::new();
        // dom0 at the start of a line: nothing held.
        assert!(!h.foreign(b"(d1) early\n", 0));
        h.dom0_wrote(b"xenstore-read /local/dom");
        assert!(h.foreign(b"(d1) hello\n", 10));
        assert!(h.foreign(b"(XEN) x\n", 20));
        assert!(!h.due(30));
        h.dom0_wrote(b"ain\n");
        assert!(h.due(30));
        assert_eq!(h.take(), Emit::Release(b"(d1) hello\n(XEN) x\n"));
        assert_eq!(h.take(), Emit::Nothing);
        assert!(!h.due(40));
    }

    #[test]
    fn a_line_waits_no_longer_than_the_hold_time_nor_beyond_the_buffer() {
        let mut h = Held::new();
        h.dom0_wrote(b"dom0# ");
        assert!(h.foreign(b"(d2) at the prompt\n", 1_000));
        assert!(!h.due(1_000 + HOLD_NS - 1));
        assert!(h.due(1_000 + HOLD_NS));
        assert_eq!(h.take(), Emit::Release(b"(d2) at the prompt\n"));
        // Too much to hold: written at once (the caller releases what is held first).
        assert!(h.foreign(&[b'a'; HOLD_BYTES - 1], 0));
        assert!(!h.foreign(b"bc", 0));
        assert_eq!(h.take(), Emit::Release(&[b'a'; HOLD_BYTES - 1][..]));
        // dom0 writing nothing changes nothing.
        h.dom0_wrote(b"");
        assert!(h.foreign(b"x\n", 0));
    }
}
