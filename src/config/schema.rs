//! The JSON Schema of a werf.yaml document (what editors validate against through
//! `# yaml-language-server: $schema=…`), generated from these types with schemars. They
//! describe the file as written; the loader's typed model is in `model.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;

/// The first document: project meta.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Meta {
    /// Project name: lowercase letters, digits and single dashes, at most 50 characters.
    #[schemars(regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), length(max = 50))]
    project: String,
    /// Always 1.
    #[schemars(range(min = 1, max = 1))]
    config_version: u32,
    /// Build settings (`platform`, `imageSpec`), kept as written.
    build: Option<serde_json::Value>,
    /// Deploy settings, kept as written.
    deploy: Option<serde_json::Value>,
    /// Cleanup policies used by `slipway cleanup`.
    cleanup: Option<Cleanup>,
    /// Kept as written.
    git_worktree: Option<serde_json::Value>,
}

/// `cleanup:`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Cleanup {
    /// Which images to keep; werf's defaults when absent or empty.
    keep_policies: Option<Vec<KeepPolicy>>,
    /// `true`: cleanup deletes nothing (werf 2).
    disable: Option<bool>,
    /// `true`: images in use in Kubernetes are not looked up (as `--without-kube`).
    disable_kubernetes_based_policy: Option<bool>,
    /// `true`: nothing is deleted for git history reasons.
    disable_git_history_based_policy: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct KeepPolicy {
    /// Git references the policy covers.
    references: References,
    /// How many images of each reference to keep (newest commits first).
    images_per_reference: Option<Limit>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct References {
    /// Branch name: `main` matches exactly, `/^(main|staging)$/` is a regex. Not with `tag`.
    branch: Option<String>,
    /// Tag name: `v1.0` matches exactly, `/.*/` is a regex. Not with `branch`.
    tag: Option<String>,
    /// Which matching references count (newest first).
    limit: Option<Limit>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Limit {
    /// At most this many (-1: no limit).
    #[schemars(range(min = -1))]
    last: Option<i64>,
    /// Only within this Go duration, e.g. `168h` (no `d` unit).
    #[serde(rename = "in")]
    #[schemars(regex(
        pattern = r"^(0|\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$"
    ))]
    in_: Option<String>,
    /// How `last` and `in` combine.
    operator: Option<Operator>,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
enum Operator {
    And,
    Or,
}

/// An `image:` document (a Dockerfile image).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Image {
    /// Image name (best a docker repository path: lowercase, `-`), a list of names (several
    /// images with the same directives), or `~` / null for the one nameless image.
    image: Option<StringOrList>,
    /// Dockerfile path, relative to `context`. Default `Dockerfile`.
    dockerfile: Option<String>,
    /// Build context directory, relative to the project. Default `.`.
    context: Option<String>,
    /// Dockerfile stage to build.
    target: Option<String>,
    /// Build arguments; each value as werf prints it (YAML 1.1, then Go's `%v`: `0755` is
    /// `493`, `on` is `true`).
    args: Option<BTreeMap<String, serde_json::Value>>,
    /// Extra `/etc/hosts` entries during the build, `host:ip`.
    add_host: Option<Vec<String>>,
    /// Network mode for RUN steps.
    network: Option<String>,
    /// SSH agent socket or keys for the build.
    ssh: Option<String>,
    /// Files added back to the context although `.dockerignore` excludes them.
    context_add_files: Option<StringOrList>,
    /// Same as `contextAddFiles`.
    context_add_file: Option<StringOrList>,
    /// Images this one is built from or uses, with what they pass in.
    dependencies: Option<Vec<Dependency>>,
    /// Target platforms, e.g. `linux/amd64`.
    platform: Option<Vec<String>>,
    /// werf's staged Dockerfile builds (accepted).
    staged: Option<bool>,
    /// Build secrets (BuildKit): `- env: NAME` or `- src: path` (optional `id`), or `- id: ID` with `value: TEXT`.
    secrets: Option<Vec<Secret>>,
    /// Labels added to the image.
    labels: Option<BTreeMap<String, String>>,
    /// werf ≥ 1.2: `false` = built for its dependants, never published under the run's tags.
    #[serde(rename = "final")]
    final_: Option<bool>,
    /// werf ≥ 1.2: part of the content signature; change it to rebuild the image (else
    /// the meta document's `build.cacheVersion`).
    cache_version: Option<ScalarText>,
    /// werf ≥ 1.2: the image's config (entrypoint, cmd, user, env, labels …), see config.md.
    image_spec: Option<serde_json::Value>,
    /// werf ≥ 1.2 (stapel): accepted and ignored.
    disable_git_after_patch: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Dependency {
    /// Name of another image of this werf.yaml.
    image: String,
    /// Stapel images only: the dependency is needed before this stage.
    before: Option<DependencyStage>,
    /// Stapel images only: the dependency is needed after this stage.
    after: Option<DependencyStage>,
    imports: Option<Vec<Import>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
enum DependencyStage {
    Install,
    Setup,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct Import {
    /// What to pass.
    #[serde(rename = "type")]
    kind: ImportType,
    /// Dockerfile images: the build argument that receives it.
    target_build_arg: Option<String>,
    /// Stapel images: the environment variable that receives it.
    target_env: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code, clippy::enum_variant_names)]
enum ImportType {
    ImageName,
    ImageTag,
    ImageRepo,
    ImageID,
    ImageDigest,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Secret {
    Env { env: String, id: Option<String> },
    Src { src: String, id: Option<String> },
    Value { value: String, id: String },
}

/// A stapel `image:` document (werf's own builder: no Dockerfile).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelImage {
    /// Image name, a list of names (several images with the same directives), or `~`.
    image: Option<StringOrList>,
    #[serde(flatten)]
    base: StapelBase,
    /// Image config applied last (not visible to the image's own build steps).
    docker: Option<StapelDocker>,
    /// Images whose names, digests or ids this one's steps and config receive as ENV.
    dependencies: Option<Vec<StapelDependency>>,
    /// Build secrets, each mounted at `/run/secrets/ID` in every user step.
    secrets: Option<Vec<Secret>>,
    /// werf 2: no `gitLatestPatch`: git changes reach the image only through the
    /// `stageDependencies` of a rebuilt stage, as in an artifact.
    disable_git_after_patch: Option<bool>,
}

/// A stapel image's dependency (werf 2): its imports become ENV at `before`/`after`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelDependency {
    /// Name of another image of this werf.yaml.
    image: String,
    /// `install` or `setup` (one of `before`, `after`).
    before: Option<String>,
    /// `install` or `setup` (one of `before`, `after`).
    after: Option<String>,
    imports: Option<Vec<StapelDependencyImport>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelDependencyImport {
    /// What to pass.
    #[serde(rename = "type")]
    kind: ImportType,
    /// Environment variable that receives it.
    target_env: String,
}

/// A stapel `artifact:` document: built when an image imports from it, never published.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelArtifact {
    /// Artifact name (any text).
    artifact: String,
    #[serde(flatten)]
    base: StapelBase,
}

/// What stapel images and artifacts share.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct StapelBase {
    /// Base image `NAME[:TAG]`. One of `from`, `fromImage`, `fromImageArtifact`.
    from: Option<String>,
    /// Another image of this werf.yaml (stapel or Dockerfile) as the base.
    from_image: Option<String>,
    /// An artifact of this werf.yaml as the base.
    from_image_artifact: Option<String>,
    /// werf ≥ 1.2's name for `fromImageArtifact`.
    from_artifact: Option<String>,
    /// werf ≥ 1.2: part of the content signature; change it to rebuild the image.
    cache_version: Option<ScalarText>,
    /// Use the registry's current digest of `from` (needs the admission key below).
    from_latest: Option<bool>,
    /// werf's admission that `fromLatest` breaks reproducibility.
    hereby_i_admit_that_from_latest_might_break_reproducibility: Option<bool>,
    /// Changes the signature (rebuilds everything) without changing the content.
    from_cache_version: Option<ScalarText>,
    /// Files of the project's git repository (HEAD commit) put into the image.
    git: Option<Vec<StapelGit>>,
    /// Shell commands per stage.
    shell: Option<StapelShell>,
    /// Ansible tasks per stage (not with `shell`).
    ansible: Option<StapelAnsible>,
    /// Files copied from other images or artifacts.
    import: Option<Vec<StapelImport>>,
    /// Directories mounted while the steps run, never part of the image.
    mount: Option<Vec<StapelMount>>,
    /// One layer per command (same content).
    as_layers: Option<bool>,
    /// werf ≥ 1.2: target platforms, e.g. `linux/amd64` (else meta `build.platform`).
    platform: Option<Vec<String>>,
    /// werf 2: network mode of the user steps (`default`, `none`, `host`).
    network: Option<String>,
}

/// A string as written; numbers are taken as their text (`2`, `0755`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ScalarText {
    Text(String),
    Number(f64),
}

/// A `git:` mapping.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelGit {
    /// Remote repository (any URL the `git` CLI clones: https, ssh, file).
    url: Option<String>,
    /// Remote mapping: this branch's latest commit (default: the remote's HEAD branch).
    branch: Option<String>,
    /// Remote mapping: this tag's commit.
    tag: Option<String>,
    /// Remote mapping: this commit.
    commit: Option<String>,
    /// Required with a remote `branch` (or none of branch/tag/commit), as in werf 1.1.
    hereby_i_admit_that_branch_might_break_reproducibility: Option<bool>,
    /// Absolute path in the repository (default `/`).
    add: Option<String>,
    /// Absolute path in the image.
    to: String,
    /// Globs relative to `add`: only matching files.
    include_paths: Option<StringOrList>,
    /// Globs relative to `add`: files left out.
    exclude_paths: Option<StringOrList>,
    owner: Option<String>,
    group: Option<String>,
    /// Globs whose files' changes rebuild a stage.
    stage_dependencies: Option<StapelStageDependencies>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelStageDependencies {
    install: Option<StringOrList>,
    before_setup: Option<StringOrList>,
    setup: Option<StringOrList>,
}

/// `shell:`: each stage one command or a list.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelShell {
    before_install: Option<StringOrList>,
    install: Option<StringOrList>,
    before_setup: Option<StringOrList>,
    setup: Option<StringOrList>,
    cache_version: Option<ScalarText>,
    before_install_cache_version: Option<ScalarText>,
    install_cache_version: Option<ScalarText>,
    before_setup_cache_version: Option<ScalarText>,
    setup_cache_version: Option<ScalarText>,
}

/// `ansible:`: each stage a list of tasks.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelAnsible {
    before_install: Option<Vec<serde_json::Value>>,
    install: Option<Vec<serde_json::Value>>,
    before_setup: Option<Vec<serde_json::Value>>,
    setup: Option<Vec<serde_json::Value>>,
    cache_version: Option<ScalarText>,
    before_install_cache_version: Option<ScalarText>,
    install_cache_version: Option<ScalarText>,
    before_setup_cache_version: Option<ScalarText>,
    setup_cache_version: Option<ScalarText>,
}

/// An `import:` entry: `image` or `artifact`, and `before` or `after`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelImport {
    /// An image of werf.yaml (a reference with a tag or digest is a registry image: werf 2).
    image: Option<String>,
    /// werf 2's spelling of `image:` (not both).
    from: Option<String>,
    artifact: Option<String>,
    /// Absolute path in the source.
    add: String,
    /// Absolute path in this image (default `add`).
    to: Option<String>,
    /// `install` or `setup`.
    before: Option<String>,
    /// `install` or `setup`.
    after: Option<String>,
    /// The source's stage to copy from.
    stage: Option<String>,
    include_paths: Option<StringOrList>,
    exclude_paths: Option<StringOrList>,
    owner: Option<String>,
    group: Option<String>,
}

/// A `mount:` entry: `from: build_dir|tmp_dir` or `fromPath: PATH`.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct StapelMount {
    from: Option<String>,
    from_path: Option<String>,
    /// Absolute path in the build container.
    to: String,
}

/// `docker:` of a stapel image.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, non_snake_case)]
struct StapelDocker {
    VOLUME: Option<StringOrList>,
    EXPOSE: Option<StringOrList>,
    ENV: Option<BTreeMap<String, serde_json::Value>>,
    LABEL: Option<BTreeMap<String, serde_json::Value>>,
    /// A string (shell form) or a list (exec form).
    ENTRYPOINT: Option<StringOrList>,
    /// A string (shell form) or a list (exec form).
    CMD: Option<StringOrList>,
    WORKDIR: Option<String>,
    USER: Option<String>,
    HEALTHCHECK: Option<String>,
    /// werf 2: values taken as written (Slipway always quotes them; no change).
    exactValues: Option<bool>,
}

/// The keys a type's schema allows, in schema order. Leaked once per process so the
/// loader can hold them as `&'static str` like any key list.
fn keys_of(schema: schemars::Schema) -> Vec<&'static str> {
    let v = serde_json::to_value(schema).unwrap_or_default();
    v["properties"]
        .as_object()
        .map(|m| {
            m.keys()
                .map(|k| &*Box::leak(k.clone().into_boxed_str()))
                .collect()
        })
        .unwrap_or_default()
}

macro_rules! keys_fn {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name() -> &'static [&'static str] {
            static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
            KEYS.get_or_init(|| keys_of(schemars::schema_for!($ty)))
        }
    };
}

// The loader's lists of known keys: the schema types are the only place keys are written.
keys_fn!(
    /// Keys of the meta document.
    meta_keys,
    Meta
);
keys_fn!(
    /// Keys of an image document.
    image_keys,
    Image
);
keys_fn!(
    /// Keys of `cleanup:`.
    cleanup_keys,
    Cleanup
);
keys_fn!(
    /// Keys of a keep policy.
    policy_keys,
    KeepPolicy
);
keys_fn!(
    /// Keys of `references:`.
    references_keys,
    References
);
keys_fn!(
    /// Keys of a limit (`limit:`, `imagesPerReference:`).
    limit_keys,
    Limit
);

keys_fn!(
    /// Keys of a stapel image document.
    stapel_image_keys,
    StapelImage
);
keys_fn!(
    /// Keys of a stapel artifact document.
    stapel_artifact_keys,
    StapelArtifact
);
keys_fn!(
    /// Keys of a `git:` mapping.
    stapel_git_keys,
    StapelGit
);
keys_fn!(
    /// Keys of `stageDependencies:`.
    stapel_stage_dependencies_keys,
    StapelStageDependencies
);
keys_fn!(
    /// Keys of `shell:`.
    stapel_shell_keys,
    StapelShell
);
keys_fn!(
    /// Keys of `ansible:`.
    stapel_ansible_keys,
    StapelAnsible
);
keys_fn!(
    /// Keys of an `import:` entry.
    stapel_import_keys,
    StapelImport
);
keys_fn!(
    /// Keys of a `mount:` entry.
    stapel_mount_keys,
    StapelMount
);
keys_fn!(
    /// Keys of `docker:`.
    stapel_docker_keys,
    StapelDocker
);

/// The schema of one werf.yaml document: the meta document or an image document.
pub fn schema() -> serde_json::Value {
    #[derive(JsonSchema)]
    #[serde(untagged)]
    #[allow(dead_code, clippy::large_enum_variant)]
    /// A werf.yaml document: the meta document, a Dockerfile image, a stapel image or a
    /// stapel artifact.
    enum Document {
        Meta(Meta),
        Image(Image),
        StapelImage(StapelImage),
        StapelArtifact(StapelArtifact),
    }
    let mut v = serde_json::to_value(schemars::schema_for!(Document)).unwrap_or_default();
    v["title"] = "werf.yaml (Slipway)".into();
    v
}
