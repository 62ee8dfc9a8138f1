//! xenstored: Xen's configuration database, run inside dom0's toolstack.
//!
//! - [`path`]: path validation, relative paths, domain home paths;
//! - [`perms`]: per-node permissions (`n0`, `r1`, ... as Xen writes them);
//! - [`store`]: the tree itself with generations, ownership and quotas;
//! - [`txn`]: transactions as read sets and overlays over the live tree;
//! - [`wire`]: `xsd_sockmsg` framing and payload fields;
//! - [`daemon`]: every `XS_*` operation, connections, watches, transactions;
//! - [`ring`]: the byte rings of the xenstore and console pages (index math, copy in/out);
//! - [`xenbus`]: the xenbus device state machine of front and back ends.
//!
//! Everything here is pure logic (no hypercalls): the toolstack feeds it domain ring pages
//! through foreign mappings, and dom0's own tools call it directly.

pub mod daemon;
pub mod path;
pub mod perms;
pub mod ring;
pub mod store;
pub mod txn;
pub mod wire;
pub mod xenbus;

pub use daemon::{Quotas, Xenstored};
pub use perms::{Access, Perm, Perms};

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod tests;
