//! Build provenance: an in-toto statement with a SLSA v1 provenance predicate for each
//! published image (docs/provenance.md names every field), and its attachment as an OCI 1.1
//! referrer ([`attach`]). The statement is plain data built from [`Inputs`]; what goes in
//! is chosen so that nothing secret leaves the runner: secret names only, build-arg values
//! only where the name does not look like a credential, remote URLs without credentials.

pub mod attach;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// The `buildDefinition.buildType` of Slipway's provenance (docs/provenance.md).
pub const BUILD_TYPE: &str =
    "https://github.com/slipway-build/slipway/blob/main/docs/provenance.md#v1";
/// The builder id; the version is appended as `@VERSION`.
pub const BUILDER_ID: &str = "https://github.com/slipway-build/slipway";
/// in-toto's statement type and SLSA v1's predicate type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// A base image an image was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The reference as the Dockerfile (or `from:`) names it.
    pub reference: String,
    /// The registry manifest digest (`sha256:…`) when the daemon knows where it came from,
    /// else the local image ID.
    pub digest: String,
    /// The digest is a local image ID (`docker import`, a local build), not a registry's.
    pub local: bool,
}

/// What one image's statement says.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The repository the image is published to (the statement's subject name).
    pub repository: String,
    /// The image manifest digest, `sha256:…` (the subject).
    pub digest: String,
    /// werf.yaml image name (`None` = the nameless image).
    pub image: Option<String>,
    /// sha256 of werf.yaml's bytes (hex).
    pub config_sha256: String,
    pub build_args: BTreeMap<String, String>,
    pub secret_names: Vec<String>,
    pub target: Option<String>,
    pub platforms: Vec<String>,
    /// The git remote as configured (normalized here) and HEAD's commit.
    pub git_remote: Option<String>,
    pub git_commit: Option<String>,
    pub bases: Vec<Base>,
    /// RFC 3339 times of the publish's start and of the statement.
    pub started: String,
    pub finished: String,
}

/// A build argument whose name says it holds a credential: its value is left out.
pub fn secret_like(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "KEY",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A git remote URL as `https://host/path` without credentials, port kept, `.git` and
/// trailing slashes dropped: `git@host:path`, `ssh://user@host/path` and
/// `https://user:token@host/path.git` all give the same URL, so two clones of one
/// repository name one source. `None` for a local path or a URL that cannot be read.
pub fn normalize_remote(remote: &str) -> Option<String> {
    let r = remote.trim();
    let (host, path) = if let Some((scheme, rest)) = r.split_once("://") {
        if scheme == "file" {
            return None;
        }
        let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let (host, path) = rest.split_once('/')?;
        // ssh's port is not the web's; http(s) keeps it.
        let host = if scheme.starts_with("ssh") || scheme == "git" {
            host.split(':').next().unwrap_or(host)
        } else {
            host
        };
        (host.to_string(), path.to_string())
    } else {
        // scp-like: [user@]host:path (not a Windows drive or a local path).
        let (left, path) = r.split_once(':')?;
        if left.contains('/') || path.starts_with("//") {
            return None;
        }
        let host = left.rsplit_once('@').map_or(left, |(_, h)| h);
        (host.to_string(), path.to_string())
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("https://{}/{path}", host.to_ascii_lowercase()))
}

/// The `origin` remote of the repository holding `dir` (else the first remote), as
/// configured.
pub fn git_remote(dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(dir).ok()?;
    if let Ok(r) = repo.find_remote("origin") {
        return r.url().map(str::to_string);
    }
    let names = repo.remotes().ok()?;
    let first = names.iter().flatten().next()?;
    repo.find_remote(first).ok()?.url().map(str::to_string)
}

fn digest_map(digest: &str) -> Value {
    match digest.split_once(':') {
        Some((alg, hex)) => json!({ alg: hex }),
        None => json!({ "sha256": digest }),
    }
}

/// The in-toto statement (SLSA v1 provenance) of one image.
pub fn statement(i: &Inputs) -> Value {
    let args: serde_json::Map<String, Value> = i
        .build_args
        .iter()
        .map(|(k, v)| {
            let v = if secret_like(k) {
                Value::Null
            } else {
                Value::String(v.clone())
            };
            (k.clone(), v)
        })
        .collect();
    let mut deps = Vec::new();
    if let (Some(url), Some(commit)) = (
        i.git_remote.as_deref().and_then(normalize_remote),
        i.git_commit.as_deref(),
    ) {
        deps.push(json!({
            "uri": format!("git+{url}@{commit}"),
            "digest": { "gitCommit": commit },
        }));
    }
    for b in &i.bases {
        let mut d = json!({
            "uri": format!("docker-image://{}", b.reference),
            "digest": digest_map(&b.digest),
        });
        if b.local {
            d["annotations"] = json!({ "local": true });
        }
        deps.push(d);
    }
    let version = env!("CARGO_PKG_VERSION");
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": i.repository, "digest": digest_map(&i.digest) }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "config": { "path": "werf.yaml", "digest": { "sha256": i.config_sha256 } },
                    "image": i.image,
                    "buildArgs": args,
                    "secrets": i.secret_names,
                    "target": i.target,
                    "platforms": i.platforms,
                },
                "resolvedDependencies": deps,
            },
            "runDetails": {
                "builder": {
                    "id": format!("{BUILDER_ID}@{version}"),
                    "version": { "slipway": version },
                },
                "metadata": { "startedOn": i.started, "finishedOn": i.finished },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_normalize_to_one_https_url_without_credentials() {
        let want = Some("https://git.example.com/shop/backend".to_string());
        for r in [
            "git@git.example.com:shop/backend.git",
            "ssh://git@git.example.com:2222/shop/backend.git",
            "https://ci:glpat-SECRET@git.example.com/shop/backend.git",
            "https://git.example.com/shop/backend/",
            "git.example.com:shop/backend",
        ] {
            assert_eq!(normalize_remote(r), want, "{r}");
        }
        assert_eq!(
            normalize_remote("http://Host:8080/a/b.git").as_deref(),
            Some("https://host:8080/a/b")
        );
        assert_eq!(normalize_remote("/srv/git/repo.git"), None);
        assert_eq!(normalize_remote("file:///srv/git/repo"), None);
        assert_eq!(normalize_remote("./repo"), None);
    }

    #[test]
    fn statement_lists_source_bases_and_no_secret_values() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let i = Inputs {
            repository: "reg.example.com/shop/backend".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            image: Some("backend".into()),
            config_sha256: "b".repeat(64),
            build_args: BTreeMap::from([
                ("VERSION".into(), "1.2".into()),
                ("NPM_TOKEN".into(), "npm_s3cr3t".into()),
            ]),
            secret_names: vec!["netrc".into()],
            target: Some("prod".into()),
            platforms: vec!["linux/amd64".into()],
            git_remote: Some("git@git.example.com:shop/backend.git".into()),
            git_commit: Some(commit.into()),
            bases: vec![
                Base {
                    reference: "alpine:3.20".into(),
                    digest: format!("sha256:{}", "c".repeat(64)),
                    local: false,
                },
                Base {
                    reference: "base:local".into(),
                    digest: format!("sha256:{}", "d".repeat(64)),
                    local: true,
                },
            ],
            started: "2026-12-07T00:00:00Z".into(),
            finished: "2026-12-07T00:01:00Z".into(),
        };
        let s = statement(&i);
        let text = s.to_string();
        assert!(!text.contains("npm_s3cr3t"), "{text}");
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], "a".repeat(64));
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], BUILD_TYPE);
        let ext = &def["externalParameters"];
        assert_eq!(ext["buildArgs"]["VERSION"], "1.2");
        assert!(ext["buildArgs"]["NPM_TOKEN"].is_null());
        assert_eq!(ext["secrets"], json!(["netrc"]));
        assert_eq!(ext["target"], "prod");
        assert_eq!(ext["platforms"], json!(["linux/amd64"]));
        assert_eq!(ext["config"]["digest"]["sha256"], "b".repeat(64));
        let deps = def["resolvedDependencies"].as_array().expect("deps");
        assert_eq!(
            deps[0]["uri"],
            format!("git+https://git.example.com/shop/backend@{commit}")
        );
        assert_eq!(deps[0]["digest"]["gitCommit"], commit);
        assert_eq!(deps[1]["uri"], "docker-image://alpine:3.20");
        assert!(deps[1].get("annotations").is_none());
        assert_eq!(deps[2]["annotations"]["local"], true);
        let run = &s["predicate"]["runDetails"];
        assert!(
            run["builder"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with(BUILDER_ID))
        );
        assert_eq!(run["metadata"]["startedOn"], "2026-12-07T00:00:00Z");
    }
}
