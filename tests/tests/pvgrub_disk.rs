//! PV-GRUB with a disk (issue 15, user test 2): Debian's grub-x86_64-xen.bin, given the
//! machine's `boot` partition read-only as `xvda` (`/etc/xen/pvgrub-disk.cfg`), reads it
//! through its own PV disk driver and our blkback, finds `/boot/grub/grub.cfg` there by
//! itself (its built-in config searches every disk), boots the menu entry after its timeout
//! with nothing typed, and loads the kernel and initrd stored beside it; Linux comes up with
//! grub.cfg's command line and reaches its busybox shell. The kernel that runs is the one on
//! the disk (its release read from the image on the host). At the hand-over GRUB closes its
//! front end and the back end waits again: Linux's own blkfront (loaded by the initramfs)
//! connects to the same disk, and the kernel read back through it matches the image's.
//!
//! The edge case: the same config with a disk holding no filesystem (the raw `pvtest`
//! partition) stops at `grub>` with GRUB's own errors; GRUB still sees the disk and its size,
//! and `xl destroy` takes it all away. Then PV-GRUB destroyed while it reads the kernel
//! through blkback leaves dom0 and its disk unharmed, every page back.
//!
//! xtask makes the boot partition (`xtask/src/disk.rs`, `boot_tree`): `/boot/vmlinuz` and
//! `/boot/initrd.img` are the Linux guest's kernel and initramfs, `/boot/grub/grub.cfg` is
//! `dom0-tools/examples/debian/pvgrub-disk/grub.cfg`. Needs Debian's guests in dom0's initrd
//! (`cargo xtask build --guests` before running this file alone).

use std::time::{Duration, Instant};
use tests::disk::{self, E2fsprogs};
use tests::steps::{boot, list_with_healthy_dom0, row};
use tests::{test_name, OrFail, System};

/// From `xl create` to Linux's shell through GRUB (about 25 s here, most of it GRUB
/// decompressing the kernel; generous for CI).
const BOOT: Duration = Duration::from_secs(300);
const CMD: Duration = Duration::from_secs(60);
/// Linux's shell prompt (the initramfs's /etc/profile).
const LINUX_PROMPT: &str = "linux# ";
/// The line GRUB's built-in config prints when it finds the disk's grub.cfg.
const FOUND: &str = "Reading (xen/xvda)/boot/grub/grub.cfg";
/// The disk's menu entry, as GRUB announces it.
const BOOTING: &str = "Booting `Debian Linux from the boot disk'";
/// The vbd of `xvda` (Xen's device number 202 << 8).
const XVDA: u32 = 51712;

/// What the boot partition of the image holds, read on the host: the kernel's release (from
/// its bzImage header), the arguments grub.cfg's `linux` line gives it, the partition's
/// size, and the kernel's size and CRC-32.
struct BootDisk {
    release: String,
    args: String,
    sectors: u64,
    vmlinuz_len: usize,
    vmlinuz_crc32: u32,
}

fn boot_disk() -> Result<BootDisk, String> {
    let tools = E2fsprogs::find()?;
    let fs = disk::ext4_partition(&disk::image(), disk::BOOT)?;
    let sectors = disk::partition(&disk::image(), disk::BOOT)?.sectors();
    let vmlinuz = tools.cat(&fs, "/boot/vmlinuz")?;
    let release = bzimage_release(&vmlinuz).ok_or("/boot/vmlinuz: no bzImage version")?;
    let cfg = String::from_utf8(tools.cat(&fs, "/boot/grub/grub.cfg")?)
        .map_err(|e| format!("/boot/grub/grub.cfg: {e}"))?;
    let args = cfg
        .lines()
        .find_map(|l| l.trim().strip_prefix("linux /boot/vmlinuz "))
        .ok_or(format!(
            "grub.cfg has no `linux /boot/vmlinuz ...` line:\n{cfg}"
        ))?
        .trim()
        .to_string();
    Ok(BootDisk {
        release,
        args,
        sectors,
        vmlinuz_len: vmlinuz.len(),
        vmlinuz_crc32: crc32(&vmlinuz),
    })
}

/// CRC-32 (IEEE 802.3, zlib's; busybox's `crc32` applet prints it as 8 hex digits).
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        (0..8).fold(crc ^ u32::from(b), |c, _| {
            if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            }
        })
    })
}

/// The release (`uname -r`) of a bzImage: the first word of the string at 0x200 plus the
/// setup header's `kernel_version` (offset 0x20E).
fn bzimage_release(image: &[u8]) -> Option<String> {
    let at = 0x200 + usize::from(u16::from_le_bytes([*image.get(0x20E)?, *image.get(0x20F)?]));
    let s = image.get(at..)?;
    let end = s.iter().position(|&b| b == 0 || b == b' ')?;
    let release = std::str::from_utf8(&s[..end]).ok()?;
    (!release.is_empty()).then(|| release.to_string())
}

/// Expect each of `wants` in order on the console.
fn expect_all(sys: &mut System, wants: &[&str], timeout: Duration) {
    for want in wants {
        if let Err(f) = sys.expect(want, timeout) {
            sys.fail(f);
        }
    }
}

/// The domain id from `Started domain NAME (id=N)` after `mark`.
fn started_id(sys: &mut System, mark: usize, name: &str) -> u32 {
    let line = sys
        .wait_line(mark, &format!("Started domain {name} (id="), CMD)
        .or_fail();
    let id = line
        .rsplit_once("(id=")
        .and_then(|(_, r)| r.trim_end_matches(')').parse().ok());
    id.unwrap_or_else(|| sys.fail(format!("no domain id in {line:?}")))
}

/// Type `cmd` into Linux's shell and return the lines it printed up to the next prompt,
/// trimmed, the echo dropped.
fn linux(sys: &mut System, cmd: &str) -> Vec<String> {
    sys.send(&format!("{cmd}\n")).or_fail();
    match sys.expect(LINUX_PROMPT, CMD) {
        Ok(out) => out
            .replace('\r', "")
            .lines()
            .filter(|l| !l.contains(cmd))
            .map(|l| l.trim().to_string())
            .collect(),
        Err(f) => sys.fail(format!("{} (after typing {cmd:?} into Linux)", f.msg)),
    }
}

/// `cmd` typed into Linux printed a line equal to `want`.
fn linux_says(sys: &mut System, cmd: &str, want: &str) {
    let out = linux(sys, cmd);
    sys.check(
        out.iter().any(|l| l == want),
        format!("`{cmd}` in Linux printed {out:?}, want a line {want:?}"),
    );
}

/// Type `cmd` at `grub>` and return what GRUB printed up to the next prompt.
fn grub(sys: &mut System, cmd: &str) -> String {
    sys.send(&format!("{cmd}\r")).or_fail();
    match sys.expect("grub> ", CMD) {
        Ok(out) => out,
        Err(f) => sys.fail(format!("{} (after typing {cmd:?} at grub>)", f.msg)),
    }
}

/// Ctrl-] detaches from the console; dom0's prompt comes back.
fn detach(sys: &mut System) {
    sys.send("\x1d").or_fail();
    sys.expect_prompt().or_fail();
}

/// A XenStore node's value (a directory's is empty), or `None` if it is not there.
fn xs_read(sys: &mut System, path: &str) -> Option<String> {
    let out = sys.run(&format!("xenstore-read {path}"));
    if out.contains(&format!("xenstore-read: {path}: ENOENT")) {
        return None;
    }
    Some(out.lines().last().unwrap_or("").trim().to_string())
}

/// `xl destroy NAME`: the domain, its vbd's back-end and front-end directories and every
/// page are gone, dom0 healthy.
fn destroy_and_check_gone(sys: &mut System, name: &str, id: u32, free_before: u64) {
    let dirs = [
        format!("/local/domain/0/backend/vbd/{id}/{XVDA}"),
        format!("/local/domain/{id}/device/vbd/{XVDA}"),
    ];
    for path in &dirs {
        let there = xs_read(sys, path);
        sys.check(there.is_some(), format!("{path} missing before xl destroy"));
    }
    let out = sys.run(&format!("xl destroy {name}"));
    sys.check(!out.contains("xl:"), format!("xl destroy {name}: {out}"));
    let rows = list_with_healthy_dom0(sys);
    sys.check(
        row(&rows, name).is_none(),
        format!("{name} still listed after xl destroy: {rows:?}"),
    );
    for path in dirs.iter().chain([&format!("/local/domain/{id}")]) {
        let left = xs_read(sys, path);
        sys.check(
            left.is_none(),
            format!("{path} left after xl destroy: {left:?}"),
        );
    }
    let free = sys.free_memory();
    sys.check(
        free == free_before,
        format!("free memory {free} MiB after destroying {name}, {free_before} before"),
    );
}

#[test]
fn pvgrub_finds_grub_cfg_on_its_disk_and_boots_the_linux_stored_there() {
    let on_disk = boot_disk().unwrap_or_else(|e| panic!("the boot partition of the image: {e}"));
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let started = Instant::now();
    let mark = sys.mark();
    sys.send("xl create /etc/xen/pvgrub-disk.cfg -c\n")
        .or_fail();
    expect_all(
        &mut sys,
        &["Started domain pvgrub-disk (id=", "Welcome to GRUB!", FOUND],
        BOOT,
    );
    let found = started.elapsed();
    // Nothing typed: the disk's menu entry boots after its timeout.
    expect_all(
        &mut sys,
        &[
            BOOTING,
            "pvgrub-disk: loading /boot/vmlinuz",
            "pvgrub-disk: loading /boot/initrd.img",
            &format!("Linux version {} ", on_disk.release),
            &format!("Command line: {}", on_disk.args),
        ],
        BOOT,
    );
    let loaded = started.elapsed();
    expect_all(
        &mut sys,
        &[
            &format!("busybox initramfs up: Linux {}", on_disk.release),
            LINUX_PROMPT,
        ],
        BOOT,
    );
    let up = started.elapsed();
    let id = started_id(&mut sys, mark, "pvgrub-disk");
    // Between finding grub.cfg and Linux: no prompt, no GRUB error (before, its built-in
    // config reports the chain-loaders it looked for and did not find).
    let seen = sys.since(mark);
    let grub_part = seen
        .split_once(FOUND)
        .and_then(|(_, rest)| rest.split_once("Linux version"))
        .map_or("", |(g, _)| g);
    sys.check(
        !grub_part.contains("grub> ") && !grub_part.contains("error: "),
        format!("GRUB stopped at its prompt or printed an error on the way: {grub_part:?}"),
    );
    // The kernel running is the disk's, with grub.cfg's command line.
    linux_says(&mut sys, "uname -r", &on_disk.release);
    linux_says(&mut sys, "cat /proc/cmdline", &on_disk.args);
    // GRUB closed its front end at the hand-over (the back end went Closed, then InitWait
    // again) and Linux's blkfront (loaded by the initramfs) took the same disk over: its
    // size is the partition's, and the kernel on it reads back whole.
    linux_says(
        &mut sys,
        "cat /sys/block/xvda/size",
        &on_disk.sectors.to_string(),
    );
    linux_says(
        &mut sys,
        "mkdir -p /mnt && mount -t ext4 -o ro /dev/xvda /mnt && echo mounted",
        "mounted",
    );
    linux_says(
        &mut sys,
        "wc -c < /mnt/boot/vmlinuz",
        &on_disk.vmlinuz_len.to_string(),
    );
    linux_says(
        &mut sys,
        "crc32 /mnt/boot/vmlinuz",
        &format!("{:08x} /mnt/boot/vmlinuz", on_disk.vmlinuz_crc32),
    );
    linux_says(&mut sys, "umount /mnt && echo unmounted", "unmounted");
    detach(&mut sys);
    for (end, path) in [
        (
            "back",
            format!("/local/domain/0/backend/vbd/{id}/{XVDA}/state"),
        ),
        (
            "front",
            format!("/local/domain/{id}/device/vbd/{XVDA}/state"),
        ),
    ] {
        let state = xs_read(&mut sys, &path);
        sys.check(
            state.as_deref() == Some("4"),
            format!("{path}: the {end} end is {state:?} with Linux's blkfront, want 4 (Connected)"),
        );
    }
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, "pvgrub-disk").is_some_and(|r| r.mem == 128),
        format!("pvgrub-disk with 128 MiB in xl list: {rows:?}"),
    );
    destroy_and_check_gone(&mut sys, "pvgrub-disk", id, free_before);
    eprintln!(
        "pvgrub-disk: grub.cfg found {:.1} s, kernel and initrd loaded {:.1} s, Linux's shell {:.1} s after xl create",
        found.as_secs_f64(),
        loaded.as_secs_f64(),
        up.as_secs_f64()
    );
    sys.poweroff();
}

#[test]
fn pvgrub_with_a_disk_without_grub_cfg_stops_at_its_prompt_and_is_destroyed_cleanly() {
    let mut sys = boot(&test_name!());
    let free_before = sys.free_memory();
    let mark = sys.mark();
    sys.send(&format!(
        "xl create /etc/xen/pvgrub-disk.cfg -c \"disk=['phy:/dev/vda{},xvda,r']\"\n",
        disk::PVTEST
    ))
    .or_fail();
    expect_all(
        &mut sys,
        &["Started domain pvgrub-disk (id=", "Welcome to GRUB!"],
        BOOT,
    );
    let before_prompt = match sys.expect("grub> ", BOOT) {
        Ok(out) => out,
        Err(f) => sys.fail(f),
    };
    let id = started_id(&mut sys, mark, "pvgrub-disk");
    sys.check(
        before_prompt.contains("error: no such device: /boot/grub/grub.cfg")
            && !before_prompt.contains("Reading ("),
        format!("GRUB's search for /boot/grub/grub.cfg on a disk without one: {before_prompt:?}"),
    );
    // GRUB sees the disk (through blkback: its size is the partition's) but no filesystem.
    let sectors = disk::partition(&disk::image(), disk::PVTEST)
        .unwrap_or_else(|e| sys.fail(e))
        .sectors();
    let out = grub(&mut sys, "ls");
    sys.check(out.contains("(xen/xvda)"), format!("GRUB's ls: {out:?}"));
    // GRUB wraps at 80 columns: compare with the whitespace collapsed.
    let out = grub(&mut sys, "ls (xen/xvda)");
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let size = format!("Total size {}KiB", sectors / 2);
    sys.check(
        flat.contains("No known filesystem detected") && flat.contains(&size),
        format!("GRUB's ls (xen/xvda): {out:?}, want no filesystem and {size:?}"),
    );
    let out = grub(&mut sys, "cat (xen/xvda)/boot/grub/grub.cfg");
    sys.check(
        out.contains("error: unknown filesystem."),
        format!("grub.cfg from a disk without a filesystem: {out:?}"),
    );
    let out = grub(&mut sys, "echo still-answering");
    sys.check(
        out.contains("\nstill-answering"),
        format!("GRUB after its errors: {out:?}"),
    );
    detach(&mut sys);
    destroy_and_check_gone(&mut sys, "pvgrub-disk", id, free_before);

    // The back end serves the next one: PV-GRUB finds the boot disk's grub.cfg and is
    // destroyed while it reads the kernel through blkback.
    let mark = sys.mark();
    sys.send("xl create /etc/xen/pvgrub-disk.cfg -c\n")
        .or_fail();
    expect_all(
        &mut sys,
        &[
            "Started domain pvgrub-disk (id=",
            FOUND,
            BOOTING,
            "pvgrub-disk: loading /boot/vmlinuz",
        ],
        BOOT,
    );
    let id = started_id(&mut sys, mark, "pvgrub-disk");
    detach(&mut sys);
    destroy_and_check_gone(&mut sys, "pvgrub-disk", id, free_before);
    // dom0 still reads the disk it lent: the boot filesystem's ext4 magic.
    let out = sys.run(&format!("hexdump -C -s 1080 -n 2 /dev/vda{}", disk::BOOT));
    sys.check(
        out.contains("53 ef"),
        format!("dom0 reading /dev/vda{} after: {out:?}", disk::BOOT),
    );
    sys.poweroff();
}
