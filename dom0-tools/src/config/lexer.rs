//! The tokens of a config file ([`Tok`]) and the [`Lexer`] that reads them, one token of
//! look-ahead at a time; with the error-message pieces the lexer and the parser share.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

use super::{err, ConfigError, MAX_KEY_LEN, MAX_VALUE_LEN};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
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
pub(super) struct Lexer<'t> {
    file: &'t str,
    chars: core::iter::Peekable<core::str::Chars<'t>>,
    line: u32,
    peeked: Option<(Tok, u32)>,
}

impl<'t> Lexer<'t> {
    pub(super) fn new(file: &'t str, text: &'t str) -> Self {
        Self {
            file,
            chars: text.chars().peekable(),
            line: 1,
            peeked: None,
        }
    }

    /// The next token; `key` is the setting whose value is being read (`None` where a setting
    /// name is expected), for error messages and the length limit.
    pub(super) fn next(&mut self, key: Option<&str>) -> Result<(Tok, u32), ConfigError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(key),
        }
    }

    /// The next token without taking it.
    pub(super) fn peek(&mut self, key: Option<&str>) -> Result<&Tok, ConfigError> {
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

pub(super) fn key_too_long(key: &str) -> String {
    format!(
        "{}: setting name too long (more than {MAX_KEY_LEN} bytes)",
        Shown(key, false)
    )
}

pub(super) fn value_too_long(key: &str) -> String {
    format!("{key}: value too long (more than {MAX_VALUE_LEN} bytes)")
}

/// Text in an error message, cut after [`SHOWN_CHARS`] characters (`...` marks the cut);
/// quoted if `.1`.
pub(super) struct Shown<'a>(pub(super) &'a str, pub(super) bool);

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
