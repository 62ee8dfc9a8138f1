//! Debian's Linux as a PV domU on a real disk, through its own xen-blkfront and our blkback:
//! dom0 drives the machine's virtio disk and serves partition 2 (`linux-root`, ext4) as xvda;
//! the initramfs loads xen-blkfront and ext4, mounts `root=/dev/xvda rw` and switches to it
//! (`/etc/xen/linux-disk.cfg`). One boot of the machine, on a writable copy of the disk image
//! of its own, goes through:
//!
//! 1. Linux reaches its shell with /dev/xvda as `/` (ext4, rw), blkfront having negotiated
//!    flush, persistent grants and indirect descriptors with the back end;
//! 2. files written and `sync`ed survive `xl destroy` and a new `xl create`;
//! 3. `xl block-attach` of partition 3 as xvdb: /dev/xvdb appears with the partition's size,
//!    is formatted (busybox mke2fs) and mounted, a file written is read back from the disk
//!    (page cache dropped), then it is unmounted and `xl block-detach` takes it away: gone from
//!    the guest and from `xl block-list`;
//! 4. `xl shutdown` (Linux remounts its root read-only: ext4 writes its journal out and marks
//!    itself clean);
//! 5. the same root from a read-only disk (`xvda,r`, `root=/dev/xvda ro`) comes up read-only
//!    and refuses writes;
//! 6. a `root=` disk that never appears: /init gives up after `rootwait=` seconds, saying so,
//!    and the initramfs's shell comes up;
//! 7. dom0 powers the machine off, and on the host Debian's `e2fsck -fn` finds both
//!    filesystems clean and `debugfs` reads every file back from the image.
//!
//! Throughout, a console line saying that blkfront, the block layer or ext4 met an error, or
//! that the back end disconnected a disk, fails the test quoting it.
//!
//! Needs Debian's guests in dom0's initrd (`cargo xtask build --guests`; `cargo xtask test`
//! builds them).

use std::time::Duration;
use tests::disk::{self, E2fsprogs};
use tests::linux::{attach, detach, machine, sh, sh_says, Create, BOOT};
use tests::steps::{list_with_healthy_dom0, row, xl_errors};
use tests::{test_name, OrFail, System, EXIT_POWEROFF};

/// The domain's name in linux-disk.cfg.
const NAME: &str = "linux-disk";
/// The second disk: partition 3 of dom0's disk, attached as xvdb (Xen's device number 51728).
const SECOND: &str = "phy:/dev/vda3,xvdb,w";
const SECOND_DEVID: &str = "51728";
const ROOT_DEVID: &str = "51712";
/// Written to each disk beside a marker: a copy of busybox (2 MB, no two blocks alike, every
/// byte known to the host, which reads the original from the root filesystem's /bin).
const BUSYBOX: &str = "/bin/busybox";

/// A console line that says the disk path failed: Linux's blkfront (its messages for bad
/// responses and failed operations, and xenbus errors of the vbd device), the block layer,
/// ext4 and jbd2; the initramfs's /init giving up on the root; our back end disconnecting a
/// disk or refusing to connect it.
fn trouble(line: &str) -> bool {
    const SIGNS: [&str; 19] = [
        "op failed",
        "illegal number of responses",
        "response has incorrect id",
        "response references no pending request",
        "response has wrong operation",
        "couldn't be recycled",
        "disabled for further use",
        "vbd vbd-",
        "I/O error",
        "EXT4-fs error",
        "Remounting filesystem read-only",
        "JBD2: Detected IO errors",
        "Aborting journal",
        "staying in the initramfs",
        "init: modprobe",
        ": not connecting: ",
        ": disconnected: ",
        "Kernel panic",
        "BUG: ",
    ];
    SIGNS.iter().any(|s| line.contains(s))
}

fn fail_on_trouble(sys: &mut System, since: usize, when: &str) {
    let bad: Vec<String> = tests::transcript::complete_lines_since(&sys.transcript(), since)
        .map(|(_, l)| l.to_string())
        .filter(|l| trouble(l))
        .collect();
    if !bad.is_empty() {
        sys.fail(format!(
            "the disk path reported trouble {when}:\n  {}",
            bad.join("\n  ")
        ));
    }
}

/// Waits for console lines containing each of `wants` in turn (after `since`); fails at once,
/// quoting it, on a [`trouble`] line instead.
fn await_lines(sys: &mut System, since: usize, wants: &[&str], timeout: Duration) {
    for want in wants {
        let line = sys
            .wait_line_where(since, want, timeout, |l| l.contains(want) || trouble(l))
            .or_fail();
        if !line.contains(want) {
            sys.fail(format!(
                "waiting for {want:?}, the disk path reported trouble: {line}"
            ));
        }
    }
}

/// `xl create -c linux-disk.cfg` (with `overrides`) up to Linux's shell on its disk, failing
/// on a [`trouble`] line on the way; checks that / is the disk, mounted `mode` (`rw` or `ro`).
fn create_on_disk(sys: &mut System, overrides: &str, mode: &str) {
    let switching = format!("init: switching to the root on /dev/xvda (ext4, {mode})");
    let root_up = format!("busybox root up: /dev/xvda on / (ext4, {mode}");
    let mark = Create::new(NAME, &format!("{NAME}.cfg {overrides}"))
        .lines(&[
            "init: modules loaded: xen_blkfront xen_netfront crc32c_generic ext4",
            &switching,
            &root_up,
        ])
        .trouble(trouble)
        .to_shell(sys);
    let mounts = sh(sys, "cat /proc/mounts");
    let want = format!("/dev/xvda / ext4 {mode},");
    sys.check(
        mounts.lines().any(|l| l.starts_with(&want)),
        format!("/proc/mounts has no `{want}...`:\n{mounts}"),
    );
    fail_on_trouble(sys, mark, "while Linux came up on its disk");
}

/// Notes on stderr when each step starts (shown with the failure, or with --nocapture).
struct Steps(std::time::Instant);

impl Steps {
    fn start(&self, what: &str) {
        eprintln!(
            "[linux_disk] {:6.1} s: {what}",
            self.0.elapsed().as_secs_f64()
        );
    }
}

/// A token no earlier run left on a disk.
fn token(what: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{what}-{}-{}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn linux_runs_on_its_disk_keeps_its_files_and_hot_plugs_a_second_disk() {
    let name = test_name!();
    let steps = Steps(std::time::Instant::now());
    let mut sys = System::boot_to_prompt(machine(&name).own_disk());
    let start = sys.mark();
    let free_before = sys.free_memory();

    steps.start("boot: Linux on its disk");
    // 1. Up on its own disk, through blkfront with every feature the back end offers.
    create_on_disk(&mut sys, "", "rw");
    let dmesg = sh(&mut sys, "dmesg | grep -E 'blkfront|xvda'");
    for want in [
        "flush diskcache: enabled",
        "persistent grants: enabled",
        "indirect descriptors: enabled",
    ] {
        sys.check(
            dmesg.contains(want),
            format!("blkfront did not report {want:?}:\n{dmesg}"),
        );
    }

    steps.start("write, destroy, create, read back");
    // 2. Files written and synced survive `xl destroy` and a new `xl create`.
    let root_token = token("root");
    sh(
        &mut sys,
        &format!("echo {root_token} > /root/marker; cp {BUSYBOX} /root/copy; sync"),
    );
    sh_says(&mut sys, "cat /root/marker", &root_token);
    detach(&mut sys);
    let out = sys.run(&format!("xl destroy {NAME}"));
    sys.check(xl_errors(&out).is_empty(), format!("xl destroy: {out}"));
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, NAME).is_none(),
        format!("{NAME} listed after xl destroy: {rows:?}"),
    );
    create_on_disk(&mut sys, "", "rw");
    sh_says(&mut sys, "cat /root/marker", &root_token);
    sh_says(
        &mut sys,
        &format!("cmp {BUSYBOX} /root/copy && echo copy-same"),
        "copy-same",
    );

    steps.start("block-attach, format, use, block-detach");
    // 3. A second disk, attached to the running Linux, used and detached.
    detach(&mut sys);
    let out = sys.run(&format!("xl block-attach {NAME} {SECOND}"));
    sys.check(
        xl_errors(&out).is_empty(),
        format!("xl block-attach {NAME} {SECOND}: {out}"),
    );
    let listed = sys.run(&format!("xl block-list {NAME}"));
    sys.check(
        listed.contains(ROOT_DEVID) && listed.contains(SECOND_DEVID),
        format!("xl block-list after block-attach: {listed}"),
    );
    attach(&mut sys, NAME);
    let sectors = disk::partition(&disk::image(), 3)
        .map(|p| p.sectors())
        .unwrap_or_else(|e| sys.fail(e));
    sh_says(
        &mut sys,
        "i=0; while [ ! -b /dev/xvdb ] && [ $i -lt 300 ]; do usleep 100000; i=$((i+1)); done; \
         cat /sys/block/xvdb/size",
        &sectors.to_string(),
    );
    let second_token = token("xvdb");
    sh_says(
        &mut sys,
        "mke2fs -L second /dev/xvdb >/dev/null && mkdir -p /mnt/b && \
         mount -t ext2 /dev/xvdb /mnt/b && echo mounted",
        "mounted",
    );
    sh(
        &mut sys,
        &format!(
            "echo {second_token} > /mnt/b/marker; cp {BUSYBOX} /mnt/b/copy; sync; \
             echo 3 > /proc/sys/vm/drop_caches"
        ),
    );
    sh_says(&mut sys, "cat /mnt/b/marker", &second_token);
    sh_says(
        &mut sys,
        &format!("cmp {BUSYBOX} /mnt/b/copy && echo copy-same"),
        "copy-same",
    );
    sh_says(&mut sys, "umount /mnt/b && grep -c xvdb /proc/mounts", "0");
    detach(&mut sys);
    let out = sys.run(&format!("xl block-detach {NAME} xvdb"));
    sys.check(
        xl_errors(&out).is_empty(),
        format!("xl block-detach {NAME} xvdb: {out}"),
    );
    let listed = sys.run(&format!("xl block-list {NAME}"));
    sys.check(
        listed.contains(ROOT_DEVID) && !listed.contains(SECOND_DEVID),
        format!("xl block-list after block-detach: {listed}"),
    );
    attach(&mut sys, NAME);
    sh_says(
        &mut sys,
        "i=0; while [ -e /sys/block/xvdb ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done; \
         ls /sys/block | tr '\\n' ' '; echo; [ -e /dev/xvdb ] || echo xvdb-gone",
        "xvdb-gone",
    );
    let blocks = sh(&mut sys, "ls /sys/block");
    sys.check(
        !blocks.contains("xvdb") && blocks.contains("xvda"),
        format!("Linux's block devices after the detach: {blocks}"),
    );
    fail_on_trouble(&mut sys, start, "before the shutdown");
    detach(&mut sys);

    steps.start("shutdown, poweroff, host checks");
    // 4. A clean shutdown; the host finds both filesystems clean and every file there.
    let mark = sys.mark();
    sys.run(&format!("xl shutdown {NAME}"));
    await_lines(
        &mut sys,
        mark,
        &[
            "Requesting system poweroff",
            &format!("\"{NAME}\" shut down (poweroff)"),
        ],
        BOOT,
    );
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(
        row(&rows, NAME).is_none(),
        format!("{NAME} listed after its poweroff: {rows:?}"),
    );
    let free = sys.free_memory();
    sys.check(
        free == free_before,
        format!("free memory {free} MiB after Linux powered off, {free_before} before"),
    );
    fail_on_trouble(&mut sys, start, "up to the shutdown");

    // 5. The same root from a read-only disk, mounted read-only: it comes up (busybox's links
    //    are on the disk already), reads, refuses writes, and xl destroy leaves it untouched.
    steps.start("read-only root");
    create_on_disk(
        &mut sys,
        "\"disk=['phy:/dev/vda2,xvda,r']\" \"extra='console=hvc0 root=/dev/xvda ro'\"",
        "ro",
    );
    sh_says(&mut sys, "cat /root/marker", &root_token);
    let out = sh_says(&mut sys, "touch /root/new 2>&1 || echo refused", "refused");
    sys.check(
        out.contains("Read-only file system"),
        format!("touch on the read-only root: {out}"),
    );
    fail_on_trouble(&mut sys, start, "with the read-only root");
    detach(&mut sys);
    let out = sys.run(&format!("xl destroy {NAME}"));
    sys.check(xl_errors(&out).is_empty(), format!("xl destroy: {out}"));

    // 6. A root= disk that never comes: /init says so after rootwait= seconds and the
    //    initramfs's shell comes up instead.
    steps.start("a root disk that never appears");
    Create::linux("\"extra='console=hvc0 root=/dev/xvdz rootwait=2'\"")
        .lines(&[
            "init: root disk /dev/xvdz did not appear within 2 s (block devices: ); \
                  staying in the initramfs",
        ])
        .to_shell(&mut sys);
    sh_says(
        &mut sys,
        "awk '$2 == \"/\" { print \"root is \" $3 }' /proc/mounts",
        "root is rootfs",
    );
    detach(&mut sys);
    let out = sys.run("xl destroy linux");
    sys.check(
        xl_errors(&out).is_empty(),
        format!("xl destroy linux: {out}"),
    );

    let code = sys.poweroff();
    sys.check(
        code == EXIT_POWEROFF,
        format!("QEMU exited with {code} after dom0's poweroff"),
    );

    steps.start("host checks");
    let image = sys.disk_image().or_fail();
    let e2fs = E2fsprogs::find().unwrap_or_else(|e| sys.fail(e));
    let root = disk::ext4_partition(&image, disk::LINUX_ROOT).unwrap_or_else(|e| sys.fail(e));
    if let Err(e) = e2fs.e2fsck(&root) {
        sys.fail(format!("the root filesystem after Linux's shutdown: {e}"));
    }
    let stats = e2fs
        .debugfs(&root, "stats")
        .map(|s| String::from_utf8_lossy(&s).into_owned())
        .unwrap_or_else(|e| sys.fail(e));
    sys.check(
        stats
            .lines()
            .any(|l| l.starts_with("Filesystem state:") && l.trim_end().ends_with(" clean"))
            && !stats.contains("needs_recovery"),
        format!("the root filesystem was not unmounted cleanly:\n{stats}"),
    );
    let second = disk::ext4_partition(&image, 3).unwrap_or_else(|e| sys.fail(e));
    if let Err(e) = e2fs.e2fsck(&second) {
        sys.fail(format!("the second disk's ext2 after the detach: {e}"));
    }
    let busybox = e2fs.cat(&root, BUSYBOX).unwrap_or_else(|e| sys.fail(e));
    sys.check(
        busybox.len() > 1 << 20,
        format!("{BUSYBOX} in the image: {} bytes", busybox.len()),
    );
    for (fs, path, want) in [
        (
            &root,
            "/root/marker",
            format!("{root_token}\n").into_bytes(),
        ),
        (&root, "/root/copy", busybox.clone()),
        (&second, "/marker", format!("{second_token}\n").into_bytes()),
        (&second, "/copy", busybox.clone()),
    ] {
        let got = e2fs.cat(fs, path).unwrap_or_else(|e| sys.fail(e));
        sys.check(
            got == want,
            format!(
                "{path} in the image at byte {}: {} bytes, want {} ({:?}...)",
                fs.offset,
                got.len(),
                want.len(),
                String::from_utf8_lossy(&got[..got.len().min(40)])
            ),
        );
    }
}
