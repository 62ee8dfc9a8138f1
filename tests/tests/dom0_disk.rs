//! dom0 drives the machine's disk itself: the virtio-blk device the ACPI DSDT describes,
//! started with virtio-drivers, its completions signalled by its interrupt (GSI 47, level,
//! active high) delivered as a pirq on an event channel; the GPT xtask wrote is read and its
//! partitions named as Linux names them. Reads match the image on the host; writes (to
//! QEMU's snapshot of it) read back.

use tests::disk;
use tests::steps::{boot, list_with_healthy_dom0};
use tests::test_name;

#[test]
fn dom0_reads_and_writes_the_virtio_disk_by_interrupt_and_names_its_partitions() {
    let mut sys = boot(&test_name!());
    let log = sys.transcript();
    let gpt = disk::read_gpt(&disk::image()).unwrap_or_else(|e| sys.fail(e));
    let parts = gpt.partitions.len();
    let want = format!(
        "dom0: vda: virtio-blk at 0xfeb02e00, GSI 47 level high as pirq 47: {} sectors, {parts} GPT partition(s)",
        std::fs::metadata(disk::image()).map(|m| m.len() / 512).unwrap_or(0)
    );
    sys.check(log.contains(&want), format!("the boot log lacks {want:?}"));
    // lsblk: the disk and each partition with the GPT's sizes.
    let out = sys.run("lsblk");
    for p in &gpt.partitions {
        let line = format!("vda{} ", p.index);
        let row = out.lines().find(|l| l.starts_with(&line));
        sys.check(
            row.is_some_and(|r| r.split_whitespace().nth(1) == Some(&p.sectors().to_string())),
            format!(
                "lsblk: vda{} with {} sectors missing in {out:?}",
                p.index,
                p.sectors()
            ),
        );
    }
    // The GPT header through the device, and the ext4 magic (0xEF53 at byte 1080) of the
    // Linux root through its partition.
    let irqs = sys.xenperf_counter("device_irqs");
    let out = sys.run("hexdump -C -s 512 -n 8 /dev/vda");
    sys.check(out.contains("|EFI PART|"), format!("GPT header: {out:?}"));
    let out = sys.run(&format!(
        "hexdump -C -s 1080 -n 2 /dev/vda{}",
        disk::LINUX_ROOT
    ));
    sys.check(out.contains("53 ef"), format!("ext4 magic: {out:?}"));
    let after = sys.xenperf_counter("device_irqs");
    sys.check(
        after > irqs,
        format!("device_irqs went from {irqs} to {after} across two reads: not by interrupt"),
    );
    // A write to the pvtest partition reads back: the GPT header copied there.
    let out = sys.run(&format!(
        "dd if=/dev/vda of=/dev/vda{} bs=512 count=1 skip=1 seek=3",
        disk::PVTEST
    ));
    sys.check(out.contains("1+0 records out"), format!("dd: {out:?}"));
    let out = sys.run(&format!("hexdump -C -s 1536 -n 8 /dev/vda{}", disk::PVTEST));
    sys.check(
        out.contains("|EFI PART|"),
        format!("written sector: {out:?}"),
    );
    // Many requests in a row: 4 MiB read to /dev/null, still by interrupt (a completion seen
    // before its interrupt must not leave the line masked for good).
    let irqs = sys.xenperf_counter("device_irqs");
    let out = sys.run(&format!(
        "dd if=/dev/vda{} of=/dev/null bs=64k count=64",
        disk::LINUX_ROOT
    ));
    sys.check(
        out.contains("64+0 records in") && out.contains("4194304 bytes"),
        format!("dd read: {out:?}"),
    );
    let after = sys.xenperf_counter("device_irqs");
    sys.check(
        after > irqs,
        format!("device_irqs went from {irqs} to {after} across a 4 MiB read: not by interrupt"),
    );
    // Bad requests are refused naming why, and the disk still works.
    let out = sys.run(&format!(
        "dd if=/dev/zero of=/dev/vda{} count=1 seek=99999999",
        disk::PVTEST
    ));
    sys.check(
        out.contains("past its end"),
        format!("dd past the end: {out:?}"),
    );
    let out = sys.run("hexdump -C -s 512 -n 8 /dev/vda");
    sys.check(
        out.contains("|EFI PART|"),
        format!("after the refusal: {out:?}"),
    );
    list_with_healthy_dom0(&mut sys);
}
