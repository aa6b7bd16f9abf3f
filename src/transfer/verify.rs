//! The one rule every local source answers to before a manifest is PUT: each layer the
//! manifest names was hashed as it was sent (its digest) and decompressed (its diffID), and
//! that diffID is the one the image config names at that position. Blobs the registry had
//! or mounted are trusted by digest (the registry is content-addressed). A layer that fails
//! is named, and nothing is tagged.
//!
//! [`image`] is that rule, run by `Session::finish` for every local source (layer store,
//! daemon export, docker save, OCI layout). [`diff_id`] is its per-layer comparison, which
//! the push path also runs before committing an upload; [`held`] checks a layer sent as an
//! archive holds it (gzip, zstd or a plain tar): nothing of it is trusted from the
//! archive's own listing.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::plan::BlobAction;
use super::push::{PushError, PushedLayer};
use crate::registry::BlobSource;

/// The error for layer `n` (1-based) of an image.
fn failed(n: usize, digest: &str, cause: impl Into<String>) -> PushError {
    PushError::Layer {
        layer: format!("{n} ({digest})"),
        cause: cause.into(),
    }
}

/// Layer `n` of an image, hashed as sent to `got`, against the diffID its config names.
pub fn diff_id(n: usize, digest: &str, expected: &str, got: &str) -> Result<(), PushError> {
    if got == expected {
        return Ok(());
    }
    Err(failed(
        n,
        digest,
        format!("its uncompressed tar hashes to {got}, the image config names {expected}"),
    ))
}

/// The rule over a whole image, before its manifest is PUT: `layers` are what was sent
/// (or found in the registry), in the manifest's order; `manifest` is the manifest's body
/// when it is pushed as the source holds it (it must name exactly these blobs).
pub fn image(
    config: &[u8],
    layers: &[PushedLayer],
    manifest: Option<&[u8]>,
) -> Result<(), PushError> {
    let config_doc: oci_spec::image::ImageConfiguration = serde_json::from_slice(config)
        .map_err(|e| PushError::Plan(format!("the image config is not one: {e}")))?;
    let ids = config_doc.rootfs().diff_ids();
    if ids.len() != layers.len() {
        return Err(PushError::Plan(format!(
            "the image config names {} layers, {} were sent",
            ids.len(),
            layers.len()
        )));
    }
    for (i, (layer, expected)) in layers.iter().zip(ids).enumerate() {
        match (&layer.diff_id, layer.action) {
            (Some(got), _) => diff_id(i + 1, &layer.digest, expected, got)?,
            // In the registry already, by digest.
            (None, BlobAction::Present | BlobAction::Mount) => {}
            (None, BlobAction::Upload | BlobAction::Copy) => {
                return Err(failed(
                    i + 1,
                    &layer.digest,
                    "it was sent without being hashed",
                ));
            }
        }
    }
    if let Some(body) = manifest {
        let m: oci_spec::image::ImageManifest = serde_json::from_slice(body)
            .map_err(|e| PushError::Plan(format!("the manifest is not an image manifest: {e}")))?;
        let named: Vec<String> = m.layers().iter().map(|d| d.digest().to_string()).collect();
        let sent: Vec<String> = layers.iter().map(|l| l.digest.clone()).collect();
        let config_digest = crate::registry::sha256_digest(config);
        if named != sent || m.config().digest().to_string() != config_digest {
            return Err(PushError::Plan(
                "the manifest names other blobs than were sent".into(),
            ));
        }
    }
    Ok(())
}

/// Layer `n` of an image, to be sent as `src` holds it under `digest`: its bytes must hash
/// to `digest` and decompress to `expected` (the config's diffID). Its diffID, checked.
pub fn held(
    n: usize,
    src: &BlobSource,
    digest: &str,
    media_type: &str,
    expected: &str,
) -> Result<String, PushError> {
    let (_, got, got_diff_id) =
        held_layer(src, media_type).map_err(|e| failed(n, digest, format!("reading it: {e}")))?;
    if got != digest {
        return Err(failed(
            n,
            digest,
            format!("its bytes hash to {got}: the archive is corrupt"),
        ));
    }
    diff_id(n, digest, expected, &got_diff_id)?;
    Ok(got_diff_id)
}

/// The (size, digest, diffID) of a layer as `src` holds it, read once: the digest of the
/// bytes, the diffID of what they decompress to (by `media_type`: gzip, zstd, or a plain
/// tar). A truncated or corrupt stream is an error.
pub fn held_layer(src: &BlobSource, media_type: &str) -> std::io::Result<(u64, String, String)> {
    let raw: Box<dyn Read + Send> = match src {
        BlobSource::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
        BlobSource::File { path, offset, len } => {
            let mut f = std::fs::File::open(path)?;
            f.seek(SeekFrom::Start(*offset))?;
            Box::new(f.take(*len))
        }
    };
    let mut tee = Tee {
        inner: raw,
        hash: Sha256::new(),
        size: 0,
    };
    let mut plain = Sha256::new();
    if media_type.ends_with("gzip") {
        let mut gz = flate2::read::MultiGzDecoder::new(&mut tee);
        std::io::copy(&mut gz, &mut plain)?;
    } else if media_type.ends_with("+zstd") {
        let mut z = zstd::stream::read::Decoder::new(&mut tee)?;
        std::io::copy(&mut z, &mut plain)?;
    } else if media_type.ends_with("tar") {
        std::io::copy(&mut tee, &mut plain)?;
    } else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown layer media type {media_type}"),
        ));
    }
    // Bytes after the compressed stream are part of the blob (and its digest).
    std::io::copy(&mut tee, &mut std::io::sink())?;
    if tee.size != src.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("{} bytes read of {}", tee.size, src.len()),
        ));
    }
    Ok((
        tee.size,
        format!("sha256:{}", hex::encode(tee.hash.finalize())),
        format!("sha256:{}", hex::encode(plain.finalize())),
    ))
}

/// Hashes and counts the bytes read through it.
struct Tee<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sha(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    #[test]
    fn held_layers_hash_as_held_and_as_decompressed() {
        let tar = b"pretend this is a tar".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).expect("gz");
        let gz = gz.finish().expect("gz");
        let zst = zstd::stream::encode_all(&tar[..], 3).expect("zstd");
        for (bytes, mt) in [
            (gz.clone(), "application/vnd.oci.image.layer.v1.tar+gzip"),
            (zst, "application/vnd.oci.image.layer.v1.tar+zstd"),
            (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        ] {
            let src = BlobSource::Bytes(bytes.clone().into());
            let (size, digest, diff_id) = held_layer(&src, mt).expect(mt);
            assert_eq!(size, bytes.len() as u64);
            assert_eq!(digest, sha(&bytes));
            assert_eq!(diff_id, sha(&tar));
        }
        // Cut short: the gzip stream ends early, an error, never a shorter diffID.
        let cut = BlobSource::Bytes(gz[..gz.len() / 2].to_vec().into());
        assert!(held_layer(&cut, "application/vnd.docker.image.rootfs.diff.tar.gzip").is_err());
    }

    fn layer(digest: &str, diff_id: Option<&str>, action: BlobAction) -> PushedLayer {
        PushedLayer {
            digest: digest.into(),
            size: 1,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            action,
            compressed: false,
            diff_id: diff_id.map(str::to_string),
        }
    }

    #[test]
    fn an_image_passes_only_when_every_sent_layer_is_its_config_s() {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},"config":{}}"#;
        let ok = [
            layer("sha256:1", Some("sha256:aa"), BlobAction::Upload),
            layer("sha256:2", None, BlobAction::Present),
        ];
        image(config, &ok, None).expect("ok");
        let wrong = [
            layer("sha256:1", Some("sha256:aa"), BlobAction::Upload),
            layer("sha256:2", Some("sha256:cc"), BlobAction::Upload),
        ];
        let e = image(config, &wrong, None).expect_err("wrong").to_string();
        assert!(
            e.contains("layer 2 (sha256:2)") && e.contains("sha256:cc"),
            "{e}"
        );
        let unhashed = [
            layer("sha256:1", Some("sha256:aa"), BlobAction::Upload),
            layer("sha256:2", None, BlobAction::Upload),
        ];
        assert!(image(config, &unhashed, None).is_err());
        assert!(image(config, &ok[..1], None).is_err(), "a layer short");
    }
}
