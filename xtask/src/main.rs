//! `cargo xtask build|run|test|bench|clippy|iso|soak|guests`.
mod bench;
mod build;
mod bzimage;
mod disk;
mod dosfstools;
mod e2fsprogs;
mod elfstrip;
mod guests;
mod iso;
mod prereq;
#[allow(dead_code)]
mod qemu;
mod run;
mod soak;
mod test;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build::run(&args[1..]),
        Some("run") => run::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("clippy") => test::clippy::run(&args[1..]),
        Some("iso") => iso::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("guests") => guests::run(&args[1..]),
        _ => Err("usage: cargo xtask build|run|test|bench|clippy|iso|soak|guests".to_string()),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
