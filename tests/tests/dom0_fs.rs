//! dom0's own storage (issue 18): the FAT32 partition `xen-dom0` of its disk, mounted at
//! boot at `/etc/xen` and `/var/lib/xen`. dom0's shell writes, lists, reads and removes files
//! there, `xl create` takes a config from there; after a poweroff the same disk boots again
//! and everything is still there; the host reads the files back with Debian's mtools and
//! `fsck.fat` finds the filesystem clean, after each boot.

use tests::fat::{Fat, FatTools};
use tests::steps::{create_ok, list_with_healthy_dom0, row};
use tests::system::System;
use tests::{test_name, BootOptions};

/// `cmd`'s output must contain `want`.
fn run_has(sys: &mut System, cmd: &str, want: &str) -> String {
    let out = sys.run(cmd);
    sys.check(
        out.contains(want),
        format!("`{cmd}`: {want:?} not in {out:?}"),
    );
    out
}

/// The machine's disk once QEMU has gone, kept as `<its directory>.keep.img` (the
/// machine's own copy goes with it).
fn keep_disk(sys: &mut System) -> std::path::PathBuf {
    let code = sys.poweroff();
    sys.check(code == 33, format!("poweroff: QEMU exited with {code}"));
    let image = sys.disk_image().unwrap_or_else(|f| panic!("{f}"));
    // Beside the copy's directory, which goes with the machine.
    let dir = image.parent().unwrap_or(&image);
    let keep = dir.with_extension("keep.img");
    let out = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(&image)
        .arg(&keep)
        .output()
        .expect("cp");
    sys.check(out.status.success(), format!("cp of the disk: {out:?}"));
    keep
}

/// The host's view: clean by fsck.fat, `note` holding `token`.
fn host_checks(sys: &mut System, image: &std::path::Path, token: &str) -> (FatTools, Fat) {
    let tools = FatTools::find().unwrap_or_else(|e| sys.fail(e));
    let vol = Fat::in_image(image).unwrap_or_else(|e| sys.fail(e));
    if let Err(e) = tools.fsck(&vol) {
        sys.fail(format!("the storage is not clean: {e}"));
    }
    let note = tools.cat(&vol, "/var/lib/xen/note.txt");
    sys.check(
        note.as_deref() == Ok(format!("{token}\n").as_bytes()),
        format!("mtype /var/lib/xen/note.txt: {note:?}"),
    );
    (tools, vol)
}

#[test]
fn dom0_keeps_its_files_across_a_reboot_and_the_host_reads_them() {
    let name = test_name!();
    let token = format!(
        "token-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let mut sys = System::boot_to_prompt(BootOptions::new(&name).own_disk());
    let log = sys.transcript();
    let want = "dom0: storage: vda4 (xen-dom0) mounted at /etc/xen and /var/lib/xen";
    sys.check(log.contains(want), format!("the boot log lacks {want:?}"));
    // Fresh: the mount points, empty.
    let out = sys.run("ls /var/lib/xen");
    sys.check(out.trim().is_empty(), format!("ls /var/lib/xen: {out:?}"));

    // Write, list, read, remove.
    let n = token.len() + 1;
    run_has(
        &mut sys,
        &format!("write /var/lib/xen/note.txt {token}"),
        &format!("write: {n} bytes to /var/lib/xen/note.txt"),
    );
    run_has(
        &mut sys,
        "write /var/lib/xen/gone.txt temporary",
        "write: 10 bytes",
    );
    let out = run_has(&mut sys, "ls /var/lib/xen", "/var/lib/xen/note.txt");
    sys.check(
        out.contains("/var/lib/xen/gone.txt"),
        format!("ls: {out:?}"),
    );
    run_has(&mut sys, "cat /var/lib/xen/note.txt", &token);
    let out = sys.run("rm /var/lib/xen/gone.txt");
    sys.check(out.trim().is_empty(), format!("rm: {out:?}"));
    let out = sys.run("ls /var/lib/xen");
    sys.check(
        out.contains("/var/lib/xen/note.txt") && !out.contains("gone.txt"),
        format!("ls after rm: {out:?}"),
    );
    // A config on the storage, used by xl create; a kernel-sized file streamed there.
    let out = sys.run("cp /etc/xen/domu.cfg /etc/xen/mine.cfg");
    sys.check(out.trim().is_empty(), format!("cp: {out:?}"));
    let out = sys.run("cp /boot/pv-guest /var/lib/xen/kernel");
    sys.check(out.trim().is_empty(), format!("cp of the kernel: {out:?}"));
    create_ok(&mut sys, "mine.cfg");
    let rows = list_with_healthy_dom0(&mut sys);
    sys.check(row(&rows, "domu").is_some(), format!("no domu in {rows:?}"));
    sys.run("xl destroy domu");
    // Bad requests: one clear line each, and the shell goes on.
    run_has(
        &mut sys,
        "cat /var/lib/xen/none.txt",
        "cat: /var/lib/xen/none.txt: No such file or directory",
    );
    run_has(
        &mut sys,
        "write /var/lib/xen/far-too-long-a-name.img x",
        "name too long",
    );
    run_has(&mut sys, "rm /boot/pv-guest", "read-only (dom0's initrd)");
    run_has(&mut sys, "write /var/lib/xen/../x y", "bad path");
    let first = keep_disk(&mut sys);

    // The host reads it back; the kernel is the initrd's, byte for byte.
    let (tools, vol) = host_checks(&mut sys, &first, &token);
    let names = tools
        .ls(&vol, "/var/lib/xen")
        .unwrap_or_else(|e| sys.fail(e));
    sys.check(
        !names.iter().any(|n| n.eq_ignore_ascii_case("gone.txt")),
        format!("gone.txt is still there: {names:?}"),
    );
    let rd = std::fs::read(tests::launch::images_dir().join("dom0-initrd.cpio"))
        .unwrap_or_else(|e| sys.fail(e));
    let rd = dom0_tools::initrd::Initrd::parse(&rd).unwrap_or_else(|e| sys.fail(e));
    let kernel = tools
        .cat(&vol, "/var/lib/xen/kernel")
        .unwrap_or_else(|e| sys.fail(e));
    sys.check(
        Some(kernel.as_slice()) == rd.get("/boot/pv-guest"),
        format!("the copied kernel differs ({} bytes)", kernel.len()),
    );
    drop(sys);

    // The same disk boots again: the files are there, the config works.
    let mut sys = System::boot_to_prompt(BootOptions::new(&name).own_disk_from(&first));
    let _ = std::fs::remove_file(&first);
    run_has(&mut sys, "cat /var/lib/xen/note.txt", &token);
    let out = run_has(&mut sys, "ls /etc/xen", "/etc/xen/mine.cfg");
    sys.check(
        out.contains("/etc/xen/domu.cfg"),
        format!("the initrd's configs too: {out:?}"),
    );
    create_ok(&mut sys, "mine.cfg");
    sys.run("xl destroy domu");
    run_has(&mut sys, "rm /var/lib/xen/kernel", "");
    let second = keep_disk(&mut sys);
    let (tools, vol) = host_checks(&mut sys, &second, &token);
    let names = tools
        .ls(&vol, "/var/lib/xen")
        .unwrap_or_else(|e| sys.fail(e));
    sys.check(
        names
            .iter()
            .map(|n| n.to_ascii_lowercase())
            .collect::<Vec<_>>()
            == ["note.txt"],
        format!("after the second boot's rm: {names:?}"),
    );
    let _ = std::fs::remove_file(&second);
}
