//! The Multiboot1 information structure, parsed without trusting the loader: every read is
//! bounds-checked through [`PhysMem`], counts and lengths are capped, strings are copied
//! (NUL-terminated within a limit, UTF-8 checked) into a static arena.
//!
//! Loaders differ in what a command line holds: QEMU's Multiboot loader puts the image's file
//! name first (`hypervisor.elf loglvl=all`, `pv-guest.elf console=hvc0`), GRUB 2 passes only
//! the arguments. As Xen does (`cmdline_cook`), the loader's name decides: after a GRUB 2
//! loader every command line is taken as it is, after any other the first word is dropped.

use heapless::Vec;

/// A Multiboot module (physical addresses, `end` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The module's command line as the loader gave it (QEMU: the file name and what
    /// follows it; GRUB 2: what follows the file name on the `module` line).
    pub cmdline: &'static str,
    /// The module's arguments: its command line without the file name.
    pub args: &'static str,
}

/// A memory-map region (physical, `end` exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRegion {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Multiboot type: 1 available RAM, 3 ACPI, 4 NVS, 5 bad, others reserved.
    pub kind: u32,
}

impl MemRegion {
    /// Whether this is usable RAM.
    pub fn is_available(&self) -> bool {
        self.kind == 1
    }
}

/// What the boot loader told us.
#[derive(Debug)]
pub struct BootInfo {
    /// The hypervisor command line.
    pub cmdline: &'static str,
    /// The modules: 1 = dom0 kernel, 2 = dom0 initrd.
    pub modules: Vec<Module, 16>,
    /// The memory map.
    pub memory: Vec<MemRegion, MAX_REGIONS>,
    /// Memory-map entries beyond [`MAX_REGIONS`], left out (a UEFI machine's map can be long).
    pub regions_dropped: u32,
    /// Physical ranges of the loader's own structures (info, map, module list).
    pub loader_ranges: Vec<(u64, u64), 4>,
    /// The boot loader's name (`boot_loader_name`; "" if it gave none).
    pub loader: &'static str,
    /// The video mode the loader left (Multiboot `framebuffer_*` fields), if it said.
    pub framebuffer: Option<Framebuffer>,
}

/// The loader's framebuffer: a graphics mode or EGA text (what GRUB reports on a PC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framebuffer {
    /// Physical address (0xB8000 for VGA text).
    pub addr: u64,
    /// Bytes per line.
    pub pitch: u32,
    /// Pixels, or characters in text mode.
    pub width: u32,
    /// Pixels, or lines in text mode.
    pub height: u32,
    /// Bits per pixel (16 per character cell in text mode).
    pub bpp: u8,
    /// Multiboot's type: 0 indexed colour, 1 direct RGB, 2 EGA text.
    pub kind: u8,
}

impl Framebuffer {
    /// Multiboot's `MULTIBOOT_FRAMEBUFFER_TYPE_EGA_TEXT`.
    pub const EGA_TEXT: u8 = 2;

    /// Whether this is a text mode (cells of character and attribute bytes).
    pub fn is_text(&self) -> bool {
        self.kind == Self::EGA_TEXT
    }
}

impl BootInfo {
    /// The value of `key=` on the command line, if present.
    pub fn option(&self, key: &str) -> Option<&'static str> {
        self.cmdline
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Reads physical memory; `false` if the range is not readable.
pub trait PhysMem {
    /// Fills `buf` from physical address `pa`.
    fn read(&self, pa: u64, buf: &mut [u8]) -> bool;
}

/// Why the info could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// The info structure itself is unreadable.
    BadInfo,
}

const MAX_STR: usize = 1024;
/// Memory-map entries kept (GRUB merges a UEFI map's neighbours of one type; OVMF gives ~20).
pub const MAX_REGIONS: usize = 128;
const MAX_MMAP_BYTES: u32 = 64 * 1024;

/// A bump arena for copied strings.
pub struct StrArena {
    buf: &'static mut [u8],
    used: usize,
}

impl StrArena {
    /// An arena over `buf`.
    pub fn new(buf: &'static mut [u8]) -> Self {
        StrArena { buf, used: 0 }
    }

    /// Copies the NUL-terminated string at `pa` (empty if unreadable, unterminated or not UTF-8).
    fn copy_cstr(&mut self, mem: &impl PhysMem, pa: u64) -> &'static str {
        if pa == 0 {
            return "";
        }
        let mut len = 0;
        let mut byte = [0u8];
        while len < MAX_STR && len < self.buf.len() - self.used {
            if !mem.read(pa + len as u64, &mut byte) {
                return "";
            }
            if byte[0] == 0 {
                break;
            }
            self.buf[self.used + len] = byte[0];
            len += 1;
        }
        if byte[0] != 0 {
            return "";
        }
        // Split off the used part so the returned &'static str never aliases later writes.
        let buf = core::mem::take(&mut self.buf);
        let (head, rest) = buf.split_at_mut(self.used + len);
        self.buf = rest;
        self.used = 0;
        core::str::from_utf8(&head[head.len() - len..]).unwrap_or("")
    }
}

fn u32_at(mem: &impl PhysMem, pa: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    mem.read(pa, &mut b).then(|| u32::from_le_bytes(b))
}

fn u64_at(mem: &impl PhysMem, pa: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    mem.read(pa, &mut b).then(|| u64::from_le_bytes(b))
}

/// Whether the loader is GRUB 2, which leaves the image's file name out of command lines
/// (Xen's `loader_is_grub2`: GRUB 2 calls itself "GRUB 2.06" or "GRUB2 ...", GRUB legacy
/// "GNU GRUB 0.97").
pub fn loader_is_grub2(loader: &str) -> bool {
    loader
        .find("GRUB")
        .map(|i| &loader[i + 4..])
        .is_some_and(|rest| {
            let rest = rest.strip_prefix('2').unwrap_or(rest);
            rest.strip_prefix(' ').is_some_and(|v| !v.starts_with('0'))
        })
}

/// A command line's arguments: the line itself after a GRUB 2 loader; after any other
/// (QEMU) a first word without `=`, the image's file name, is dropped.
fn strip_image_name(cmdline: &'static str, grub2: bool) -> &'static str {
    let t = cmdline.trim_start();
    if grub2 {
        return t;
    }
    match t.split_once(' ') {
        Some((first, rest)) if !first.contains('=') => rest.trim_start(),
        None if !t.contains('=') => "",
        _ => t,
    }
}

/// Parses the Multiboot1 info at `mbi`.
pub fn parse(
    mem: &impl PhysMem,
    mbi: u64,
    arena: &mut StrArena,
) -> Result<BootInfo, BootInfoError> {
    // The fields up to the memory map are always there; the loader name (flag 9) and the
    // framebuffer (flag 12) are read only when the flags say so.
    let mut info = [0u8; 116];
    if !mem.read(mbi, &mut info[..52]) {
        return Err(BootInfoError::BadInfo);
    }
    let flags = u32::from_le_bytes([info[0], info[1], info[2], info[3]]);
    let mut len = 52;
    if flags & (1 << 12) != 0 && mem.read(mbi, &mut info[..110]) {
        len = 110;
    } else if flags & (1 << 9) != 0 && mem.read(mbi, &mut info[..68]) {
        len = 68;
    }
    let field = |o: usize| u32::from_le_bytes(info[o..o + 4].try_into().unwrap_or([0; 4]));
    let mut out = BootInfo {
        cmdline: "",
        modules: Vec::new(),
        memory: Vec::new(),
        regions_dropped: 0,
        loader_ranges: Vec::new(),
        loader: "",
        framebuffer: None,
    };
    let _ = out.loader_ranges.push((mbi, mbi + len as u64));
    if flags & (1 << 9) != 0 && len >= 68 {
        out.loader = arena.copy_cstr(mem, field(64).into());
    }
    let grub2 = loader_is_grub2(out.loader);
    if flags & (1 << 12) != 0 && len >= 110 {
        out.framebuffer = Some(Framebuffer {
            addr: u64::from(field(88)) | u64::from(field(92)) << 32,
            pitch: field(96),
            width: field(100),
            height: field(104),
            bpp: info[108],
            kind: info[109],
        });
    }
    if flags & (1 << 2) != 0 {
        out.cmdline = strip_image_name(arena.copy_cstr(mem, field(16).into()), grub2);
    }
    if flags & (1 << 3) != 0 {
        let (count, addr) = (field(20), u64::from(field(24)));
        let _ = out
            .loader_ranges
            .push((addr, addr + 16 * u64::from(count.min(16))));
        for i in 0..u64::from(count.min(16)) {
            let e = addr + 16 * i;
            let (Some(start), Some(end), Some(s)) =
                (u32_at(mem, e), u32_at(mem, e + 4), u32_at(mem, e + 8))
            else {
                break;
            };
            if end < start {
                continue;
            }
            let cmdline = arena.copy_cstr(mem, s.into());
            let _ = out.modules.push(Module {
                start: start.into(),
                end: end.into(),
                cmdline,
                args: strip_image_name(cmdline, grub2),
            });
        }
    }
    if flags & (1 << 6) != 0 {
        let (len, addr) = (field(44).min(MAX_MMAP_BYTES), u64::from(field(48)));
        let _ = out.loader_ranges.push((addr, addr + u64::from(len)));
        let mut off = 0u64;
        while off + 24 <= u64::from(len) {
            let e = addr + off;
            let (Some(size), Some(base), Some(length), Some(kind)) = (
                u32_at(mem, e),
                u64_at(mem, e + 4),
                u64_at(mem, e + 12),
                u32_at(mem, e + 20),
            ) else {
                break;
            };
            if size < 20 {
                break;
            }
            if length != 0 && base.checked_add(length).is_some() {
                let region = MemRegion {
                    start: base,
                    end: base + length,
                    kind,
                };
                if out.memory.push(region).is_err() {
                    out.regions_dropped += 1;
                }
            }
            off += u64::from(size) + 4;
        }
    }
    if out.memory.is_empty() && flags & 1 != 0 {
        let (lower, upper) = (u64::from(field(4)), u64::from(field(8)));
        let _ = out.memory.push(MemRegion {
            start: 0,
            end: lower * 1024,
            kind: 1,
        });
        let _ = out.memory.push(MemRegion {
            start: 1 << 20,
            end: (1 << 20) + upper * 1024,
            kind: 1,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(std::vec::Vec<u8>);
    impl PhysMem for Fake {
        fn read(&self, pa: u64, buf: &mut [u8]) -> bool {
            let Some(end) = (pa as usize).checked_add(buf.len()) else {
                return false;
            };
            if end > self.0.len() {
                return false;
            }
            buf.copy_from_slice(&self.0[pa as usize..end]);
            true
        }
    }

    fn put32(m: &mut [u8], at: usize, v: u32) {
        m[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(m: &mut [u8], at: usize, v: u64) {
        m[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn arena() -> StrArena {
        StrArena::new(std::vec![0u8; 4096].leak())
    }

    #[test]
    fn parses_cmdline_modules_and_map() {
        let mut m = std::vec![0u8; 0x2000];
        put32(&mut m, 0, (1 << 2) | (1 << 3) | (1 << 6));
        put32(&mut m, 16, 0x100);
        m[0x100..0x114].copy_from_slice(b"/boot/hv loglvl=all\0");
        put32(&mut m, 20, 2);
        put32(&mut m, 24, 0x200);
        for (i, (s, e, c)) in [(0x1000u32, 0x1800u32, 0x300u32), (0x1800, 0x1900, 0x310)]
            .iter()
            .enumerate()
        {
            put32(&mut m, 0x200 + 16 * i, *s);
            put32(&mut m, 0x204 + 16 * i, *e);
            put32(&mut m, 0x208 + 16 * i, *c);
        }
        m[0x300..0x305].copy_from_slice(b"dom0\0");
        m[0x310..0x313].copy_from_slice(b"rd\0");
        put32(&mut m, 44, 48);
        put32(&mut m, 48, 0x400);
        for (i, (b, l, k)) in [(0u64, 0x9fc00u64, 1u32), (0x100000, 0x1000000, 1)]
            .iter()
            .enumerate()
        {
            let e = 0x400 + 24 * i;
            put32(&mut m, e, 20);
            put64(&mut m, e + 4, *b);
            put64(&mut m, e + 12, *l);
            put32(&mut m, e + 20, *k);
        }
        let info = parse(&Fake(m), 0, &mut arena()).unwrap();
        assert_eq!(info.cmdline, "loglvl=all");
        assert_eq!(info.option("loglvl"), Some("all"));
        assert_eq!(info.modules.len(), 2);
        assert_eq!(
            info.modules[0],
            Module {
                start: 0x1000,
                end: 0x1800,
                cmdline: "dom0",
                args: ""
            }
        );
        assert_eq!(info.modules[1].cmdline, "rd");
        assert_eq!(info.modules[1].args, "");
        assert_eq!(
            info.memory[1],
            MemRegion {
                start: 0x100000,
                end: 0x1100000,
                kind: 1
            }
        );
    }

    #[test]
    fn hostile_pointers_are_contained() {
        let mut m = std::vec![0u8; 0x100];
        put32(&mut m, 0, (1 << 2) | (1 << 3) | (1 << 6) | 1);
        put32(&mut m, 4, 639);
        put32(&mut m, 8, 1024);
        put32(&mut m, 16, 0xdead_0000); // cmdline out of range
        put32(&mut m, 20, 1000); // many modules, list out of range
        put32(&mut m, 24, 0xffff_fff0);
        put32(&mut m, 44, 0xffff_ffff); // huge map, out of range
        put32(&mut m, 48, 0x80);
        m[0x60..0x64].copy_from_slice(b"abcd"); // unterminated at the end of memory
        let info = parse(&Fake(m), 0, &mut arena()).unwrap();
        assert_eq!(info.cmdline, "");
        assert!(info.modules.is_empty());
        assert_eq!(info.memory.len(), 2, "falls back to mem_lower/mem_upper");
        assert!(parse(&Fake(std::vec![0; 8]), 0, &mut arena()).is_err());
        assert_eq!(strip_image_name("hv.elf", false), "");
        assert_eq!(strip_image_name("a=b c", false), "a=b c");
        assert_eq!(info.loader, "");
        assert_eq!(info.framebuffer, None);
    }

    #[test]
    fn long_memory_maps_are_cut_and_counted() {
        let n = MAX_REGIONS + 2;
        let mut m = std::vec![0u8; 0x100 + 24 * n];
        put32(&mut m, 0, 1 << 6);
        put32(&mut m, 44, (24 * n) as u32);
        put32(&mut m, 48, 0x100);
        for i in 0..n {
            let e = 0x100 + 24 * i;
            put32(&mut m, e, 20);
            put64(&mut m, e + 4, (i as u64) << 20);
            put64(&mut m, e + 12, 1 << 20);
            put32(&mut m, e + 20, 1);
        }
        let info = parse(&Fake(m), 0, &mut arena()).unwrap();
        assert_eq!(info.memory.len(), MAX_REGIONS);
        assert_eq!(info.regions_dropped, 2);
    }

    #[test]
    fn loader_conventions() {
        assert!(loader_is_grub2("GRUB 2.06-13+deb12u2"));
        assert!(loader_is_grub2("GRUB2 2.02"));
        assert!(!loader_is_grub2("GNU GRUB 0.97"));
        assert!(!loader_is_grub2("qemu"));
        assert!(!loader_is_grub2(""));
        // QEMU: the file name first; GRUB 2: only the arguments, whatever they look like.
        assert_eq!(
            strip_image_name("/i/hv.elf loglvl=all", false),
            "loglvl=all"
        );
        assert_eq!(
            strip_image_name("placeholder loglvl=all", true),
            "placeholder loglvl=all"
        );
        assert_eq!(strip_image_name("", true), "");
    }

    #[test]
    fn grub_info_with_loader_name_and_text_framebuffer() {
        let mut m = std::vec![0u8; 0x1000];
        put32(&mut m, 0, (1 << 2) | (1 << 3) | (1 << 9) | (1 << 12));
        put32(&mut m, 16, 0x200);
        m[0x200..0x211].copy_from_slice(b"console=com1,vga\0");
        put32(&mut m, 20, 1);
        put32(&mut m, 24, 0x300);
        put32(&mut m, 0x300, 0x1000_0000);
        put32(&mut m, 0x304, 0x1000_4000);
        put32(&mut m, 0x308, 0x380);
        m[0x380..0x388].copy_from_slice(b"quiet x\0");
        put32(&mut m, 64, 0x400);
        m[0x400..0x415].copy_from_slice(b"GRUB 2.06-13+deb12u2\0");
        put64(&mut m, 88, 0xb8000);
        put32(&mut m, 96, 160);
        put32(&mut m, 100, 80);
        put32(&mut m, 104, 25);
        m[108] = 16;
        m[109] = Framebuffer::EGA_TEXT;
        let info = parse(&Fake(m), 0, &mut arena()).unwrap();
        assert_eq!(info.loader, "GRUB 2.06-13+deb12u2");
        assert_eq!(info.cmdline, "console=com1,vga");
        assert_eq!(info.modules[0].cmdline, "quiet x");
        assert_eq!(info.modules[0].args, "quiet x");
        let fb = info.framebuffer.unwrap();
        assert!(fb.is_text());
        assert_eq!(
            (fb.addr, fb.width, fb.height, fb.pitch),
            (0xb8000, 80, 25, 160)
        );
    }
}
