//! The process's start and end: `_start` (made by [`entry!`](crate::entry)), the argument
//! vector the kernel left on the stack, exit with `main`'s status, and the panic handler.

use core::ffi::CStr;

/// The arguments: what the kernel put at the initial stack pointer (`argc`, then `argc`
/// pointers to NUL-terminated strings).
pub struct Args {
    argc: usize,
    argv: *const *const u8,
}

impl Args {
    /// How many (the program's name included).
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Whether there are none (not even the program's name).
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `i` as bytes (without its NUL), if there is one.
    pub fn get(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: the kernel's argv holds `argc` valid pointers to NUL-terminated strings
        // that live (on the initial stack, never popped) as long as the process.
        unsafe {
            let p = *self.argv.add(i);
            if p.is_null() {
                return None;
            }
            Some(CStr::from_ptr(p.cast()).to_bytes())
        }
    }

    /// Argument `i` as text (`None` if missing or not UTF-8).
    pub fn str(&self, i: usize) -> Option<&'static str> {
        self.get(i).and_then(|b| core::str::from_utf8(b).ok())
    }
}

/// Called by `_start` with the initial stack pointer; runs `main` and exits with its status.
///
/// # Safety
/// `sp` must be the process's initial stack pointer as the kernel set it (`argc` at `sp`,
/// then the argument pointers).
pub unsafe fn start(sp: *const usize, main: fn(&Args) -> i32) -> ! {
    // SAFETY: per the caller, `sp` points at argc, followed by argv.
    let args = unsafe {
        Args {
            argc: *sp,
            argv: sp.add(1).cast(),
        }
    };
    crate::sys::exit(main(&args))
}

/// Defines the program's `_start`: it clears the frame pointer, passes the initial stack
/// pointer to [`start`] with the stack 16-byte aligned, and so runs `$main(&Args) -> i32`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __guest_tools_start(sp: *const usize) -> ! {
            let main: fn(&$crate::rt::Args) -> i32 = $main;
            // SAFETY: `_start` below passes the stack pointer the kernel entered with.
            unsafe { $crate::rt::start(sp, main) }
        }
        core::arch::global_asm!(
            ".globl _start",
            "_start:",
            "xor ebp, ebp",
            "mov rdi, rsp",
            "and rsp, -16",
            "call {start}",
            "ud2",
            start = sym __guest_tools_start,
        );
    };
}

/// The unwinding personality routine `core`'s prebuilt objects refer to (their unwind
/// tables name it). Nothing unwinds here (panic = "abort" in every profile), so it is never
/// called; it only satisfies the linker.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut w = crate::out::Out::new(2);
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("panic: {info}\n"));
    w.flush();
    crate::sys::exit(101)
}
