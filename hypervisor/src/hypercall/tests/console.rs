//! `console_io`: dom0's writes go to the console as they are; a domU's are line-buffered,
//! prefixed `(dN) `, split at the longest line kept and rate-limited (whole writes dropped,
//! the drop reported in the hypervisor log at most once a second); CONSOLEIO_read is dom0's.
//!
//! What reaches the console is counted in the UART's transmit queue (fed to the host's
//! stdout a byte at a time to count it); the rate-limit reports are read from the log ring.

use crate::arch::cpu::advance_ns;
use crate::console::{LOG_RING, RING_SIZE};
use crate::domain::{CONSOLE_BURST, CONSOLE_LINE_MAX, CONSOLE_RATE};
use crate::testbed::{err, Testbed};
use guest_abi::console::{CONSOLEIO_READ, CONSOLEIO_WRITE};
use guest_abi::errno::Errno;
use guest_abi::hypercall::nr;
use guest_abi::start_info::StartInfo;
use guest_abi::types::DomId;

const SEC: u64 = 1_000_000_000;

fn io(tb: &mut Testbed, cmd: u64, count: u64, buf: u64) -> i64 {
    tb.hypercall(nr::CONSOLE_IO, [cmd, count, buf, 0, 0])
}

/// The current domain writes `s` (from its scratch area); the hypercall's result.
fn write(tb: &mut Testbed, s: &[u8]) -> i64 {
    let buf = tb.scratch();
    tb.write_bytes(buf, s);
    io(tb, CONSOLEIO_WRITE.into(), s.len() as u64, buf)
}

/// Bytes waiting for the UART, which this empties (to the host's stdout).
fn queued() -> usize {
    let mut n = 0;
    while crate::console::pending() {
        crate::console::drain(1);
        n += 1;
    }
    n
}

/// A machine with nothing waiting for the UART (earlier output flushed).
fn boot() -> Testbed {
    let tb = Testbed::boot();
    crate::console::flush();
    tb
}

/// The log ring's end index now.
fn log_end() -> u32 {
    let mut all = vec![0u8; RING_SIZE];
    LOG_RING.lock().read(&mut all, false, 0, false).1
}

/// What the log ring got since index `from`.
fn log_since(from: u32) -> String {
    let mut all = vec![0u8; RING_SIZE];
    let (n, _) = LOG_RING.lock().read(&mut all, true, from, false);
    String::from_utf8_lossy(&all[..n]).into_owned()
}

fn line(tb: &Testbed, dom: DomId) -> Vec<u8> {
    tb.st(|st| st.dom(dom).expect("domain exists").console_line.to_vec())
}

fn domu(tb: &mut Testbed) -> DomId {
    let u = tb.domu(1024);
    tb.run(u);
    u
}

#[test]
fn dom0_output_goes_out_at_once_and_the_count_is_returned() {
    let mut tb = boot();
    assert_eq!(write(&mut tb, b"hello\nworld"), 11);
    // As written, `\n` sent as `\r\n`, no prefix, nothing held back for the line's end.
    assert_eq!(queued(), 12);
    assert!(line(&tb, DomId::DOM0).is_empty());
    // A zero-length write does not look at the buffer.
    assert_eq!(io(&mut tb, CONSOLEIO_WRITE.into(), 0, 0), 0);
    assert_eq!(queued(), 0);
}

#[test]
fn domu_output_is_line_buffered_and_prefixed_with_its_id() {
    let mut tb = boot();
    let u = domu(&mut tb);
    assert_eq!(write(&mut tb, b"abc"), 3);
    assert_eq!(queued(), 0, "no line yet");
    assert_eq!(line(&tb, u), b"abc");
    assert_eq!(write(&mut tb, b"de\nf"), 4);
    let prefix = format!("(d{u}) ").len();
    assert_eq!(queued(), prefix + "abcde\r\n".len());
    assert_eq!(line(&tb, u), b"f");
    // Carriage returns from the guest are dropped: one line, one `\r\n`.
    assert_eq!(write(&mut tb, b"\r\ng\r\r\n"), 6);
    assert_eq!(queued(), 2 * prefix + "f\r\n".len() + "g\r\n".len());
    assert!(line(&tb, u).is_empty());
    // dom0's own line state is untouched.
    assert!(line(&tb, DomId::DOM0).is_empty());
}

#[test]
fn domu_lines_longer_than_the_limit_are_split() {
    let mut tb = boot();
    let u = domu(&mut tb);
    let prefix = format!("(d{u}) ").len();
    let long = vec![b'x'; CONSOLE_LINE_MAX + 44];
    assert_eq!(write(&mut tb, &long), long.len() as i64);
    assert_eq!(
        queued(),
        prefix + CONSOLE_LINE_MAX + 2,
        "a full line goes out"
    );
    assert_eq!(line(&tb, u).len(), 44, "the rest starts the next one");
    assert_eq!(write(&mut tb, b"\n"), 1);
    assert_eq!(queued(), prefix + 44 + 2);
    // Exactly the limit followed by a newline is one line, not two.
    let mut exact = vec![b'y'; CONSOLE_LINE_MAX];
    exact.push(b'\n');
    assert_eq!(write(&mut tb, &exact), exact.len() as i64);
    assert_eq!(queued(), prefix + CONSOLE_LINE_MAX + 2);
    assert!(line(&tb, u).is_empty());
}

#[test]
fn domu_output_over_the_burst_is_dropped_whole_and_reported_once_a_second() {
    let mut tb = boot();
    // Away from system time 0 (a report at time 0 would look like "never reported").
    advance_ns(1_000_000);
    let u = domu(&mut tb);
    // Carriage returns cost tokens but print nothing: use up the burst quietly.
    let cr = vec![b'\r'; 4096];
    for _ in 0..CONSOLE_BURST / 4096 {
        assert_eq!(write(&mut tb, &cr), 4096);
    }
    assert_eq!(queued(), 0);
    let log = log_end();
    // Over the limit: dropped whole (no part of the line is kept), reported at once.
    assert_eq!(write(&mut tb, b"lost\n"), 5, "the guest is not told");
    assert!(line(&tb, u).is_empty(), "no torn line left behind");
    let reported = log_since(log);
    assert_eq!(
        reported,
        format!("(XEN) domain {u}: console output over {CONSOLE_RATE} bytes/s: 5 bytes dropped\n")
    );
    // The console shows the report (`\r\n`-terminated), none of the guest's line.
    assert_eq!(queued(), reported.len() + 1);
    // More drops within the second: counted, not reported yet.
    let log = log_end();
    assert_eq!(write(&mut tb, b"also lost\n"), 10);
    assert_eq!(write(&mut tb, b"partial"), 7);
    assert_eq!(log_since(log), "");
    assert!(line(&tb, u).is_empty());
    // A second later the bucket has CONSOLE_RATE bytes again and the drops are reported.
    advance_ns(SEC);
    assert_eq!(write(&mut tb, b"ok\n"), 3);
    let reported = log_since(log);
    assert_eq!(
        reported,
        format!("(XEN) domain {u}: console output over {CONSOLE_RATE} bytes/s: 17 bytes dropped\n")
    );
    assert_eq!(
        queued(),
        reported.len() + 1 + format!("(d{u}) ok\r\n").len()
    );
}

#[test]
fn dom0_is_not_rate_limited() {
    let mut tb = boot();
    let cr = vec![b'\r'; 4096];
    let log = log_end();
    for _ in 0..CONSOLE_BURST / 4096 + 2 {
        assert_eq!(write(&mut tb, &cr), 4096);
        assert_eq!(queued(), 4096);
    }
    assert_eq!(log_since(log), "");
}

#[test]
fn a_write_is_cut_at_4096_bytes_and_says_so() {
    let mut tb = boot();
    let cr = vec![b'\r'; 5000];
    assert_eq!(write(&mut tb, &cr), 4096);
    assert_eq!(queued(), 4096);
    // A count far beyond the buffer: only the first 4096 bytes are read.
    let buf = tb.scratch();
    assert_eq!(
        io(&mut tb, CONSOLEIO_WRITE.into(), u32::MAX.into(), buf),
        4096
    );
    assert_eq!(queued(), 4096);
}

#[test]
fn writes_from_bad_buffers_fault() {
    let mut tb = boot();
    let u = domu(&mut tb);
    let end = tb.mapped_end(tb.scratch());
    for p in [0x10, 0xFFFF_8000_0000_0000, 0x0000_8000_0000_0000, end] {
        assert_eq!(
            io(&mut tb, CONSOLEIO_WRITE.into(), 8, p),
            err(Errno::EFAULT),
            "{p:#x}"
        );
    }
    // Straddling the end of the mapping within one chunk: nothing of it is printed.
    tb.write_bytes(end - 4, b"abc\n");
    assert_eq!(
        io(&mut tb, CONSOLEIO_WRITE.into(), 8, end - 4),
        err(Errno::EFAULT)
    );
    assert_eq!(queued(), 0);
    assert!(line(&tb, u).is_empty());
    // A buffer wrapping around the address space.
    assert_eq!(
        io(&mut tb, CONSOLEIO_WRITE.into(), 16, u64::MAX - 7),
        err(Errno::EFAULT)
    );
    // A read-only buffer (the domain's page tables) is fine to write from.
    let si: StartInfo = tb.read(tb.st(|st| st.cur().vcpus[0].regs.rsi));
    assert_eq!(io(&mut tb, CONSOLEIO_WRITE.into(), 8, si.pt_base), 8);
}

#[test]
fn too_wide_arguments_are_einval_and_unknown_commands_enosys() {
    let mut tb = boot();
    let buf = tb.scratch();
    assert_eq!(
        io(&mut tb, CONSOLEIO_WRITE.into(), 1 << 32, buf),
        err(Errno::EINVAL)
    );
    assert_eq!(io(&mut tb, 1 << 32, 1, buf), err(Errno::EINVAL));
    for cmd in [2, 3, 0xFFFF_FFFF] {
        assert_eq!(io(&mut tb, cmd, 1, buf), err(Errno::ENOSYS), "{cmd}");
    }
    assert_eq!(queued(), 0);
}

#[test]
fn read_is_for_dom0_only() {
    let mut tb = boot();
    // No input waiting on the modelled UART: nothing read, the buffer untouched.
    let buf = tb.scratch();
    tb.write_bytes(buf, &[0x5A; 64]);
    assert_eq!(io(&mut tb, CONSOLEIO_READ.into(), 64, buf), 0);
    assert_eq!(tb.read_bytes(buf, 64), vec![0x5A; 64]);
    // A count that does not fit a positive int cannot be told apart from an error: E2BIG.
    assert_eq!(
        io(&mut tb, CONSOLEIO_READ.into(), 1 << 31, buf),
        err(Errno::E2BIG)
    );
    assert_eq!(
        io(&mut tb, CONSOLEIO_READ.into(), u32::MAX.into(), buf),
        err(Errno::E2BIG)
    );
    assert_eq!(io(&mut tb, CONSOLEIO_READ.into(), (1 << 31) - 1, buf), 0);
    let u = domu(&mut tb);
    assert_eq!(tb.current(), u);
    let buf = tb.scratch();
    tb.write_bytes(buf, &[0x5A; 64]);
    assert_eq!(
        io(&mut tb, CONSOLEIO_READ.into(), 64, buf),
        err(Errno::EPERM)
    );
    assert_eq!(tb.read_bytes(buf, 64), vec![0x5A; 64]);
    // EPERM comes first, whatever the other arguments.
    assert_eq!(
        io(&mut tb, CONSOLEIO_READ.into(), u32::MAX.into(), 0),
        err(Errno::EPERM)
    );
}
