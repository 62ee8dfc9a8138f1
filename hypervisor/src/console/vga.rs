//! A VGA text screen as the hypervisor's second console (`console=vga`, as Xen's): the
//! `(XEN)` log written into the adapter's text memory (0xB8000 on a PC, 80x25 cells of
//! character and attribute bytes), scrolling up a line when the bottom is full.
//!
//! [`TextScreen`] is plain memory writes (host-tested over a buffer); [`text_mode`] asks the
//! adapter whether it is in colour text mode at all (a UEFI boot leaves it in a graphics mode,
//! a microvm has no VGA).

/// Light grey on black, the BIOS's default attribute.
pub const ATTR: u8 = 0x07;
/// Physical address of colour text memory.
pub const TEXT_MEMORY: u64 = 0xB8000;
/// Columns and lines of the standard text mode (`vga=text-80x25`).
pub const COLUMNS: usize = 80;
/// Lines of the standard text mode.
pub const LINES: usize = 25;

/// A text screen: `height` lines of `width` cells (`pitch` cells apart) at `base`, and a
/// cursor. Cells are `attribute << 8 | character`.
pub struct TextScreen {
    base: usize,
    width: usize,
    height: usize,
    pitch: usize,
    row: usize,
    col: usize,
}

impl TextScreen {
    /// A screen over the cells at `base`, cursor at the top left.
    ///
    /// # Safety
    /// `base` must point to `height * pitch` writable, 2-aligned `u16` cells (text memory,
    /// or a buffer in tests) that stay valid and are written by nothing else while the screen
    /// is used, and `width <= pitch`.
    pub unsafe fn new(base: *mut u16, width: usize, height: usize, pitch: usize) -> Self {
        TextScreen {
            base: base as usize,
            width,
            height,
            pitch,
            row: 0,
            col: 0,
        }
    }

    /// Moves the screen to another mapping of the same memory (e.g. an uncached one).
    ///
    /// # Safety
    /// As [`TextScreen::new`], for `base`.
    pub unsafe fn rebase(&mut self, base: *mut u16) {
        self.base = base as usize;
    }

    /// The address of the first cell.
    pub fn base_address(&self) -> usize {
        self.base
    }

    /// Bytes of memory the screen spans.
    pub fn bytes(&self) -> usize {
        self.height * self.pitch * 2
    }

    /// Columns and lines.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The cursor: (line, column).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    fn cell(&self, row: usize, col: usize) -> *mut u16 {
        (self.base as *mut u16).wrapping_add(row * self.pitch + col)
    }

    fn put(&mut self, row: usize, col: usize, v: u16) {
        debug_assert!(row < self.height && col < self.width);
        // SAFETY: row < height and col < width <= pitch: a cell of the screen (`new`'s
        // contract). Volatile: text memory is device memory.
        unsafe { self.cell(row, col).write_volatile(v) }
    }

    fn get(&self, row: usize, col: usize) -> u16 {
        // SAFETY: as `put`.
        unsafe { self.cell(row, col).read_volatile() }
    }

    fn blank() -> u16 {
        u16::from(ATTR) << 8 | u16::from(b' ')
    }

    /// Blanks the whole screen and puts the cursor at the top left.
    pub fn clear(&mut self) {
        for row in 0..self.height {
            self.clear_line(row);
        }
        self.row = 0;
        self.col = 0;
    }

    fn clear_line(&mut self, row: usize) {
        for col in 0..self.width {
            self.put(row, col, Self::blank());
        }
    }

    /// The next line: the cursor moves down, or everything scrolls up one line.
    fn newline(&mut self) {
        self.col = 0;
        if self.row + 1 < self.height {
            self.row += 1;
            return;
        }
        for row in 1..self.height {
            for col in 0..self.width {
                let v = self.get(row, col);
                self.put(row - 1, col, v);
            }
        }
        self.clear_line(self.height - 1);
    }

    fn printable(&mut self, c: u8) {
        if self.col == self.width {
            self.newline();
        }
        self.put(self.row, self.col, u16::from(ATTR) << 8 | u16::from(c));
        self.col += 1;
    }

    /// Writes bytes: printable ASCII as is, `\n` a new line, `\r` back to the line's start,
    /// `\t` to the next multiple of 8 columns; a UTF-8 character shows as one `?`, other
    /// control bytes are dropped.
    pub fn write(&mut self, bytes: &[u8]) {
        if self.width == 0 || self.height == 0 {
            return;
        }
        for &c in bytes {
            match c {
                b'\n' => self.newline(),
                b'\r' => self.col = 0,
                b'\t' => {
                    for _ in 0..8 - self.col % 8 {
                        self.printable(b' ');
                    }
                }
                0x20..=0x7E => self.printable(c),
                0xC0.. => self.printable(b'?'),
                _ => {}
            }
        }
    }

    /// The screen's characters, a line each (trailing blanks removed).
    #[cfg(test)]
    pub fn text(&self) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        for row in 0..self.height {
            let line: alloc::string::String = (0..self.width)
                .map(|col| char::from(self.get(row, col) as u8))
                .collect();
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

/// Whether a VGA adapter is in colour text mode with its memory at 0xB8000: its graphics
/// controller's Miscellaneous register (index 6) says alphanumeric (bit 0 clear) with the
/// memory map B8000-BFFFF (bits 2-3 = 3). Without a VGA the port reads 0xFF: no.
#[cfg(target_os = "none")]
pub fn text_mode() -> bool {
    use x86_64::instructions::port::Port;
    let (mut index, mut data) = (Port::<u8>::new(0x3CE), Port::<u8>::new(0x3CF));
    // SAFETY: the VGA graphics controller's index and data ports (ignored without a VGA);
    // reading register 6 has no side effects, and the old index is put back.
    let misc = unsafe {
        let old = index.read();
        index.write(6);
        let v = data.read();
        index.write(old);
        v
    };
    misc & 1 == 0 && (misc >> 2) & 3 == 3
}

/// Puts the adapter's blinking cursor at cell `pos` (CRTC registers 0x0E/0x0F).
#[cfg(target_os = "none")]
pub fn move_cursor(pos: usize) {
    use x86_64::instructions::port::Port;
    let (mut index, mut data) = (Port::<u8>::new(0x3D4), Port::<u8>::new(0x3D5));
    // SAFETY: the VGA CRTC's index and data ports; the cursor location registers only move
    // the displayed cursor.
    unsafe {
        index.write(0x0E);
        data.write((pos >> 8) as u8);
        index.write(0x0F);
        data.write(pos as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn screen(w: usize, h: usize) -> TextScreen {
        let buf = vec![0u16; w * h].leak();
        // SAFETY: a leaked buffer of w*h cells, used only by this screen.
        let mut s = unsafe { TextScreen::new(buf.as_mut_ptr(), w, h, w) };
        s.clear();
        s
    }

    #[test]
    fn writes_lines_and_wraps() {
        let mut s = screen(10, 3);
        s.write(b"(XEN) hi\nab\tc\r\n");
        assert_eq!(s.text(), "(XEN) hi\nab      c\n\n");
        assert_eq!(s.cursor(), (2, 0));
        s.write(b"0123456789xy");
        // 10 columns: the 11th character goes on the next line, which scrolls.
        assert_eq!(s.text(), "ab      c\n0123456789\nxy\n");
        assert_eq!(s.get(2, 0), u16::from(ATTR) << 8 | u16::from(b'x'));
    }

    #[test]
    fn scrolls_and_replaces_what_it_cannot_show() {
        let mut s = screen(8, 2);
        s.write("é\u{7}1\n2\n3\n".as_bytes());
        assert_eq!(s.text(), "3\n\n");
        s.write("π=3".as_bytes());
        assert_eq!(s.text(), "3\n?=3\n");
        // A screen of nothing ignores writes.
        let mut none = screen(0, 0);
        none.write(b"x\n");
    }
}
