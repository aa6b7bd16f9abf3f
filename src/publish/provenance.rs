//! After realize: each image pushed in this run gets its provenance statement attached
//! (docs/provenance.md). An image the registry already held (skipped, re-tagged) gets
//! nothing: its provenance is the one attached when it was pushed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::Digest as _;

use super::PublishError;
use super::plan::Plan;
use super::prepare::Prepared;
use super::realize::Realized;
use crate::config::ImageConfig;
use crate::provenance::{self, Base, Inputs};
use crate::registry::{Client, Repository};

/// Attach a statement to each image pushed; the referrer digest of each.
pub(super) async fn attach_all(
    prepared: &Prepared,
    plan: &Plan,
    repos: &BTreeMap<String, Repository>,
    client: &Client,
    done: &Realized,
    started: DateTime<Utc>,
) -> Result<BTreeMap<Option<String>, String>, PublishError> {
    let mut out = BTreeMap::new();
    let pushed: Vec<_> = plan
        .images
        .iter()
        .filter(|p| p.needs_push() && !p.wanted.not_final)
        .filter_map(|p| Some((p, done.pushed.get(&p.wanted.name)?)))
        .collect();
    if pushed.is_empty() {
        return Ok(out);
    }
    let cfg = &prepared.cfg;
    let config_sha256 = std::fs::read(&cfg.path)
        .map(|b| hex::encode(sha2::Sha256::digest(&b)))
        .unwrap_or_default();
    let git_remote = provenance::git_remote(&cfg.dir);
    let git_commit = prepared.git.found().map(|h| h.commit.clone());
    let docker = prepared.daemon().await.ok();
    for (p, digest) in pushed {
        let (Some(repo), Some(image)) = (
            repos.get(&p.wanted.repository),
            cfg.image(p.wanted.name.as_deref()),
        ) else {
            continue;
        };
        let mut inputs = Inputs {
            repository: p.wanted.repository.clone(),
            digest: digest.clone(),
            image: p.wanted.name.clone(),
            config_sha256: config_sha256.clone(),
            target: image.target().map(str::to_string),
            git_remote: git_remote.clone(),
            git_commit: git_commit.clone(),
            started: started.to_rfc3339_opts(SecondsFormat::Secs, true),
            ..Inputs::default()
        };
        if let Some(d) = image.dockerfile() {
            inputs.build_args = d.args.clone();
            inputs.secret_names = d.secrets.iter().map(secret_id).collect();
            inputs.platforms = d.platform.clone();
        }
        inputs.bases = bases(image, docker).await;
        // An index: one statement per platform manifest, each its subject.
        for (subject, platform) in subjects(client, repo, digest).await? {
            let mut one = inputs.clone();
            one.digest = subject.clone();
            if let Some(platform) = platform {
                one.platforms = vec![platform];
            }
            one.finished = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
            let statement = provenance::statement(&one);
            // The image is pushed already: a registry that refuses OCI artifacts (older
            // ones reject `subject` or the empty config) costs the provenance only.
            let attached =
                match provenance::attach::attach(client, repo, &subject, &statement).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(
                            image = p.label(),
                            "provenance not attached: {e} (--provenance=false turns it off)"
                        );
                        continue;
                    }
                };
            tracing::info!(image = p.label(), %subject, referrer = %attached.digest, "provenance attached");
            // The report names the first (of an index: the first platform's).
            out.entry(p.wanted.name.clone()).or_insert(attached.digest);
        }
    }
    Ok(out)
}

/// The manifests a statement is attached to: the image manifest itself, or each platform
/// manifest of an index (with its `os/arch[/variant]`; not buildx's own attestations,
/// whose platform is `unknown/unknown`).
async fn subjects(
    client: &Client,
    repo: &Repository,
    digest: &str,
) -> Result<Vec<(String, Option<String>)>, PublishError> {
    let Some((m, _, _)) = client.get_typed_manifest(repo, digest).await? else {
        return Ok(vec![(digest.to_string(), None)]);
    };
    if m.children().is_empty() {
        return Ok(vec![(digest.to_string(), None)]);
    }
    Ok(m.children()
        .iter()
        .filter_map(|c| {
            let p = c.platform().as_ref()?;
            let os = p.os().to_string();
            if os == "unknown" {
                return None;
            }
            let mut name = format!("{os}/{}", p.architecture());
            if let Some(v) = p.variant() {
                name.push('/');
                name.push_str(v);
            }
            Some((c.digest().to_string(), Some(name)))
        })
        .collect())
}

fn secret_id(s: &crate::config::Secret) -> String {
    use crate::config::Secret;
    match s {
        Secret::Env { id, .. } | Secret::Src { id, .. } | Secret::Value { id, .. } => id.clone(),
    }
}

/// The external bases of a Dockerfile image (`FROM` that names no earlier stage, build
/// args expanded), each with the registry digest the daemon recorded, else its local ID.
async fn bases(image: &ImageConfig, docker: Option<&bollard::Docker>) -> Vec<Base> {
    let Some(d) = image.dockerfile() else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string(&d.dockerfile_path) else {
        return Vec::new();
    };
    let df = crate::dockerfile::parse(&text);
    let vars: BTreeMap<String, String> = df.meta_args(&d.args).into_iter().collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (k, stage) in df.stages.iter().enumerate() {
        let reference = crate::dockerfile::expand(&stage.base, &vars);
        if reference.eq_ignore_ascii_case("scratch")
            || df.stage_ref(&reference, k).is_some()
            || !seen.insert(reference.clone())
        {
            continue;
        }
        let Some(docker) = docker else { continue };
        let Ok(info) = docker.inspect_image(&reference).await else {
            continue;
        };
        let repo_digest = info
            .repo_digests
            .unwrap_or_default()
            .into_iter()
            .find_map(|r| r.split_once('@').map(|(_, d)| d.to_string()));
        let (digest, local) = match repo_digest {
            Some(d) => (d, false),
            None => (info.id.unwrap_or_default(), true),
        };
        out.push(Base {
            reference,
            digest,
            local,
        });
    }
    out
}
