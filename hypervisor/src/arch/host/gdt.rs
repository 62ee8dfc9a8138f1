//! The modelled GDT/LDT window: which guest descriptor frames are loaded.

use crate::arch::desc::GuestDescTables;
use spin::Mutex;

static LOADED: Mutex<Option<GuestDescTables>> = Mutex::new(None);

/// Make `t` the live descriptor tables.
pub fn load_guest_tables(t: &GuestDescTables) {
    *LOADED.lock() = Some(*t);
}

/// The tables loaded last.
pub fn loaded() -> Option<GuestDescTables> {
    *LOADED.lock()
}
