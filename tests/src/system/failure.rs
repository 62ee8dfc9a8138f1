//! Failures: a message with the end of the console transcript and where the whole one is
//! saved, and `or_fail()` to panic with one.

use super::{System, TAIL_LINES};
use crate::transcript::tail;
use std::fmt;
use std::path::PathBuf;

/// A failed expectation: the message, the end of the transcript, and where the whole one is.
pub struct Failure {
    pub msg: String,
    pub tail: String,
    pub log: PathBuf,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n----- last {TAIL_LINES} lines of the console (whole transcript: {}) -----\n{}\n-----",
            self.msg,
            self.log.display(),
            self.tail
        )
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Failure {}

/// `result.or_fail()`: unwrap, or panic with the failure's full message.
pub trait OrFail<T> {
    fn or_fail(self) -> T;
}

impl<T> OrFail<T> for Result<T, Failure> {
    #[track_caller]
    fn or_fail(self) -> T {
        match self {
            Ok(v) => v,
            Err(f) => panic!("{f}"),
        }
    }
}

impl System {
    /// A failure carrying the end of the transcript; saves the log.
    pub fn failure(&self, msg: impl fmt::Display) -> Failure {
        self.reported.set(true);
        self.save_log();
        let mut tail_text = tail(&self.transcript(), TAIL_LINES);
        let err = self.err.text();
        if !err.trim().is_empty() {
            tail_text.push_str("\n----- QEMU stderr -----\n");
            tail_text.push_str(&tail(&err, 10));
        }
        Failure {
            msg: format!(
                "[{}] {msg}\n(after {:.1} s; QEMU: {})",
                self.name,
                self.started.elapsed().as_secs_f64(),
                self.command
            ),
            tail: tail_text,
            log: self.log_path(),
        }
    }

    /// Panic with `msg` and the end of the transcript.
    #[track_caller]
    pub fn fail(&mut self, msg: impl fmt::Display) -> ! {
        let f = self.failure(msg);
        panic!("{f}")
    }

    /// Assert `cond`, else fail with `msg` and the transcript.
    #[track_caller]
    pub fn check(&mut self, cond: bool, msg: impl fmt::Display) {
        if !cond {
            self.fail(msg)
        }
    }
}
