//! The tree: nodes by absolute path, each with a value, permissions, its children's names
//! and a generation (bumped when its value, permissions or children change; transactions
//! compare generations to detect conflicts). Every node owned by a domain counts against that
//! domain's entry quota.
//!
//! Access rules (caller `dom`; dom0 and a node's owner may do anything): reading, listing
//! and reading permissions need read access; writing an existing node, removing it or
//! setting its permissions need write access; creating a node needs write access to its
//! nearest existing ancestor. New nodes inherit their parent's permissions, except that a
//! node created by an unprivileged domain is owned by that domain.

use super::path::{self, is_at_or_below};
use super::perms::Perms;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;

/// Per-domain limits (dom0 has none). Errors as Xen's xenstored: entries and node size
/// `ENOSPC`, watches `E2BIG`, transactions `ENOSPC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Nodes a domain may own.
    pub entries: usize,
    /// Longest value a domain may write.
    pub entry_size: usize,
    /// Watches per connection.
    pub watches: usize,
    /// Open transactions per connection.
    pub transactions: usize,
}

impl Default for Quotas {
    /// Xen's xenstored defaults.
    fn default() -> Self {
        Quotas {
            entries: 1000,
            entry_size: 2048,
            watches: 128,
            transactions: 10,
        }
    }
}

/// One node.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Vec<u8>,
    pub perms: Perms,
    pub children: BTreeSet<String>,
    pub gen: u64,
}

/// A change, for watches: the path and the permissions of the node it touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub perms: Perms,
    /// A removal (watches below the path fire too).
    pub removed: bool,
}

/// The tree.
#[derive(Clone, Debug)]
pub struct Store {
    nodes: BTreeMap<String, Node>,
    owned: BTreeMap<u16, usize>,
    gen: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// `/`, `/local` and `/local/domain`, owned by dom0, no access for others.
    pub fn new() -> Store {
        let mut s = Store {
            nodes: BTreeMap::new(),
            owned: BTreeMap::new(),
            gen: 0,
        };
        s.insert_raw("/", Perms::owned_by(0));
        for p in ["/local", "/local/domain", "/tool"] {
            s.create_one(0, p, &[]).expect("fresh store");
        }
        s
    }

    fn bump(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    fn insert_raw(&mut self, p: &str, perms: Perms) {
        *self.owned.entry(perms.owner()).or_default() += 1;
        let gen = self.bump();
        self.nodes.insert(
            String::from(p),
            Node {
                value: Vec::new(),
                perms,
                children: BTreeSet::new(),
                gen,
            },
        );
    }

    /// Nodes owned by `dom`.
    pub fn entries_of(&self, dom: u16) -> usize {
        self.owned.get(&dom).copied().unwrap_or(0)
    }

    pub fn get(&self, p: &str) -> Option<&Node> {
        self.nodes.get(p)
    }

    /// Generation of `p` (`None` if absent), for transactions.
    pub fn gen_of(&self, p: &str) -> Option<u64> {
        self.nodes.get(p).map(|n| n.gen)
    }

    /// Total nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn readable(&self, dom: u16, p: &str) -> Result<&Node, Errno> {
        let n = self.nodes.get(p).ok_or(Errno::ENOENT)?;
        if n.perms.can_read(dom) {
            Ok(n)
        } else {
            Err(Errno::EACCES)
        }
    }

    /// `XS_READ`.
    pub fn read(&self, dom: u16, p: &str) -> Result<&[u8], Errno> {
        Ok(&self.readable(dom, p)?.value)
    }

    /// `XS_DIRECTORY`: child names in order.
    pub fn directory(&self, dom: u16, p: &str) -> Result<Vec<String>, Errno> {
        Ok(self.readable(dom, p)?.children.iter().cloned().collect())
    }

    /// `XS_GET_PERMS`.
    pub fn get_perms(&self, dom: u16, p: &str) -> Result<Perms, Errno> {
        Ok(self.readable(dom, p)?.perms.clone())
    }

    /// Creates the single node `p` (its parent exists) as `dom`, inheriting the parent's
    /// permissions, checking the entry quota.
    fn create_one(&mut self, dom: u16, p: &str, value: &[u8]) -> Result<Perms, Errno> {
        let parent = path::parent(p).ok_or(Errno::EINVAL)?;
        let mut perms = self.nodes.get(parent).ok_or(Errno::ENOENT)?.perms.clone();
        if dom != 0 {
            perms = perms.with_owner(dom);
        }
        self.insert_raw(p, perms.clone());
        self.nodes.get_mut(p).expect("just inserted").value = value.to_vec();
        let gen = self.bump();
        let par = self.nodes.get_mut(parent).expect("checked");
        par.children.insert(String::from(path::base(p)));
        par.gen = gen;
        Ok(perms)
    }

    /// Checks that `dom` may create every missing node down to `p` and has quota for them;
    /// returns the missing paths, outermost first.
    fn plan_create(&self, dom: u16, p: &str, q: &Quotas) -> Result<Vec<String>, Errno> {
        let mut missing = Vec::new();
        let mut at = p;
        loop {
            if let Some(n) = self.nodes.get(at) {
                if !n.perms.can_write(dom) {
                    return Err(Errno::EACCES);
                }
                break;
            }
            missing.push(String::from(at));
            at = path::parent(at).ok_or(Errno::EINVAL)?;
        }
        if dom != 0 && self.entries_of(dom) + missing.len() > q.entries {
            return Err(Errno::ENOSPC);
        }
        missing.reverse();
        Ok(missing)
    }

    /// `XS_WRITE`: sets the value, creating the node and missing ancestors.
    pub fn write(&mut self, dom: u16, p: &str, value: &[u8], q: &Quotas) -> Result<Change, Errno> {
        if dom != 0 && value.len() > q.entry_size {
            return Err(Errno::ENOSPC);
        }
        if let Some(n) = self.nodes.get(p) {
            if !n.perms.can_write(dom) {
                return Err(Errno::EACCES);
            }
            let gen = self.bump();
            let n = self.nodes.get_mut(p).expect("checked");
            n.value = value.to_vec();
            n.gen = gen;
            return Ok(Change {
                path: String::from(p),
                perms: n.perms.clone(),
                removed: false,
            });
        }
        let missing = self.plan_create(dom, p, q)?;
        let mut perms = None;
        for m in &missing {
            let v = if m == p { value } else { &[][..] };
            perms = Some(self.create_one(dom, m, v)?);
        }
        Ok(Change {
            path: String::from(p),
            perms: perms.expect("p was missing"),
            removed: false,
        })
    }

    /// `XS_MKDIR`: creates the node (and ancestors) empty; an existing node is left alone
    /// (`None`).
    pub fn mkdir(&mut self, dom: u16, p: &str, q: &Quotas) -> Result<Option<Change>, Errno> {
        if self.nodes.contains_key(p) {
            return Ok(None);
        }
        self.write(dom, p, &[], q).map(Some)
    }

    /// `XS_RM`: removes the node and everything below it. Removing an absent node whose
    /// parent exists succeeds (`None`), as in Xen.
    pub fn rm(&mut self, dom: u16, p: &str) -> Result<Option<Change>, Errno> {
        let Some(n) = self.nodes.get(p) else {
            let parent = path::parent(p).ok_or(Errno::EINVAL)?;
            return match self.nodes.get(parent) {
                Some(_) => Ok(None),
                None => Err(Errno::ENOENT),
            };
        };
        let parent = path::parent(p).ok_or(Errno::EINVAL)?;
        if !n.perms.can_write(dom) {
            return Err(Errno::EACCES);
        }
        let perms = n.perms.clone();
        let doomed: Vec<String> = self
            .nodes
            .range::<str, _>((core::ops::Bound::Included(p), core::ops::Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(p))
            .filter(|k| is_at_or_below(k, p))
            .cloned()
            .collect();
        for k in doomed {
            if let Some(n) = self.nodes.remove(&k) {
                if let Some(c) = self.owned.get_mut(&n.perms.owner()) {
                    *c = c.saturating_sub(1);
                }
            }
        }
        let gen = self.bump();
        if let Some(par) = self.nodes.get_mut(parent) {
            par.children.remove(path::base(p));
            par.gen = gen;
        }
        Ok(Some(Change {
            path: String::from(p),
            perms,
            removed: true,
        }))
    }

    /// `XS_SET_PERMS`: needs write access; an unprivileged domain must own the node and
    /// cannot give it away (`EPERM`).
    pub fn set_perms(
        &mut self,
        dom: u16,
        p: &str,
        perms: Perms,
        q: &Quotas,
    ) -> Result<Change, Errno> {
        let n = self.nodes.get(p).ok_or(Errno::ENOENT)?;
        if !n.perms.can_write(dom) {
            return Err(Errno::EACCES);
        }
        let old_owner = n.perms.owner();
        if dom != 0 && (old_owner != dom || perms.owner() != dom) {
            return Err(Errno::EPERM);
        }
        let new_owner = perms.owner();
        if new_owner != old_owner && new_owner != 0 && self.entries_of(new_owner) >= q.entries {
            return Err(Errno::ENOSPC);
        }
        if let Some(c) = self.owned.get_mut(&old_owner) {
            *c = c.saturating_sub(1);
        }
        *self.owned.entry(new_owner).or_default() += 1;
        let gen = self.bump();
        let n = self.nodes.get_mut(p).expect("checked");
        n.perms = perms.clone();
        n.gen = gen;
        Ok(Change {
            path: String::from(p),
            perms,
            removed: false,
        })
    }
}
