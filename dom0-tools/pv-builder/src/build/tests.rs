use super::pagetables::{PTE_DATA, PTE_PT};
use super::testmem::VecMemory;
use super::*;
use crate::elf::testimg::*;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use guest_abi::arch::VcpuGuestContext;
use guest_abi::elfnote::*;
use zerocopy::FromBytes;

fn domu_params<'a>(
    img: &'a ElfImage<'a>,
    initrd: Option<&'a [u8]>,
    cmdline: &'a str,
) -> BuildParams<'a> {
    BuildParams {
        kernel: img,
        initrd,
        cmdline,
        privileged: false,
        shared_info_maddr: 0x1234_5000,
        store_evtchn: Some(1),
        console_evtchn: Some(2),
        dom0_console: None,
        hv_features: crate::TEST_FEATURES,
    }
}

/// Checks the whole region maps 1:1 (VA = virt_base + pfn·4096), PT frames RO, rest RW,
/// everything user, and nothing right after the region.
fn check_mapping(mem: &VecMemory, r: &BuildResult) {
    let pages = (r.region_end_va - r.virt_base) / PAGE_SIZE;
    for pfn in 0..pages {
        let va = r.virt_base + pfn * PAGE_SIZE;
        let (got, rw, us) = mem
            .translate(r.l4_mfn, va + 0x123)
            .unwrap_or_else(|| panic!("va {va:#x} unmapped"));
        assert_eq!(got, pfn, "va {va:#x}");
        let is_pt = pfn >= r.pt_first_pfn && pfn < r.pt_first_pfn + r.nr_pt_frames;
        assert_eq!(rw, !is_pt, "RW of pfn {pfn}");
        assert!(us);
    }
    assert!(mem.translate(r.l4_mfn, r.region_end_va).is_none());
    if r.virt_base >= PAGE_SIZE {
        assert!(mem.translate(r.l4_mfn, r.virt_base - PAGE_SIZE).is_none());
    }
    // L4 slots 256–271 are left to the hypervisor.
    let l4 = r.l4_pfn * PAGE_SIZE;
    for slot in 256..272 {
        assert_eq!(mem.read_u64(l4 + slot * 8), 0);
    }
}

fn start_info(mem: &VecMemory, r: &BuildResult) -> StartInfo {
    StartInfo::read_from_bytes(mem.read(r.start_info_pfn * PAGE_SIZE, 1168)).unwrap()
}

#[test]
fn domu_region() {
    let t = TestElf::pv();
    let bytes = t.bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let initrd: Vec<u8> = (0..10_000u32).map(|i| i as u8 ^ 0x5a).collect();
    let mut mem = VecMemory::new(4096);
    let r = build_pv(&mut mem, &domu_params(&img, Some(&initrd), "greet")).unwrap();

    assert_eq!(r.virt_base, BASE);
    assert_eq!(r.entry, BASE + 0x20);
    assert_eq!(r.hypercall_page_va, Some(BASE + 0x1000));
    // Kernel 6 pages, initrd 3, p2m 8 (4096·8 bytes), start_info, store, console.
    assert_eq!(r.mod_start, BASE + 6 * PAGE_SIZE);
    assert_eq!(r.mod_len, 10_000);
    assert_eq!(r.p2m_va, BASE + 9 * PAGE_SIZE);
    assert_eq!(r.start_info_pfn, 17);
    assert_eq!(r.start_info_va, BASE + 17 * PAGE_SIZE);
    assert_eq!(r.store_pfn, Some(18));
    assert_eq!(r.console_pfn, Some(19));
    assert_eq!(r.pt_first_pfn, 20);
    assert_eq!(r.l4_pfn, 20);
    // L4, L3, L2 and two L1s for a 4 MiB region.
    assert_eq!(r.nr_pt_frames, 5);
    assert_eq!(r.stack_top, BASE + 26 * PAGE_SIZE);
    assert_eq!(r.region_end_va, BASE + (4 << 20));
    assert_eq!(r.l4_mfn, mem.pfn_to_mfn(20));
    assert_eq!(r.store_mfn, Some(mem.pfn_to_mfn(18)));
    check_mapping(&mem, &r);

    // Kernel contents: text as in the file except the hypercall page, data then bss zero.
    let segs: Vec<_> = img.segments().collect();
    assert_eq!(mem.read(0, 0x1000), &segs[0].data[..0x1000]);
    assert_eq!(mem.read(0x2000, 0x1000), &segs[0].data[0x2000..]);
    let mut hc = [0u8; 4096];
    guest_abi::hypercall::write_hypercall_page(&mut hc);
    assert_eq!(mem.read(0x1000, 4096), &hc[..]);
    assert_eq!(mem.read(0x3000, 0x800), segs[1].data);
    assert!(mem.read(0x3800, 0x2800).iter().all(|&b| b == 0));
    // Initrd, then zero to the page end.
    assert_eq!(mem.read(6 * PAGE_SIZE, 10_000), &initrd[..]);
    assert!(mem
        .read(6 * PAGE_SIZE + 10_000, 3 * 4096 - 10_000)
        .iter()
        .all(|&b| b == 0));
    // p2m.
    for pfn in 0..4096 {
        assert_eq!(mem.read_u64(9 * PAGE_SIZE + pfn * 8), mem.pfn_to_mfn(pfn));
    }
    // Store, console, stack and padding pages are zero; memory past the region untouched.
    for pfn in [18, 19, 25, 26, 1023] {
        assert!(
            mem.read(pfn * PAGE_SIZE, 4096).iter().all(|&b| b == 0),
            "pfn {pfn}"
        );
    }
    assert_eq!(mem.read(1024 * PAGE_SIZE, 1), &[0xA5]);

    let si = start_info(&mem, &r);
    assert!(si.magic_ok());
    assert_eq!(&si.magic[..15], b"xen-3.0-x86_64\0");
    assert_eq!(si.nr_pages, 4096);
    assert_eq!(si.shared_info, 0x1234_5000);
    assert_eq!(si.flags, 0);
    assert_eq!(u64::from(si.store_mfn), mem.pfn_to_mfn(18));
    assert_eq!(u32::from(si.store_evtchn), 1);
    assert_eq!(u64::from(si.console.domu().mfn), mem.pfn_to_mfn(19));
    assert_eq!(u32::from(si.console.domu().evtchn), 2);
    assert_eq!(si.pt_base, BASE + 20 * PAGE_SIZE);
    assert_eq!(si.nr_pt_frames, 5);
    assert_eq!(si.mfn_list, r.p2m_va);
    assert_eq!((si.mod_start, si.mod_len), (r.mod_start, 10_000));
    assert_eq!(&si.cmd_line[..6], b"greet\0");
    assert_eq!((si.first_p2m_pfn, si.nr_p2m_frames), (0, 0));
}

#[test]
fn dom0_flags_no_store_console_and_long_cmdline() {
    let bytes = TestElf::pv()
        .without_note(XEN_ELFNOTE_HYPERCALL_PAGE)
        .bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let cmdline: String = core::iter::repeat_n('x', 2000).collect();
    let p = BuildParams {
        kernel: &img,
        initrd: None,
        cmdline: &cmdline,
        privileged: true,
        shared_info_maddr: 0x9000,
        store_evtchn: None,
        console_evtchn: None,
        dom0_console: Some((0x800, 0x40)),
        hv_features: crate::TEST_FEATURES,
    };
    let mut mem = VecMemory::new(2048);
    let r = build_pv(&mut mem, &p).unwrap();
    assert_eq!(r.hypercall_page_va, None);
    let segs: Vec<_> = img.segments().collect();
    assert_eq!(
        mem.read(0, 0x3000),
        segs[0].data,
        "no hypercall page written"
    );
    assert_eq!(
        (r.store_pfn, r.console_pfn, r.mod_start, r.mod_len),
        (None, None, 0, 0)
    );
    // Kernel 6 pages, p2m 4, start_info, then the tables.
    assert_eq!(r.start_info_pfn, 10);
    assert_eq!(r.l4_pfn, 11);
    check_mapping(&mem, &r);
    let si = start_info(&mem, &r);
    assert_eq!(si.flags, 3);
    assert_eq!(si.console.dom0().info_off, 0x800);
    assert_eq!(si.console.dom0().info_size, 0x40);
    assert_eq!(u64::from(si.store_mfn), 0);
    assert!(si.cmd_line[..1023].iter().all(|&b| b == b'x'));
    assert_eq!(si.cmd_line[1023], 0);
}

#[test]
fn big_memory_needs_more_tables() {
    // 256 MiB (a 512 KiB p2m) and a 5 MiB initrd: an 8 MiB region.
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let initrd = alloc::vec![7u8; 5 << 20];
    let mut mem = VecMemory::new(65536);
    let r = build_pv(&mut mem, &domu_params(&img, Some(&initrd), "")).unwrap();
    // 6 + 1280 + 128 + 3 pages then tables: region 8 MiB = 4 L1 tables.
    assert_eq!(r.region_end_va - r.virt_base, 8 << 20);
    assert_eq!(r.nr_pt_frames, 1 + 1 + 1 + 4);
    check_mapping(&mem, &r);
    let stack_end = r.stack_top - r.virt_base;
    assert!((r.region_end_va - r.virt_base) - stack_end >= 512 << 10);
}

/// A kernel at `base` with VA = paddr (PADDR_OFFSET = VIRT_BASE = base).
fn kernel_at(base: u64) -> Vec<u8> {
    let mut t = TestElf::pv()
        .with_note(XEN_ELFNOTE_VIRT_BASE, base.to_le_bytes().to_vec())
        .with_note(XEN_ELFNOTE_PADDR_OFFSET, base.to_le_bytes().to_vec())
        .with_note(XEN_ELFNOTE_ENTRY, (base + 0x20).to_le_bytes().to_vec())
        .with_note(
            XEN_ELFNOTE_HYPERCALL_PAGE,
            (base + 0x1000).to_le_bytes().to_vec(),
        );
    t.e_entry = base + 0x10;
    for (i, s) in t.segs.iter_mut().enumerate() {
        s.paddr = base + i as u64 * 0x3000;
        s.vaddr = s.paddr;
    }
    t.bytes()
}

#[test]
fn regions_crossing_table_boundaries() {
    // Crossing a 1 GiB boundary (two L2s), a 512 GiB one (two L3s), in both halves.
    for (base, l3, l2) in [
        (0x3FE0_0000u64, 1, 2),
        (0x7F_FFE0_0000, 2, 2),
        (0xFFFF_FFFF_BFE0_0000, 1, 2),
        (0xFFFF_887F_FFE0_0000, 2, 2),
        (0, 1, 1),
    ] {
        let bytes = kernel_at(base);
        let img = ElfImage::parse(&bytes).unwrap();
        let mut mem = VecMemory::new(2048);
        let r = build_pv(&mut mem, &domu_params(&img, None, "")).unwrap();
        assert_eq!(r.nr_pt_frames, 1 + l3 + l2 + 2, "base {base:#x}");
        check_mapping(&mem, &r);
        assert_eq!(r.entry, base + 0x20);
    }
}

#[test]
fn errors() {
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let mut mem = VecMemory::new(512);
    let e = build_pv(&mut mem, &domu_params(&img, None, "")).unwrap_err();
    assert_eq!(
        e,
        BuildError::TooSmall {
            needed: 1024,
            have: 512
        }
    );
    assert_eq!(
        e.to_string(),
        "guest needs 1024 pages (4096 KiB) but has 512 (2048 KiB)"
    );
    // Kernel far above VIRT_BASE (no VIRT_BASE note: virt_base 0).
    let bytes = TestElf::pv()
        .without_note(XEN_ELFNOTE_VIRT_BASE)
        .without_note(XEN_ELFNOTE_PADDR_OFFSET)
        .bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let e = build_pv(&mut VecMemory::new(16), &domu_params(&img, None, "")).unwrap_err();
    assert!(matches!(e, BuildError::Layout(_)), "{e}");
    // In the hypervisor hole.
    let bytes = kernel_at(0xFFFF_8000_0000_0000);
    let img = ElfImage::parse(&bytes).unwrap();
    let e = build_pv(&mut VecMemory::new(16), &domu_params(&img, None, "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot lay out the guest: the region overlaps the hypervisor's address space"
    );
    // Crossing into non-canonical space.
    let bytes = kernel_at(0x7FFF_FFE0_0000);
    let img = ElfImage::parse(&bytes).unwrap();
    let e = build_pv(&mut VecMemory::new(16), &domu_params(&img, None, "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot lay out the guest: the region is not in canonical address space"
    );
}

#[test]
fn vcpu_context() {
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let mut mem = VecMemory::new(4096);
    let r = build_pv(&mut mem, &domu_params(&img, None, "")).unwrap();
    let mut ctx = VcpuGuestContext::default();
    ctx.user_regs.rax = 99;
    fill_vcpu_context(&r, &mut ctx);
    let u = &ctx.user_regs;
    assert_eq!(
        (u.rip, u.rsp, u.rsi, u.rflags),
        (r.entry, r.stack_top, r.start_info_va, 0x200)
    );
    assert_eq!(
        (u.cs, u.ss, u.ds, u.es, u.fs, u.gs),
        (0xe033, 0xe02b, 0, 0, 0, 0)
    );
    assert_eq!(u.rax, 0);
    assert_eq!(ctx.ctrlreg[3], r.l4_mfn << 12);
    assert_eq!(ctx.flags, 4 | 32);
    assert_eq!((ctx.kernel_ss, ctx.kernel_sp), (0xe02b, r.stack_top));
}

#[test]
fn pte_flags() {
    assert_eq!(PTE_DATA, 0x67);
    assert_eq!(PTE_PT, 0x65);
}

/// The real guest kernel, when a build gives its path in `PV_GUEST_ELF`.
#[test]
fn real_pv_guest_if_available() {
    let Ok(path) = std::env::var("PV_GUEST_ELF") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let img = ElfImage::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut mem = VecMemory::new(4096);
    let r = build_pv(&mut mem, &domu_params(&img, None, "greet")).unwrap();
    check_mapping(&mem, &r);
    for seg in img.segments() {
        let at = seg.load_va - r.virt_base;
        let hp = r.hypercall_page_va.map(|v| v - r.virt_base);
        for (i, &b) in seg.data.iter().enumerate() {
            let a = at + i as u64;
            if hp.is_none_or(|h| a < h || a >= h + PAGE_SIZE) {
                assert_eq!(mem.read(a, 1)[0], b);
            }
        }
    }
}

#[test]
fn required_features_the_hypervisor_lacks_are_refused() {
    let bytes = TestElf::pv()
        .with_note(
            XEN_ELFNOTE_FEATURES,
            b"!writable_page_tables|!dom0\0".to_vec(),
        )
        .bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    // Writable page tables are offered; dom0 is not.
    let err = check_features(&img, crate::TEST_FEATURES).unwrap_err();
    assert_eq!(err, BuildError::Unsupported { missing: 1 << 11 });
    assert_eq!(
        err.to_string(),
        "the kernel requires features this hypervisor lacks: dom0"
    );
    // Without writable page tables both are named.
    let err = check_features(&img, 1 << 5).unwrap_err();
    assert_eq!(
        err,
        BuildError::Unsupported {
            missing: 1 | 1 << 11
        }
    );
    assert_eq!(
        err.to_string(),
        "the kernel requires features this hypervisor lacks: writable_page_tables dom0"
    );
    assert!(check_features(&img, 1 | 1 << 11).is_ok());
}

#[test]
fn a_kernel_requiring_writable_page_tables_is_accepted() {
    // As Linux's notes say: `!writable_page_tables`.
    let bytes = TestElf::pv()
        .with_note(XEN_ELFNOTE_FEATURES, b"!writable_page_tables\0".to_vec())
        .bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    assert_eq!(img.notes.required_features, 1);
    assert!(check_features(&img, crate::TEST_FEATURES).is_ok());
}

/// A guest memory that records what the builder asks: the highest PFN looked up one at a
/// time, and that `mfns` covers every PFN once, in order.
struct Recording {
    inner: VecMemory,
    highest_lookup: core::cell::Cell<u64>,
    next: u64,
}

impl GuestMemory for Recording {
    fn nr_pages(&self) -> u64 {
        self.inner.nr_pages()
    }
    fn pfn_to_mfn(&self, pfn: u64) -> u64 {
        self.highest_lookup.set(self.highest_lookup.get().max(pfn));
        self.inner.pfn_to_mfn(pfn)
    }
    fn mfns(&mut self, first: u64, out: &mut [u64]) -> Result<(), BuildError> {
        assert_eq!(first, self.next, "mfns asked out of order");
        for (pfn, m) in (first..).zip(out.iter_mut()) {
            *m = self.inner.pfn_to_mfn(pfn);
        }
        self.next += out.len() as u64;
        Ok(())
    }
    fn write(&mut self, gpaddr: u64, data: &[u8]) -> Result<(), BuildError> {
        self.inner.write(gpaddr, data)
    }
    fn zero(&mut self, gpaddr: u64, len: u64) -> Result<(), BuildError> {
        self.inner.zero(gpaddr, len)
    }
}

#[test]
fn the_builder_looks_up_the_region_only_and_streams_the_rest() {
    // What lets xl create populate a big domain a batch at a time: outside the initial
    // region the builder meets each page once, in order, through `mfns`.
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    let mut mem = Recording {
        inner: VecMemory::new(64 * 256),
        highest_lookup: core::cell::Cell::new(0),
        next: 0,
    };
    let r = build_pv(&mut mem, &domu_params(&img, None, "")).unwrap();
    let region_pages = (r.region_end_va - r.virt_base) / PAGE_SIZE;
    assert!(region_pages < 64 * 256);
    assert!(
        mem.highest_lookup.get() < region_pages,
        "pfn_to_mfn({}) is outside the region of {region_pages} pages",
        mem.highest_lookup.get()
    );
    assert_eq!(mem.next, 64 * 256, "every PFN through mfns");
    for pfn in [0, 4095, 4096, 64 * 256 - 1] {
        let at = (r.p2m_va - r.virt_base) + pfn * 8;
        assert_eq!(mem.inner.read_u64(at), mem.inner.pfn_to_mfn(pfn));
    }
}

#[test]
fn absurd_sizes_are_layout_errors_not_overflows() {
    let bytes = TestElf::pv().bytes();
    let img = ElfImage::parse(&bytes).unwrap();
    for (initrd, pages) in [
        (0, u64::MAX),
        (u64::MAX, 4096),
        (u64::MAX, u64::MAX),
        (1 << 62, 1 << 62),
    ] {
        let e = Layout::compute(&img, initrd, pages, true, true).unwrap_err();
        assert!(matches!(e, BuildError::Layout(_)), "{initrd} {pages}: {e}");
    }
}
