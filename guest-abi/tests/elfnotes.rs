//! The `xen_elfnotes!` macro assembles and emits a well-formed `.note.Xen`
//! section (checked in this test binary's own ELF image).

// A host test binary is position-independent, so absolute symbol
// references are not allowed in a read-only section here; the symbol
// operands take any assembler expression, so use constants.
guest_abi::xen_elfnotes! {
    guest_os: "pv-guest",
    virt_base: 0xFFFF_FFFF_8000_0000u64,
    paddr_offset: 0xFFFF_FFFF_8000_0000u64,
    entry: "0xFFFFFFFF80001000",
    hypercall_page: "0xFFFFFFFF80002000",
    features: "!writable_page_tables",
}

#[test]
fn notes_are_emitted() {
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    // Find the GUEST_OS note: namesz 4, descsz 9, type 6, "Xen\0", "pv-guest\0".
    let mut pat = Vec::new();
    pat.extend_from_slice(&4u32.to_le_bytes());
    pat.extend_from_slice(&9u32.to_le_bytes());
    pat.extend_from_slice(&6u32.to_le_bytes());
    pat.extend_from_slice(b"Xen\0pv-guest\0");
    let at = exe.windows(pat.len()).position(|w| w == pat.as_slice());
    assert!(at.is_some(), "GUEST_OS note not found");
    // The next note (padded to 4) is XEN_VERSION "xen-3.0".
    let next = at.unwrap() + 12 + 4 + 12;
    assert_eq!(&exe[next + 8..next + 12], &5u32.to_le_bytes());
    assert_eq!(&exe[next + 16..next + 24], b"xen-3.0\0");
}
