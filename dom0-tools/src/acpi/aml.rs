//! A small, strict walk of the AML in a definition block (DSDT, SSDT) for what device
//! discovery needs: the namespace's devices and, of each, the objects `_HID`, `_CRS`, `_UID`
//! and `_STA` when they are data (`Name`), not code. Nothing is evaluated.
//!
//! What it understands (ACPI 6.5, chapter 20, the AML grammar): `DefScope` and `DefDevice`
//! (descended into), `DefName` with a constant value (integers, `Zero`/`One`/`Ones`, strings,
//! buffers, packages), and, stepped over whole: methods, fields, power resources, thermal
//! zones, processors and `If`/`Else`/`While` by their package length; operation and data
//! regions whose arguments are constants; mutexes, events, aliases and externals.
//!
//! Hostile input is safe: every length is checked against the object around it before it is
//! used, nesting deeper than [`MAX_DEPTH`] is not descended, names are at most
//! [`MAX_PATH_SEGS`] segments, and memory grows only with what the table itself holds. Where
//! the walk meets something it does not understand (an opcode outside the list above, a
//! computed argument) it cannot know where that object ends, so it leaves the rest of the
//! enclosing scope unread and says so in a note ([`Namespace::notes`], at most [`MAX_NOTES`]):
//! it never guesses.

use super::tables::HEADER_LEN;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The deepest nesting of scopes and devices descended into.
pub const MAX_DEPTH: usize = 32;
/// The most segments an absolute name may have.
pub const MAX_PATH_SEGS: usize = 64;
/// The most notes kept (more are counted in [`Namespace::notes_dropped`]).
pub const MAX_NOTES: usize = 32;

/// A name segment (4 characters, `_` padded).
pub type Seg = [u8; 4];

/// An absolute path in the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// `self` with `seg` appended.
    pub fn child(&self, seg: &Seg) -> Path {
        let mut p = self.clone();
        p.0.push(*seg);
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\\")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            // Segments were checked to be A-Z, 0-9 or '_'.
            for &b in s {
                write!(f, "{}", b as char)?;
            }
        }
        Ok(())
    }
}

/// The value of a kept object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Integer(u64),
    String(String),
    Buffer(Vec<u8>),
    Package,
    /// A control method: its value would need evaluating, which this walk does not do.
    Method,
}

/// The objects kept (those device discovery reads).
const KEPT: [&Seg; 4] = [b"_HID", b"_CRS", b"_UID", b"_STA"];

/// What a walk found.
#[derive(Debug, Default)]
pub struct Namespace {
    pub devices: BTreeSet<Path>,
    /// Kept objects by path (the first definition of a path wins).
    pub objects: BTreeMap<Path, Value>,
    /// What was not read and why, e.g. `DSDT+0xb6 in \_SB_.GED_: ...`.
    pub notes: Vec<String>,
    pub notes_dropped: usize,
}

impl Namespace {
    /// The kept object `seg` of the device (or scope) at `path`.
    pub fn object(&self, path: &Path, seg: &Seg) -> Option<&Value> {
        self.objects.get(&path.child(seg))
    }
}

/// Walks the AML of `table` (a whole definition block, header included); `label` names it
/// in notes. Walks of several tables may share one [`Namespace`] (SSDTs extend the DSDT's).
pub fn walk(table: &[u8], label: &str, ns: &mut Namespace) {
    let w = Walker { aml: table, label };
    if table.len() > HEADER_LEN {
        w.term_list(HEADER_LEN, table.len(), &Path::default(), 0, ns);
    }
}

/// Why an object could not be read, at a table offset.
struct Fault {
    at: usize,
    what: String,
}

fn fault(at: usize, what: impl Into<String>) -> Fault {
    Fault {
        at,
        what: what.into(),
    }
}

/// A name as written: rooted or not, how many `^` and its segments.
struct NameRef {
    root: bool,
    up: usize,
    segs: Vec<Seg>,
}

struct Walker<'a> {
    aml: &'a [u8],
    label: &'a str,
}

impl Walker<'_> {
    fn note(&self, ns: &mut Namespace, at: usize, scope: &Path, what: &str) {
        if ns.notes.len() < MAX_NOTES {
            ns.notes
                .push(format!("{}+{at:#x} in {scope}: {what}", self.label));
        } else {
            ns.notes_dropped += 1;
        }
    }

    /// The byte at `at`, which must lie before `end` (the end of the enclosing object).
    fn byte(&self, at: usize, end: usize) -> Result<u8, Fault> {
        if at < end {
            Ok(self.aml[at])
        } else {
            Err(fault(
                at,
                format!("an object runs past the end of its enclosing one at {end:#x}"),
            ))
        }
    }

    /// `n` little-endian bytes at `at`.
    fn le(&self, at: usize, n: usize, end: usize) -> Result<u64, Fault> {
        let mut v = 0u64;
        for i in 0..n {
            v |= u64::from(self.byte(at + i, end)?) << (8 * i);
        }
        Ok(v)
    }

    /// A PkgLength at `at`: (where the object's contents start, where it ends).
    fn pkg(&self, at: usize, end: usize) -> Result<(usize, usize), Fault> {
        let lead = self.byte(at, end)?;
        let extra = usize::from(lead >> 6);
        let len = if extra == 0 {
            usize::from(lead & 0x3F)
        } else {
            let mut len = usize::from(lead & 0x0F);
            for i in 0..extra {
                len |= usize::from(self.byte(at + 1 + i, end)?) << (4 + 8 * i);
            }
            len
        };
        if len < 1 + extra {
            return Err(fault(
                at,
                format!("package length {len:#x} is shorter than its own encoding"),
            ));
        }
        match at.checked_add(len) {
            Some(obj_end) if obj_end <= end => Ok((at + 1 + extra, obj_end)),
            _ => Err(fault(
                at,
                format!(
                    "package length {len:#x} runs past the end of the enclosing object at {end:#x}"
                ),
            )),
        }
    }

    fn seg(&self, at: usize, end: usize) -> Result<Seg, Fault> {
        let mut s = [0u8; 4];
        for (i, c) in s.iter_mut().enumerate() {
            *c = self.byte(at + i, end)?;
        }
        let lead_ok = s[0].is_ascii_uppercase() || s[0] == b'_';
        let rest_ok = s[1..]
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
        if lead_ok && rest_ok {
            Ok(s)
        } else {
            Err(fault(at, format!("invalid name segment {:02x?}", s)))
        }
    }

    /// A NameString at `at`: the name and where it ends.
    fn name(&self, at: usize, end: usize) -> Result<(NameRef, usize), Fault> {
        let mut p = at;
        let mut n = NameRef {
            root: false,
            up: 0,
            segs: Vec::new(),
        };
        if self.byte(p, end)? == b'\\' {
            n.root = true;
            p += 1;
        } else {
            while self.byte(p, end)? == b'^' {
                n.up += 1;
                p += 1;
                if n.up > MAX_PATH_SEGS {
                    return Err(fault(at, "a name climbs more levels than a path may have"));
                }
            }
        }
        let count = match self.byte(p, end)? {
            0x00 => {
                p += 1;
                0
            }
            0x2E => {
                p += 1;
                2
            }
            0x2F => {
                let c = usize::from(self.byte(p + 1, end)?);
                p += 2;
                if c == 0 {
                    return Err(fault(at, "a multi-segment name with no segments"));
                }
                c
            }
            _ => 1,
        };
        for _ in 0..count {
            n.segs.push(self.seg(p, end)?);
            p += 4;
        }
        Ok((n, p))
    }

    /// The absolute path of `name` written in `scope`.
    fn resolve(&self, at: usize, scope: &Path, name: &NameRef) -> Result<Path, Fault> {
        let mut segs = if name.root {
            Vec::new()
        } else {
            scope.0.clone()
        };
        if name.up > segs.len() {
            return Err(fault(
                at,
                format!("a name climbs above the root from {scope}"),
            ));
        }
        segs.truncate(segs.len() - name.up);
        if segs.len() + name.segs.len() > MAX_PATH_SEGS {
            return Err(fault(
                at,
                format!("a name of more than {MAX_PATH_SEGS} segments"),
            ));
        }
        segs.extend_from_slice(&name.segs);
        Ok(Path(segs))
    }

    /// Reads the objects in `start..end` (in `scope`, `depth` levels down); at the first one
    /// it cannot read, notes why and leaves the rest.
    fn term_list(&self, start: usize, end: usize, scope: &Path, depth: usize, ns: &mut Namespace) {
        let mut at = start;
        while at < end {
            match self.term(at, end, scope, depth, ns) {
                Ok(next) => at = next,
                Err(f) => {
                    let what = format!("{} (the rest of {scope} is not read)", f.what);
                    self.note(ns, f.at, scope, &what);
                    return;
                }
            }
        }
    }

    /// One object at `at`: where the next one starts.
    fn term(
        &self,
        at: usize,
        end: usize,
        scope: &Path,
        depth: usize,
        ns: &mut Namespace,
    ) -> Result<usize, Fault> {
        match self.byte(at, end)? {
            0x10 => self.container(at, end, scope, depth, false, ns),
            0x08 => self.name_def(at, end, scope, ns),
            0x14 => {
                let (body, obj_end) = self.pkg(at + 1, end)?;
                let (name, _) = self.name(body, obj_end)?;
                self.keep(at, scope, &name, Value::Method, ns)?;
                Ok(obj_end)
            }
            // If, Else, While: code, not evaluated.
            op @ (0xA0..=0xA2) => {
                let (_, obj_end) = self.pkg(at + 1, end)?;
                if op == 0xA0 {
                    self.note(
                        ns,
                        at,
                        scope,
                        "an If is not evaluated: objects it would define are not seen",
                    );
                }
                Ok(obj_end)
            }
            // Noop.
            0xA3 => Ok(at + 1),
            // Alias: two names.
            0x06 => {
                let (_, p) = self.name(at + 1, end)?;
                Ok(self.name(p, end)?.1)
            }
            // External: a name, an object type and an argument count.
            0x15 => {
                let (_, p) = self.name(at + 1, end)?;
                self.within(at, p + 2, end)
            }
            0x5B => self.ext_term(at, end, scope, depth, ns),
            op => Err(fault(
                at,
                format!("opcode {op:#04x} is not understood here"),
            )),
        }
    }

    /// `p`, checked to be no further than `end`.
    fn within(&self, at: usize, p: usize, end: usize) -> Result<usize, Fault> {
        if p <= end {
            Ok(p)
        } else {
            Err(fault(
                at,
                format!("an object runs past the end of its enclosing one at {end:#x}"),
            ))
        }
    }

    /// An object whose opcode starts with the extended prefix 0x5B.
    fn ext_term(
        &self,
        at: usize,
        end: usize,
        scope: &Path,
        depth: usize,
        ns: &mut Namespace,
    ) -> Result<usize, Fault> {
        match self.byte(at + 1, end)? {
            0x82 => self.container(at, end, scope, depth, true, ns),
            // OperationRegion: name, region space, offset, length.
            0x80 => {
                let (_, p) = self.name(at + 2, end)?;
                self.byte(p, end)?;
                let p = self.const_arg(p + 1, end)?.1;
                Ok(self.const_arg(p, end)?.1)
            }
            // DataTableRegion: name and three arguments.
            0x88 => {
                let (_, mut p) = self.name(at + 2, end)?;
                for _ in 0..3 {
                    p = self.const_arg(p, end)?.1;
                }
                Ok(p)
            }
            // Field, Processor, PowerResource, ThermalZone, IndexField, BankField.
            0x81 | 0x83 | 0x84 | 0x85 | 0x86 | 0x87 => Ok(self.pkg(at + 2, end)?.1),
            // Mutex: a name and its sync flags.
            0x01 => {
                let (_, p) = self.name(at + 2, end)?;
                self.within(at, p + 1, end)
            }
            // Event: a name.
            0x02 => Ok(self.name(at + 2, end)?.1),
            op => Err(fault(
                at,
                format!("opcode 0x5b {op:#04x} is not understood here"),
            )),
        }
    }

    /// `Scope` (opcode 0x10) or `Device` (0x5B 0x82) at `at`: descends into it.
    fn container(
        &self,
        at: usize,
        end: usize,
        scope: &Path,
        depth: usize,
        device: bool,
        ns: &mut Namespace,
    ) -> Result<usize, Fault> {
        let pkg_at = if device { at + 2 } else { at + 1 };
        let (body, obj_end) = self.pkg(pkg_at, end)?;
        let (name, p) = self.name(body, obj_end)?;
        let path = self.resolve(body, scope, &name)?;
        if depth >= MAX_DEPTH {
            let what = format!("{path} is nested more than {MAX_DEPTH} levels deep: not read");
            self.note(ns, at, scope, &what);
            return Ok(obj_end);
        }
        if device {
            ns.devices.insert(path.clone());
        }
        self.term_list(p, obj_end, &path, depth + 1, ns);
        Ok(obj_end)
    }

    /// Records `value` for `name` (written in `scope`) if it is a kept object.
    fn keep(
        &self,
        at: usize,
        scope: &Path,
        name: &NameRef,
        value: Value,
        ns: &mut Namespace,
    ) -> Result<(), Fault> {
        if name.segs.last().is_some_and(|s| KEPT.contains(&s)) {
            let path = self.resolve(at, scope, name)?;
            ns.objects.entry(path).or_insert(value);
        }
        Ok(())
    }

    /// `Name(name, value)`.
    fn name_def(
        &self,
        at: usize,
        end: usize,
        scope: &Path,
        ns: &mut Namespace,
    ) -> Result<usize, Fault> {
        let (name, p) = self.name(at + 1, end)?;
        let kept = name.segs.last().is_some_and(|s| KEPT.contains(&s));
        let (value, next) = self.data(p, end, kept)?;
        if let Some(v) = value {
            self.keep(at, scope, &name, v, ns)?;
        }
        Ok(next)
    }

    /// An integer constant at `at`, if it is one: (value, where it ends).
    fn integer(&self, at: usize, end: usize) -> Result<Option<(u64, usize)>, Fault> {
        Ok(Some(match self.byte(at, end)? {
            0x00 => (0, at + 1),
            0x01 => (1, at + 1),
            0xFF => (u64::MAX, at + 1),
            0x0A => (self.le(at + 1, 1, end)?, at + 2),
            0x0B => (self.le(at + 1, 2, end)?, at + 3),
            0x0C => (self.le(at + 1, 4, end)?, at + 5),
            0x0E => (self.le(at + 1, 8, end)?, at + 9),
            _ => return Ok(None),
        }))
    }

    /// A string at `at` (after its 0x0D prefix): its characters and where it ends.
    fn string(&self, at: usize, end: usize) -> Result<(&[u8], usize), Fault> {
        let mut p = at;
        loop {
            match self.byte(p, end)? {
                0 => return Ok((&self.aml[at..p], p + 1)),
                0x01..=0x7F => p += 1,
                c => return Err(fault(p, format!("byte {c:#04x} in a string (ASCII only)"))),
            }
        }
    }

    /// An argument that must be a constant (integer or string): (its integer value, where
    /// it ends).
    fn const_arg(&self, at: usize, end: usize) -> Result<(Option<u64>, usize), Fault> {
        if let Some((v, p)) = self.integer(at, end)? {
            return Ok((Some(v), p));
        }
        match self.byte(at, end)? {
            0x0D => Ok((None, self.string(at + 1, end)?.1)),
            // Revision.
            0x5B if self.byte(at + 1, end)? == 0x30 => Ok((None, at + 2)),
            op => Err(fault(
                at,
                format!("a computed argument (opcode {op:#04x}) is not evaluated"),
            )),
        }
    }

    /// A DataRefObject at `at`: its value (built only if `keep`) and where it ends.
    fn data(&self, at: usize, end: usize, keep: bool) -> Result<(Option<Value>, usize), Fault> {
        if let Some((v, p)) = self.integer(at, end)? {
            return Ok((keep.then_some(Value::Integer(v)), p));
        }
        match self.byte(at, end)? {
            0x0D => {
                let (s, p) = self.string(at + 1, end)?;
                let v = keep.then(|| Value::String(s.iter().map(|&b| b as char).collect()));
                Ok((v, p))
            }
            0x11 => {
                let (body, obj_end) = self.pkg(at + 1, end)?;
                let (size, p) = self.const_arg(body, obj_end)?;
                if size.is_none() {
                    return Err(fault(body, "a buffer's size is not an integer"));
                }
                // The initializer's bytes (the declared size only pads them with zeros).
                let v = keep.then(|| Value::Buffer(self.aml[p..obj_end].to_vec()));
                Ok((v, obj_end))
            }
            // Package, VarPackage.
            0x12 | 0x13 => Ok((keep.then_some(Value::Package), self.pkg(at + 1, end)?.1)),
            // Revision.
            0x5B if self.byte(at + 1, end)? == 0x30 => Ok((None, at + 2)),
            op => Err(fault(
                at,
                format!("a named value of opcode {op:#04x} is not a constant"),
            )),
        }
    }
}
