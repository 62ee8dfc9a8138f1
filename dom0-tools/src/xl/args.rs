//! Command-line options of the xl subcommands, getopt style: short flags (combinable, `-pw`),
//! short options with a value (`-f file` or `-ffile`), long options (`--json`, `--name=x`),
//! `--` ending the options. Everything else is a positional argument, in order; options may
//! come after positionals, as with GNU getopt, except that a `KEY=VALUE` word or anything
//! after `--` is always positional.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// One option a subcommand accepts.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// The short letter (`'p'` for `-p`), or `'\0'` for a long-only option.
    pub short: char,
    /// The long name without dashes (`"json"`), or `""`.
    pub long: &'static str,
    /// Takes a value.
    pub value: bool,
}

impl Opt {
    pub const fn flag(short: char, long: &'static str) -> Opt {
        Opt {
            short,
            long,
            value: false,
        }
    }
    pub const fn with_value(short: char, long: &'static str) -> Opt {
        Opt {
            short,
            long,
            value: true,
        }
    }
}

/// Parsed options: which were given (by their [`Opt`] index), values, positionals.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    given: Vec<(usize, Option<&'a str>)>,
    pub positional: Vec<&'a str>,
}

impl<'a> Parsed<'a> {
    /// Whether the option named `name` (its long name, or its letter as a string) was given.
    pub fn has(&self, opts: &[Opt], name: &str) -> bool {
        self.value_of(opts, name).is_some()
    }

    /// The last value of option `name` (`Some("")` for a flag that was given).
    pub fn value_of(&self, opts: &[Opt], name: &str) -> Option<&'a str> {
        let idx = opts.iter().position(|o| matches(o, name))?;
        self.given
            .iter()
            .rev()
            .find(|(i, _)| *i == idx)
            .map(|(_, v)| v.unwrap_or(""))
    }
}

fn matches(o: &Opt, name: &str) -> bool {
    (!o.long.is_empty() && o.long == name)
        || (o.short != '\0' && name.len() == 1 && name.starts_with(o.short))
}

/// Parses `args` (the words after the subcommand) against `opts`.
pub fn parse<'a>(args: &[&'a str], opts: &[Opt]) -> Result<Parsed<'a>, String> {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut only_positional = false;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if only_positional || a == "-" || !a.starts_with('-') || is_key_value(a) {
            p.positional.push(a);
            continue;
        }
        if a == "--" {
            only_positional = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let idx = opts
                .iter()
                .position(|o| !o.long.is_empty() && o.long == name)
                .ok_or_else(|| format!("unknown option \"--{name}\""))?;
            let value = match (opts[idx].value, inline) {
                (false, Some(_)) => return Err(format!("option \"--{name}\" takes no value")),
                (false, None) => None,
                (true, Some(v)) => Some(v),
                (true, None) => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| format!("option \"--{name}\" needs a value"))?;
                    i += 1;
                    Some(*v)
                }
            };
            p.given.push((idx, value));
            continue;
        }
        // A cluster of short options.
        let letters = &a[1..];
        for (at, c) in letters.char_indices() {
            let idx = opts
                .iter()
                .position(|o| o.short != '\0' && o.short == c)
                .ok_or_else(|| format!("unknown option \"-{c}\""))?;
            if !opts[idx].value {
                p.given.push((idx, None));
                continue;
            }
            let rest = &letters[at + c.len_utf8()..];
            let v = if rest.is_empty() {
                let v = args
                    .get(i)
                    .ok_or_else(|| format!("option \"-{c}\" needs a value"))?;
                i += 1;
                *v
            } else {
                rest
            };
            p.given.push((idx, Some(v)));
            break;
        }
    }
    Ok(p)
}

/// A `KEY=VALUE` word (an xl config override): an identifier, then `=`.
pub fn is_key_value(a: &str) -> bool {
    match a.split_once('=') {
        Some((k, _)) => {
            k.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// A memory size argument (`xl mem-max`, `xl mem-set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemSize {
    Kib(u64),
    /// Digits with a valid unit, but more KiB than 64 bits hold.
    TooLarge,
}

/// Parses a memory size as xl does: a number with an optional unit suffix `b`, `k`, `m`,
/// `g`, `t` (either case; default `m`). Every conversion to KiB is checked: a size beyond 64
/// bits of KiB is [`MemSize::TooLarge`], never a wrapped number.
pub fn parse_mem(s: &str) -> Result<MemSize, String> {
    let bad = || format!("invalid memory size \"{s}\" (e.g. 64, 64m, 65536k, 1g)");
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    if num.is_empty() {
        return Err(bad());
    }
    let per_unit: Option<u64> = match unit {
        "b" | "B" => None,
        "k" | "K" => Some(1),
        "" | "m" | "M" => Some(1 << 10),
        "g" | "G" => Some(1 << 20),
        "t" | "T" => Some(1 << 30),
        _ => return Err(bad()),
    };
    // All digits: the only failure left is overflow.
    let Ok(n) = num.parse::<u64>() else {
        return Ok(MemSize::TooLarge);
    };
    Ok(match per_unit {
        None => MemSize::Kib(n / 1024),
        Some(m) => n.checked_mul(m).map_or(MemSize::TooLarge, MemSize::Kib),
    })
}

/// [`parse_mem`] in KiB; a size beyond 64 bits of KiB is an error.
pub fn parse_mem_kib(s: &str) -> Result<u64, String> {
    match parse_mem(s)? {
        MemSize::Kib(k) => Ok(k),
        MemSize::TooLarge => Err(format!(
            "memory size \"{s}\" is too large (more than {} KiB)",
            u64::MAX
        )),
    }
}

/// [`parse_mem`] in KiB, at most `max_kib`: a larger size (or one beyond 64 bits) is refused
/// as `<size> is above <limit>`.
pub fn parse_mem_kib_at_most(s: &str, max_kib: u64, limit: &str) -> Result<u64, String> {
    match parse_mem(s)? {
        MemSize::Kib(k) if k <= max_kib => Ok(k),
        MemSize::Kib(k) => Err(format!("{k} KiB is above {limit}")),
        MemSize::TooLarge => Err(format!("\"{}\" is above {limit}", s.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt::flag('p', "paused"),
        Opt::flag('w', "wait"),
        Opt::with_value('f', "file"),
        Opt::flag('\0', "json"),
    ];

    #[test]
    fn flags_values_positionals() {
        let p = parse(&["-pw", "a.cfg", "memory=32", "--json"], OPTS).unwrap();
        assert!(p.has(OPTS, "p") && p.has(OPTS, "wait") && p.has(OPTS, "json"));
        assert!(!p.has(OPTS, "f"));
        assert_eq!(p.positional, ["a.cfg", "memory=32"]);
        let p = parse(&["-f", "x", "-fy", "--file=z", "-p"], OPTS).unwrap();
        assert_eq!(p.value_of(OPTS, "file"), Some("z"));
        assert!(p.has(OPTS, "paused"));
        let p = parse(&["--", "-p"], OPTS).unwrap();
        assert_eq!(p.positional, ["-p"]);
        assert!(!p.has(OPTS, "p"));
        let p = parse(&["a", "extra=-x y"], OPTS).unwrap();
        assert_eq!(p.positional, ["a", "extra=-x y"]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["-x"], OPTS).unwrap_err(), "unknown option \"-x\"");
        assert_eq!(
            parse(&["--bogus"], OPTS).unwrap_err(),
            "unknown option \"--bogus\""
        );
        assert_eq!(
            parse(&["-f"], OPTS).unwrap_err(),
            "option \"-f\" needs a value"
        );
        assert_eq!(
            parse(&["--json=1"], OPTS).unwrap_err(),
            "option \"--json\" takes no value"
        );
    }

    #[test]
    fn key_values() {
        assert!(is_key_value("memory=32"));
        assert!(is_key_value("on_crash=preserve"));
        assert!(!is_key_value("-p"));
        assert!(!is_key_value("/etc/xen/a=b.cfg"));
        assert!(!is_key_value("=x"));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_mem_kib("64"), Ok(64 * 1024));
        assert_eq!(parse_mem_kib("64m"), Ok(64 * 1024));
        assert_eq!(parse_mem_kib("2048k"), Ok(2048));
        assert_eq!(parse_mem_kib("1G"), Ok(1024 * 1024));
        assert_eq!(parse_mem_kib("4096b"), Ok(4));
        assert!(parse_mem_kib("lots").is_err());
        assert!(parse_mem_kib("12q").is_err());
        assert!(parse_mem_kib("").is_err());
        assert_eq!(
            parse_mem("18446744073709551615k"),
            Ok(MemSize::Kib(u64::MAX))
        );
        assert_eq!(parse_mem("18446744073709551616k"), Ok(MemSize::TooLarge));
        assert_eq!(parse_mem("99999999999999999999t"), Ok(MemSize::TooLarge));
        assert_eq!(parse_mem("18014398509481984m"), Ok(MemSize::TooLarge));
        assert_eq!(parse_mem("17592186044416g"), Ok(MemSize::TooLarge));
        assert_eq!(
            parse_mem("17592186044415g"),
            Ok(MemSize::Kib(17592186044415 << 20))
        );
        assert_eq!(parse_mem("17179869184t"), Ok(MemSize::TooLarge));
        assert_eq!(
            parse_mem("17179869183t"),
            Ok(MemSize::Kib(17179869183 << 30))
        );
        assert_eq!(
            parse_mem("99999999999999999999999b"),
            Ok(MemSize::TooLarge),
            "digits beyond 64 bits, whatever the unit"
        );
        assert_eq!(
            parse_mem_kib("99999999999999999999t"),
            Err(String::from(
                "memory size \"99999999999999999999t\" is too large (more than \
                 18446744073709551615 KiB)"
            ))
        );
        assert!(parse_mem("k").is_err());
        assert!(parse_mem("-5").is_err());
        assert_eq!(
            parse_mem_kib_at_most("4g", 4 << 20, "the limit"),
            Ok(4 << 20)
        );
        assert_eq!(
            parse_mem_kib_at_most("18446744073709551615k", 4 << 20, "the limit"),
            Err(String::from("18446744073709551615 KiB is above the limit"))
        );
        assert_eq!(
            parse_mem_kib_at_most(" 99999999999999999999t", 4 << 20, "the limit"),
            Err(String::from("\"99999999999999999999t\" is above the limit"))
        );
    }
}
