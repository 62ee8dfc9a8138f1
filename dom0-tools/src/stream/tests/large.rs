//! A 128 MiB domain's pages streamed from a writer to a reader through a pipe: the image
//! is never held whole, the reader's buffer stays one record, every page arrives.

use super::*;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// The writing end of a pipe of chunks.
struct PipeSink(SyncSender<Vec<u8>>);

impl ByteSink for PipeSink {
    fn write_all(&mut self, buf: &[u8]) -> Result<(), alloc::string::String> {
        self.0.send(buf.to_vec()).map_err(|_| "reader gone".into())
    }
}

/// The reading end.
struct PipeSource {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ByteSource for PipeSource {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SourceError> {
        let mut got = 0;
        while got < buf.len() {
            if self.at == self.chunk.len() {
                match self.rx.recv() {
                    Ok(c) => (self.chunk, self.at) = (c, 0),
                    Err(_) => return Err(SourceError::Eof { got }),
                }
                continue;
            }
            let n = (buf.len() - got).min(self.chunk.len() - self.at);
            buf[got..got + n].copy_from_slice(&self.chunk[self.at..self.at + n]);
            (got, self.at) = (got + n, self.at + n);
        }
        Ok(())
    }
}

#[test]
fn a_128_mib_domain_streams_through_a_pipe_in_bounded_memory() {
    const PFNS: u64 = 32768; // 128 MiB
    let limits = Limits::new(PFNS, 1);
    let (tx, rx) = sync_channel(16);
    let writer = std::thread::spawn(move || {
        let info = ImageInfo {
            config: CONFIG,
            json: false,
            xen_major: 4,
            xen_minor: 17,
        };
        let mut w = StreamWriter::new(PipeSink(tx), limits, &info).unwrap();
        w.pv_info(8, 4).unwrap();
        w.static_data_end().unwrap();
        let frames: Vec<u64> = (0..PFNS / 512).collect();
        w.p2m_frames(0, PFNS as u32 - 1, &frames).unwrap();
        let mut pages = vec![0u8; PAGES_PER_RECORD * PAGE_SIZE];
        for batch in 0..PFNS / PAGES_PER_RECORD as u64 {
            let first = batch * PAGES_PER_RECORD as u64;
            let entries: Vec<u64> = (first..first + PAGES_PER_RECORD as u64)
                .map(|p| pfn_entry(p, PageType::NoTab))
                .collect();
            for (i, page) in pages.chunks_mut(PAGE_SIZE).enumerate() {
                page[..8].copy_from_slice(&(first + i as u64).to_le_bytes());
            }
            w.page_data(&entries, &pages).unwrap();
        }
        w.shared_info(&[0; PAGE_SIZE]).unwrap();
        w.vcpu(REC_X86_PV_VCPU_BASIC, 0, &[0; 5168]).unwrap();
        w.finish().map(|_| ()).unwrap();
    });
    let start = std::time::Instant::now();
    let src = PipeSource {
        rx,
        chunk: Vec::new(),
        at: 0,
    };
    let mut r = StreamReader::new(src, limits);
    let mut next_pfn = 0u64;
    let mut max_capacity = 0;
    loop {
        let item = r.next_item().unwrap();
        if let Item::PageData(batch) = &item {
            for (pfn, ty, data) in batch.iter() {
                assert_eq!((pfn, ty), (next_pfn, PageType::NoTab));
                let data = data.unwrap();
                assert_eq!(u64::from_le_bytes(data[..8].try_into().unwrap()), pfn);
                next_pfn += 1;
            }
        }
        let end = matches!(item, Item::End);
        max_capacity = max_capacity.max(r.buffer_capacity());
        if end {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(next_pfn, PFNS);
    assert_eq!(r.offset(), {
        let pages = PFNS * (8 + PAGE_SIZE as u64) + (PFNS / 1024) * 16;
        48 + 4
            + CONFIG.len() as u64
            + 16
            + 8
            + 24
            + 16
            + 16
            + 8
            + (8 + 8 + 8 * 64)
            + pages
            + (8 + 4096)
            + (16 + 5168)
            + 8
            + 8
    });
    // One record at a time: a batch of 1024 pages and its entries, never the image.
    assert!(
        max_capacity <= 8 + 8 * 1024 + PAGES_PER_RECORD * PAGE_SIZE + 4096,
        "{max_capacity}"
    );
    // Linear: the host's debug build reads 128 MiB in well under this.
    assert!(start.elapsed() < std::time::Duration::from_secs(120));
}
