//! Host check that the built kernel image is what the shared ELF loader expects.

use dom0_tools::elf::ElfImage;
use std::path::PathBuf;

const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;

fn image() -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/pv-guest/x86_64-unknown-none/release/pv-guest");
    match std::fs::read(&path) {
        Ok(data) => Some(data),
        Err(e) => {
            // `cargo xtask test` builds the images first and asks for this check.
            assert!(
                std::env::var_os("PVH_IMAGES_BUILT").is_none(),
                "{}: {e}",
                path.display()
            );
            println!(
                "note: {} not built (cargo xtask build); skipping the image check",
                path.display()
            );
            None
        }
    }
}

#[test]
fn built_image_parses_with_the_shared_loader() {
    let Some(data) = image() else { return };
    let img = ElfImage::parse(&data).expect("dom0-tools accepts the pv-guest image");
    let n = &img.notes;
    assert_eq!(n.guest_os, Some("pv-guest"));
    assert_eq!(n.xen_version, Some("xen-3.0"));
    assert_eq!(n.loader, Some("generic"));
    assert_eq!(n.features, Some("mmu_pt_update_preserve_ad"));
    assert_eq!(
        n.required_features, 0,
        "pv-guest must not require a feature we lack"
    );
    assert_eq!(n.virt_base, VIRT_BASE);
    assert_eq!(n.paddr_offset, 0);
    assert_eq!(img.virt_offset(), VIRT_BASE);
    // `_start` is the first thing in .text, at VIRT_BASE.
    assert_eq!(img.entry(), VIRT_BASE);
    assert_eq!(img.virt_kstart, VIRT_BASE);
    let hp = n.hypercall_page.expect("HYPERCALL_PAGE note");
    assert_eq!(hp % 4096, 0);
    let mut hp_exec = false;
    for seg in img.segments() {
        // paddr is 0-based and the loader puts every segment at its link address.
        assert_eq!(seg.p_paddr + VIRT_BASE, seg.p_vaddr);
        assert_eq!(seg.load_va, seg.p_vaddr);
        if (seg.load_va..seg.load_va + seg.memsz).contains(&hp) {
            hp_exec = seg.flags & 1 != 0;
            assert!(hp + 4096 <= seg.load_va + seg.data.len() as u64);
        }
    }
    assert!(hp_exec, "the hypercall page is in an executable segment");
}
