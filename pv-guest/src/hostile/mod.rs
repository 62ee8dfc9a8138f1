//! `test=hostile`: a guest that tries, one by one, to escape its isolation. Each attack
//! prints `hostile: <name>: refused (<ERRNO>)`, `hostile: <name>: contained (<how>)` or, if
//! the hypervisor let it through, `hostile: <name>: ALLOWED (...)`. Attacks come in classes;
//! at the end one line per class (`hostile: class <name>: N tried, N contained`) and a last
//! line count them. Faulting attacks run inside `traps::catch`, so the guest survives them.

mod attacks;
mod devices;
mod emulation;
mod evtchn;
mod floods;
mod grants;
mod lifecycle;
mod linear;
mod widths;
mod xen_pages;

use crate::mm::Space;
use crate::println;
use alloc::vec::Vec;
use core::cell::RefCell;
use guest_abi::errno::Errno;
use guest_abi::start_info::StartInfo;

/// Tally of the attacks, per class: `(class, tried, held)`.
pub struct Tally {
    classes: RefCell<Vec<(&'static str, u32, u32)>>,
}

impl Tally {
    /// Attacks from now on belong to class `name`.
    pub fn class(&self, name: &'static str) {
        self.classes.borrow_mut().push((name, 0, 0));
    }

    fn count(&self, held: bool) {
        let mut c = self.classes.borrow_mut();
        if c.is_empty() {
            c.push(("unclassified", 0, 0));
        }
        if let Some(last) = c.last_mut() {
            last.1 += 1;
            last.2 += u32::from(held);
        }
    }

    /// Report a hypercall attack that should fail with an error.
    pub fn refused(&self, name: &str, r: Result<u64, Errno>) {
        self.count(r.is_err());
        match r {
            Err(e) => println!("hostile: {name}: refused ({})", e.name()),
            Ok(v) => println!("hostile: {name}: ALLOWED (returned {v})"),
        }
    }

    /// Report an attack whose effect was contained (`how`), or not (`None`: what happened).
    pub fn contained(&self, name: &str, how: Result<&str, &str>) {
        self.count(how.is_ok());
        match how {
            Ok(how) => println!("hostile: {name}: contained ({how})"),
            Err(what) => println!("hostile: {name}: ALLOWED ({what})"),
        }
    }

    /// The per-class lines and the total.
    fn report(&self) {
        let c = self.classes.borrow();
        for (name, tried, held) in c.iter() {
            println!("hostile: class {name}: {tried} tried, {held} contained");
        }
        let tried: u32 = c.iter().map(|c| c.1).sum();
        let held: u32 = c.iter().map(|c| c.2).sum();
        println!("hostile: {tried} attacks tried, {held} refused or contained");
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
        classes: RefCell::new(Vec::new()),
    };
    attacks::all(&sp, &t);
    let me = crate::cmdline::param(cmd, "me").and_then(|v| v.parse().ok());
    xen_pages::all(&sp, &t, me);
    linear::all(&sp, &t);
    if let (Some(me), Some(table)) = (me, xen_pages::table_va(&sp)) {
        grants::all(&sp, &t, guest_abi::types::DomId(me), table);
    }
    evtchn::all(&t);
    devices::all(&t);
    lifecycle::all(&sp, &t);
    floods::all(&t);
    widths::all(&t);
    emulation::all(&sp, &t);
    t.report();
    true
}
