//! werf 1.1's records, as its stages storage keeps them (v1.1.36
//! `pkg/storage/repo_stages_storage.go`, `local_docker_server_stages_storage.go`): which
//! commit published which content signature of an image (`image-metadata-by-commit-`),
//! the images it manages (`managed-image-`), rejected stages and client ids. Cleanup reads
//! them to judge the tags werf published as werf 1.1.36 would; `managed-images` lists and
//! removes werf's names. Slipway never writes them, and deletes only what `managed-images
//! rm` names.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::registry::{Client, RegistryError, Repository, image};

/// `REPO:image-metadata-by-commit-<image slug>-<commit>` (repo_stages_storage.go:28-29).
pub const METADATA_PREFIX: &str = "image-metadata-by-commit-";
/// `REPO:managed-image-<image slug>` (repo_stages_storage.go:22-23).
pub const MANAGED_PREFIX: &str = "managed-image-";
/// `REPO:client-id-<id>-<ms>` (repo_stages_storage.go:31-32).
pub const CLIENT_ID_PREFIX: &str = "client-id-";
/// `REPO:<signature>-<ms>-rejected` (repo_stages_storage.go:25-26).
pub const REJECTED_SUFFIX: &str = "-rejected";
/// The record name of the nameless image (stages_storage.go:15).
pub const NAMELESS: &str = "__nameless__";
/// The label of a metadata record: the content signature the commit published.
pub const RECORD_SIGNATURE_LABEL: &str = "ContentSignature";
/// werf's publish label with the image's content signature
/// (pkg/build/publish_images_phase.go:279).
pub const CONTENT_SIGNATURE_LABEL: &str = "werf-content-signature";
/// The daemon's repositories of `-s :local` (local_docker_server_stages_storage.go:26-33).
const LOCAL_METADATA_REPO: &str = "werf-images-metadata-by-commit";
pub const LOCAL_MANAGED_REPO: &str = "werf-managed-images";

/// Is this tag one of werf's records, never a stage?
pub fn is_record_tag(tag: &str) -> bool {
    tag.starts_with(METADATA_PREFIX)
        || tag.starts_with(MANAGED_PREFIX)
        || tag.starts_with(CLIENT_ID_PREFIX)
        || tag.ends_with(REJECTED_SUFFIX)
}

/// werf's image name in a tag (repo_stages_storage.go:533-543).
pub fn slug_image(name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty()) {
        None => NAMELESS.to_string(),
        Some(n) => n.replace('/', "__slash__").replace('+', "__plus__"),
    }
}

/// The image name of a tag's slug (`None`: nameless; repo_stages_storage.go:545-555).
pub fn unslug_image(slug: &str) -> Option<String> {
    let name = slug.replace("__slash__", "/").replace("__plus__", "+");
    (name != NAMELESS && !name.is_empty()).then_some(name)
}

/// One `image-metadata-by-commit` record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Metadata {
    pub image: Option<String>,
    pub commit: String,
    pub signature: String,
    /// The record as werf names it (its tag, or the daemon's `REPO:TAG`).
    pub record: String,
}

/// One `managed-image` record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Managed {
    pub name: Option<String>,
    pub record: String,
}

/// Everything werf 1.1 recorded in one stages storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WerfRecords {
    /// Where they were read: the repository, or `local daemon`.
    pub source: String,
    pub metadata: Vec<Metadata>,
    pub managed: Vec<Managed>,
}

impl WerfRecords {
    /// The records of `image` whose commit published `signature`.
    pub fn published(&self, image: Option<&str>, signature: &str) -> Vec<&Metadata> {
        self.metadata
            .iter()
            .filter(|m| m.image.as_deref() == image && m.signature == signature)
            .collect()
    }

    /// The names of werf's managed images (`None`: nameless), sorted, once each.
    pub fn managed_names(&self) -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = self.managed.iter().map(|m| m.name.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// `<slug>-<commit>` → (image, commit). werf takes the last `-` part as the commit
/// (repo_stages_storage.go:474-482); a commit is 40 hex digits.
pub fn parse_metadata(slug_and_commit: &str) -> Option<(Option<String>, String)> {
    let (slug, commit) = slug_and_commit.rsplit_once('-')?;
    let hex = commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| (unslug_image(slug), commit.to_string()))
}

/// Read werf's records from a stages storage repository: one tag listing, then each
/// metadata record's config label (configs shared by records read once).
pub async fn read_repo(client: &Client, repo: &Repository) -> Result<WerfRecords, RegistryError> {
    let tags = client.list_tags(repo).await?;
    read_repo_tags(client, repo, &tags).await
}

/// [`read_repo`] on a listing already made.
pub async fn read_repo_tags(
    client: &Client,
    repo: &Repository,
    tags: &[String],
) -> Result<WerfRecords, RegistryError> {
    let mut out = WerfRecords {
        source: repo.to_string(),
        ..Default::default()
    };
    let mut wanted = Vec::new();
    for tag in tags {
        if let Some(slug) = tag.strip_prefix(MANAGED_PREFIX) {
            out.managed.push(Managed {
                name: unslug_image(slug),
                record: tag.clone(),
            });
        } else if let Some((image, commit)) =
            tag.strip_prefix(METADATA_PREFIX).and_then(parse_metadata)
        {
            wanted.push((image, commit, tag.clone()));
        }
    }
    let found: Vec<Option<Metadata>> = stream::iter(wanted)
        .map(|(image, commit, tag)| async move {
            let Some((_, Some(cfg))) = client.image_config(repo, &tag).await? else {
                return Ok::<_, RegistryError>(None);
            };
            Ok(
                image::label(&cfg, RECORD_SIGNATURE_LABEL).map(|s| Metadata {
                    image,
                    commit,
                    signature: s.to_string(),
                    record: tag,
                }),
            )
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    out.metadata = found.into_iter().flatten().collect();
    out.metadata.sort();
    out.managed.sort();
    Ok(out)
}

/// Read werf's records of `project` from the local daemon (`-s :local`).
pub async fn read_daemon(
    docker: &bollard::Docker,
    project: &str,
) -> Result<WerfRecords, bollard::errors::Error> {
    let mut out = WerfRecords {
        source: "local daemon".to_string(),
        ..Default::default()
    };
    for (repo, summary) in list_local(docker, &format!("{LOCAL_METADATA_REPO}/{project}")).await? {
        let Some(tag) = repo.rsplit_once(':').map(|(_, t)| t) else {
            continue;
        };
        let (Some((image, commit)), Some(sig)) = (
            parse_metadata(tag),
            summary.get(RECORD_SIGNATURE_LABEL).cloned(),
        ) else {
            continue;
        };
        out.metadata.push(Metadata {
            image,
            commit,
            signature: sig,
            record: repo.clone(),
        });
    }
    for (repo, _) in list_local(docker, &format!("{LOCAL_MANAGED_REPO}/{project}")).await? {
        if let Some((_, tag)) = repo.rsplit_once(':') {
            out.managed.push(Managed {
                name: unslug_image(tag),
                record: repo.clone(),
            });
        }
    }
    out.metadata.sort();
    out.managed.sort();
    Ok(out)
}

/// A local `REPO:TAG` and its image's labels.
type Tagged = (String, BTreeMap<String, String>);

/// Every `REPO:TAG` of the daemon's images under `reference`, with the image's labels.
async fn list_local(
    docker: &bollard::Docker,
    reference: &str,
) -> Result<Vec<Tagged>, bollard::errors::Error> {
    use bollard::query_parameters::ListImagesOptionsBuilder;
    let filters =
        std::collections::HashMap::from([("reference".to_string(), vec![reference.to_string()])]);
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut out = Vec::new();
    for i in docker.list_images(Some(opts)).await? {
        let labels: BTreeMap<String, String> = i.labels.into_iter().collect();
        for t in i.repo_tags {
            out.push((t, labels.clone()));
        }
    }
    Ok(out)
}

/// Delete werf's `managed-image` record of `name` in a stages storage repository (what
/// werf's `RmManagedImage` does, repo_stages_storage.go:301-318). `false`: there was none.
///
/// werf's label-less records (every `managed-image-`, `client-id-` and rejected-stage
/// record) are one and the same manifest, and a registry deletes manifests, not tags:
/// deleting the record's digest, as werf did, takes all of them. The tag is first pointed
/// at an image of its own, then that image is deleted, so only this record goes.
pub async fn remove_managed(
    client: &Client,
    repo: &Repository,
    name: Option<&str>,
) -> Result<bool, RegistryError> {
    let tag = format!("{MANAGED_PREFIX}{}", slug_image(name));
    if client.head_manifest(repo, &tag).await?.is_none() {
        return Ok(false);
    }
    let labels = BTreeMap::from([("slipway.removed-record", tag.as_str())]);
    super::put_image(client, repo, std::slice::from_ref(&tag), &labels).await?;
    let Some(info) = client.head_manifest(repo, &tag).await? else {
        return Ok(false);
    };
    client.delete_manifest(repo, &info.digest).await
}

/// Delete werf's `managed-image` record of `name` kept in the local daemon (`-s :local`,
/// local_docker_server_stages_storage.go:146-162). `false`: there was none.
pub async fn remove_managed_local(
    docker: &bollard::Docker,
    project: &str,
    name: Option<&str>,
) -> Result<bool, bollard::errors::Error> {
    let reference = format!("{LOCAL_MANAGED_REPO}/{project}:{}", slug_image(name));
    match docker.inspect_image(&reference).await {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e),
        Ok(_) => {
            docker
                .remove_image(
                    &reference,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn werf_record_names_parse_as_werf_writes_them() {
        let c = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            parse_metadata(&format!("old__slash__my-api-{c}")),
            Some((Some("old/my-api".into()), c.into()))
        );
        assert_eq!(
            parse_metadata(&format!("__nameless__-{c}")),
            Some((None, c.into()))
        );
        assert_eq!(parse_metadata("app-notacommit"), None);
        assert_eq!(slug_image(Some("a/b+c")), "a__slash__b__plus__c");
        assert_eq!(slug_image(None), NAMELESS);
        assert_eq!(
            unslug_image("a__slash__b__plus__c").as_deref(),
            Some("a/b+c")
        );
        for t in [
            "managed-image-app",
            "image-metadata-by-commit-app-x",
            "client-id-abc-1",
            &format!("{}-1700000000000-rejected", "a".repeat(56)),
        ] {
            assert!(is_record_tag(t), "{t}");
        }
        assert!(!is_record_tag(&format!("{}-1700000000000", "a".repeat(56))));
    }
}
