//! The end-to-end tests: each boots the real images in QEMU (`cargo xtask build` first) and
//! drives the dom0 shell over the serial console. One module per area.
//!
//! Run: `cargo xtask test --e2e-only [FILTER]`, or `cargo test -p tests --test e2e`.
//! Transcripts: `target/e2e-logs/<test>.log`.

mod bad_config;
mod bench_smoke;
mod blk_front;
mod blkback;
mod boot;
mod console;
mod crash;
mod devices;
mod dom0_disk;
mod dom0_fs;
mod domu;
mod events;
mod exhaustion;
mod fuzz;
mod grants;
mod guest_errors;
mod hostile;
mod iso;
mod linux;
mod linux_disk;
mod linux_net;
mod linux_smp;
mod memory_sizes;
mod netfront;
mod network;
mod poweroff;
mod pv_shutdown;
mod pvgrub;
mod pvgrub_disk;
mod pvmmu;
mod sched;
mod selftest;
mod smp_checked;
mod smp_credit;
mod smp_guest;
mod smp_hostile;
mod smp_races;
mod smp_sched;
mod soak;
mod suspend;
mod time;
mod usermode;
mod xenstore;
mod xl_bounds;
mod xl_config;
mod xl_create;
mod xl_lifecycle;
mod xl_manage;
mod xl_many;
mod xl_memory;
mod xl_report;
mod xl_top;
mod xs_flood;
