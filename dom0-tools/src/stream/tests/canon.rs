//! Page tables rewritten mfn -> pfn and back; hostile entries refused, pages untouched.

use super::*;
use crate::stream::canon::*;

/// A page table from (index, entry) pairs.
fn table(entries: &[(usize, u64)]) -> [u8; PAGE_SIZE] {
    let mut page = [0u8; PAGE_SIZE];
    for &(i, e) in entries {
        page[i * 8..i * 8 + 8].copy_from_slice(&e.to_le_bytes());
    }
    page
}

fn entry(page: &[u8; PAGE_SIZE], i: usize) -> u64 {
    u64::from_le_bytes(page[i * 8..i * 8 + 8].try_into().unwrap())
}

/// The saving domain: pfn p lives at mfn 0x1000 + p, for pfns 0..16.
fn m2p(mfn: u64) -> Option<u64> {
    (0x1000..0x1010).contains(&mfn).then(|| mfn - 0x1000)
}

/// The restored domain: 16 pfns, 0..12 populated at mfn 0x8000 + p.
fn p2m(pfn: u64) -> P2m {
    match pfn {
        0..12 => P2m::Frame(0x8000 + pfn),
        12..16 => P2m::Unpopulated,
        _ => P2m::Beyond,
    }
}

const NX: u64 = 1 << 63;
const FLAGS: u64 = 0x67; // present, writable, user, accessed, dirty

#[test]
fn an_l1_goes_to_pfns_and_to_the_new_domains_frames() {
    let swap_entry = 0x0000_1234_5678_9a00; // not present: the guest's own bits
    let mut page = table(&[
        (0, 0x1003 << 12 | FLAGS),
        (1, NX | 0x100f << 12 | FLAGS),
        (2, swap_entry),
        (511, 0x1000 << 12 | 1),
    ]);
    canonicalise(&mut page, 1, m2p).unwrap();
    assert_eq!(entry(&page, 0), 3 << 12 | FLAGS);
    assert_eq!(entry(&page, 1), NX | 0xf << 12 | FLAGS);
    assert_eq!(entry(&page, 2), swap_entry);
    assert_eq!(entry(&page, 511), 1);
    assert_eq!(entry(&page, 3), 0);
    // pfn 0xf is unpopulated in the new domain: refused; with it gone, the rest maps.
    let before = page;
    assert_eq!(
        uncanonicalise(&mut page, 1, p2m),
        Err(CanonError::Unpopulated { index: 1, pfn: 0xf })
    );
    assert_eq!(page, before, "a refused page is left as it was");
    page[8..16].copy_from_slice(&(NX | 0xa << 12 | FLAGS).to_le_bytes());
    uncanonicalise(&mut page, 1, p2m).unwrap();
    assert_eq!(entry(&page, 0), 0x8003 << 12 | FLAGS);
    assert_eq!(entry(&page, 1), NX | 0x800a << 12 | FLAGS);
    assert_eq!(entry(&page, 2), swap_entry);
    assert_eq!(entry(&page, 511), 0x8000 << 12 | 1);
}

#[test]
fn a_hostile_entry_naming_a_foreign_frame_is_refused() {
    // Save: a frame the domain does not own (someone else's, or the hypervisor's).
    let mut page = table(&[(0, 0x1001 << 12 | FLAGS), (7, 0x9999 << 12 | FLAGS)]);
    let before = page;
    assert_eq!(
        canonicalise(&mut page, 1, m2p),
        Err(CanonError::ForeignFrame {
            index: 7,
            mfn: 0x9999
        })
    );
    assert_eq!(page, before);
    // Restore: an image whose L1 names a pfn beyond the domain (the p2m of 16), or a
    // machine-looking frame number, cannot reach any frame but the domain's own.
    for (pfn, level) in [(16u64, 1u8), (0x9999, 2), (0xf_ffff_ffff, 3)] {
        let mut page = table(&[(5, pfn << 12 | FLAGS)]);
        let before = page;
        assert_eq!(
            uncanonicalise(&mut page, level, p2m),
            Err(CanonError::PfnBeyond { index: 5, pfn })
        );
        assert_eq!(page, before);
        let rule = CanonError::PfnBeyond { index: 5, pfn }.at(3);
        assert!(alloc::format!("{rule}").contains("beyond the domain's p2m"));
    }
}

#[test]
fn l4_hypervisor_slots_and_superpages() {
    assert_eq!(XEN_L4_SLOTS, 256..272);
    // Save: the hypervisor's slots are written as zero, the guest's own slots mapped.
    let mut l4 = table(&[
        (0, 0x1002 << 12 | FLAGS),
        (256, 0xdead << 12 | FLAGS),
        (271, 0xbeef << 12 | 3),
        (272, 0x1004 << 12 | 3),
    ]);
    canonicalise(&mut l4, 4, m2p).unwrap();
    assert_eq!(
        (entry(&l4, 0), entry(&l4, 256), entry(&l4, 271)),
        (2 << 12 | FLAGS, 0, 0)
    );
    assert_eq!(entry(&l4, 272), 4 << 12 | 3);
    uncanonicalise(&mut l4, 4, p2m).unwrap();
    assert_eq!(entry(&l4, 272), 0x8004 << 12 | 3);
    // Restore: an image claiming a hypervisor slot is refused.
    let mut l4 = table(&[(300, 1 << 12 | 3), (260, 1 << 12 | 3)]);
    assert_eq!(
        uncanonicalise(&mut l4, 4, p2m),
        Err(CanonError::HypervisorSlot { index: 260 })
    );
    // Superpages: refused at L2/L3 (PSE), while bit 7 of an L1 entry (PAT) is fine.
    let mut l2 = table(&[(1, 2 << 12 | 0x80 | 3)]);
    assert_eq!(
        uncanonicalise(&mut l2, 2, p2m),
        Err(CanonError::Superpage { index: 1 })
    );
    let mut l1 = table(&[(1, 2 << 12 | 0x80 | 3)]);
    uncanonicalise(&mut l1, 1, p2m).unwrap();
    assert_eq!(entry(&l1, 1), 0x8002 << 12 | 0x80 | 3);
    assert_eq!(uncanonicalise(&mut l1, 5, p2m), Err(CanonError::Level(5)));
}

#[test]
fn a_vcpu_context_has_its_gdt_and_page_table_bases_rewritten() {
    use guest_abi::arch::VcpuGuestContext;
    let mut ctx = VcpuGuestContext {
        gdt_ents: 513, // two frames
        ..Default::default()
    };
    ctx.gdt_frames[0] = 0x1005;
    ctx.gdt_frames[1] = 0x1006;
    ctx.gdt_frames[2] = 0xdead; // unused: left alone
    ctx.ctrlreg[3] = 0x1007 << 12;
    ctx.ctrlreg[1] = 0;
    let machine = ctx;
    canonicalise_vcpu(&mut ctx, m2p).unwrap();
    let canonical = ctx;
    assert_eq!(ctx.gdt_frames[..3], [5, 6, 0xdead]);
    assert_eq!((ctx.ctrlreg[3], ctx.ctrlreg[1]), (7 << 12, 0));
    uncanonicalise_vcpu(&mut ctx, p2m).unwrap();
    assert_eq!(ctx.gdt_frames[..2], [0x8005, 0x8006]);
    assert_eq!(ctx.ctrlreg[3], 0x8007 << 12);

    // Hostile contexts: a cr3 beyond the p2m, a user cr3 unpopulated, too many GDT entries,
    // a foreign GDT frame on save. Each leaves the context as it was.
    let mut bad = canonical;
    bad.ctrlreg[3] = 0x40 << 12;
    let before = bad;
    let e = uncanonicalise_vcpu(&mut bad, p2m).unwrap_err();
    assert_eq!(e.field, VcpuField::Cr3);
    assert_eq!(
        e.error,
        CanonError::PfnBeyond {
            index: 0,
            pfn: 0x40
        }
    );
    assert_eq!(bad.ctrlreg, before.ctrlreg);
    let mut bad = canonical;
    bad.gdt_frames = [3; 16];
    bad.ctrlreg[3] = 3 << 12;
    bad.ctrlreg[1] = 13 << 12;
    let e = uncanonicalise_vcpu(&mut bad, p2m).unwrap_err();
    assert_eq!(e.field, VcpuField::UserCr3);
    assert!(alloc::format!("{e}").contains("no frame for"), "{e}");
    assert_eq!(bad.gdt_frames[0], 3, "all or nothing");
    let mut bad = canonical;
    bad.gdt_ents = 16 * 512 + 1;
    assert_eq!(
        uncanonicalise_vcpu(&mut bad, p2m).unwrap_err().field,
        VcpuField::GdtEntries
    );
    let mut bad = machine;
    bad.gdt_frames[1] = 0x7777;
    let e = canonicalise_vcpu(&mut bad, m2p).unwrap_err();
    assert_eq!(e.field, VcpuField::GdtFrame(1));
    assert_eq!(
        e.error,
        CanonError::ForeignFrame {
            index: 0,
            mfn: 0x7777
        }
    );
}
