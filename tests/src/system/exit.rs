//! QEMU's exit statuses (docs/design.md) and what each one means.

/// QEMU exit statuses of docs/design.md (isa-debug-exit: `(value << 1) | 1`).
pub const EXIT_POWEROFF: i32 = 33;
pub const EXIT_DOM0_CRASH: i32 = 35;
pub const EXIT_PANIC: i32 = 37;
pub const EXIT_REBOOT: i32 = 39;

/// What a QEMU exit status means, per the design's table.
pub fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(EXIT_POWEROFF) => "33: dom0 powered off".into(),
        Some(EXIT_DOM0_CRASH) => "35: dom0 crashed".into(),
        Some(EXIT_PANIC) => "37: hypervisor panic".into(),
        Some(EXIT_REBOOT) => "39: dom0 rebooted".into(),
        Some(0) => "0: triple fault or reset (never success)".into(),
        Some(c) => format!("{c}: unexpected"),
        None => "killed by a signal".into(),
    }
}
