//! Config text to [`Setting`]s: the file's (`key = value` lines, parsed with the [`Lexer`])
//! and the command line's (`KEY=VALUE` overrides), each with its [`Value`] as written.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::lexer::{key_too_long, value_too_long, Lexer, Shown, Tok};
use super::{
    err, ConfigError, MAX_CONFIG_BYTES, MAX_KEY_LEN, MAX_LIST_ITEMS, MAX_SETTINGS, MAX_VALUE_LEN,
    OVERRIDES_FILE,
};

/// A parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
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

pub(super) struct Setting {
    pub(super) key: String,
    pub(super) value: Value,
    pub(super) line: u32,
    /// Where it came from when not the config file itself (an override).
    pub(super) file: Option<String>,
}

/// The file a setting came from: its own (an override) or the config file.
pub(super) fn src<'a>(file: &'a str, s: &'a Setting) -> &'a str {
    s.file.as_deref().unwrap_or(file)
}

pub(super) fn utf8<'b>(file: &str, bytes: &'b [u8]) -> Result<&'b str, ConfigError> {
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

/// Parses config text into its settings, in one pass: at most [`MAX_SETTINGS`], each name
/// at most once (checked in a map), values and lists within [`MAX_VALUE_LEN`] and
/// [`MAX_LIST_ITEMS`]; the text itself at most [`MAX_CONFIG_BYTES`].
pub(super) fn parse_settings(file: &str, text: &str) -> Result<Vec<Setting>, ConfigError> {
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

pub(super) fn too_many_settings(key: &str) -> String {
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

/// One `KEY=VALUE` override (see
/// [`DomainConfig::parse_with_overrides`](super::DomainConfig::parse_with_overrides)).
pub(super) fn parse_override(ov: &str, line: u32) -> Result<Setting, ConfigError> {
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
