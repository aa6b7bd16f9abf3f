//! Image names and tags: where each werf.yaml image lives in `--images-repo` (multirepo
//! `REPO/IMAGE:TAG`, monorepo `REPO:IMAGE-TAG`, or a custom template), which registry
//! implementation that is, and the tags a run publishes.

pub mod name;
pub mod slug;

use std::collections::BTreeMap;

use crate::registry::reference::{Reference, Repository, valid_tag};
use crate::registry::vendors::{Implementation, UnknownImplementation};
use crate::settings::{RepoMode, Settings};

#[derive(Debug, thiserror::Error)]
pub enum NamingError {
    #[error("--images-repo {0:?}: {1}")]
    Repo(String, String),
    #[error("--images-repo-mode {mode} cannot be used with {implementation} ({repo}): {why}")]
    Mode {
        mode: &'static str,
        implementation: &'static str,
        repo: String,
        why: String,
    },
    #[error("--implementation {0:?}: {1}")]
    Implementation(String, String),
    #[error("--images-repo-template: {0}")]
    Template(String),
    #[error("{0}")]
    Tag(String),
    #[error(
        "image sha256: in monorepo mode its tags (`sha256-…`) would be read as OCI referrers indexes (provenance) and deleted with the manifests they name; rename the image or use --images-repo-mode multirepo"
    )]
    Sha256InMonorepo,
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
}

/// The pseudo-image whose repository (or tag prefix, in monorepo mode) holds the commit
/// records (`records`): a name reserved in the repository layout.
pub const META_IMAGE: &str = "slipway-meta";

const MULTIREPO: &str = "{{ .Repo }}{{ if .Image }}/{{ .Image }}{{ end }}:{{ .Tag }}";
const MONOREPO: &str = "{{ .Repo }}:{{ if .Image }}{{ .Image }}-{{ end }}{{ .Tag }}";

/// How images are named in one images repo.
#[derive(Debug, Clone)]
pub struct Naming {
    /// `--images-repo`, normalised (`docker.io/acme`, `127.0.0.1:5000/shop`).
    pub repo: String,
    pub implementation: Implementation,
    /// Resolved mode (never `Auto`); `None` with a custom template.
    pub mode: Option<RepoMode>,
    template: String,
}

impl Naming {
    /// `Ok(None)` when no images repo is set.
    pub fn new(settings: &Settings) -> Result<Option<Naming>, NamingError> {
        let Some(raw) = settings.images_repo.as_deref() else {
            return Ok(None);
        };
        let parsed =
            Reference::parse(raw).map_err(|e| NamingError::Repo(raw.into(), e.to_string()))?;
        if parsed.tag.is_some() || parsed.digest.is_some() {
            return Err(NamingError::Repo(
                raw.into(),
                "must be a repository, without :tag or @digest".into(),
            ));
        }
        let repository = parsed.repository;
        let implementation = match &settings.implementation {
            Some(i) => i.parse().map_err(|e: UnknownImplementation| {
                NamingError::Implementation(i.clone(), e.to_string())
            })?,
            None => Implementation::detect(&repository.host),
        };
        let depth = repository.path.split('/').count();
        // Docker Hub official-image normalisation must not turn `docker.io/acme` into
        // `library/acme`: an images repo names an account or a repository.
        let path = if repository.host == "docker.io" && !raw.contains("library/") {
            repository.path.trim_start_matches("library/").to_string()
        } else {
            repository.path.clone()
        };
        let depth = if path != repository.path {
            path.split('/').count()
        } else {
            depth
        };
        let repo = format!("{}/{}", repository.host, path);
        if let Some(t) = &settings.images_repo_template {
            return Ok(Some(Naming {
                repo,
                implementation,
                mode: None,
                template: t.clone(),
            }));
        }
        let limit = implementation.max_depth(&repository.host);
        let mode = match (settings.images_repo_mode, limit) {
            (RepoMode::Auto, Some(max)) => {
                if depth >= max {
                    RepoMode::Monorepo
                } else {
                    RepoMode::Multirepo
                }
            }
            (RepoMode::Auto, None) => RepoMode::Multirepo,
            (RepoMode::Multirepo, Some(max)) if depth >= max => {
                return Err(NamingError::Mode {
                    mode: "multirepo",
                    implementation: implementation.as_str(),
                    repo,
                    why: format!(
                        "this registry holds at most {max} path components, and the address already has {depth}; use --images-repo-mode monorepo, or give only the account (e.g. {}/{})",
                        repository.host,
                        path.split('/').next().unwrap_or("")
                    ),
                });
            }
            (RepoMode::Monorepo, Some(max)) if depth < max => {
                return Err(NamingError::Mode {
                    mode: "monorepo",
                    implementation: implementation.as_str(),
                    repo,
                    why: format!(
                        "the address names only an account; name a repository ({}/{}/REPO) or use --images-repo-mode multirepo",
                        repository.host, path
                    ),
                });
            }
            (m, _) => m,
        };
        let template = if mode == RepoMode::Monorepo {
            MONOREPO
        } else {
            MULTIREPO
        }
        .to_string();
        Ok(Some(Naming {
            repo,
            implementation,
            mode: Some(mode),
            template,
        }))
    }

    /// Full reference of `image` (None = nameless) with `tag`.
    pub fn reference(&self, image: Option<&str>, tag: &str) -> Result<Reference, NamingError> {
        if self.mode == Some(RepoMode::Monorepo) && image == Some("sha256") {
            return Err(NamingError::Sha256InMonorepo);
        }
        let mut data: BTreeMap<String, gotemplate::Value> = BTreeMap::new();
        data.insert("Repo".into(), gotemplate::Value::str(self.repo.as_str()));
        data.insert("Image".into(), gotemplate::Value::str(image.unwrap_or("")));
        data.insert("Tag".into(), gotemplate::Value::str(tag));
        let t = gotemplate::Templates::new();
        let text = t
            .parse("images-repo-template", &self.template)
            .and_then(|()| t.execute("images-repo-template", &gotemplate::Value::map(data)))
            .map_err(|e| NamingError::Template(e.to_string()))?;
        let r = Reference::parse(text.trim())
            .map_err(|e| NamingError::Template(format!("gives {text:?}: {e}")))?;
        if r.tag.is_none() {
            return Err(NamingError::Template(format!(
                "gives {text:?}, which has no tag"
            )));
        }
        Ok(r)
    }

    /// Full references of `image` with each of `tags`, as strings.
    pub fn references(
        &self,
        image: Option<&str>,
        tags: &[String],
    ) -> Result<Vec<String>, NamingError> {
        tags.iter()
            .map(|t| self.reference(image, t).map(|r| r.to_string()))
            .collect()
    }

    /// Repository of `image`.
    pub fn repository(&self, image: Option<&str>) -> Result<Repository, NamingError> {
        Ok(self.reference(image, "x")?.repository)
    }

    /// The tag `tag` becomes in the repository (`IMAGE-TAG` in monorepo mode).
    pub fn repo_tag(&self, image: Option<&str>, tag: &str) -> Result<String, NamingError> {
        let r = self.reference(image, tag)?;
        Ok(r.tag.unwrap_or_default())
    }

    /// Whether a tag found in `image`'s repository belongs to `image` (cleanup).
    pub fn owns_tag(&self, image: Option<&str>, all_images: &[Option<String>], tag: &str) -> bool {
        // A referrers fallback index (`sha256-<hex>`) is no image's tag: it goes with its
        // subject.
        if crate::provenance::attach::is_fallback_tag(tag) {
            return false;
        }
        // Commit records share the repository in monorepo mode; no image owns them.
        if self.mode == Some(RepoMode::Monorepo) && tag.starts_with(&format!("{META_IMAGE}-")) {
            return false;
        }
        match (self.mode, image) {
            (Some(RepoMode::Monorepo), Some(name)) => tag.starts_with(&format!("{name}-")),
            (Some(RepoMode::Monorepo), None) => !all_images
                .iter()
                .flatten()
                .any(|n| tag.starts_with(&format!("{n}-"))),
            _ => true,
        }
    }
}

/// One tag a run publishes, before it is placed in a repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TagSpec {
    /// custom, git-branch, git-tag, git-commit or content.
    pub kind: &'static str,
    /// The tag; for `content` empty (each image's own signature is used).
    pub value: String,
}

/// Tag options as the library takes them.
#[derive(Debug, Clone, Default)]
pub struct TagOptions {
    pub custom: Vec<String>,
    pub git_branch: Option<String>,
    pub git_tag: Option<String>,
    pub git_commit: Option<String>,
    pub by_content: bool,
    pub from_git: bool,
}

impl TagOptions {
    pub fn is_empty(&self) -> bool {
        self.custom.is_empty()
            && self.git_branch.is_none()
            && self.git_tag.is_none()
            && self.git_commit.is_none()
            && !self.by_content
            && !self.from_git
    }

    /// The options with werf's `WERF_TAG_CUSTOM_<ANY>` values (`Settings::tag_custom_env`)
    /// added to the custom tags, each once, after the flags' own.
    pub fn with_custom_env(mut self, env: &[String]) -> Self {
        for c in env {
            if !self.custom.contains(c) {
                self.custom.push(c.clone());
            }
        }
        self
    }
}

/// Local tag of an image: `<project>/<image>:latest` (nameless: `<project>:latest`).
pub fn local_tag(project: &str, image: Option<&str>) -> String {
    match image {
        Some(n) => format!("{project}/{n}:latest"),
        None => format!("{project}:latest"),
    }
}

/// Resolve tag options into tags (slugging branch and tag names, validating the rest).
pub fn tags(opts: &TagOptions, git: &crate::git::HeadOnce) -> Result<Vec<TagSpec>, NamingError> {
    let mut out = Vec::new();
    for c in &opts.custom {
        if !valid_tag(c) {
            return Err(NamingError::Tag(format!(
                "--tag-custom {c:?} is not a valid docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
            )));
        }
        out.push(TagSpec {
            kind: "custom",
            value: c.clone(),
        });
    }
    let (mut branch, mut tag, mut commit) = (
        opts.git_branch.clone(),
        opts.git_tag.clone(),
        opts.git_commit.clone(),
    );
    if opts.from_git {
        let head = git.get().map_err(Clone::clone)?.ok_or_else(|| {
            NamingError::Tag(format!(
                "--tag-from-git: {} is not in a git repository",
                git.dir().display()
            ))
        })?;
        if tag.is_none() {
            tag = head.tag.clone();
        }
        if branch.is_none() && tag.is_none() {
            branch = head.branch.clone();
        }
        if commit.is_none() {
            commit = Some(head.commit.clone());
        }
    }
    if let Some(b) = branch.filter(|b| !b.is_empty()) {
        out.push(TagSpec {
            kind: "git-branch",
            value: slug::slug(&b, slug::SlugFormat::DockerTag),
        });
    }
    if let Some(t) = tag.filter(|t| !t.is_empty()) {
        out.push(TagSpec {
            kind: "git-tag",
            value: slug::slug(&t, slug::SlugFormat::DockerTag),
        });
    }
    if let Some(c) = commit.filter(|c| !c.is_empty()) {
        if !valid_tag(&c) {
            return Err(NamingError::Tag(format!(
                "--tag-git-commit {c:?} is not a valid docker tag"
            )));
        }
        out.push(TagSpec {
            kind: "git-commit",
            value: c,
        });
    }
    if opts.by_content {
        out.push(TagSpec {
            kind: "content",
            value: String::new(),
        });
    }
    Ok(out)
}

/// `--cache-from` values as tags: a branch name is slugged as `--tag-git-branch` slugs it, so
/// `--cache-from "$CI_COMMIT_REF_NAME"` finds what that branch published.
pub fn cache_tags(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| slug::slug(v, slug::SlugFormat::DockerTag))
        .collect()
}

/// The tags one image gets: the specs, with `content` replaced by its signature.
pub fn image_tags(specs: &[TagSpec], signature: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in specs {
        let t = if s.kind == "content" {
            signature.to_string()
        } else {
            s.value.clone()
        };
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The error for a publish with no tag option.
pub fn no_tags_error() -> NamingError {
    NamingError::Tag("no tag given: use --tag-custom, --tag-git-branch, --tag-git-tag, --tag-git-commit, --tag-by-content (werf: --tag-by-stages-signature) or --tag-from-git".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(
        repo: &str,
        mode: RepoMode,
        implementation: Option<&str>,
    ) -> Result<Naming, NamingError> {
        let s = Settings {
            images_repo: Some(repo.into()),
            images_repo_mode: mode,
            implementation: implementation.map(str::to_string),
            ..Settings::default()
        };
        Naming::new(&s).map(|n| n.expect("repo set"))
    }

    fn refs(n: &Naming) -> (String, String) {
        (
            n.reference(Some("backend"), "v1").expect("ref").to_string(),
            n.reference(None, "v1").expect("ref").to_string(),
        )
    }

    #[test]
    fn every_implementation_mode_and_image_kind() {
        use RepoMode::*;
        let cases: &[(&str, RepoMode, &str, &str, &str)] = &[
            (
                "127.0.0.1:5000/shop",
                Auto,
                "default",
                "127.0.0.1:5000/shop/backend:v1",
                "127.0.0.1:5000/shop:v1",
            ),
            (
                "127.0.0.1:5000/shop",
                Multirepo,
                "default",
                "127.0.0.1:5000/shop/backend:v1",
                "127.0.0.1:5000/shop:v1",
            ),
            (
                "127.0.0.1:5000/shop",
                Monorepo,
                "default",
                "127.0.0.1:5000/shop:backend-v1",
                "127.0.0.1:5000/shop:v1",
            ),
            (
                "registry.gitlab.com/g/p",
                Auto,
                "gitlab",
                "registry.gitlab.com/g/p/backend:v1",
                "registry.gitlab.com/g/p:v1",
            ),
            (
                "ghcr.io/acme/app",
                Auto,
                "github",
                "ghcr.io/acme/app/backend:v1",
                "ghcr.io/acme/app:v1",
            ),
            (
                "docker.pkg.github.com/acme/app",
                Auto,
                "github",
                "docker.pkg.github.com/acme/app/backend:v1",
                "docker.pkg.github.com/acme/app:v1",
            ),
            (
                "docker.pkg.github.com/acme/app/img",
                Auto,
                "github",
                "docker.pkg.github.com/acme/app/img:backend-v1",
                "docker.pkg.github.com/acme/app/img:v1",
            ),
            (
                "docker.io/acme",
                Auto,
                "dockerhub",
                "docker.io/acme/backend:v1",
                "docker.io/library/acme:v1",
            ),
            (
                "docker.io/acme/app",
                Auto,
                "dockerhub",
                "docker.io/acme/app:backend-v1",
                "docker.io/acme/app:v1",
            ),
            (
                "acme/app",
                Monorepo,
                "dockerhub",
                "docker.io/acme/app:backend-v1",
                "docker.io/acme/app:v1",
            ),
            (
                "quay.io/acme",
                Auto,
                "quay",
                "quay.io/acme/backend:v1",
                "quay.io/acme:v1",
            ),
            (
                "quay.io/acme/app",
                Auto,
                "quay",
                "quay.io/acme/app:backend-v1",
                "quay.io/acme/app:v1",
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop",
                Auto,
                "ecr",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/backend:v1",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:v1",
            ),
            (
                "x.azurecr.io/shop",
                Monorepo,
                "acr",
                "x.azurecr.io/shop:backend-v1",
                "x.azurecr.io/shop:v1",
            ),
            (
                "gcr.io/p/shop",
                Auto,
                "gcr",
                "gcr.io/p/shop/backend:v1",
                "gcr.io/p/shop:v1",
            ),
            (
                "europe-docker.pkg.dev/p/r",
                Auto,
                "gcr",
                "europe-docker.pkg.dev/p/r/backend:v1",
                "europe-docker.pkg.dev/p/r:v1",
            ),
            (
                "harbor.example.com/lib/shop",
                Auto,
                "harbor",
                "harbor.example.com/lib/shop/backend:v1",
                "harbor.example.com/lib/shop:v1",
            ),
        ];
        for (repo, mode, imp, named, nameless) in cases {
            let n = naming(repo, *mode, None).unwrap_or_else(|e| panic!("{repo}: {e}"));
            assert_eq!(n.implementation.as_str(), *imp, "{repo}");
            assert_eq!(
                refs(&n),
                (named.to_string(), nameless.to_string()),
                "{repo} {mode:?}"
            );
        }
    }

    #[test]
    fn impossible_modes_say_what_to_change() {
        let e = naming("docker.io/acme/app", RepoMode::Multirepo, None).expect_err("nested");
        assert!(
            e.to_string().contains("use --images-repo-mode monorepo"),
            "{e}"
        );
        let e = naming("quay.io/acme", RepoMode::Monorepo, None).expect_err("account only");
        assert!(e.to_string().contains("name a repository"), "{e}");
        let e = naming("r.io/x", RepoMode::Auto, Some("nope")).expect_err("bad impl");
        assert!(e.to_string().contains("--implementation"), "{e}");
        assert!(naming("r.io/x:tag", RepoMode::Auto, None).is_err());
        // Self-hosted GitLab via --implementation.
        let n = naming("git.example.com/g/p", RepoMode::Auto, Some("gitlab")).expect("ok");
        assert_eq!(n.implementation, Implementation::GitLab);
    }

    #[test]
    fn monorepo_tag_ownership_and_templates() {
        let n = naming("r.io/shop", RepoMode::Monorepo, None).expect("ok");
        let all = vec![Some("backend".to_string()), None];
        assert!(n.owns_tag(Some("backend"), &all, "backend-v1"));
        assert!(!n.owns_tag(Some("backend"), &all, "frontend-v1"));
        assert!(n.owns_tag(None, &all, "v1"));
        assert!(!n.owns_tag(None, &all, "backend-v1"));
        let s = Settings {
            images_repo: Some("r.io/shop".into()),
            images_repo_template: Some("{{ .Repo }}/img-{{ .Image }}:{{ .Tag }}".into()),
            ..Settings::default()
        };
        let n = Naming::new(&s).expect("ok").expect("some");
        assert_eq!(
            n.reference(Some("a"), "t").expect("ref").to_string(),
            "r.io/shop/img-a:t"
        );
    }

    #[test]
    fn an_image_named_sha256_is_refused_in_monorepo_mode_only() {
        let mono = naming("r.io/shop", RepoMode::Monorepo, None).expect("ok");
        let e = mono.reference(Some("sha256"), "t").expect_err("collides");
        assert!(e.to_string().contains("referrers indexes"), "{e}");
        let multi = naming("r.io/shop", RepoMode::Multirepo, None).expect("ok");
        assert_eq!(
            multi
                .reference(Some("sha256"), "t")
                .expect("ref")
                .to_string(),
            "r.io/shop/sha256:t"
        );
    }

    #[test]
    fn tag_options_resolve_and_validate() {
        let dir = &crate::git::HeadOnce::new(std::path::Path::new("."));
        let t = tags(
            &TagOptions {
                custom: vec!["v1".into()],
                git_branch: Some("feature/x".into()),
                by_content: true,
                ..Default::default()
            },
            dir,
        )
        .expect("tags");
        assert_eq!(t[0].value, "v1");
        assert_eq!(
            t[1].value,
            format!("feature-x-{}", slug::murmur_hex("feature/x"))
        );
        assert_eq!(t[2].kind, "content");
        assert!(
            tags(
                &TagOptions {
                    custom: vec!["bad tag".into()],
                    ..Default::default()
                },
                dir
            )
            .is_err()
        );
    }
}
