//! From the parsed cleanup flags to a [`CleanupRequest`] (ripgrep's low → high args): the
//! flags' values checked, werf 1.1's variables that beat a flag read from the run's
//! environment snapshot, the kube config's source chosen in werf's precedence.

use super::CleanupError;
use super::kube::{KubeConfigSource, KubeOptions};
use super::policy;
use super::run::{CleanupRequest, TagSchemeLimits, WerfSource};
use crate::secret::Secret;
use crate::settings::{HostEnv, Settings};

/// `slipway cleanup`'s flags as parsed, nothing resolved yet.
#[derive(Debug, Clone, Default)]
pub struct CleanupFlags {
    /// `--keep-tag` patterns.
    pub keep_tags: Vec<String>,
    /// `--min-age`, as given (`2h`).
    pub min_age: String,
    /// `--git-history-based-cleanup`: `false` is werf 1.1's tag-scheme mode.
    pub git_history_based_cleanup: bool,
    /// The tag-scheme limits' flags (werf's variables beat them: [`CleanupRequest::new`]).
    pub limits: TagSchemeLimits,
    /// `--kube-config`: a `:` list of files.
    pub kube_config: Option<String>,
    /// `--kube-config-base64` (global) or its variables.
    pub kube_config_base64: Option<Secret>,
    pub kube_context: Option<String>,
    pub scan_context_namespace_only: bool,
    pub without_kube: bool,
    pub git_history_synchronization: bool,
    /// `--git-history-based-cleanup-v1.2[=BOOL]`.
    pub git_history_based_cleanup_v1_2: Option<bool>,
}

impl CleanupRequest {
    /// The request the flags make in this run (`--min-age` and `--keep-tag` checked here;
    /// `-s`, `--allow-git-shallow-clone`, `CI` and the cache paths from the settings).
    pub fn new(flags: CleanupFlags, settings: &Settings) -> Result<CleanupRequest, CleanupError> {
        let env = &settings.host_env;
        let min_age =
            humantime::parse_duration(&flags.min_age).map_err(|e| CleanupError::MinAge {
                value: flags.min_age.clone(),
                cause: e.to_string(),
            })?;
        let mut options = super::options(&flags.keep_tags, min_age)?;
        options.delete_unrecorded = flags.git_history_based_cleanup_v1_2 == Some(true);
        if flags.git_history_based_cleanup_v1_2 == Some(false) {
            options.werf_unrecorded = policy::WerfUnrecorded::Keep(
                "no werf 1.1 image metadata for its content signature: kept, as --git-history-based-cleanup-v1.2=false (WERF_GIT_HISTORY_BASED_CLEANUP_v1_2) asks".into(),
            );
        }
        let tag_scheme = if flags.git_history_based_cleanup {
            None
        } else {
            Some(tag_scheme(&flags.limits, env)?)
        };
        let kube = (!flags.without_kube).then(|| kube_options(&flags, env));
        Ok(CleanupRequest {
            options,
            tag_scheme,
            kube,
            git_history_synchronization: flags.git_history_synchronization,
            allow_git_shallow_clone: settings.allow_git_shallow_clone,
            ci: env.ci(),
            paths: env.paths(),
            werf: WerfSource::from_stages_storage(settings.stages_storage.as_deref()),
        })
    }
}

/// werf 1.1's limits: its `WERF_*_STRATEGY_*` variable beats the flag (werf's
/// `GetGitTagStrategyLimit` reads the variable first), `SLIPWAY_*` ones never do (clap gave
/// them to the flag already); nothing given is -1, no limit, as in werf.
fn tag_scheme(flags: &TagSchemeLimits, env: &HostEnv) -> Result<TagSchemeLimits, CleanupError> {
    let pick = |flag: Option<i64>, var: &str| -> Result<Option<i64>, CleanupError> {
        match env.var(var) {
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|e| CleanupError::Variable {
                    name: var.to_string(),
                    value: v.to_string(),
                    cause: e.to_string(),
                }),
            None => Ok(Some(flag.unwrap_or(-1))),
        }
    };
    Ok(TagSchemeLimits {
        git_tag_limit: pick(flags.git_tag_limit, "WERF_GIT_TAG_STRATEGY_LIMIT")?,
        git_tag_expiry_days: pick(
            flags.git_tag_expiry_days,
            "WERF_GIT_TAG_STRATEGY_EXPIRY_DAYS",
        )?,
        git_commit_limit: pick(flags.git_commit_limit, "WERF_GIT_COMMIT_STRATEGY_LIMIT")?,
        git_commit_expiry_days: pick(
            flags.git_commit_expiry_days,
            "WERF_GIT_COMMIT_STRATEGY_EXPIRY_DAYS",
        )?,
    })
}

/// Where the kube config comes from, in werf's precedence: base64 data, then --kube-config
/// (or its variables: a `:` list), then ~/.kube/config.
fn kube_options(flags: &CleanupFlags, env: &HostEnv) -> KubeOptions {
    let base64 = flags
        .kube_config_base64
        .clone()
        .filter(|d| !d.expose().trim().is_empty());
    let source = if let Some(data) = base64 {
        let origin = origin("kube-config-base64", data.expose(), env);
        KubeConfigSource::Base64 { data, origin }
    } else if let Some(list) = flags.kube_config.clone().filter(|s| !s.is_empty()) {
        KubeConfigSource::Files {
            paths: std::env::split_paths(&list).collect(),
            origin: origin("kube-config", &list, env),
        }
    } else {
        KubeConfigSource::Default(env.home().map(|h| h.join(".kube").join("config")))
    };
    KubeOptions {
        source,
        context: flags.kube_context.clone().filter(|c| !c.is_empty()),
        namespace_only: flags.scan_context_namespace_only,
    }
}

/// Which flag or variable `value` came from, for messages: the first variable of the flag
/// table that is set to it, else the flag.
fn origin(long: &str, value: &str, env: &HostEnv) -> String {
    crate::settings::werf_names::env_names(long)
        .into_iter()
        .find(|n| env.var(n) == Some(value))
        .map(|n| format!("${n}"))
        .unwrap_or_else(|| format!("--{long}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(flags: TagSchemeLimits, vars: &[(&str, &str)]) -> TagSchemeLimits {
        let settings = Settings {
            host_env: HostEnv::from_map(
                vars.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        let flags = CleanupFlags {
            min_age: "2h".into(),
            git_history_based_cleanup: false,
            limits: flags,
            without_kube: true,
            ..Default::default()
        };
        CleanupRequest::new(flags, &settings)
            .expect("request")
            .tag_scheme
            .expect("tag scheme mode")
    }

    #[test]
    fn werf_strategy_variables_beat_the_flag_and_the_default_is_no_limit() {
        let l = limits(TagSchemeLimits::default(), &[]);
        assert_eq!(
            (
                l.git_tag_limit,
                l.git_tag_expiry_days,
                l.git_commit_limit,
                l.git_commit_expiry_days
            ),
            (Some(-1), Some(-1), Some(-1), Some(-1))
        );
        let flags = TagSchemeLimits {
            git_tag_limit: Some(3),
            git_commit_limit: Some(4),
            ..Default::default()
        };
        let l = limits(flags, &[("WERF_GIT_TAG_STRATEGY_LIMIT", "7")]);
        assert_eq!(l.git_tag_limit, Some(7), "werf's variable beats the flag");
        assert_eq!(
            l.git_commit_limit,
            Some(4),
            "the flag, without werf's variable"
        );
        // A SLIPWAY_* variable only ever fills the flag (clap reads it for the flag), so it
        // is below werf's variable as the flag is.
    }

    #[test]
    fn a_bad_variable_or_min_age_is_named() {
        let bad = CleanupFlags {
            min_age: "2h".into(),
            without_kube: true,
            ..Default::default()
        };
        let settings = Settings {
            host_env: HostEnv::from_map(
                [(
                    "WERF_GIT_COMMIT_STRATEGY_LIMIT".to_string(),
                    "x".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        };
        let e = CleanupRequest::new(bad.clone(), &settings).expect_err("bad variable");
        assert!(
            e.to_string()
                .starts_with("$WERF_GIT_COMMIT_STRATEGY_LIMIT \"x\": "),
            "{e}"
        );
        let e = CleanupRequest::new(
            CleanupFlags {
                min_age: "soon".into(),
                ..bad
            },
            &Settings::default(),
        )
        .expect_err("bad --min-age");
        assert!(e.to_string().starts_with("--min-age \"soon\": "), "{e}");
    }
}
