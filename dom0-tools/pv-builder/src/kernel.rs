//! The kernel as shipped: a plain ELF, or a Linux bzImage whose payload is the compressed
//! ELF, as Xen's libxc loads them. [`kernel_elf`] gives the ELF's bytes for
//! [`ElfImage::parse`](crate::elf::ElfImage::parse): a plain ELF as it is (borrowed), a
//! bzImage's payload decompressed ([`decompress`](crate::decompress)).

use crate::bzimage::{self, BzImage, BzImageError};
use crate::decompress::{self, Compression, DecompressError, Limits};
use alloc::borrow::Cow;
use core::fmt;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Why a kernel's ELF could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// Neither the ELF magic nor a bzImage's setup header.
    NotKernel,
    /// A bzImage whose header is wrong.
    BzImage(BzImageError),
    /// A bzImage whose payload could not be decompressed.
    Decompress(DecompressError),
    /// A bzImage whose payload decompressed to something that is not an ELF file.
    PayloadNotElf { format: Compression },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotKernel => f.write_str("not an ELF file nor a bzImage"),
            Self::BzImage(e) => write!(f, "{e}"),
            Self::Decompress(e) => write!(f, "bzImage: {e}"),
            Self::PayloadNotElf { format } => {
                write!(f, "bzImage: its {format} payload is not an ELF file")
            }
        }
    }
}

impl From<BzImageError> for KernelError {
    fn from(e: BzImageError) -> Self {
        Self::BzImage(e)
    }
}

impl From<DecompressError> for KernelError {
    fn from(e: DecompressError) -> Self {
        Self::Decompress(e)
    }
}

impl KernelError {
    /// Whether the refusal is about memory (the limits or the heap), not the kernel.
    pub fn is_memory(&self) -> bool {
        matches!(self, Self::Decompress(e) if e.is_memory())
    }
}

/// The ELF of the kernel `bytes`, within the default [`Limits`].
pub fn kernel_elf(bytes: &[u8]) -> Result<Cow<'_, [u8]>, KernelError> {
    kernel_elf_within(bytes, Limits::default())
}

/// The ELF of the kernel `bytes`: a plain ELF as it is, without copying; a bzImage's
/// payload decompressed within `limits`.
pub fn kernel_elf_within(bytes: &[u8], limits: Limits) -> Result<Cow<'_, [u8]>, KernelError> {
    if bytes.starts_with(ELF_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    if !bzimage::is_bzimage(bytes) {
        return Err(KernelError::NotKernel);
    }
    let bz = BzImage::parse(bytes)?;
    let (format, elf) = decompress::decompress(bz.payload, bz.size_hint(), limits)?;
    if !elf.starts_with(ELF_MAGIC) {
        return Err(KernelError::PayloadNotElf { format });
    }
    log::debug!(
        "bzImage (boot protocol {}.{:02}): {format} payload of {} bytes, ELF of {} bytes",
        bz.version >> 8,
        bz.version & 0xFF,
        bz.payload.len(),
        elf.len()
    );
    Ok(Cow::Owned(elf))
}

#[cfg(test)]
mod tests;
