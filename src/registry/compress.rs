//! Parallel gzip of a layer, pigz-style: the layer is cut into blocks, each block becomes
//! its own gzip member (compressed on all cores with rayon), and the members are written in
//! order. Concatenated members are one valid gzip stream (RFC 1952 §2.2), which every
//! registry client reads. A block that does not compress (judged on a sample) is stored,
//! not deflated: deflating random data costs 20× more than hashing it and saves nothing.
//! The uncompressed (diffID) and compressed digests are computed in the same pass.
//!
//! Written here because no maintained crate does parallel gzip over flate2 with both digests.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::blob_source::BlobSource;

const BLOCK: usize = 1024 * 1024;
const SAMPLE: usize = 64 * 1024;

/// A compressed layer in a temp file.
#[derive(Debug, Clone)]
pub struct Compressed {
    pub path: PathBuf,
    pub size: u64,
    /// `sha256:` of the gzip bytes (the blob digest).
    pub digest: String,
    /// `sha256:` of the uncompressed tar (the diffID).
    pub diff_id: String,
}

fn gzip_block(block: &[u8]) -> std::io::Result<Vec<u8>> {
    let sample = &block[..block.len().min(SAMPLE)];
    let mut probe = GzEncoder::new(Vec::with_capacity(sample.len()), Compression::fast());
    probe.write_all(sample)?;
    let probe = probe.finish()?;
    // Less than 3% saved on the sample: store the block.
    let level = if probe.len() * 100 >= sample.len() * 97 {
        Compression::none()
    } else {
        Compression::fast()
    };
    let mut enc = GzEncoder::new(Vec::with_capacity(block.len() / 2), level);
    enc.write_all(block)?;
    enc.finish()
}

/// Told the uncompressed bytes read so far, after each batch of blocks (progress).
pub type OnRead<'a> = &'a mut dyn FnMut(u64);

/// Compress `src` into a new file in `dir`.
pub fn compress(src: &BlobSource, dir: &Path, on_read: OnRead) -> std::io::Result<Compressed> {
    let (path, out) = spool_file(dir)?;
    let (size, digest, diff_id) = compress_into(src, out, on_read)?;
    Ok(Compressed {
        path,
        size,
        digest,
        diff_id,
    })
}

/// Compress what `reader` yields into a new file in `dir`.
pub fn compress_to_file<R: Read>(
    reader: R,
    dir: &Path,
    on_read: OnRead,
) -> std::io::Result<Compressed> {
    let (path, out) = spool_file(dir)?;
    let (size, digest, diff_id) = compress_reader(reader, out, on_read)?;
    Ok(Compressed {
        path,
        size,
        digest,
        diff_id,
    })
}

fn spool_file(dir: &Path) -> std::io::Result<(PathBuf, BufWriter<File>)> {
    let out_file = tempfile::Builder::new()
        .prefix("layer-")
        .suffix(".gz")
        .tempfile_in(dir)?;
    let (file, path) = out_file.keep().map_err(|e| e.error)?;
    Ok((path, BufWriter::with_capacity(1024 * 1024, file)))
}

/// Compress `src` into any writer (a file, or a channel feeding an upload); returns the
/// compressed size, the blob digest and the diffID.
pub fn compress_into<W: Write>(
    src: &BlobSource,
    out: W,
    on_read: OnRead,
) -> std::io::Result<(u64, String, String)> {
    let reader: Box<dyn Read> = match src {
        BlobSource::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        BlobSource::File { path, offset, len } => {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(*offset))?;
            Box::new(f.take(*len))
        }
    };
    compress_reader(reader, out, on_read)
}

/// Compress everything `reader` yields (e.g. a layer inside an export stream) into `out`;
/// returns the compressed size, the blob digest and the diffID.
pub fn compress_reader<R: Read, W: Write>(
    mut reader: R,
    mut out: W,
    on_read: OnRead,
) -> std::io::Result<(u64, String, String)> {
    let mut read = 0u64;
    let mut raw_hash = Sha256::new();
    let mut gz_hash = Sha256::new();
    let mut size = 0u64;
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut empty = true;
    loop {
        let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(batch);
        for _ in 0..batch {
            let mut buf = Vec::with_capacity(BLOCK);
            (&mut reader).take(BLOCK as u64).read_to_end(&mut buf)?;
            if buf.is_empty() {
                break;
            }
            raw_hash.update(&buf);
            read += buf.len() as u64;
            blocks.push(buf);
        }
        if blocks.is_empty() {
            break;
        }
        empty = false;
        let members: Vec<std::io::Result<Vec<u8>>> =
            blocks.par_iter().map(|b| gzip_block(b)).collect();
        for m in members {
            let m = m?;
            gz_hash.update(&m);
            out.write_all(&m)?;
            size += m.len() as u64;
        }
        on_read(read);
    }
    if empty {
        // An empty layer is still one gzip member.
        let m = gzip_block(&[])?;
        gz_hash.update(&m);
        out.write_all(&m)?;
        size += m.len() as u64;
    }
    out.flush()?;
    Ok((
        size,
        format!("sha256:{}", hex::encode(gz_hash.finalize())),
        format!("sha256:{}", hex::encode(raw_hash.finalize())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;

    #[test]
    fn round_trips_and_digests_match() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut data = Vec::new();
        // Compressible text, then random bytes, spanning several blocks.
        for i in 0..300_000 {
            data.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let mut x: u64 = 1;
        for _ in 0..(BLOCK + 12345) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        let src = BlobSource::Bytes(bytes::Bytes::from(data.clone()));
        let c = compress(&src, dir.path(), &mut |_| {}).expect("compress");
        let gz = std::fs::read(&c.path).expect("read");
        assert_eq!(gz.len() as u64, c.size);
        assert_eq!(c.digest, crate::registry::sha256_digest(&gz));
        assert_eq!(c.diff_id, crate::registry::sha256_digest(&data));
        let mut back = Vec::new();
        MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, data);
        // The random part was stored, not deflated: output is barely bigger than it.
        assert!(gz.len() < data.len());
    }

    #[test]
    fn empty_layer_is_a_valid_gzip() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = compress(
            &BlobSource::Bytes(bytes::Bytes::new()),
            dir.path(),
            &mut |_| {},
        )
        .expect("compress");
        let gz = std::fs::read(&c.path).expect("read");
        let mut back = Vec::new();
        MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert!(back.is_empty());
    }
}
