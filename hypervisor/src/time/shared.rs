//! Publishing time to guests: the vCPU's vcpu_info.time (in shared_info or where the guest
//! registered it) and the wall clock in shared_info, each written under its version seqlock
//! (odd while being updated).

use crate::arch::tsc;
use crate::mm::machine::{xen_read, xen_write, VcpuInfoAt};
use crate::mm::page_types::XenPage;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};
use guest_abi::shared_info::{SharedInfo, VcpuInfo, VcpuTimeInfo, XEN_PVCLOCK_TSC_STABLE_BIT};

/// Wall-clock time (ns since the epoch) at system time 0; 0 without an RTC.
static BOOT_WALL_NS: AtomicU64 = AtomicU64::new(0);

/// System time: ns since boot.
pub fn now() -> u64 {
    tsc::now_ns()
}

/// Record the wall clock read at boot (`unix_secs` at system time `at_ns`).
pub fn set_boot_wallclock(unix_secs: u64, at_ns: u64) {
    let wall = unix_secs
        .saturating_mul(super::NS_PER_SEC)
        .saturating_sub(at_ns);
    BOOT_WALL_NS.store(wall, Ordering::Relaxed);
}

// Every offset below is a field of shared_info, inside the page: the writes cannot fail.
fn version_bump(si: &XenPage, off: usize) -> u32 {
    let mut b = [0u8; 4];
    let _ = xen_read(si, off, &mut b);
    let v = u32::from_le_bytes(b).wrapping_add(1);
    let _ = xen_write(si, off, &v.to_le_bytes());
    core::sync::atomic::fence(Ordering::SeqCst);
    v
}

/// The same for a field of a vcpu_info.
fn vcpu_version_bump(vi: &VcpuInfoAt, off: usize) {
    let mut b = [0u8; 4];
    let _ = vi.read(off, &mut b);
    let v = u32::from_le_bytes(b).wrapping_add(1);
    let _ = vi.write(off, &v.to_le_bytes());
    core::sync::atomic::fence(Ordering::SeqCst);
}

/// Refresh the time in vcpu_info `vi` to the current TSC.
pub fn update_vcpu_time(vi: &VcpuInfoAt) {
    let base = offset_of!(VcpuInfo, time);
    let ver = base + offset_of!(VcpuTimeInfo, version);
    let (mul, shift) = tsc::scale();
    let ts = tsc::rdtsc();
    let t = VcpuTimeInfo {
        version: 0,
        pad0: 0,
        tsc_timestamp: ts,
        system_time: tsc::ns_at(ts),
        tsc_to_system_mul: mul,
        tsc_shift: shift,
        flags: XEN_PVCLOCK_TSC_STABLE_BIT,
        pad1: [0; 2],
    };
    vcpu_version_bump(vi, ver); // odd: being updated
    let bytes = zerocopy::IntoBytes::as_bytes(&t);
    let from = offset_of!(VcpuTimeInfo, tsc_timestamp);
    let _ = vi.write(base + from, &bytes[from..]);
    core::sync::atomic::fence(Ordering::SeqCst);
    vcpu_version_bump(vi, ver); // even: consistent
}

/// Fill a new domain's shared_info with the time: vcpu_info[0].time and the wall clock.
pub fn init_shared_info(si: &XenPage) {
    update_vcpu_time(&VcpuInfoAt::shared(si));
    let wall = BOOT_WALL_NS.load(Ordering::Relaxed);
    let ver = offset_of!(SharedInfo, wc_version);
    version_bump(si, ver);
    let secs = wall / super::NS_PER_SEC;
    let put = |off: usize, v: u32| {
        let _ = xen_write(si, off, &v.to_le_bytes());
    };
    put(offset_of!(SharedInfo, wc_sec), secs as u32);
    put(
        offset_of!(SharedInfo, wc_nsec),
        (wall % super::NS_PER_SEC) as u32,
    );
    put(offset_of!(SharedInfo, wc_sec_hi), (secs >> 32) as u32);
    core::sync::atomic::fence(Ordering::SeqCst);
    version_bump(si, ver);
}

/// Read the CMOS RTC (if any) for the guests' wall clock.
pub fn init_wallclock() {
    match crate::arch::rtc::read_unix_time() {
        Some(secs) => {
            set_boot_wallclock(secs, now());
            log::info!("wall clock from the RTC: {secs} s since the epoch");
        }
        None => log::info!("no RTC: guests' wall clock starts at 0"),
    }
}
