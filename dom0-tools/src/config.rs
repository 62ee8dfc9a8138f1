//! xl.cfg domain configuration files (the subset a PV guest of ours needs).
//!
//! Syntax, as xl's: `key = value` settings, one per line or separated by `;` (a trailing `;`
//! is fine); values are "double-quoted" or 'single-quoted' strings (escapes `\\ \" \' \n \t`
//! in double quotes), integers (decimal or `0x` hex) or `[lists, of, values]` that may span
//! lines; `#` starts a comment; blank lines are ignored. As in xl, a quoted number is accepted
//! where a number is expected (`memory = "16"`).
//!
//! Settings: `name` (mandatory), `type` (only `"pv"`), `kernel` (mandatory: a path in dom0's
//! initrd), `ramdisk`, `cmdline`, or `root` + `extra` (the command line is `root=<root>
//! <extra>`), `memory` (MiB, default [`DEFAULT_MEMORY_MIB`] = 16: our guests are tiny, where
//! xl's default is 128), `maxmem` (MiB, default = memory), `vcpus` (default 1), `maxvcpus`
//! (default = vcpus), `cpu_weight` (1–65535, default 256), `cap` (percent of one CPU, 0 = no
//! cap), `on_poweroff`/`on_reboot`/`on_crash`/`on_watchdog` (`destroy`, `restart`,
//! `preserve`; Xen's `rename-restart`, `coredump-*` and `soft-reset` are recognised and refused
//! as unsupported), and `disk`/`vif` (lists of strings, stored for the split drivers).
//! Anything else, a setting given twice, or a value of the wrong type or out of range is a
//! [`ConfigError`].
//!
//! Bounds (dom0's heap is small and fixed, and a config is whatever a user wrote): a file of
//! at most [`MAX_CONFIG_BYTES`], at most [`MAX_SETTINGS`] settings (overrides included),
//! names of at most [`MAX_KEY_LEN`] bytes, values of at most [`MAX_VALUE_LEN`], lists of at
//! most [`MAX_LIST_ITEMS`]; each is an error naming the limit. Parsing is one pass over the
//! text, keeping one token of look-ahead, with duplicate names found in a map: linear time,
//! and memory bounded by the parsed settings themselves.
//!
//! `xl create <cfg> KEY=VALUE...` overrides: see [`DomainConfig::parse_with_overrides`].

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// `memory` when the file does not say.
pub const DEFAULT_MEMORY_MIB: u64 = 16;
/// The largest `memory`/`maxmem` accepted.
pub const MAX_MEMORY_MIB: u64 = 4096;
/// The most vCPUs a domain may have (Xen's XEN_LEGACY_MAX_VCPUS).
pub const MAX_VCPUS: u32 = 32;
/// Longest domain name.
pub const MAX_NAME_LEN: usize = 63;
/// Longest kernel command line (start_info.cmd_line is 1024 bytes with the NUL).
pub const MAX_CMDLINE_LEN: usize = 1023;
/// `cpu_weight` when the file does not say (Xen's credit scheduler default).
pub const DEFAULT_WEIGHT: u32 = 256;
/// The largest `cpu_weight` (Xen's credit scheduler accepts 1..=65535).
pub const MAX_WEIGHT: u32 = 65535;
/// What errors in `KEY=VALUE` overrides name as their file.
pub const OVERRIDES_FILE: &str = "<command line>";
/// The largest config file accepted, in bytes (real ones are well under 4 KiB).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// The most settings a config may have, the file's and `KEY=VALUE` overrides' together
/// (there are 22 different settings, and none may be given twice).
pub const MAX_SETTINGS: usize = 64;
/// The longest setting name, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// The longest value (a string after its escapes, or a number as written), in bytes: the
/// kernel command line, the longest value a guest uses, has at most [`MAX_CMDLINE_LEN`].
pub const MAX_VALUE_LEN: usize = 1024;
/// The most items in a list (`disk`, `vif`).
pub const MAX_LIST_ITEMS: usize = 32;

/// A rejected configuration: `file:line: reason` (`file: reason` when no line applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the error is about the file as a whole (e.g. a missing setting).
    pub line: u32,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.reason)
        }
    }
}

/// What to do when a domain shuts down for some reason (recorded; xl semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownAction {
    Destroy,
    Restart,
    Preserve,
    RenameRestart,
    CoredumpDestroy,
    CoredumpRestart,
    SoftReset,
}

impl ShutdownAction {
    /// The action's name in xl.cfg.
    pub fn name(self) -> &'static str {
        match self {
            Self::Destroy => "destroy",
            Self::Restart => "restart",
            Self::Preserve => "preserve",
            Self::RenameRestart => "rename-restart",
            Self::CoredumpDestroy => "coredump-destroy",
            Self::CoredumpRestart => "coredump-restart",
            Self::SoftReset => "soft-reset",
        }
    }

    /// Whether this toolstack can carry the action out.
    pub fn supported(self) -> bool {
        matches!(self, Self::Destroy | Self::Restart | Self::Preserve)
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "destroy" => Self::Destroy,
            "restart" => Self::Restart,
            "preserve" => Self::Preserve,
            "rename-restart" => Self::RenameRestart,
            "coredump-destroy" => Self::CoredumpDestroy,
            "coredump-restart" => Self::CoredumpRestart,
            "soft-reset" => Self::SoftReset,
            _ => return None,
        })
    }
}

/// A validated domain configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    pub name: String,
    /// Path of the kernel in dom0's initrd.
    pub kernel: String,
    pub ramdisk: Option<String>,
    pub cmdline: Option<String>,
    pub root: Option<String>,
    pub extra: Option<String>,
    /// MiB.
    pub memory: u64,
    /// MiB, >= memory.
    pub maxmem: u64,
    pub vcpus: u32,
    /// >= vcpus.
    pub maxvcpus: u32,
    pub on_poweroff: ShutdownAction,
    pub on_reboot: ShutdownAction,
    pub on_crash: ShutdownAction,
    pub on_watchdog: ShutdownAction,
    /// Credit scheduler weight.
    pub cpu_weight: u32,
    /// Credit scheduler cap in percent of one CPU (0 = none).
    pub cap: u32,
    /// `disk = [...]` specs, stored for the block split driver.
    pub disks: Vec<String>,
    /// `vif = [...]` specs, stored for the network split driver.
    pub vifs: Vec<String>,
}

impl DomainConfig {
    /// Parses and validates `text`, read from `file` (used in error messages only).
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let settings = parse_settings(file, text)?;
        build(file, &settings)
    }

    /// Parses `text` as [`parse`](Self::parse), then applies `KEY=VALUE` overrides as xl
    /// does for the words after the config file: each replaces the file's setting of that key
    /// (or adds one). VALUE is in config syntax (`memory=32`, `extra="a b"`, `disk=['x']`);
    /// for convenience at a shell whose quotes were already removed, a VALUE that is not a
    /// valid config value is taken as a plain string (`extra=test=pong peer=1`). Errors in an
    /// override name [`OVERRIDES_FILE`] and the override's position (1-based) as the line.
    pub fn parse_with_overrides(
        file: &str,
        text: &str,
        overrides: &[&str],
    ) -> Result<Self, ConfigError> {
        let mut settings = parse_settings(file, text)?;
        for (i, ov) in overrides.iter().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut s = parse_override(ov, line)?;
            s.file = Some(OVERRIDES_FILE.to_string());
            settings.retain(|old| old.key != s.key);
            if settings.len() >= MAX_SETTINGS {
                return Err(err(OVERRIDES_FILE, line, too_many_settings(&s.key)));
            }
            settings.push(s);
        }
        build(file, &settings)
    }

    /// As [`parse_with_overrides`](Self::parse_with_overrides), for raw file contents.
    pub fn parse_bytes_with_overrides(
        file: &str,
        bytes: &[u8],
        overrides: &[&str],
    ) -> Result<Self, ConfigError> {
        let text = utf8(file, bytes)?;
        Self::parse_with_overrides(file, text, overrides)
    }

    /// As [`parse`](Self::parse), for raw file contents.
    pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<Self, ConfigError> {
        Self::parse(file, utf8(file, bytes)?)
    }

    /// The kernel command line: `cmdline`, else `root=<root> <extra>` (either part optional).
    pub fn kernel_cmdline(&self) -> String {
        if let Some(c) = &self.cmdline {
            return c.clone();
        }
        let mut s = String::new();
        if let Some(r) = &self.root {
            s.push_str("root=");
            s.push_str(r);
        }
        if let Some(e) = &self.extra {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(e);
        }
        s
    }

    /// Memory in 4 KiB pages (`None` if that does not fit in 64 bits).
    pub fn memory_pages(&self) -> Option<u64> {
        self.memory.checked_mul(256)
    }

    /// Memory in KiB (`None` if that does not fit in 64 bits).
    pub fn memory_kib(&self) -> Option<u64> {
        self.memory.checked_mul(1024)
    }

    /// The maximum memory in KiB (`None` if that does not fit in 64 bits).
    pub fn maxmem_kib(&self) -> Option<u64> {
        self.maxmem.checked_mul(1024)
    }

    /// Checks the sizes again, as parsing did: `memory` and `maxmem` within 1 to
    /// [`MAX_MEMORY_MIB`] and `maxmem >= memory` (a config kept for a restart may have been
    /// changed since, e.g. by `xl mem-max`). The error names the setting and the limit.
    pub fn check_sizes(&self) -> Result<(), String> {
        for (key, v) in [("memory", self.memory), ("maxmem", self.maxmem)] {
            if !(1..=MAX_MEMORY_MIB).contains(&v) {
                return Err(format!(
                    "{key} = {v} MiB: must be between 1 and {MAX_MEMORY_MIB} MiB"
                ));
            }
        }
        if self.maxmem < self.memory {
            return Err(format!(
                "maxmem = {} MiB: must be at least memory ({} MiB)",
                self.maxmem, self.memory
            ));
        }
        Ok(())
    }
}

/// Checks a domain name: 1–63 characters from `A-Za-z0-9_.-`, not starting with `-` and not
/// all digits (xl takes an all-digit argument as a domain id).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "too long ({} characters, at most {MAX_NAME_LEN})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "{name:?} contains {c:?} (allowed: letters, digits, '_', '.', '-')"
        ));
    }
    if name.starts_with('-') {
        return Err(format!("{name:?} must not start with '-'"));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name:?} is all digits (it would read as a domain id)"
        ));
    }
    Ok(())
}

fn utf8<'b>(file: &str, bytes: &'b [u8]) -> Result<&'b str, ConfigError> {
    check_size(file, bytes.len())?;
    core::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        err(file, line as u32, "not valid UTF-8 text".to_string())
    })
}

/// A config file of `len` bytes must not exceed [`MAX_CONFIG_BYTES`].
fn check_size(file: &str, len: usize) -> Result<(), ConfigError> {
    if len > MAX_CONFIG_BYTES {
        return Err(err(
            file,
            0,
            format!("too large: {len} bytes (a config file may have at most {MAX_CONFIG_BYTES})"),
        ));
    }
    Ok(())
}

/// One `KEY=VALUE` override (see [`DomainConfig::parse_with_overrides`]).
fn parse_override(ov: &str, line: u32) -> Result<Setting, ConfigError> {
    let f = OVERRIDES_FILE;
    let Some((key, value)) = ov.split_once('=') else {
        return Err(err(
            f,
            line,
            format!(
                "{}: expected KEY=VALUE (e.g. memory=32 or extra=\"...\")",
                Shown(ov, true)
            ),
        ));
    };
    let key = key.trim();
    let key_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        return Err(err(
            f,
            line,
            format!(
                "{}: {} is not a setting name",
                Shown(ov, true),
                Shown(key, true)
            ),
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(err(f, line, key_too_long(key)));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(err(f, line, value_too_long(key)));
    }
    // As config text first; else the raw value is a string.
    let as_config = format!("{key} = {value}");
    let value = match parse_settings(f, &as_config) {
        Ok(mut v) if v.len() == 1 => v.remove(0).value,
        _ => Value::Str(value.to_string()),
    };
    Ok(Setting {
        key: key.to_string(),
        value,
        line,
        file: None,
    })
}

fn err(file: &str, line: u32, reason: String) -> ConfigError {
    ConfigError {
        file: file.to_string(),
        line,
        reason,
    }
}

fn key_too_long(key: &str) -> String {
    format!(
        "{}: setting name too long (more than {MAX_KEY_LEN} bytes)",
        Shown(key, false)
    )
}

fn value_too_long(key: &str) -> String {
    format!("{key}: value too long (more than {MAX_VALUE_LEN} bytes)")
}

/// Text in an error message, cut after [`SHOWN_CHARS`] characters (`...` marks the cut);
/// quoted if `.1`.
struct Shown<'a>(&'a str, bool);

/// How much of a long word or value an error message shows.
const SHOWN_CHARS: usize = 40;

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = self
            .0
            .char_indices()
            .nth(SHOWN_CHARS)
            .map_or(self.0, |(i, _)| &self.0[..i]);
        let more = if cut.len() < self.0.len() { "..." } else { "" };
        if self.1 {
            write!(f, "{cut:?}{more}")
        } else {
            write!(f, "{cut}{more}")
        }
    }
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    /// A number as written (converted by the setting that wants it).
    Num(String),
    List(Vec<Value>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{}", Shown(s, true)),
            Value::Num(n) => write!(f, "{}", Shown(n, false)),
            Value::List(_) => f.write_str("a list"),
        }
    }
}

struct Setting {
    key: String,
    value: Value,
    line: u32,
    /// Where it came from when not the config file itself (an override).
    file: Option<String>,
}

/// The file a setting came from: its own (an override) or the config file.
fn src<'a>(file: &'a str, s: &'a Setting) -> &'a str {
    s.file.as_deref().unwrap_or(file)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Eq,
    LBrack,
    RBrack,
    Comma,
    Semi,
    Newline,
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Num(s) => write!(f, "\"{}\"", Shown(s, false)),
            Tok::Str(s) => write!(f, "the string {}", Shown(s, true)),
            Tok::Eq => f.write_str("\"=\""),
            Tok::LBrack => f.write_str("\"[\""),
            Tok::RBrack => f.write_str("\"]\""),
            Tok::Comma => f.write_str("\",\""),
            Tok::Semi => f.write_str("\";\""),
            Tok::Newline => f.write_str("end of line"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

/// The tokens of a config, one at a time (nothing is kept but the one looked ahead at), each
/// with its line. A word, number or string longer than [`MAX_VALUE_LEN`] is an error (a
/// setting name: longer than [`MAX_KEY_LEN`]), so a token never takes more memory than that.
struct Lexer<'t> {
    file: &'t str,
    chars: core::iter::Peekable<core::str::Chars<'t>>,
    line: u32,
    peeked: Option<(Tok, u32)>,
}

impl<'t> Lexer<'t> {
    fn new(file: &'t str, text: &'t str) -> Self {
        Self {
            file,
            chars: text.chars().peekable(),
            line: 1,
            peeked: None,
        }
    }

    /// The next token; `key` is the setting whose value is being read (`None` where a setting
    /// name is expected), for error messages and the length limit.
    fn next(&mut self, key: Option<&str>) -> Result<(Tok, u32), ConfigError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(key),
        }
    }

    /// The next token without taking it.
    fn peek(&mut self, key: Option<&str>) -> Result<&Tok, ConfigError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex(key)?);
        }
        Ok(&self.peeked.as_ref().expect("just set").0)
    }

    fn lex(&mut self, key: Option<&str>) -> Result<(Tok, u32), ConfigError> {
        let file = self.file;
        let too_long = |line: u32, what: &str| match key {
            Some(k) => err(file, line, value_too_long(k)),
            None => err(file, line, key_too_long(what)),
        };
        while let Some(c) = self.chars.next() {
            let line = self.line;
            let tok = match c {
                '\n' => {
                    self.line = self.line.saturating_add(1);
                    Tok::Newline
                }
                c if c.is_whitespace() => continue,
                '#' => {
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.chars.next();
                    }
                    continue;
                }
                '=' => Tok::Eq,
                '[' => Tok::LBrack,
                ']' => Tok::RBrack,
                ',' => Tok::Comma,
                ';' => Tok::Semi,
                '"' | '\'' => {
                    let quote = c;
                    let mut s = String::new();
                    loop {
                        match self.chars.next() {
                            None | Some('\n') => {
                                return Err(err(file, line, "unterminated string".to_string()))
                            }
                            Some(c) if c == quote => break,
                            Some('\\') if quote == '"' => match self.chars.next() {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(c @ ('\\' | '"' | '\'')) => s.push(c),
                                Some(c) => {
                                    return Err(err(
                                        file,
                                        line,
                                        format!("unknown escape \"\\{c}\""),
                                    ))
                                }
                                None => {
                                    return Err(err(file, line, "unterminated string".to_string()))
                                }
                            },
                            Some(c) => s.push(c),
                        }
                        if s.len() > MAX_VALUE_LEN {
                            return Err(err(file, line, value_too_long(key.unwrap_or("a string"))));
                        }
                    }
                    Tok::Str(s)
                }
                c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+' => {
                    let limit = if key.is_some() {
                        MAX_VALUE_LEN
                    } else {
                        MAX_KEY_LEN
                    };
                    let mut s = String::from(c);
                    while let Some(&n) = self.chars.peek() {
                        if !(n.is_ascii_alphanumeric() || matches!(n, '_' | '.' | '-' | '+')) {
                            break;
                        }
                        if s.len() >= limit {
                            return Err(too_long(line, &s));
                        }
                        s.push(n);
                        self.chars.next();
                    }
                    if c.is_ascii_digit() || c == '-' || c == '+' {
                        Tok::Num(s)
                    } else {
                        Tok::Ident(s)
                    }
                }
                c => return Err(err(file, line, format!("unexpected character {c:?}"))),
            };
            return Ok((tok, line));
        }
        Ok((Tok::Eof, self.line))
    }
}

/// Parses config text into its settings, in one pass: at most [`MAX_SETTINGS`], each name
/// at most once (checked in a map), values and lists within [`MAX_VALUE_LEN`] and
/// [`MAX_LIST_ITEMS`]; the text itself at most [`MAX_CONFIG_BYTES`].
fn parse_settings(file: &str, text: &str) -> Result<Vec<Setting>, ConfigError> {
    check_size(file, text.len())?;
    let mut lx = Lexer::new(file, text);
    let mut settings: Vec<Setting> = Vec::new();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    loop {
        let (tok, line) = lx.next(None)?;
        let key = match tok {
            Tok::Eof => return Ok(settings),
            Tok::Newline | Tok::Semi => continue,
            Tok::Ident(k) => k,
            other => {
                return Err(err(
                    file,
                    line,
                    format!("expected a setting name, got {other}"),
                ))
            }
        };
        if lx.next(Some(&key))?.0 != Tok::Eq {
            return Err(err(file, line, format!("expected \"=\" after \"{key}\"")));
        }
        if let Some(first) = seen.get(&key) {
            return Err(err(
                file,
                line,
                format!("{key}: set twice (first on line {first})"),
            ));
        }
        if settings.len() >= MAX_SETTINGS {
            return Err(err(file, line, too_many_settings(&key)));
        }
        let value = parse_value(&mut lx, file, &key, line, false)?;
        match lx.next(Some(&key))? {
            (Tok::Newline | Tok::Semi | Tok::Eof, _) => {}
            (t, l) => {
                return Err(err(
                    file,
                    l,
                    format!("{key}: expected end of line after the value, got {t}"),
                ))
            }
        }
        seen.insert(key.clone(), line);
        settings.push(Setting {
            key,
            value,
            line,
            file: None,
        });
    }
}

fn too_many_settings(key: &str) -> String {
    format!(
        "{key}: too many settings (a config may have at most {MAX_SETTINGS}, overrides included)"
    )
}

/// Parses one value; inside a list, newlines are skipped.
fn parse_value(
    lx: &mut Lexer<'_>,
    file: &str,
    key: &str,
    line: u32,
    in_list: bool,
) -> Result<Value, ConfigError> {
    let missing = || err(file, line, format!("{key}: missing value"));
    let (tok, tline) = lx.next(Some(key))?;
    match tok {
        Tok::Str(s) => Ok(Value::Str(s)),
        Tok::Num(n) => Ok(Value::Num(n)),
        Tok::LBrack if !in_list => {
            let mut items = Vec::new();
            let unterminated = || err(file, line, format!("{key}: unterminated list"));
            loop {
                while *lx.peek(Some(key))? == Tok::Newline {
                    lx.next(Some(key))?;
                }
                match lx.peek(Some(key))? {
                    Tok::Eof => return Err(unterminated()),
                    Tok::RBrack => {
                        lx.next(Some(key))?;
                        return Ok(Value::List(items));
                    }
                    _ => {}
                }
                if items.len() >= MAX_LIST_ITEMS {
                    return Err(err(
                        file,
                        tline,
                        format!("{key}: list too long (more than {MAX_LIST_ITEMS} items)"),
                    ));
                }
                items.push(parse_value(lx, file, key, line, true)?);
                while *lx.peek(Some(key))? == Tok::Newline {
                    lx.next(Some(key))?;
                }
                match lx.next(Some(key))? {
                    (Tok::Comma, _) => {}
                    (Tok::RBrack, _) => return Ok(Value::List(items)),
                    (Tok::Eof, _) => return Err(unterminated()),
                    (t, l) => {
                        return Err(err(
                            file,
                            l,
                            format!("{key}: expected \",\" or \"]\" in list, got {t}"),
                        ))
                    }
                }
            }
        }
        Tok::Newline | Tok::Semi | Tok::Eof => Err(missing()),
        Tok::Ident(w) => Err(err(
            file,
            tline,
            format!(
                "{key}: expected a value, got the bare word \"{}\" (quote strings)",
                Shown(&w, false)
            ),
        )),
        other => Err(err(
            file,
            tline,
            format!("{key}: expected a value, got {other}"),
        )),
    }
}

fn get_string(file: &str, s: &Setting) -> Result<String, ConfigError> {
    match &s.value {
        Value::Str(v) => Ok(v.clone()),
        v => Err(err(
            src(file, s),
            s.line,
            format!("{}: expected a string, got {v}", s.key),
        )),
    }
}

/// A list of strings (`disk = [ 'a', 'b' ]`).
fn get_string_list(file: &str, s: &Setting) -> Result<Vec<String>, ConfigError> {
    let bad = |what: &dyn fmt::Display| {
        err(
            src(file, s),
            s.line,
            format!("{}: expected a list of strings, got {what}", s.key),
        )
    };
    match &s.value {
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::Str(x) => Ok(x.clone()),
                other => Err(bad(&format_args!("{other} in the list"))),
            })
            .collect(),
        other => Err(bad(other)),
    }
}

/// A number as written in a config.
enum Number {
    Ok(u64),
    /// Digits, but more than 64 bits' worth, or negative: a number, out of every range.
    OutOfRange,
    Invalid,
}

/// A number (decimal or 0x hex), quoted or not, as xl accepts.
fn number(s: &Setting) -> Number {
    let text = match &s.value {
        Value::Str(v) | Value::Num(v) => v.trim(),
        Value::List(_) => "",
    };
    let digits = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
    let (body, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits(body, radix) {
        return u64::from_str_radix(body, radix).map_or(Number::OutOfRange, Number::Ok);
    }
    match text.strip_prefix('-') {
        Some(neg) if digits(neg, 10) => Number::OutOfRange,
        _ => Number::Invalid,
    }
}

fn get_range(
    file: &str,
    s: &Setting,
    what: &str,
    unit: &str,
    lo: u64,
    hi: u64,
) -> Result<u64, ConfigError> {
    let out_of_range = || {
        err(
            src(file, s),
            s.line,
            format!(
                "{}: must be between {lo} and {hi}{unit}, got {}",
                s.key, s.value
            ),
        )
    };
    match number(s) {
        Number::Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        Number::Ok(_) | Number::OutOfRange => Err(out_of_range()),
        Number::Invalid => Err(err(
            src(file, s),
            s.line,
            format!("{}: expected {what}, got {}", s.key, s.value),
        )),
    }
}

fn build(file: &str, settings: &[Setting]) -> Result<DomainConfig, ConfigError> {
    let mut name = None;
    let mut kernel = None;
    let mut cfg = DomainConfig {
        name: String::new(),
        kernel: String::new(),
        ramdisk: None,
        cmdline: None,
        root: None,
        extra: None,
        memory: DEFAULT_MEMORY_MIB,
        maxmem: 0,
        vcpus: 1,
        maxvcpus: 0,
        on_poweroff: ShutdownAction::Destroy,
        on_reboot: ShutdownAction::Restart,
        on_crash: ShutdownAction::Destroy,
        on_watchdog: ShutdownAction::Destroy,
        cpu_weight: DEFAULT_WEIGHT,
        cap: 0,
        disks: Vec::new(),
        vifs: Vec::new(),
    };
    let mut maxmem = None;
    let mut maxvcpus = None;
    let mib = "a number of MiB";
    for s in settings {
        let at = |reason: String| err(src(file, s), s.line, format!("{}: {reason}", s.key));
        match s.key.as_str() {
            "name" => {
                let n = get_string(file, s)?;
                check_name(&n).map_err(at)?;
                name = Some(n);
            }
            "type" => {
                let t = get_string(file, s)?;
                if t != "pv" {
                    return Err(at(format!("only \"pv\" guests are supported, got {t:?}")));
                }
            }
            "kernel" => {
                let k = get_string(file, s)?;
                if k.is_empty() {
                    return Err(at("must not be empty".to_string()));
                }
                kernel = Some(k);
            }
            "ramdisk" => cfg.ramdisk = Some(get_string(file, s)?),
            "cmdline" => cfg.cmdline = Some(get_string(file, s)?),
            "root" => cfg.root = Some(get_string(file, s)?),
            "extra" => cfg.extra = Some(get_string(file, s)?),
            "memory" => cfg.memory = get_range(file, s, mib, " MiB", 1, MAX_MEMORY_MIB)?,
            "maxmem" => maxmem = Some((get_range(file, s, mib, " MiB", 1, MAX_MEMORY_MIB)?, s)),
            "vcpus" => {
                cfg.vcpus = get_range(file, s, "a number of vCPUs", "", 1, MAX_VCPUS.into())? as u32
            }
            "maxvcpus" => {
                maxvcpus = Some((
                    get_range(file, s, "a number of vCPUs", "", 1, MAX_VCPUS.into())? as u32,
                    s,
                ))
            }
            "on_poweroff" | "on_reboot" | "on_crash" | "on_watchdog" => {
                let v = get_string(file, s)?;
                let a = ShutdownAction::from_name(&v).ok_or_else(|| {
                    at(format!(
                        "unknown action {v:?} (destroy, restart, preserve, rename-restart, \
                         coredump-destroy, coredump-restart, soft-reset)"
                    ))
                })?;
                if !a.supported() {
                    return Err(at(format!(
                        "action {v:?} is not supported by this toolstack \
                         (supported: destroy, restart, preserve)"
                    )));
                }
                match s.key.as_str() {
                    "on_poweroff" => cfg.on_poweroff = a,
                    "on_reboot" => cfg.on_reboot = a,
                    "on_crash" => cfg.on_crash = a,
                    _ => cfg.on_watchdog = a,
                }
            }
            "cpu_weight" => {
                cfg.cpu_weight = get_range(file, s, "a weight", "", 1, MAX_WEIGHT.into())? as u32
            }
            "cap" => cfg.cap = get_range(file, s, "a percentage", "%", 0, 100 * 64)? as u32,
            "disk" => cfg.disks = get_string_list(file, s)?,
            "vif" => cfg.vifs = get_string_list(file, s)?,
            _ => return Err(at("unknown setting".to_string())),
        }
    }
    cfg.name = name.ok_or_else(|| {
        err(
            file,
            0,
            "name: missing (every domain needs a name)".to_string(),
        )
    })?;
    cfg.kernel = kernel.ok_or_else(|| {
        err(
            file,
            0,
            "kernel: missing (a PV guest needs kernel = \"/boot/...\")".to_string(),
        )
    })?;
    cfg.maxmem = match maxmem {
        Some((m, s)) if m < cfg.memory => {
            return Err(err(
                src(file, s),
                s.line,
                format!(
                    "maxmem: must be at least memory ({} MiB), got {m}",
                    cfg.memory
                ),
            ))
        }
        Some((m, _)) => m,
        None => cfg.memory,
    };
    cfg.maxvcpus = match maxvcpus {
        Some((m, s)) if m < cfg.vcpus => {
            return Err(err(
                src(file, s),
                s.line,
                format!("maxvcpus: must be at least vcpus ({}), got {m}", cfg.vcpus),
            ))
        }
        Some((m, _)) => m,
        None => cfg.vcpus,
    };
    if cfg.cmdline.is_some() && (cfg.root.is_some() || cfg.extra.is_some()) {
        let at = settings.iter().find(|s| s.key == "cmdline");
        return Err(err(
            at.map_or(file, |s| src(file, s)),
            at.map_or(0, |s| s.line),
            "cmdline: cannot be combined with root or extra".to_string(),
        ));
    }
    let cmdline = cfg.kernel_cmdline();
    if cmdline.len() > MAX_CMDLINE_LEN || cmdline.contains('\0') {
        let at = settings
            .iter()
            .find(|s| matches!(s.key.as_str(), "cmdline" | "extra" | "root"));
        return Err(err(
            at.map_or(file, |s| src(file, s)),
            at.map_or(0, |s| s.line),
            format!(
                "kernel command line too long or has a NUL ({} bytes, at most {MAX_CMDLINE_LEN})",
                cmdline.len()
            ),
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests;
