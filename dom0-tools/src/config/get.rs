//! Typed getters: a [`Setting`]'s value as a string, a list of strings or a number in a
//! range, or an error naming the setting and what it expected.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::parse::{src, Setting, Value};
use super::{err, ConfigError, CpuAffinity};
use crate::cpumap::CpuList;

pub(super) fn get_string(file: &str, s: &Setting) -> Result<String, ConfigError> {
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
pub(super) fn get_string_list(file: &str, s: &Setting) -> Result<Vec<String>, ConfigError> {
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

pub(super) fn get_range(
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

/// `cpus`/`cpus_soft`: a CPU list (a string; a bare number is one CPU), or a list of them,
/// one per vCPU.
pub(super) fn get_cpu_affinity(file: &str, s: &Setting) -> Result<CpuAffinity, ConfigError> {
    let at = |reason: String| err(src(file, s), s.line, format!("{}: {reason}", s.key));
    match &s.value {
        Value::Str(v) | Value::Num(v) => CpuList::parse(v).map(CpuAffinity::Every).map_err(at),
        Value::List(items) if items.is_empty() => Err(at(String::from(
            "empty list (give one CPU list per vCPU, e.g. [\"0\", \"1-3\"])",
        ))),
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Str(x) | Value::Num(x) => {
                    CpuList::parse(x).map_err(|e| at(format!("vCPU {i}: {e}")))
                }
                Value::List(_) => Err(at(format!(
                    "vCPU {i}: expected a CPU list (a string), got a list"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(CpuAffinity::PerVcpu),
    }
}
