//! A blob's bytes as something that can be read again: in memory, or a byte range of a
//! file (an archive member, a compressed layer). Request bodies built from it can be
//! replayed, so uploads from it can be retried.

use std::path::PathBuf;

use bytes::Bytes;
use sha2::Digest as _;

/// A blob's bytes: in memory, or a byte range of a file (read again on retry).
#[derive(Debug, Clone)]
pub enum BlobSource {
    Bytes(Bytes),
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl BlobSource {
    pub fn len(&self) -> u64 {
        match self {
            BlobSource::Bytes(b) => b.len() as u64,
            BlobSource::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len` bytes from `start` as a request body (a file range is streamed).
    pub(crate) async fn body(&self, start: u64, len: u64) -> std::io::Result<reqwest::Body> {
        match self {
            BlobSource::Bytes(b) => {
                let end = (start + len).min(b.len() as u64) as usize;
                let start = (start as usize).min(end);
                Ok(reqwest::Body::from(b.slice(start..end)))
            }
            BlobSource::File { path, offset, .. } => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(path).await?;
                f.seek(std::io::SeekFrom::Start(offset + start)).await?;
                let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024);
                Ok(reqwest::Body::wrap_stream(stream))
            }
        }
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}
