//! A blocking writer feeding an async consumer: bytes written on a blocking thread (a tar
//! writer, a compressor) go into a bounded channel in chunks, so the consumer (a request
//! body) streams them while they are produced, with at most a few chunks in memory.

use std::io::Write;

/// Chunk size: large enough to keep per-chunk overhead small, small enough that a few
/// chunks in flight stay well under a megabyte or two.
const CHUNK: usize = 256 * 1024;

/// A `Write` that sends [`CHUNK`]-sized pieces into a channel (`flush` sends the rest).
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
    /// The error when the receiving end is gone (says who stopped reading).
    gone: &'static str,
}

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>, gone: &'static str) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            gone,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, self.gone))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
