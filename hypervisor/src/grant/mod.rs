//! Grant tables (version 1): a domain grants another access to one of its frames by writing
//! an entry in its grant table (the table's state is the domain's: `domain::grants`); the
//! grantee maps or copies it through the hypervisor, which checks the entry, keeps the frame
//! alive while it is used, and marks the entry busy. The operations behind `grant_table_op`.

pub mod ops;
