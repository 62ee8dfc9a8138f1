//! The file commands over an initrd and a storage volume in memory (formatted by the fatfs
//! crate): what is written reads back, the storage shadows the initrd, `xl create` finds a
//! config written there, and every bad request ends in one clear line.

use super::*;
use crate::block::MemDisk;
use crate::fs::Storage;
use crate::initrd::{write_newc, Initrd};
use crate::testhv::TestHv;
use alloc::boxed::Box;

fn fat_volume() -> Vec<u8> {
    let mut c = std::io::Cursor::new(alloc::vec![0u8; 34 << 20]);
    fatfs::format_volume(
        &mut c,
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat32)
            .bytes_per_cluster(512),
    )
    .unwrap();
    c.into_inner()
}

fn with_storage(f: impl FnOnce(&mut Shell<'_, TestHv>)) {
    let rd = write_newc(&[
        ("/etc/xen/domu.cfg", b"name = \"domu\"\n"),
        ("/boot/k", b"kernel"),
    ]);
    let mut ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    let _ = ts
        .disks()
        .add("vda", Box::new(MemDisk::from_bytes(fat_volume())));
    let storage = Storage::mount(ts.disks(), "vda", None).unwrap();
    ts.set_storage(storage);
    let mut sh = Shell::new(ts);
    f(&mut sh);
}

fn run(sh: &mut Shell<'_, TestHv>, line: &str) -> String {
    let mut out = String::new();
    sh.run_line(line, &mut out);
    out
}

#[test]
fn write_ls_cat_rm_on_the_storage() {
    with_storage(|sh| {
        assert_eq!(
            run(sh, "write /var/lib/xen/note hello  there"),
            "write: 12 bytes to /var/lib/xen/note\n"
        );
        assert_eq!(run(sh, "cat /var/lib/xen/note"), "hello there\n");
        assert_eq!(run(sh, "ls /var/lib/xen"), "/var/lib/xen/note\n");
        assert_eq!(run(sh, "ls /var/lib/xen/note"), "/var/lib/xen/note\n");
        // The storage's files, then the initrd's not shadowed.
        assert_eq!(run(sh, "cp /etc/xen/domu.cfg /etc/xen/"), "");
        assert_eq!(
            run(sh, "write /etc/xen/domu.cfg name = \"mine\""),
            "write: 12 bytes to /etc/xen/domu.cfg\n"
        );
        assert_eq!(run(sh, "ls /etc/xen"), "/etc/xen/domu.cfg\n");
        assert_eq!(run(sh, "cat /etc/xen/domu.cfg"), "name = mine\n");
        assert_eq!(
            run(sh, "ls /var/lib"),
            "ls: /var/lib: No such file or directory\n"
        );
        assert_eq!(run(sh, "ls /"), "/etc/xen/domu.cfg\n/boot/k\n");
        assert_eq!(run(sh, "rm /var/lib/xen/note"), "");
        assert_eq!(run(sh, "ls /var/lib/xen"), "");
        assert_eq!(
            run(sh, "cat /var/lib/xen/note"),
            "cat: /var/lib/xen/note: No such file or directory\n"
        );
    });
}

#[test]
fn bad_requests_are_one_clear_line() {
    with_storage(|sh| {
        assert_eq!(
            run(sh, "rm /boot/k"),
            "rm: /boot/k: read-only (dom0's initrd); only /etc/xen and /var/lib/xen are writable\n"
        );
        assert_eq!(
            run(sh, "rm /etc/xen/none"),
            "rm: /etc/xen/none: No such file or directory\n"
        );
        assert_eq!(
            run(sh, "rm /var/lib/xen"),
            "rm: /var/lib/xen: Is a directory\n"
        );
        let out = run(sh, "write /var/lib/xen/a-very-long-name.img x");
        assert!(
            out.starts_with("write: /var/lib/xen/a-very-long-name.img: name too long"),
            "{out}"
        );
        assert!(run(sh, "write /var/lib/xen/../x y").contains("bad path"));
        assert_eq!(run(sh, "write"), "usage: write FILE [TEXT...]\n");
        assert_eq!(run(sh, "cp /boot/k"), "usage: cp SRC DST\n");
        assert_eq!(
            run(sh, "cp /nope /etc/xen/x"),
            "cp: /nope: No such file or directory\n"
        );
        assert!(run(sh, "cp /boot/k /boot/j").contains("read-only (dom0's initrd)"));
        assert_eq!(run(sh, "rm"), "rm: missing operand\n");
    });
}

#[test]
fn xl_create_reads_a_config_from_the_storage_before_the_initrd() {
    with_storage(|sh| {
        let out = run(
            sh,
            r#"write /etc/xen/mine.cfg 'name = "mine"\nkernel = "/boot/none"'"#,
        );
        assert_eq!(out, "write: 36 bytes to /etc/xen/mine.cfg\n");
        assert_eq!(
            run(sh, "cat /etc/xen/mine.cfg"),
            "name = \"mine\"\nkernel = \"/boot/none\"\n"
        );
        let out = run(sh, "xl create /etc/xen/mine.cfg");
        assert!(
            out.contains("Parsing config from /etc/xen/mine.cfg"),
            "{out}"
        );
        assert!(out.contains("kernel \"/boot/none\" not found"), "{out}");
        let out = run(sh, "xl create mine.cfg");
        assert!(
            out.contains("kernel \"/boot/none\" not found"),
            "by its name: {out}"
        );
        let out = run(sh, "xl create /etc/xen/absent.cfg");
        assert!(
            out.contains("not found on dom0's storage nor in dom0's initrd"),
            "{out}"
        );
    });
}

#[test]
fn without_storage_the_file_commands_say_so() {
    let rd = write_newc(&[("/boot/k", b"kernel")]);
    let ts = Toolstack::new(TestHv::boot(96), Initrd::parse(&rd).unwrap());
    let mut sh = Shell::new(ts);
    assert_eq!(
        run(&mut sh, "write /etc/xen/a b"),
        "write: dom0 has no storage (no partition labelled xen-dom0)\n"
    );
    assert_eq!(run(&mut sh, "cat /boot/k"), "kernel\n");
}

#[test]
fn the_storage_is_not_given_to_a_domain_writable() {
    with_storage(|sh| {
        run(
            sh,
            r#"write /etc/xen/w.cfg 'name = "w"\nkernel = "/boot/k"\ndisk = ["phy:/dev/vda,xvda,w"]'"#,
        );
        let out = run(sh, "xl create /etc/xen/w.cfg");
        assert!(
            out.contains("overlaps dom0's storage (vda, /etc/xen and /var/lib/xen)"),
            "{out}"
        );
        // Read-only passes that check (and fails later, on the kernel).
        run(
            sh,
            r#"write /etc/xen/r.cfg 'name = "r"\nkernel = "/boot/k"\ndisk = ["phy:/dev/vda,xvda,r"]'"#,
        );
        let out = run(sh, "xl create /etc/xen/r.cfg");
        assert!(!out.contains("dom0's storage"), "{out}");
        assert!(out.contains("kernel"), "{out}");
    });
}
