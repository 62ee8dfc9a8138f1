//! The tree: nodes by absolute path, each with a value, permissions, its children's names
//! and a generation (bumped when its value, permissions or children change; transactions
//! compare generations to detect conflicts).
//!
//! Every operation that changes the tree is first *planned* against a [`View`] (the live
//! tree, or a transaction's view of it: [`super::txn`]) into the list of nodes it rewrites
//! or removes; a plan is checked against the quotas ([`Store::check`]) and only then
//! applied ([`Store::apply`]), which cannot fail. So no request, and no transaction commit,
//! is ever left half-applied.
//!
//! Access rules (caller `dom`; dom0 and a node's owner may do anything): reading, listing
//! and reading permissions need read access; writing an existing node, removing it or
//! setting its permissions need write access; creating a node needs write access to its
//! nearest existing ancestor. New nodes inherit their parent's permissions, except that a
//! node created by an unprivileged domain is owned by that domain.
//!
//! Accounting: every node is charged to its owner, one node and [`Node::cost`] bytes (its
//! path, value, children's names, permissions and a fixed overhead). dom0 has no quotas.

use super::path::{self, is_at_or_below};
use super::perms::Perms;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use guest_abi::errno::Errno;
use guest_abi::io::xenstore::XENSTORE_REL_PATH_MAX;

/// Bytes charged per node beyond its path, value, children and permissions: the map entry,
/// the node itself and its allocations' headers.
pub const NODE_OVERHEAD: usize = 128;
/// Bytes charged per permission entry.
pub const PERM_BYTES: usize = 4;

/// Per-domain limits (dom0 has none), with Xen's xenstored's defaults and errnos.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Nodes a domain may own (`ENOSPC`; Xen's quota `nodes`).
    pub entries: usize,
    /// Largest node a domain may write: its value plus its children's names (`ENOSPC`;
    /// Xen's `node-size`). This also bounds the entries of one node.
    pub entry_size: usize,
    /// Permission entries per node (`ENOSPC`; Xen's `node-permissions`).
    pub perms: usize,
    /// Longest path below a domain's home, or absolute elsewhere (`EINVAL`; Xen's
    /// `path-max`).
    pub path_len: usize,
    /// Watches per connection (`E2BIG`; Xen's `watches`).
    pub watches: usize,
    /// Open transactions per connection (`ENOSPC`; Xen's `transactions`).
    pub transactions: usize,
    /// Nodes one transaction may read or write (`ENOSPC`; Xen's `transaction-nodes`).
    pub transaction_nodes: usize,
    /// Bytes a domain may make xenstored hold: its nodes, watches and open transactions
    /// (`ENOMEM`; Xen's `memory`).
    pub memory: usize,
    /// Bytes all unprivileged domains together may make xenstored hold (`ENOMEM`): the
    /// global bound that keeps dom0's heap out of reach whatever the number of domains.
    pub global_memory: usize,
    /// Replies a connection may leave unread before its requests stay on its ring (Xen's
    /// `outstanding`).
    pub outstanding: usize,
    /// Bytes of replies and events a connection may leave unread before its requests stay
    /// on its ring.
    pub output_bytes: usize,
    /// Watch events a connection may leave unread; later ones are dropped and logged
    /// (oxenstored's `maxwatchevent`).
    pub watch_events: usize,
}

impl Default for Quotas {
    /// Xen's xenstored defaults; `memory` is smaller than Xen's 2.5 MB so that dom0's heap
    /// holds many domains' worth.
    fn default() -> Self {
        Quotas {
            entries: 1000,
            entry_size: 2048,
            perms: 5,
            path_len: XENSTORE_REL_PATH_MAX,
            watches: 128,
            transactions: 10,
            transaction_nodes: 1024,
            memory: 1 << 20,
            global_memory: 8 << 20,
            outstanding: 20,
            output_bytes: 64 << 10,
            watch_events: 256,
        }
    }
}

/// One node.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Vec<u8>,
    pub perms: Perms,
    pub children: BTreeSet<String>,
    /// Bytes of the children's names, NUL-terminated (as `XS_DIRECTORY` sends them).
    child_bytes: usize,
    pub gen: u64,
}

impl Node {
    pub fn new(value: Vec<u8>, perms: Perms) -> Node {
        Node {
            value,
            perms,
            children: BTreeSet::new(),
            child_bytes: 0,
            gen: 0,
        }
    }

    /// What the `entry_size` quota limits: the value and the children's names.
    pub fn size(&self) -> usize {
        self.value.len() + self.child_bytes
    }

    /// Length of the `XS_DIRECTORY` reply: every child name NUL-terminated.
    pub fn children_len(&self) -> usize {
        self.child_bytes
    }

    /// Bytes charged to the owner for this node at `path`.
    pub fn cost(&self, path: &str) -> usize {
        NODE_OVERHEAD + path.len() + self.size() + self.perms.entries().len() * PERM_BYTES
    }

    pub fn add_child(&mut self, name: &str) {
        if self.children.insert(String::from(name)) {
            self.child_bytes += name.len() + 1;
        }
    }

    pub fn remove_child(&mut self, name: &str) {
        if self.children.remove(name) {
            self.child_bytes -= name.len() + 1;
        }
    }
}

/// A change, for watches: the path and the permissions of the node it touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub perms: Perms,
    /// A removal (watches below the path fire too).
    pub removed: bool,
}

/// The nodes an operation rewrites (`Some`) or removes (`None`), in order, and the change
/// watches see.
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<(String, Option<Node>)>,
    pub change: Option<Change>,
}

/// What a domain holds in the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub nodes: usize,
    pub bytes: usize,
}

/// What an operation sees: the live tree or a transaction's view of it.
pub trait View {
    /// The node at `p` (a transaction records that it looked: `ENOSPC` past its quota).
    fn node(&mut self, p: &str) -> Result<Option<&Node>, Errno>;
    /// The paths of every node strictly below `p`.
    fn below(&mut self, p: &str) -> Result<Vec<String>, Errno>;
}

/// The tree.
#[derive(Clone, Debug)]
pub struct Store {
    nodes: BTreeMap<String, Node>,
    usage: BTreeMap<u16, Usage>,
    /// Bytes charged to unprivileged owners, all together.
    unpriv_bytes: usize,
    gen: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl View for Store {
    fn node(&mut self, p: &str) -> Result<Option<&Node>, Errno> {
        Ok(self.nodes.get(p))
    }

    fn below(&mut self, p: &str) -> Result<Vec<String>, Errno> {
        Ok(self.live_below(p).map(String::from).collect())
    }
}

impl Store {
    /// `/`, `/local`, `/local/domain` and `/tool`, owned by dom0, no access for others.
    pub fn new() -> Store {
        let mut s = Store {
            nodes: BTreeMap::new(),
            usage: BTreeMap::new(),
            unpriv_bytes: 0,
            gen: 0,
        };
        s.apply(alloc::vec![(
            String::from("/"),
            Some(Node::new(Vec::new(), Perms::owned_by(0)))
        )]);
        for p in ["/local", "/local/domain", "/tool"] {
            let plan = plan_write(&mut s, 0, p, Vec::new(), &Quotas::default()).expect("fresh");
            s.apply(plan.writes);
        }
        s
    }

    fn bump(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    /// Nodes owned by `dom`.
    pub fn entries_of(&self, dom: u16) -> usize {
        self.usage_of(dom).nodes
    }

    /// What `dom` holds in the tree.
    pub fn usage_of(&self, dom: u16) -> Usage {
        self.usage.get(&dom).copied().unwrap_or_default()
    }

    /// Bytes charged to unprivileged owners together.
    pub fn unprivileged_bytes(&self) -> usize {
        self.unpriv_bytes
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

    /// Paths strictly below `p`, in order.
    pub fn live_below<'s>(&'s self, p: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.nodes
            .range::<str, _>((core::ops::Bound::Excluded(p), core::ops::Bound::Unbounded))
            .map(|(k, _)| k.as_str())
            .take_while(move |k| k.starts_with(p))
            .filter(move |k| *k != p && is_at_or_below(k, p))
    }

    fn charge(&mut self, p: &str, n: &Node, sign: bool) {
        let owner = n.perms.owner();
        let cost = n.cost(p);
        let u = self.usage.entry(owner).or_default();
        if sign {
            u.nodes += 1;
            u.bytes += cost;
            if owner != 0 {
                self.unpriv_bytes += cost;
            }
        } else {
            u.nodes = u.nodes.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(cost);
            if owner != 0 {
                self.unpriv_bytes = self.unpriv_bytes.saturating_sub(cost);
            }
        }
    }

    /// Checks that applying `writes` for `dom` keeps every unprivileged owner within its
    /// node (`ENOSPC`) and memory (`ENOMEM`) quotas, counting `held(owner)` bytes the
    /// owner holds outside the tree (watches, transactions), and all of them within the
    /// global memory bound (`ENOMEM`). dom0's requests are not limited.
    pub fn check(
        &self,
        dom: u16,
        writes: &[(String, Option<Node>)],
        q: &Quotas,
        held: &dyn Fn(u16) -> usize,
        held_total: usize,
    ) -> Result<(), Errno> {
        if dom == 0 {
            return Ok(());
        }
        let mut delta: BTreeMap<u16, (isize, isize)> = BTreeMap::new();
        for (p, new) in writes {
            if let Some(old) = self.nodes.get(p) {
                let d = delta.entry(old.perms.owner()).or_default();
                d.0 -= 1;
                d.1 -= old.cost(p) as isize;
            }
            if let Some(new) = new {
                let d = delta.entry(new.perms.owner()).or_default();
                d.0 += 1;
                d.1 += new.cost(p) as isize;
            }
        }
        let mut total = 0isize;
        for (&owner, &(dn, db)) in &delta {
            if owner == 0 {
                continue;
            }
            total += db;
            let u = self.usage_of(owner);
            if dn > 0 && u.nodes + dn as usize > q.entries {
                return Err(Errno::ENOSPC);
            }
            if db > 0 && u.bytes + held(owner) + db as usize > q.memory {
                return Err(Errno::ENOMEM);
            }
        }
        if total > 0 && self.unpriv_bytes + held_total + total as usize > q.global_memory {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Applies checked `writes` in order; each written node gets a new generation. Cannot
    /// fail: everything that could refuse was checked when the plan was made.
    pub fn apply(&mut self, writes: Vec<(String, Option<Node>)>) {
        for (p, new) in writes {
            if let Some(old) = self.nodes.remove(&p) {
                self.charge(&p, &old, false);
            }
            if let Some(mut n) = new {
                n.gen = self.bump();
                self.charge(&p, &n, true);
                self.nodes.insert(p, n);
            }
        }
    }
}

/// The node at `p` if `dom` may read it (`ENOENT`, `EACCES`).
pub fn readable<'v, V: View + ?Sized>(v: &'v mut V, dom: u16, p: &str) -> Result<&'v Node, Errno> {
    let n = v.node(p)?.ok_or(Errno::ENOENT)?;
    if n.perms.can_read(dom) {
        Ok(n)
    } else {
        Err(Errno::EACCES)
    }
}

/// `XS_WRITE`: sets the value, creating the node and missing ancestors.
pub fn plan_write<V: View + ?Sized>(
    v: &mut V,
    dom: u16,
    p: &str,
    value: Vec<u8>,
    q: &Quotas,
) -> Result<Plan, Errno> {
    let limited = dom != 0;
    if limited && value.len() > q.entry_size {
        return Err(Errno::ENOSPC);
    }
    if let Some(n) = v.node(p)? {
        if !n.perms.can_write(dom) {
            return Err(Errno::EACCES);
        }
        let mut new = n.clone();
        new.value = value;
        if limited && new.size() > q.entry_size {
            return Err(Errno::ENOSPC);
        }
        let change = Change {
            path: String::from(p),
            perms: new.perms.clone(),
            removed: false,
        };
        return Ok(Plan {
            writes: alloc::vec![(String::from(p), Some(new))],
            change: Some(change),
        });
    }
    // The missing nodes, innermost first, and the nearest existing ancestor.
    let mut missing: Vec<&str> = Vec::new();
    let mut at = p;
    while v.node(at)?.is_none() {
        missing.push(at);
        at = path::parent(at).ok_or(Errno::EINVAL)?;
    }
    let mut anc = v.node(at)?.ok_or(Errno::EIO)?.clone();
    if !anc.perms.can_write(dom) {
        return Err(Errno::EACCES);
    }
    let mut perms = anc.perms.clone();
    if limited {
        perms = perms.with_owner(dom);
    }
    let outer = *missing.last().ok_or(Errno::EIO)?;
    anc.add_child(path::base(outer));
    if limited && anc.size() > q.entry_size {
        return Err(Errno::ENOSPC);
    }
    let mut writes = Vec::new();
    writes
        .try_reserve(missing.len() + 1)
        .map_err(|_| Errno::ENOMEM)?;
    writes.push((String::from(at), Some(anc)));
    let mut value = Some(value);
    for (i, m) in missing.iter().enumerate().rev() {
        let mut n = Node::new(
            if i == 0 {
                value.take().unwrap_or_default()
            } else {
                Vec::new()
            },
            perms.clone(),
        );
        if i > 0 {
            n.add_child(path::base(missing[i - 1]));
        }
        if limited && n.size() > q.entry_size {
            return Err(Errno::ENOSPC);
        }
        writes.push((String::from(*m), Some(n)));
    }
    Ok(Plan {
        writes,
        change: Some(Change {
            path: String::from(p),
            perms,
            removed: false,
        }),
    })
}

/// `XS_MKDIR`: creates the node (and ancestors) empty; an existing node is left alone (an
/// empty plan).
pub fn plan_mkdir<V: View + ?Sized>(
    v: &mut V,
    dom: u16,
    p: &str,
    q: &Quotas,
) -> Result<Plan, Errno> {
    if v.node(p)?.is_some() {
        return Ok(Plan::default());
    }
    plan_write(v, dom, p, Vec::new(), q)
}

/// `XS_RM`: removes the node and everything below it. Removing an absent node whose parent
/// exists succeeds (an empty plan), as in Xen.
pub fn plan_rm<V: View + ?Sized>(v: &mut V, dom: u16, p: &str) -> Result<Plan, Errno> {
    let parent = path::parent(p).ok_or(Errno::EINVAL)?;
    let Some(n) = v.node(p)? else {
        return match v.node(parent)? {
            Some(_) => Ok(Plan::default()),
            None => Err(Errno::ENOENT),
        };
    };
    if !n.perms.can_write(dom) {
        return Err(Errno::EACCES);
    }
    let perms = n.perms.clone();
    let mut par = v.node(parent)?.ok_or(Errno::EIO)?.clone();
    par.remove_child(path::base(p));
    let below = v.below(p)?;
    let mut writes = Vec::new();
    writes
        .try_reserve(below.len() + 2)
        .map_err(|_| Errno::ENOMEM)?;
    writes.push((String::from(parent), Some(par)));
    writes.push((String::from(p), None));
    writes.extend(below.into_iter().map(|b| (b, None)));
    Ok(Plan {
        writes,
        change: Some(Change {
            path: String::from(p),
            perms,
            removed: true,
        }),
    })
}

/// `XS_SET_PERMS`: needs write access; an unprivileged domain must own the node and cannot
/// give it away (`EPERM`), nor list more than `q.perms` entries (`ENOSPC`).
pub fn plan_set_perms<V: View + ?Sized>(
    v: &mut V,
    dom: u16,
    p: &str,
    perms: Perms,
    q: &Quotas,
) -> Result<Plan, Errno> {
    if dom != 0 && perms.entries().len() > q.perms {
        return Err(Errno::ENOSPC);
    }
    let n = v.node(p)?.ok_or(Errno::ENOENT)?;
    if !n.perms.can_write(dom) {
        return Err(Errno::EACCES);
    }
    if dom != 0 && (n.perms.owner() != dom || perms.owner() != dom) {
        return Err(Errno::EPERM);
    }
    let mut new = n.clone();
    new.perms = perms.clone();
    Ok(Plan {
        writes: alloc::vec![(String::from(p), Some(new))],
        change: Some(Change {
            path: String::from(p),
            perms,
            removed: false,
        }),
    })
}
