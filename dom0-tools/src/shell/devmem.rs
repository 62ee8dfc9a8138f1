//! `devmem ADDRESS [WIDTH]`: read device memory (as busybox's devmem reads `/dev/mem`): the
//! hypervisor maps I/O memory for dom0 only, uncached, and refuses RAM and its own devices.
//! WIDTH is in bits (8, 16, 32 or 64; default 32); the value is printed as busybox does.

use crate::hv::Hypervisor;
use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use guest_abi::errno::Errno;

/// What `devmem` was asked: the machine address and the width in bytes.
pub fn parse(args: &[&str]) -> Result<(u64, u8), String> {
    let (addr, width) = match args {
        [a] => (*a, "32"),
        [a, w] => (*a, *w),
        [_, _, _] => return Err(String::from("writing is not supported (read only)")),
        _ => return Err(String::from("usage: devmem ADDRESS [WIDTH]")),
    };
    let parsed = match addr.strip_prefix("0x").or_else(|| addr.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => addr.parse(),
    };
    let addr = parsed.map_err(|_| format!("invalid address \"{addr}\""))?;
    let bytes = match width {
        "8" => 1,
        "16" => 2,
        "32" => 4,
        "64" => 8,
        _ => return Err(format!("invalid width \"{width}\" (8, 16, 32 or 64)")),
    };
    if !addr.is_multiple_of(u64::from(bytes)) {
        return Err(format!("address {addr:#x} is not aligned to {bytes} bytes"));
    }
    Ok((addr, bytes))
}

/// Runs `devmem` with `args`, printing the value or one `devmem: ...` line.
pub fn run(hv: &mut dyn Hypervisor, args: &[&str], out: &mut dyn Write) {
    let r = parse(args).and_then(|(addr, bytes)| {
        hv.read_io(addr, bytes).map_err(|e| match e {
            Errno::EPERM => format!(
                "cannot map {addr:#x}: not I/O memory dom0 may map (RAM, or the hypervisor's own device) (EPERM)"
            ),
            e => format!("cannot read {addr:#x}: {e}"),
        })
        .map(|v| (v, bytes))
    });
    let _ = match r {
        Ok((v, bytes)) => writeln!(out, "0x{v:0width$X}", width = usize::from(bytes) * 2),
        Err(e) => writeln!(out, "devmem: {e}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_busybox_takes_them() {
        assert_eq!(parse(&["0xfeb02e00"]), Ok((0xFEB0_2E00, 4)));
        assert_eq!(parse(&["4096", "8"]), Ok((4096, 1)));
        assert_eq!(parse(&["0X10", "16"]), Ok((16, 2)));
        assert_eq!(parse(&["0x8", "64"]), Ok((8, 8)));
        for (args, want) in [
            (
                &["0xfeb02e02"][..],
                "address 0xfeb02e02 is not aligned to 4 bytes",
            ),
            (&["xyz"][..], "invalid address \"xyz\""),
            (
                &["0x10", "12"][..],
                "invalid width \"12\" (8, 16, 32 or 64)",
            ),
            (
                &["0x10", "32", "5"][..],
                "writing is not supported (read only)",
            ),
            (&[][..], "usage: devmem ADDRESS [WIDTH]"),
        ] {
            assert_eq!(parse(args), Err(String::from(want)), "{args:?}");
        }
    }

    #[test]
    fn the_value_is_printed_in_the_widths_digits_and_refusals_name_why() {
        struct Dev;
        impl Hypervisor for Dev {
            fn domctl(&mut self, _: &mut guest_abi::domctl::XenDomctl) -> Result<(), Errno> {
                Err(Errno::ENOSYS)
            }
            fn sysctl(&mut self, _: &mut guest_abi::sysctl::XenSysctl) -> Result<(), Errno> {
                Err(Errno::ENOSYS)
            }
            fn populate_physmap(
                &mut self,
                _: guest_abi::types::DomId,
                _: &mut [u64],
            ) -> Result<usize, Errno> {
                Err(Errno::ENOSYS)
            }
            fn with_foreign_page(
                &mut self,
                _: guest_abi::types::DomId,
                _: u64,
                _: &mut dyn FnMut(&mut [u8; 4096]),
            ) -> Result<(), Errno> {
                Err(Errno::ENOSYS)
            }
            fn mmuext_foreign(
                &mut self,
                _: guest_abi::types::DomId,
                _: &guest_abi::mmu::MmuextOp,
            ) -> Result<(), Errno> {
                Err(Errno::ENOSYS)
            }
            fn xen_version(&mut self) -> Result<(u16, u16), Errno> {
                Ok((4, 17))
            }
            fn features(&mut self) -> Result<u32, Errno> {
                Ok(0)
            }
            fn read_io(&mut self, maddr: u64, width: u8) -> Result<u64, Errno> {
                match maddr {
                    0xFEB0_2E00 => Ok(0x7472_6976 & (u64::MAX >> (64 - 8 * u32::from(width)))),
                    _ => Err(Errno::EPERM),
                }
            }
        }
        let mut out = String::new();
        run(&mut Dev, &["0xfeb02e00"], &mut out);
        run(&mut Dev, &["0xfeb02e00", "8"], &mut out);
        run(&mut Dev, &["0x100000"], &mut out);
        assert_eq!(
            out,
            "0x74726976\n0x76\ndevmem: cannot map 0x100000: not I/O memory dom0 may map (RAM, or \
             the hypervisor's own device) (EPERM)\n"
        );
    }
}
