//! The machine's physical memory, read over QEMU's QMP socket, and the VGA text screen in it.

use super::{Failure, System};
use crate::launch;
use crate::qmp::{self, Qmp};
use std::time::Duration;

impl System {
    /// `len` bytes of the machine's physical memory from `addr`, read through QMP (the
    /// system must have been booted [`BootOptions::with_qmp`](super::BootOptions::with_qmp)).
    pub fn read_phys(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, Failure> {
        let Some(path) = self.qmp_path.clone() else {
            return Err(self.failure("read_phys: booted without a QMP socket (with_qmp)"));
        };
        if self.qmp.is_none() {
            match Qmp::connect(&path, launch::scaled(Duration::from_secs(10))) {
                Ok(q) => self.qmp = Some(q),
                Err(e) => return Err(self.failure(e)),
            }
        }
        let r = self.qmp.as_mut().map(|q| q.read_phys(addr, len));
        match r {
            Some(Ok(data)) => Ok(data),
            Some(Err(e)) => Err(self.failure(e)),
            None => Err(self.failure("QMP not connected")),
        }
    }

    /// What a PC's screen shows in VGA text mode (80x25 at 0xB8000), a line each; also
    /// saved next to the transcript as `<test>.screen.txt`.
    pub fn vga_text(&mut self) -> Result<String, Failure> {
        let cells = (qmp::VGA_COLUMNS * qmp::VGA_LINES * 2) as u64;
        let data = self.read_phys(qmp::VGA_TEXT, cells)?;
        let text = qmp::screen_text(&data, qmp::VGA_COLUMNS);
        let path = self.log_path().with_extension("screen.txt");
        let _ = std::fs::create_dir_all(launch::logs_dir());
        let _ = std::fs::write(&path, &text);
        Ok(text)
    }
}
