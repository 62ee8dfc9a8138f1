//! `xl dmesg [-c]`: the hypervisor's log ring (sysctl readconsole).

use super::args::{self, Opt};
use super::{Toolstack, XlResult};
use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::fmt::Write;

const OPTS: &[Opt] = &[Opt::flag('c', "clear")];
/// Bytes read per readconsole call.
const CHUNK: usize = 4096;
/// The most `xl dmesg` reads (the hypervisor keeps 16 KiB; a log written faster than we read
/// it must not grow dom0's heap without end).
pub const MAX_DMESG_BYTES: usize = 64 * 1024;

impl<H: Hypervisor> Toolstack<'_, H> {
    pub(super) fn dmesg(&mut self, argv: &[&str], out: &mut dyn Write) -> XlResult {
        let p = args::parse(argv, OPTS).map_err(|e| format!("dmesg: {e}"))?;
        if !p.positional.is_empty() {
            return Err(String::from("dmesg: wrong arguments"));
        }
        let mut buf = vec![0u8; CHUNK];
        let mut index = 0u32;
        let mut first = true;
        let mut text = alloc::vec::Vec::new();
        loop {
            let (n, next) = self
                .hv
                .read_console(&mut buf, !first, index, false)
                .map_err(|e| {
                    format!("dmesg: cannot read the hypervisor log (sysctl readconsole): {e}")
                })?;
            text.extend_from_slice(&buf[..n]);
            first = false;
            index = next;
            if n < CHUNK || text.len() >= MAX_DMESG_BYTES {
                break;
            }
        }
        if p.has(OPTS, "clear") {
            self.hv
                .read_console(&mut [], false, 0, true)
                .map_err(|e| format!("dmesg: cannot clear the hypervisor log: {e}"))?;
        }
        for chunk in text.utf8_chunks() {
            let _ = out.write_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                let _ = out.write_char(char::REPLACEMENT_CHARACTER);
            }
        }
        Ok(())
    }
}
