//! Linux x86_64 system calls: `syscall` with the number in rax and arguments in rdi, rsi,
//! rdx, r10, r8, r9; the kernel clobbers rcx and r11 and returns in rax, `-errno` on failure.

use core::arch::asm;
use core::fmt;

/// System call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const LSEEK: usize = 8;
    pub const MMAP: usize = 9;
    pub const MUNMAP: usize = 11;
    pub const IOCTL: usize = 16;
    pub const PREAD64: usize = 17;
    pub const PWRITE64: usize = 18;
    pub const NANOSLEEP: usize = 35;
    pub const FSYNC: usize = 74;
    pub const FDATASYNC: usize = 75;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const OPENAT: usize = 257;
}

/// `open` flags (x86_64 values of include/uapi/asm-generic/fcntl.h).
pub const O_RDONLY: usize = 0;
pub const O_WRONLY: usize = 1;
pub const O_RDWR: usize = 2;
pub const O_DIRECT: usize = 0o40000;
pub const O_CLOEXEC: usize = 0o2000000;
/// `openat`'s "relative to the working directory".
pub const AT_FDCWD: isize = -100;
pub const SEEK_SET: usize = 0;
pub const SEEK_END: usize = 2;
/// `mmap`.
pub const PROT_READ: usize = 1;
pub const PROT_WRITE: usize = 2;
pub const MAP_PRIVATE: usize = 0x02;
pub const MAP_ANONYMOUS: usize = 0x20;
/// `ioctl(fd, BLKGETSIZE64, &u64)`: the device's size in bytes, `_IOR(0x12, 114, size_t)`.
pub const BLKGETSIZE64: usize = 0x8008_1272;

/// A failed system call's error number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub usize);

impl Errno {
    /// Its symbolic name for the errors these programs meet; `E?` otherwise.
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            4 => "EINTR",
            5 => "EIO",
            6 => "ENXIO",
            9 => "EBADF",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            19 => "ENODEV",
            22 => "EINVAL",
            25 => "ENOTTY",
            28 => "ENOSPC",
            30 => "EROFS",
            38 => "ENOSYS",
            95 => "EOPNOTSUPP",
            _ => "E?",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "errno {} ({})", self.0, self.name())
    }
}

/// The kernel's return value as a result: -4095..-1 are errors.
fn result(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(ret.unsigned_abs()))
    } else {
        Ok(ret as usize)
    }
}

/// A raw system call with up to six arguments.
///
/// # Safety
/// The call must be one whose pointer arguments are valid for what the kernel does with
/// them, and which does not break the program's invariants (e.g. unmapping its memory).
#[inline(always)]
pub unsafe fn syscall6(n: usize, a: [usize; 6]) -> Result<usize, Errno> {
    let ret: isize;
    // SAFETY: the caller vouches for the call's effects; the kernel clobbers only rcx, r11
    // and rax and returns with the stack as it was.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    result(ret)
}

/// `openat(AT_FDCWD, path, flags, 0)`; `path` ends with a NUL.
pub fn open(path: &[u8], flags: usize) -> Result<usize, Errno> {
    if path.last() != Some(&0) {
        return Err(Errno(22));
    }
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    unsafe {
        syscall6(
            nr::OPENAT,
            [AT_FDCWD as usize, path.as_ptr() as usize, flags, 0, 0, 0],
        )
    }
}

/// `close(fd)`.
pub fn close(fd: usize) -> Result<usize, Errno> {
    // SAFETY: closes a descriptor; no memory is involved.
    unsafe { syscall6(nr::CLOSE, [fd, 0, 0, 0, 0, 0]) }
}

/// `write(fd, buf)`.
pub fn write(fd: usize, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most `buf.len()` bytes of `buf`.
    unsafe { syscall6(nr::WRITE, [fd, buf.as_ptr() as usize, buf.len(), 0, 0, 0]) }
}

/// `pread64(fd, buf, offset)`.
pub fn pread(fd: usize, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we own mutably.
    unsafe {
        syscall6(
            nr::PREAD64,
            [
                fd,
                buf.as_mut_ptr() as usize,
                buf.len(),
                offset as usize,
                0,
                0,
            ],
        )
    }
}

/// `pwrite64(fd, buf, offset)`.
pub fn pwrite(fd: usize, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most `buf.len()` bytes of `buf`.
    unsafe {
        syscall6(
            nr::PWRITE64,
            [fd, buf.as_ptr() as usize, buf.len(), offset as usize, 0, 0],
        )
    }
}

/// `lseek(fd, offset, whence)`.
pub fn lseek(fd: usize, offset: i64, whence: usize) -> Result<usize, Errno> {
    // SAFETY: moves a file offset; no memory is involved.
    unsafe { syscall6(nr::LSEEK, [fd, offset as usize, whence, 0, 0, 0]) }
}

/// `fdatasync(fd)`.
pub fn fdatasync(fd: usize) -> Result<usize, Errno> {
    // SAFETY: no memory is involved.
    unsafe { syscall6(nr::FDATASYNC, [fd, 0, 0, 0, 0, 0]) }
}

/// `fsync(fd)`.
pub fn fsync(fd: usize) -> Result<usize, Errno> {
    // SAFETY: no memory is involved.
    unsafe { syscall6(nr::FSYNC, [fd, 0, 0, 0, 0, 0]) }
}

/// The size in bytes of the block device open as `fd`: `BLKGETSIZE64`, else (not a block
/// device) the offset of its end.
pub fn device_size(fd: usize) -> Result<u64, Errno> {
    let mut size = 0u64;
    // SAFETY: BLKGETSIZE64 writes one u64 at the pointer, which points at `size`.
    let r = unsafe {
        syscall6(
            nr::IOCTL,
            [fd, BLKGETSIZE64, &mut size as *mut u64 as usize, 0, 0, 0],
        )
    };
    match r {
        Ok(_) => Ok(size),
        Err(_) => {
            let end = lseek(fd, 0, SEEK_END)?;
            lseek(fd, 0, SEEK_SET)?;
            Ok(end as u64)
        }
    }
}

/// Anonymous, private, zeroed, page-aligned memory of `len` bytes, mapped for good.
pub fn alloc_pages(len: usize) -> Result<&'static mut [u8], Errno> {
    // SAFETY: a new anonymous mapping chosen by the kernel touches none of our memory.
    let va = unsafe {
        syscall6(
            nr::MMAP,
            [
                0,
                len,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS,
                usize::MAX,
                0,
            ],
        )
    }?;
    // SAFETY: the kernel mapped `len` readable, writable bytes at `va`, used by nothing
    // else and never unmapped, so the slice is valid and unique for the program's life.
    Ok(unsafe { core::slice::from_raw_parts_mut(va as *mut u8, len) })
}

/// `nanosleep` for `ns` nanoseconds.
pub fn sleep_ns(ns: u64) -> Result<usize, Errno> {
    let ts = [ns / 1_000_000_000, ns % 1_000_000_000];
    // SAFETY: the kernel reads the timespec at `ts`; no remainder is asked for.
    unsafe { syscall6(nr::NANOSLEEP, [ts.as_ptr() as usize, 0, 0, 0, 0, 0]) }
}

/// `exit_group(code)`.
pub fn exit(code: i32) -> ! {
    // SAFETY: ends the process; nothing runs after it.
    unsafe {
        let _ = syscall6(nr::EXIT_GROUP, [code as usize, 0, 0, 0, 0, 0]);
    }
    unreachable_exit()
}

/// After `exit_group`, which does not return: halt the instruction stream.
fn unreachable_exit() -> ! {
    // SAFETY: ud2 raises #UD (SIGILL); it is only reached if exit_group returned.
    unsafe { asm!("ud2", options(nomem, nostack, noreturn)) }
}
