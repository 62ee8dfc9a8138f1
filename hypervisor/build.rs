//! Links the bare-metal hypervisor with `link.ld` and generates the 256 IDT entry stubs.
use std::fmt::Write as _;
use std::path::PathBuf;

/// Vectors for which the CPU pushes an error code.
const HAS_ERROR_CODE: [u32; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];
/// Vectors that run on an IST stack (NMI, #DF, #MC): never the fixed guest frame.
const IST_VECTORS: [u32; 3] = [2, 8, 18];

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let script = dir.join("link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=-z");
        println!("cargo:rustc-link-arg-bins=max-page-size=4096");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("idt_stubs.s"), stubs()).expect("write idt_stubs.s");
}

/// One stub per vector: push a zero error code if the CPU did not, store the vector in the
/// upper half of the error-code slot, jump to the common entry. Then a table of their addresses.
fn stubs() -> String {
    let mut s = String::from(".section .text.idt_stubs, \"ax\"\n.code64\n.balign 16\n");
    for v in 0..256u32 {
        let _ = writeln!(s, "idt_stub_{v}:");
        if !HAS_ERROR_CODE.contains(&v) {
            s.push_str("    pushq $0\n");
        }
        let _ = writeln!(s, "    movl ${v}, 4(%rsp)");
        let target = if IST_VECTORS.contains(&v) {
            "hv_entry_kernel"
        } else {
            "hv_entry_common"
        };
        let _ = writeln!(s, "    jmp {target}\n.balign 16");
    }
    s.push_str(".section .rodata.idt_stubs, \"a\"\n.balign 8\n.global hv_idt_stub_table\nhv_idt_stub_table:\n");
    for v in 0..256u32 {
        let _ = writeln!(s, "    .quad idt_stub_{v}");
    }
    s
}
