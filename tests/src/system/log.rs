//! The saved transcript: `target/e2e-logs/<name>.log`, the console and QEMU's stderr.

use super::System;
use crate::launch;
use std::path::PathBuf;

impl System {
    /// Where the transcript is saved.
    pub fn log_path(&self) -> PathBuf {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        launch::logs_dir().join(format!("{safe}.log"))
    }

    /// Write the full transcript (and QEMU's stderr) to `target/e2e-logs/<name>.log`.
    pub fn save_log(&self) {
        let path = self.log_path();
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
        let mut s = format!("# {}\n# {}\n", self.name, self.command);
        s.push_str(&self.transcript());
        let err = self.err.text();
        if !err.trim().is_empty() {
            s.push_str("\n----- QEMU stderr -----\n");
            s.push_str(&err);
        }
        let _ = std::fs::write(&path, s);
    }
}
