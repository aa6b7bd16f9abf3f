//! Every `slipway.*` label key Slipway writes on an image, in one place: build writes them,
//! cleanup, publish and the stages storage read them back.

/// The project an image was built for.
pub const PROJECT: &str = "slipway.project";
/// The werf.yaml image (or artifact) an image was built for (`~` for the nameless image).
pub const IMAGE: &str = "slipway.image";
/// The content signature of an image (what makes a rebuild unnecessary).
pub const SIGNATURE: &str = "slipway.signature";
/// A stapel image's stage record (JSON): which stage signatures and commits it holds.
pub const STAGES: &str = "slipway.stapel.stages";
/// The `ImageDigest` imports an image was built with (its signature cannot cover them).
pub const IMPORTED_DIGESTS: &str = "slipway.imported-digests";
/// The digest of the werf.yaml `imageSpec` applied to an image (absent: none applied).
pub const IMAGE_SPEC: &str = "slipway.image-spec";
/// The image a commit record (in the meta image) is about.
pub const RECORD_IMAGE: &str = "slipway.record.image";
/// The git commit an image was built from.
pub const GIT_COMMIT: &str = "slipway.git-commit";
/// The git branch an image was published for (tag-scheme cleanup reads it).
pub const GIT_BRANCH: &str = "slipway.git-branch";
/// The git tag an image was published for (tag-scheme cleanup reads it).
pub const GIT_TAG: &str = "slipway.git-tag";

/// OCI's standard labels Slipway sets on every image it builds (docs/provenance.md): none
/// of them changes per commit, so an unchanged image keeps its signature and stays
/// skipped. The revision and the build time are the provenance's.
pub const OCI_SOURCE: &str = "org.opencontainers.image.source";
pub const OCI_TITLE: &str = "org.opencontainers.image.title";
pub const OCI_VENDOR: &str = "org.opencontainers.image.vendor";

/// The OCI labels of image `image` (`None` = the nameless image, titled after the project)
/// of project `project`; `source`: the git remote as `https://host/path` (no label
/// without one).
pub fn oci(
    source: Option<&str>,
    project: &str,
    image: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(s) = source {
        out.insert(OCI_SOURCE.to_string(), s.to_string());
    }
    out.insert(OCI_TITLE.to_string(), image.unwrap_or(project).to_string());
    out.insert(OCI_VENDOR.to_string(), project.to_string());
    out
}
