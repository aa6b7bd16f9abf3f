//! `final:` and `imageSpec:` of an image document and meta `build.imageSpec:`, read as
//! werf v2.77.1 reads them (pkg/config/raw_image_spec.go: unknown keys are errors). The
//! meta spec is merged into every final image once all documents are read.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::config::error::{Ctx, unknown_key_message};
use crate::config::model::{Healthcheck, ImageConfig, ImageSpec};

/// `imageSpec.config` keys of an image.
const CONFIG_KEYS: &[&str] = &[
    "keepEssentialWerfLabels",
    "clearWerfLabels",
    "clearCmd",
    "clearEntrypoint",
    "clearUser",
    "clearWorkingDir",
    "removeLabels",
    "removeVolumes",
    "removeEnv",
    "volumes",
    "labels",
    "env",
    "expose",
    "user",
    "cmd",
    "entrypoint",
    "workingDir",
    "stopSignal",
    "healthcheck",
];

/// `build.imageSpec.config` keys of the meta document.
const META_CONFIG_KEYS: &[&str] = &[
    "keepEssentialWerfLabels",
    "clearWerfLabels",
    "removeLabels",
    "labels",
];

const TOP_KEYS: &[&str] = &["author", "clearHistory", "config"];

/// werf's yaml.v2 reads the Go field names lowercased: `startperiod`, not `startPeriod`.
const HEALTHCHECK_KEYS: &[&str] = &["test", "interval", "timeout", "startperiod", "retries"];

/// `final:` (default true) and `imageSpec:` of one image document.
pub(super) fn from_doc(
    cx: &mut Ctx<'_>,
    doc: &BTreeMap<String, Spanned<Json>>,
) -> (bool, Option<ImageSpec>) {
    let is_final = match doc.get("final") {
        None => true,
        Some(v) => match v.value {
            Json::Bool(b) => b,
            Json::Null => true,
            _ => {
                cx.at(&v.referenced, "final must be true or false");
                true
            }
        },
    };
    let spec = doc
        .get("imageSpec")
        .and_then(|v| parse(cx, &v.referenced, &v.value, CONFIG_KEYS));
    (is_final, spec)
}

/// Meta `build.imageSpec:` (author, clearHistory, labels and label removals only).
pub(super) fn meta(cx: &mut Ctx<'_>, build: Option<&Spanned<Json>>) -> Option<ImageSpec> {
    let b = build?;
    let v = b.value.get("imageSpec")?;
    parse(cx, &b.referenced, v, META_CONFIG_KEYS)
}

/// Meta `build.imageSpec` merged into each final image (werf's `prepareWerfConfig`);
/// artifacts are never final and take no imageSpec.
pub(super) fn apply_meta(
    meta: Option<&ImageSpec>,
    images: &mut [ImageConfig],
    artifacts: &mut [ImageConfig],
) {
    for img in images.iter_mut().filter(|i| i.is_final) {
        if let Some(m) = meta {
            img.image_spec = Some(ImageSpec::merged_with_meta(img.image_spec.as_ref(), m));
        }
    }
    for a in artifacts {
        a.is_final = false;
        a.image_spec = None;
    }
}

fn parse(cx: &mut Ctx<'_>, at: &Location, v: &Json, config_keys: &[&str]) -> Option<ImageSpec> {
    let m = match v {
        Json::Null => return None,
        Json::Object(m) => m,
        _ => {
            cx.at(at, "imageSpec must be a mapping");
            return None;
        }
    };
    let mut out = ImageSpec::default();
    for (k, val) in m {
        match k.as_str() {
            "author" => out.author = text(cx, at, val, "imageSpec.author"),
            "clearHistory" => out.clear_history = flag(cx, at, val, "imageSpec.clearHistory"),
            "config" => config(cx, at, val, config_keys, &mut out),
            other => cx.at(
                at,
                in_spec(unknown_key_message(other, TOP_KEYS), "imageSpec"),
            ),
        }
    }
    Some(out)
}

fn in_spec(message: String, what: &str) -> String {
    format!("{what}: {message}")
}

fn config(cx: &mut Ctx<'_>, at: &Location, v: &Json, keys: &[&str], out: &mut ImageSpec) {
    let m = match v {
        Json::Null => return,
        Json::Object(m) => m,
        _ => {
            cx.at(at, "imageSpec.config must be a mapping");
            return;
        }
    };
    for (k, val) in m {
        if !keys.contains(&k.as_str()) {
            let msg = in_spec(unknown_key_message(k, keys), "imageSpec.config");
            cx.at(at, msg);
            continue;
        }
        let what = format!("imageSpec.config.{k}");
        let w = what.as_str();
        match k.as_str() {
            "keepEssentialWerfLabels" => out.keep_essential_werf_labels = flag(cx, at, val, w),
            "clearWerfLabels" => out.clear_werf_labels = flag(cx, at, val, w),
            "clearCmd" => out.clear_cmd = flag(cx, at, val, w),
            "clearEntrypoint" => out.clear_entrypoint = flag(cx, at, val, w),
            "clearUser" => out.clear_user = flag(cx, at, val, w),
            "clearWorkingDir" => out.clear_working_dir = flag(cx, at, val, w),
            "removeLabels" => out.remove_labels = list(cx, at, val, w).unwrap_or_default(),
            "removeVolumes" => out.remove_volumes = list(cx, at, val, w).unwrap_or_default(),
            "removeEnv" => out.remove_env = list(cx, at, val, w).unwrap_or_default(),
            "volumes" => out.volumes = list(cx, at, val, w).unwrap_or_default(),
            "labels" => out.labels = map(cx, at, val, w),
            "env" => out.env = map(cx, at, val, w),
            "expose" => out.expose = list(cx, at, val, w),
            "user" => out.user = text(cx, at, val, w),
            "cmd" => out.cmd = list(cx, at, val, w),
            "entrypoint" => out.entrypoint = list(cx, at, val, w),
            "workingDir" => out.working_dir = text(cx, at, val, w),
            "stopSignal" => out.stop_signal = text(cx, at, val, w),
            _ => out.healthcheck = healthcheck(cx, at, val),
        }
    }
    check_patterns(cx, at, &out.remove_labels, "removeLabels");
    check_patterns(cx, at, &out.remove_env, "removeEnv");
}

/// A `/regex/` that does not compile fails the load (werf fails the build).
fn check_patterns(cx: &mut Ctx<'_>, at: &Location, patterns: &[String], what: &str) {
    for p in patterns {
        if let Some(re) = p
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix('/'))
            .filter(|_| p.len() >= 2)
            && let Err(e) = regex::Regex::new(&format!("^(?:{re})$"))
        {
            // regex's message draws a caret under the pattern: its last line says why.
            let why = e.to_string();
            let why = why
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            cx.at(
                at,
                format!("imageSpec.config.{what}: {p} is not a valid regular expression: {why}"),
            );
        }
    }
}

fn scalar(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text(cx: &mut Ctx<'_>, at: &Location, v: &Json, what: &str) -> String {
    match v {
        Json::Null => String::new(),
        v => scalar(v).unwrap_or_else(|| {
            cx.at(at, format!("{what} must be a string"));
            String::new()
        }),
    }
}

fn flag(cx: &mut Ctx<'_>, at: &Location, v: &Json, what: &str) -> bool {
    match v {
        Json::Bool(b) => *b,
        Json::Null => false,
        _ => {
            cx.at(at, format!("{what} must be true or false"));
            false
        }
    }
}

/// A list of strings (`None` when absent or null, as a nil slice in werf).
fn list(cx: &mut Ctx<'_>, at: &Location, v: &Json, what: &str) -> Option<Vec<String>> {
    match v {
        Json::Null => None,
        Json::Array(items) if items.iter().all(|i| scalar(i).is_some()) => {
            Some(items.iter().filter_map(scalar).collect())
        }
        _ => {
            cx.at(at, format!("{what} must be a list of strings"));
            None
        }
    }
}

fn map(cx: &mut Ctx<'_>, at: &Location, v: &Json, what: &str) -> BTreeMap<String, String> {
    match v {
        Json::Null => BTreeMap::new(),
        Json::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, val) in m {
                match val {
                    Json::Null => {
                        out.insert(k.clone(), String::new());
                    }
                    v => match scalar(v) {
                        Some(s) => {
                            out.insert(k.clone(), s);
                        }
                        None => cx.at(at, format!("{what}.{k} must be a string")),
                    },
                }
            }
            out
        }
        _ => {
            cx.at(at, format!("{what} must be a map of NAME: value"));
            BTreeMap::new()
        }
    }
}

fn healthcheck(cx: &mut Ctx<'_>, at: &Location, v: &Json) -> Option<Healthcheck> {
    let m = match v {
        Json::Null => return None,
        Json::Object(m) => m,
        _ => {
            cx.at(at, "imageSpec.config.healthcheck must be a mapping");
            return None;
        }
    };
    let mut h = Healthcheck::default();
    for (k, val) in m {
        let what = format!("imageSpec.config.healthcheck.{k}");
        let seconds = |cx: &mut Ctx<'_>| match val.as_i64() {
            Some(n) => n,
            None => {
                cx.at(at, format!("{what} must be a whole number (seconds)"));
                0
            }
        };
        match k.as_str() {
            "test" => h.test = list(cx, at, val, &what).unwrap_or_default(),
            "interval" => h.interval = seconds(cx),
            "timeout" => h.timeout = seconds(cx),
            "startperiod" => h.start_period = seconds(cx),
            "retries" => h.retries = seconds(cx),
            other => {
                let msg = unknown_key_message(other, HEALTHCHECK_KEYS);
                cx.at(at, in_spec(msg, "imageSpec.config.healthcheck"));
            }
        }
    }
    Some(h)
}
