//! Harness for driving QEMU over the serial console.
//!
//! [`System::boot`] starts `qemu-system-x86_64` on the images `cargo xtask build` made
//! (`target/images/`, QEMU arguments from `qemu-args.txt`), reads the serial console on a thread
//! into a transcript, and lets a test type into the dom0 shell like a person:
//!
//! ```no_run
//! use tests::{BootOptions, System, test_name};
//! let mut sys = System::boot_to_prompt(BootOptions::new(&test_name!()));
//! let rows = sys.xl_list();
//! assert_eq!(rows[0].name, "Domain-0");
//! assert_eq!(sys.poweroff(), 33);
//! ```
//!
//! Every wait has a timeout and every system a hard one (QEMU is killed). On failure the test
//! panics with the last lines of the console; the whole transcript is always saved to
//! `target/e2e-logs/<test>.log`. Environment: `E2E_IMAGES` (images dir), `E2E_QEMU` (QEMU
//! binary), `E2E_TIMEOUT_SCALE` (multiply every timeout), `E2E_ECHO` (copy the console to
//! stderr).
pub mod canary;
pub mod disk;
pub mod fat;
pub mod launch;
pub mod linux;
pub mod qmp;
pub mod steps;
pub mod system;
pub mod transcript;
pub mod xl;

pub use launch::{example_config, PcBoot, NOT_BUILT};
pub use system::{
    describe_exit, BootOptions, Failure, OrFail, System, BOOT_TIMEOUT, CMD_TIMEOUT, EXIT_POWEROFF,
    PROMPT,
};
pub use xl::{XlInfo, XlRow};
