//! `test=hostile`: a guest that tries, one by one, to escape its isolation. Each attack
//! prints `hostile: <name>: refused (<ERRNO>)`, `hostile: <name>: contained (<how>)` or, if
//! the hypervisor let it through, `hostile: <name>: ALLOWED (...)`; the last line counts them.
//! Faulting attacks run inside `traps::catch`, so the guest survives them.

mod attacks;

use crate::mm::Space;
use crate::println;
use core::cell::Cell;
use guest_abi::errno::Errno;
use guest_abi::start_info::StartInfo;

/// Tally of the attacks.
pub struct Tally {
    tried: Cell<u32>,
    held: Cell<u32>,
}

impl Tally {
    /// Report a hypercall attack that should fail with an error.
    pub fn refused(&self, name: &str, r: Result<u64, Errno>) {
        self.tried.set(self.tried.get() + 1);
        match r {
            Err(e) => {
                self.held.set(self.held.get() + 1);
                println!("hostile: {name}: refused ({})", e.name());
            }
            Ok(v) => println!("hostile: {name}: ALLOWED (returned {v})"),
        }
    }

    /// Report an attack whose effect was contained (`how`), or not (`None`: what happened).
    pub fn contained(&self, name: &str, how: Result<&str, &str>) {
        self.tried.set(self.tried.get() + 1);
        match how {
            Ok(how) => {
                self.held.set(self.held.get() + 1);
                println!("hostile: {name}: contained ({how})");
            }
            Err(what) => println!("hostile: {name}: ALLOWED ({what})"),
        }
    }
}

/// Runs `test=hostile`; false if the command line asks for something else.
pub fn run(cmd: &str, si: &StartInfo) -> bool {
    if !cmd.split_ascii_whitespace().any(|w| w == "test=hostile") {
        return false;
    }
    let sp = Space::new(si);
    crate::mm::demo::install_traps(&sp);
    let t = Tally {
        tried: Cell::new(0),
        held: Cell::new(0),
    };
    attacks::all(&sp, &t);
    println!(
        "hostile: {} attacks tried, {} refused or contained",
        t.tried.get(),
        t.held.get()
    );
    true
}
