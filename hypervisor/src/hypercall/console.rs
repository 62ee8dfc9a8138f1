//! `console_io`: the hypervisor console, for dom0's shell and early guest output.

use super::{HcResult, Outcome};
use crate::domain::state::State;
use crate::domain::{CONSOLE_BURST, CONSOLE_LINE_MAX, CONSOLE_RATE};
use crate::mm::guest_copy;
use guest_abi::arch::CpuUserRegs;
use guest_abi::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use guest_abi::errno::Errno;
use guest_abi::hypercall_args::*;
use guest_abi::types::DomId;

/// Most bytes one call moves (longer writes are truncated; the return value says how much).
const MAX_IO: usize = 4096;

/// console_io(cmd, count, buffer).
pub fn console_io(st: &mut State, _regs: &mut CpuUserRegs, a: ConsoleIoArgs) -> HcResult {
    let (cmd, count, buf) = (a.cmd, a.count as usize, a.buf);
    match cmd {
        CONSOLEIO_WRITE => {
            let count = count.min(MAX_IO);
            let mut chunk = [0u8; 256];
            let mut done = 0;
            while done < count {
                let n = (count - done).min(chunk.len());
                guest_copy::copy_from_guest(&st.mem, buf + done as u64, &mut chunk[..n])?;
                emit(st, &chunk[..n]);
                done += n;
            }
            Ok(Outcome::Done(done as u64))
        }
        CONSOLEIO_READ => {
            st.require_privileged()?;
            // As Xen: the result is a byte count or a negative errno, so a count that does
            // not fit a positive int is refused.
            if count > i32::MAX as usize {
                return Err(Errno::E2BIG);
            }
            let mut chunk = [0u8; 256];
            let want = count.min(chunk.len());
            let mut n = 0;
            while n < want {
                match crate::console::read_byte() {
                    Some(b) => {
                        chunk[n] = b;
                        n += 1;
                    }
                    None => break,
                }
            }
            guest_copy::copy_to_guest(&st.mem, buf, &chunk[..n])?;
            // More than this read took: dom0 hears of it again (the receive interrupt is an
            // edge, which comes again only once the UART has been emptied).
            if n == want && crate::console::input_ready() {
                crate::evtchn::send_virq(
                    st,
                    guest_abi::types::DomId::DOM0,
                    guest_abi::event_channel::VIRQ_CONSOLE,
                );
            }
            Ok(Outcome::Done(n as u64))
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// Print guest output: dom0's as is, a domU's with a `(dN) ` prefix on each line and at most
/// [`CONSOLE_RATE`] bytes a second after a [`CONSOLE_BURST`] (the rest is dropped, and
/// reported at most once a second).
fn emit(st: &mut State, bytes: &[u8]) {
    let d = st.cur();
    if d.id == DomId::DOM0 {
        crate::console::write_bytes_dom0(bytes);
        return;
    }
    let now = crate::time::now();
    // A whole write or none: dropped output leaves no torn line behind.
    let granted = d
        .console_bucket
        .take_all(now, bytes.len() as u64, CONSOLE_RATE, CONSOLE_BURST);
    if let Some(dropped) = d.console_bucket.report_due(now, 1_000_000_000) {
        crate::xen_println!(
            "domain {}: console output over {CONSOLE_RATE} bytes/s: {dropped} bytes dropped",
            d.id
        );
    }
    if !granted {
        return;
    }
    // Line-buffered per domain, as Xen does: a line goes out whole, prefixed, so output from
    // different sources never interleaves within a line.
    for &b in bytes {
        if b == b'\r' {
            continue;
        }
        if b != b'\n' && d.console_line.push(b).is_ok() {
            continue;
        }
        let mut line: heapless::Vec<u8, { CONSOLE_LINE_MAX + 16 }> = heapless::Vec::new();
        let mut prefix = [0u8; 12];
        let plen = {
            let mut w = crate::util::ByteWriter::new(&mut prefix);
            let _ = core::fmt::Write::write_fmt(&mut w, format_args!("(d{}) ", d.id));
            w.len()
        };
        let _ = line.extend_from_slice(&prefix[..plen]);
        let _ = line.extend_from_slice(&d.console_line);
        let _ = line.push(b'\n');
        crate::console::write_bytes(&line);
        d.console_line.clear();
        if b != b'\n' {
            // The line was full: this byte starts the next one.
            let _ = d.console_line.push(b);
        }
    }
}
