//! Error numbers returned by hypercalls.
//!
//! Every hypercall returns a signed 64-bit value in `rax`; a value in
//! `-4095..=-1` is a negated errno using the Linux numbering (as Xen does on
//! x86). [`Errno`] holds the positive number.

use core::fmt;

/// A positive Linux errno value, as carried (negated) in a hypercall return.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(transparent)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $doc:literal;)*) => {
        impl Errno {
            $(
                #[doc = $doc]
                pub const $name: Errno = Errno($val);
            )*

            /// The symbolic name (`"EPERM"`), or `"E?"` for an unknown number.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($val => stringify!($name),)*
                    _ => "E?",
                }
            }

            /// Looks an errno up by its symbolic name (`"EINVAL"`), aliases
            /// included.
            pub fn from_name(name: &str) -> Option<Errno> {
                match name {
                    $(stringify!($name) => Some(Errno::$name),)*
                    "EWOULDBLOCK" => Some(Errno::EWOULDBLOCK),
                    "EDEADLOCK" => Some(Errno::EDEADLOCK),
                    _ => None,
                }
            }

            /// Every errno this crate names, in numeric order.
            pub const ALL: &'static [Errno] = &[$(Errno::$name,)*];
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted.";
    ENOENT = 2, "No such file or directory (no such entry).";
    ESRCH = 3, "No such process (no such domain).";
    EINTR = 4, "Interrupted call.";
    EIO = 5, "I/O error.";
    ENXIO = 6, "No such device or address.";
    E2BIG = 7, "Argument list too long.";
    ENOEXEC = 8, "Exec format error.";
    EBADF = 9, "Bad file number.";
    ECHILD = 10, "No child processes.";
    EAGAIN = 11, "Try again.";
    ENOMEM = 12, "Out of memory.";
    EACCES = 13, "Permission denied.";
    EFAULT = 14, "Bad address.";
    EBUSY = 16, "Device or resource busy.";
    EEXIST = 17, "Already exists.";
    EXDEV = 18, "Cross-device link.";
    ENODEV = 19, "No such device.";
    ENOTDIR = 20, "Not a directory.";
    EISDIR = 21, "Is a directory.";
    EINVAL = 22, "Invalid argument.";
    ENFILE = 23, "File table overflow.";
    EMFILE = 24, "Too many open files.";
    ENOTTY = 25, "Not a typewriter.";
    EFBIG = 27, "File too large.";
    ENOSPC = 28, "No space left.";
    ESPIPE = 29, "Illegal seek.";
    EROFS = 30, "Read-only file system.";
    EMLINK = 31, "Too many links.";
    EPIPE = 32, "Broken pipe.";
    EDOM = 33, "Argument out of domain.";
    ERANGE = 34, "Result out of range.";
    EDEADLK = 35, "Resource deadlock would occur.";
    ENAMETOOLONG = 36, "Name too long.";
    ENOLCK = 37, "No record locks available.";
    ENOSYS = 38, "Function not implemented.";
    ENOTEMPTY = 39, "Directory not empty.";
    ELOOP = 40, "Too many symbolic links.";
    ENOMSG = 42, "No message of the desired type.";
    EIDRM = 43, "Identifier removed.";
    ENODATA = 61, "No data available.";
    ETIME = 62, "Timer expired.";
    ENOLINK = 67, "Link has been severed.";
    EPROTO = 71, "Protocol error.";
    EBADMSG = 74, "Not a data message.";
    EOVERFLOW = 75, "Value too large for the data type.";
    EILSEQ = 84, "Illegal byte sequence.";
    ERESTART = 85, "Interrupted call, to be restarted (the hypervisor's own).";
    EUSERS = 87, "Too many users.";
    ENOTSOCK = 88, "Not a socket.";
    EMSGSIZE = 90, "Message too long.";
    ENOPROTOOPT = 92, "Protocol not available.";
    EOPNOTSUPP = 95, "Operation not supported.";
    EAFNOSUPPORT = 97, "Address family not supported.";
    EADDRINUSE = 98, "Address already in use.";
    EADDRNOTAVAIL = 99, "Cannot assign requested address.";
    ENOBUFS = 105, "No buffer space available.";
    EISCONN = 106, "Already connected.";
    ENOTCONN = 107, "Not connected.";
    ETIMEDOUT = 110, "Timed out.";
    ECONNREFUSED = 111, "Connection refused.";
    EALREADY = 114, "Operation already in progress.";
    EINPROGRESS = 115, "Operation now in progress.";
    ESTALE = 116, "Stale handle.";
    EDQUOT = 122, "Quota exceeded.";
}

impl Errno {
    /// Alias of [`Errno::EAGAIN`].
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// Alias of [`Errno::EDEADLK`].
    pub const EDEADLOCK: Errno = Errno::EDEADLK;

    /// The hypercall return value for this error: the negated errno.
    pub const fn to_ret(self) -> i64 {
        -(self.0 as i64)
    }

    /// Splits a raw hypercall return value: a negative value is an error,
    /// anything else is the (non-negative) result.
    pub const fn from_ret(ret: i64) -> Result<u64, Errno> {
        if ret < 0 {
            // Clamp absurd values rather than overflow; any negative return
            // is an error.
            let e = if ret < -(i32::MAX as i64) {
                i32::MAX
            } else {
                (-ret) as i32
            };
            Err(Errno(e))
        } else {
            Ok(ret as u64)
        }
    }
}

impl From<Errno> for i64 {
    fn from(e: Errno) -> i64 {
        e.to_ret()
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "E?" => write!(f, "errno {}", self.0),
            n => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        assert_eq!(Errno::EINVAL.to_ret(), -22);
        assert_eq!(Errno::from_ret(-22), Err(Errno::EINVAL));
        assert_eq!(Errno::from_ret(5), Ok(5));
        assert_eq!(Errno::from_ret(i64::MIN), Err(Errno(i32::MAX)));
        assert_eq!(Errno::EPERM.name(), "EPERM");
        assert_eq!(Errno::from_name("ENOSPC"), Some(Errno::ENOSPC));
        assert_eq!(Errno(9999).name(), "E?");
        for w in Errno::ALL.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
    }
}
