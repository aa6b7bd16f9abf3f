//! What goes on top of an image's own signature: `cacheVersion`, the image spec, the OCI
//! labels (each a new hash over the signature, so without them it is unchanged).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::field;
use crate::config::ImageConfig;

/// werf ≥ 1.2's `cacheVersion` (the image's, else `build.cacheVersion`) on top of a
/// signature: bumping it gives a new one. Without it the signature is unchanged.
pub(super) fn with_cache_version(sig: String, cache_version: Option<&str>) -> String {
    let Some(v) = cache_version else {
        return sig;
    };
    let mut h = Sha256::new();
    field(&mut h, "signature", &sig);
    field(&mut h, "cache-version", v);
    hex::encode(h.finalize())
}

/// An image with an `imageSpec` (its own or meta `build.imageSpec`): its signature covers
/// the spec, so a changed field rebuilds and republishes it.
pub(super) fn with_image_spec(sig: String, img: &ImageConfig) -> String {
    match &img.image_spec {
        None => sig,
        Some(spec) => {
            let mut h = Sha256::new();
            field(&mut h, "signature", &sig);
            field(&mut h, "image-spec", &spec.digest());
            hex::encode(h.finalize())
        }
    }
}

/// The OCI labels every built image carries (`labels::oci`: source, title, vendor) are
/// part of what it is: a moved repository or a renamed project gives a new signature. They
/// never change per commit or per clone (the remote is normalized), so an unchanged image
/// keeps its signature. Revision and creation time are left to the provenance.
pub(super) fn with_labels(sig: String, labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    field(&mut h, "signature", &sig);
    for (k, v) in labels {
        field(&mut h, "oci-label", &format!("{k}={v}"));
    }
    hex::encode(h.finalize())
}
