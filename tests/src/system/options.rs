//! `BootOptions`: how to boot a [`System`](super::System).

use super::HARD_TIMEOUT;
use crate::launch::PcBoot;
use std::time::Duration;

/// How to boot.
#[derive(Clone, Debug)]
pub struct BootOptions {
    /// Names the transcript file `target/e2e-logs/<name>.log`.
    pub name: String,
    /// Extra words for the hypervisor command line (QEMU `-append`).
    pub hv_cmdline: Option<String>,
    /// Kill QEMU after this long, whatever the test is doing.
    pub hard_timeout: Duration,
    /// The machine's memory (QEMU `-m`, e.g. "8G"), replacing the default.
    pub memory: Option<String>,
    /// Boot a PC from the ISO instead of the default microvm with the images loaded directly.
    pub pc: Option<PcBoot>,
    /// Give QEMU a QMP socket, for [`System::read_phys`](super::System::read_phys) and
    /// [`System::vga_text`](super::System::vga_text).
    pub qmp: bool,
    /// Run the emulated CPU on instruction-count time (`-icount shift=0`: one instruction a
    /// nanosecond), so durations the hypervisor measures are the emulated machine's own,
    /// whatever the host's load.
    pub icount: bool,
    /// Give the machine its own writable copy of the disk image instead of the shared image
    /// under `snapshot=on` (see [`BootOptions::own_disk`]).
    pub own_disk: bool,
    /// What the machine's own disk is copied from instead of `disk.img`
    /// ([`BootOptions::own_disk_from`]).
    pub disk_from: Option<std::path::PathBuf>,
    /// TCP ports of the machine the host reaches through QEMU's user network: (the
    /// machine's address, "" for its first DHCP address; its port). Each gets a free port
    /// on the host's loopback ([`System::host_port`](super::System::host_port)).
    pub forwards: Vec<(String, u16)>,
    /// The machine's processors (QEMU `-smp`), replacing the default of four.
    pub cpus: Option<u32>,
    /// Boot `target/images/hypervisor-checked.elf` (debug assertions and the lock-order
    /// check on) instead of the release hypervisor.
    pub checked: bool,
}

impl BootOptions {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            hv_cmdline: None,
            hard_timeout: HARD_TIMEOUT,
            memory: None,
            icount: false,
            pc: None,
            qmp: false,
            own_disk: false,
            disk_from: None,
            forwards: Vec::new(),
            cpus: None,
            checked: false,
        }
    }

    /// A PC booting `cargo xtask iso`'s ISO from its CD drive
    /// ([`launch::pc_command`](crate::launch::pc_command)): GRUB, then the hypervisor with the
    /// ISO's own command line (so [`BootOptions::cmdline`] does not apply).
    pub fn pc(name: &str, pc: PcBoot) -> Self {
        Self {
            pc: Some(pc),
            ..Self::new(name)
        }
    }

    /// On instruction-count time (see [`BootOptions::icount`]).
    pub fn icount(mut self) -> Self {
        self.icount = true;
        self
    }

    /// With a QMP socket to read the machine's memory
    /// ([`System::vga_text`](super::System::vga_text)).
    pub fn with_qmp(mut self) -> Self {
        self.qmp = true;
        self
    }

    /// Boot a machine with `size` of RAM (QEMU's `-m` syntax: "2G", "8192M"). QEMU reserves
    /// no host memory for it up front, so machines larger than this host boot too (the
    /// hypervisor must not touch every frame).
    pub fn memory(mut self, size: &str) -> Self {
        self.memory = Some(size.to_string());
        self
    }

    /// Attach a copy of `disk.img` of the machine's own (sparse, in `target/e2e-disks/`),
    /// writable, so that what the guests write reaches it: after QEMU exits,
    /// [`System::disk_image`](super::System::disk_image) names it for the host's checks
    /// ([`crate::disk`]). Removed with the [`System`](super::System), kept if the test fails.
    pub fn own_disk(mut self) -> Self {
        self.own_disk = true;
        self
    }

    /// As [`own_disk`](Self::own_disk), the copy made from `image` (a disk an earlier
    /// machine wrote: the second boot of one disk).
    pub fn own_disk_from(mut self, image: &std::path::Path) -> Self {
        self.own_disk = true;
        self.disk_from = Some(image.to_path_buf());
        self
    }

    /// Forward a free port of the host's loopback to TCP port `port` of the machine's first
    /// DHCP address (dom0's on `xenbr0`): [`System::host_port`](super::System::host_port).
    pub fn forward(self, port: u16) -> Self {
        self.forward_to("", port)
    }

    /// Forward a free port of the host's loopback to TCP `port` of the machine's `addr`.
    pub fn forward_to(mut self, addr: &str, port: u16) -> Self {
        self.forwards.push((addr.to_string(), port));
        self
    }

    /// Boot the checked hypervisor (see [`BootOptions::checked`]).
    pub fn checked(mut self) -> Self {
        self.checked = true;
        self
    }

    /// Boot a machine with `n` processors (QEMU's `-smp n`).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = Some(n);
        self
    }

    pub fn cmdline(mut self, extra: &str) -> Self {
        self.hv_cmdline = Some(extra.to_string());
        self
    }

    pub fn hard_timeout(mut self, d: Duration) -> Self {
        self.hard_timeout = d;
        self
    }
}
