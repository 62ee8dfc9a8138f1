//! A small QMP client (QEMU's machine protocol, JSON lines on a unix socket): enough to read
//! guest memory, e.g. the VGA text screen a real PC would show.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Physical address of VGA colour text memory.
pub const VGA_TEXT: u64 = 0xB8000;
/// The standard text mode's columns and lines.
pub const VGA_COLUMNS: usize = 80;
pub const VGA_LINES: usize = 25;

/// A fresh path under the temporary directory for a socket or a dump (`<what>-<pid>-<n>`).
pub fn temp_path(what: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "e2e-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A QMP connection in command mode.
pub struct Qmp {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Qmp {
    /// Connects to QEMU's `-qmp unix:<path>,server=on,wait=off` (retrying while QEMU starts,
    /// up to `timeout`), reads the greeting and leaves capabilities negotiation.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, String> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("connecting to QMP at {}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| format!("QMP socket: {e}"))?;
        let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
        let mut q = Qmp { stream, reader };
        let greeting = q.line()?;
        if !greeting.contains("\"QMP\"") {
            return Err(format!("not a QMP greeting: {greeting}"));
        }
        q.execute(r#"{"execute": "qmp_capabilities"}"#)?;
        Ok(q)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut l = String::new();
        match self.reader.read_line(&mut l) {
            Ok(0) => Err("QMP: connection closed".into()),
            Ok(_) => Ok(l),
            Err(e) => Err(format!("QMP: reading: {e}")),
        }
    }

    /// Sends one command (a JSON object) and returns its `{"return": ...}` line; an
    /// `{"error": ...}` answer is an error. Events in between are skipped.
    pub fn execute(&mut self, command: &str) -> Result<String, String> {
        self.stream
            .write_all(format!("{command}\n").as_bytes())
            .map_err(|e| format!("QMP: sending {command}: {e}"))?;
        loop {
            let l = self.line()?;
            let t = l.trim_start();
            if t.starts_with("{\"return\"") {
                return Ok(l);
            }
            if t.starts_with("{\"error\"") {
                return Err(format!("QMP: {command} failed: {}", l.trim_end()));
            }
        }
    }

    /// `len` bytes of guest physical memory from `addr` (QMP `pmemsave` into a temporary
    /// file, which is read and removed).
    pub fn read_phys(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, String> {
        let file = temp_path("pmem");
        let cmd = format!(
            r#"{{"execute": "pmemsave", "arguments": {{"val": {addr}, "size": {len}, "filename": "{}"}}}}"#,
            file.display()
        );
        let r = self
            .execute(&cmd)
            .and_then(|_| std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display())));
        let _ = std::fs::remove_file(&file);
        let data = r?;
        if data.len() as u64 != len {
            return Err(format!("pmemsave gave {} bytes, not {len}", data.len()));
        }
        Ok(data)
    }
}

/// A text screen's characters from its memory (cells of character and attribute bytes), one
/// line each with trailing blanks removed; bytes outside printable ASCII show as `.`.
pub fn screen_text(cells: &[u8], columns: usize) -> String {
    let mut s = String::new();
    for line in cells.chunks(columns * 2) {
        let text: String = line
            .chunks(2)
            .map(|c| match c[0] {
                0 => ' ',
                b @ 0x20..=0x7E => char::from(b),
                _ => '.',
            })
            .collect();
        s.push_str(text.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_cells_to_text() {
        let mut cells = Vec::new();
        for c in b"(XEN) hi" {
            cells.extend([*c, 0x07]);
        }
        cells.resize(8 * 2 * 2, 0);
        cells[16] = 0xDB;
        cells[18] = b'x';
        assert_eq!(screen_text(&cells, 8), "(XEN) hi\n.x\n");
    }

    #[test]
    fn temp_paths_differ() {
        assert_ne!(temp_path("a"), temp_path("a"));
    }
}
