//! The bounds and defaults of a domain configuration: what a config may set, and how much
//! text, how many settings and how long a value the parser accepts.

/// `memory` when the file does not say.
pub const DEFAULT_MEMORY_MIB: u64 = 16;
/// The largest `memory`/`maxmem` accepted.
pub const MAX_MEMORY_MIB: u64 = 4096;
/// The most vCPUs a domain may have (Xen's XEN_LEGACY_MAX_VCPUS).
pub const MAX_VCPUS: u32 = 32;
/// Longest domain name.
pub const MAX_NAME_LEN: usize = 63;
/// Longest kernel command line (start_info.cmd_line is 1024 bytes with the NUL).
pub const MAX_CMDLINE_LEN: usize = 1023;
/// `cpu_weight` when the file does not say (Xen's credit scheduler default).
pub const DEFAULT_WEIGHT: u32 = 256;
/// The largest `cpu_weight` (Xen's credit scheduler accepts 1..=65535).
pub const MAX_WEIGHT: u32 = 65535;
/// What errors in `KEY=VALUE` overrides name as their file.
pub const OVERRIDES_FILE: &str = "<command line>";
/// The largest config file accepted, in bytes (real ones are well under 4 KiB).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// The most settings a config may have, the file's and `KEY=VALUE` overrides' together
/// (there are 21 different settings, and none may be given twice).
pub const MAX_SETTINGS: usize = 64;
/// The longest setting name, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// The longest value (a string after its escapes, or a number as written), in bytes: the
/// kernel command line, the longest value a guest uses, has at most [`MAX_CMDLINE_LEN`].
pub const MAX_VALUE_LEN: usize = 1024;
/// The most items in a list (`disk`, `vif`).
pub const MAX_LIST_ITEMS: usize = 32;
