//! Links the bare-metal kernels: `pv-guest` with `link.ld` (Xen PV layout at
//! 0xFFFFFFFF80000000) and, with the `native` feature, `pv-guest-native` with
//! `link-native.ld` (Multiboot, identity-mapped at 2 MiB).
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let script = dir.join("link.ld");
    let native = dir.join("link-native.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed={}", native.display());
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bin=pv-guest=-T{}", script.display());
        if std::env::var_os("CARGO_FEATURE_NATIVE").is_some() {
            println!(
                "cargo:rustc-link-arg-bin=pv-guest-native=-T{}",
                native.display()
            );
        }
    }
}
