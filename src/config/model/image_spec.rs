//! `imageSpec:` of an image and meta `build.imageSpec:`, as werf v2.77.1 reads them
//! (pkg/config/image_spec.go, raw_image_spec.go). Empty strings and absent lists mean "no
//! change", as in werf; `Option<Vec>` keeps werf's nil-versus-empty distinction where it
//! matters (`entrypoint: []` still clears CMD, `expose: []` removes every port).

use std::collections::BTreeMap;

use serde::Serialize;

/// The configuration an image gets on top of what its build produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageSpec {
    pub author: String,
    pub clear_history: bool,
    /// Accepted (werf: silences the warning about its essential labels); Slipway's own
    /// `slipway.*` labels are kept either way.
    pub keep_essential_werf_labels: bool,
    /// Accepted and without effect, as in werf v2.77.1 (deprecated there).
    pub clear_werf_labels: bool,
    /// Exact names or `/regex/` (a full match).
    pub remove_labels: Vec<String>,
    /// Exact paths.
    pub remove_volumes: Vec<String>,
    /// Exact names or `/regex/` (a full match).
    pub remove_env: Vec<String>,
    pub clear_cmd: bool,
    pub clear_entrypoint: bool,
    pub clear_user: bool,
    pub clear_working_dir: bool,
    pub volumes: Vec<String>,
    /// Keys and values may hold `%image%` and `%project%`.
    pub labels: BTreeMap<String, String>,
    /// Values may hold `${VAR}` of the base image's environment.
    pub env: BTreeMap<String, String>,
    pub user: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub stop_signal: String,
    /// Replaces the base image's exposed ports (`None`: kept).
    pub expose: Option<Vec<String>>,
    pub healthcheck: Option<Healthcheck>,
}

/// `healthcheck:` with werf's keys (`startperiod` lowercase, as yaml.v2 reads the field);
/// durations in whole seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub retries: i64,
}

impl ImageSpec {
    /// What of the spec decides the image: its image's signature covers it, and the
    /// image carries it as the `slipway.image-spec` label.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let text = serde_json::to_string(self).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    /// werf's `mergeImageSpec(meta, image)` for a final image: meta's author and a shared
    /// label key win (werf's code; its docs say the image wins), `clearHistory` and
    /// `keepEssentialWerfLabels` add up, label removals are joined.
    pub fn merged_with_meta(image: Option<&ImageSpec>, meta: &ImageSpec) -> ImageSpec {
        let mut out = image.cloned().unwrap_or_default();
        if !meta.author.is_empty() {
            out.author = meta.author.clone();
        }
        out.clear_history |= meta.clear_history;
        out.keep_essential_werf_labels |= meta.keep_essential_werf_labels;
        for (k, v) in &meta.labels {
            out.labels.insert(k.clone(), v.clone());
        }
        for r in &meta.remove_labels {
            if !out.remove_labels.contains(r) {
                out.remove_labels.push(r.clone());
            }
        }
        out
    }
}
