//! Kernel command line handling (pure logic, host-tested).

use core::fmt;
use guest_abi::errno::Errno;

/// The command line stored in `start_info.cmd_line`: the bytes before the first NUL, cut at the
/// first invalid UTF-8 sequence.
pub fn from_raw(raw: &[u8]) -> &str {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let bytes = &raw[..len];
    match core::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            // The prefix up to valid_up_to() is valid UTF-8 by definition.
            core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("")
        }
    }
}

/// The value of the first `key=value` word of `cmdline` whose key is `key`. A bare `key`
/// yields `Some("")`.
pub fn param<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split_ascii_whitespace().find_map(|word| {
        let (k, v) = word.split_once('=').unwrap_or((word, ""));
        (k == key).then_some(v)
    })
}

/// A self-test a domU performs when its command line says `test=<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest<'a> {
    /// `test=domctl`: call domctl (getdomaininfo) unprivileged; expect -EPERM.
    Domctl,
    /// `test=badhcall`: make hypercall 60 (unused); expect -ENOSYS.
    BadHcall,
    /// `test=hlt`: execute `hlt` with no trap table; expect the domain to be crashed.
    Hlt,
    /// `test=cli`: execute `cli`.
    Cli,
    /// `test=movcr3`: execute `mov %rax, %cr3`.
    MovCr3,
    /// A `test=` value we do not know.
    Unknown(&'a str),
}

impl<'a> SelfTest<'a> {
    /// The self-test requested by `cmdline`, if any.
    pub fn from_cmdline(cmdline: &'a str) -> Option<SelfTest<'a>> {
        Some(match param(cmdline, "test")? {
            "domctl" => SelfTest::Domctl,
            "badhcall" => SelfTest::BadHcall,
            "hlt" => SelfTest::Hlt,
            "cli" => SelfTest::Cli,
            "movcr3" => SelfTest::MovCr3,
            other => SelfTest::Unknown(other),
        })
    }
}

/// Formats a hypercall result as the self-tests print it: `0` (or the value) on success,
/// `-<errno> (<NAME>)` on failure, e.g. `-1 (EPERM)`.
pub struct HcallResult(pub Result<u64, Errno>);

impl fmt::Display for HcallResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(v) => write!(f, "{}", v as i64),
            Err(e) => write!(f, "-{} ({})", e.0, e.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_cmdline_stops_at_nul_and_bad_utf8() {
        let mut raw = [0u8; 32];
        raw[..11].copy_from_slice(b"test=domctl");
        assert_eq!(from_raw(&raw), "test=domctl");
        assert_eq!(from_raw(b"abc"), "abc");
        assert_eq!(from_raw(b"ab\xffcd\0"), "ab");
        assert_eq!(from_raw(&[0u8; 8]), "");
    }

    #[test]
    fn params() {
        let c = "console=hvc0  test=hlt quiet";
        assert_eq!(param(c, "test"), Some("hlt"));
        assert_eq!(param(c, "quiet"), Some(""));
        assert_eq!(param(c, "console"), Some("hvc0"));
        assert_eq!(param(c, "tes"), None);
        assert_eq!(param("", "test"), None);
        assert_eq!(param("a=b=c", "a"), Some("b=c"));
    }

    #[test]
    fn self_tests() {
        assert_eq!(
            SelfTest::from_cmdline("test=domctl"),
            Some(SelfTest::Domctl)
        );
        assert_eq!(
            SelfTest::from_cmdline("x test=badhcall"),
            Some(SelfTest::BadHcall)
        );
        assert_eq!(SelfTest::from_cmdline("test=hlt"), Some(SelfTest::Hlt));
        assert_eq!(SelfTest::from_cmdline("test=cli"), Some(SelfTest::Cli));
        assert_eq!(
            SelfTest::from_cmdline("test=movcr3"),
            Some(SelfTest::MovCr3)
        );
        assert_eq!(
            SelfTest::from_cmdline("test=zap"),
            Some(SelfTest::Unknown("zap"))
        );
        assert_eq!(SelfTest::from_cmdline("hello world"), None);
    }

    #[test]
    fn result_format() {
        assert_eq!(format!("{}", HcallResult(Err(Errno::EPERM))), "-1 (EPERM)");
        assert_eq!(
            format!("{}", HcallResult(Err(Errno::ENOSYS))),
            "-38 (ENOSYS)"
        );
        assert_eq!(format!("{}", HcallResult(Ok(0))), "0");
    }
}
