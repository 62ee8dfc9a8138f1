//! Node permissions as Xen keeps them: a list whose first entry names the owner and the
//! access of every domain not listed; later entries give listed domains their access. The
//! owner (and dom0) may always read and write. Text form: one letter (`n` none, `r` read,
//! `w` write, `b` both) and a domain id, e.g. `n0`, `r1`, `b3`.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use guest_abi::errno::Errno;

/// What a domain may do with a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    None,
    Read,
    Write,
    Both,
}

impl Access {
    pub fn letter(self) -> char {
        match self {
            Access::None => 'n',
            Access::Read => 'r',
            Access::Write => 'w',
            Access::Both => 'b',
        }
    }

    fn from_letter(c: u8) -> Option<Access> {
        Some(match c {
            b'n' => Access::None,
            b'r' => Access::Read,
            b'w' => Access::Write,
            b'b' => Access::Both,
            _ => return None,
        })
    }

    pub fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::Both)
    }

    pub fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::Both)
    }
}

/// One permission entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    pub dom: u16,
    pub access: Access,
}

impl Perm {
    /// Parses `r1`-style text.
    pub fn parse(s: &str) -> Result<Perm, Errno> {
        let (&c, digits) = s.as_bytes().split_first().ok_or(Errno::EINVAL)?;
        let access = Access::from_letter(c).ok_or(Errno::EINVAL)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Errno::EINVAL);
        }
        let dom = s[1..].parse::<u16>().map_err(|_| Errno::EINVAL)?;
        Ok(Perm { dom, access })
    }

    pub fn text(&self) -> String {
        format!("{}{}", self.access.letter(), self.dom)
    }
}

/// A node's permission list (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perms(Vec<Perm>);

impl Perms {
    /// Owned by `owner`, no access for anyone else.
    pub fn owned_by(owner: u16) -> Perms {
        Perms(vec![Perm {
            dom: owner,
            access: Access::None,
        }])
    }

    /// From a non-empty list.
    pub fn from_list(list: Vec<Perm>) -> Result<Perms, Errno> {
        if list.is_empty() {
            return Err(Errno::EINVAL);
        }
        Ok(Perms(list))
    }

    /// Parses entries like `["n0", "r1"]`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Perms, Errno> {
        let list = items
            .into_iter()
            .map(Perm::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Perms::from_list(list)
    }

    pub fn owner(&self) -> u16 {
        self.0[0].dom
    }

    pub fn entries(&self) -> &[Perm] {
        &self.0
    }

    /// With the owner replaced by `owner` (the rest kept).
    pub fn with_owner(mut self, owner: u16) -> Perms {
        self.0[0].dom = owner;
        self
    }

    /// The access domain `dom` has: full for dom0 and the owner, else its own entry, else
    /// the default (first entry).
    pub fn access_of(&self, dom: u16) -> Access {
        if dom == 0 || dom == self.owner() {
            return Access::Both;
        }
        self.0[1..]
            .iter()
            .find(|p| p.dom == dom)
            .map_or(self.0[0].access, |p| p.access)
    }

    pub fn can_read(&self, dom: u16) -> bool {
        self.access_of(dom).can_read()
    }

    pub fn can_write(&self, dom: u16) -> bool {
        self.access_of(dom).can_write()
    }

    /// Text form, one entry per item.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(Perm::text).collect()
    }
}
