//! Which werf's reading of werf.yaml applies, and werf's giterminism file: `--werf-version`
//! wins; else a giterminism file or a key only werf ≥ 1.2 knows means werf 2; else werf 1.1.
//! The choice and its reason are said once per command on stderr (`load.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;
use serde_saphyr::Spanned;

use super::error::{ConfigErrors, display_name, plain};
use super::rendered::{Giterminism, Origins};
use crate::settings::{Settings, WerfVersion};

/// werf's default giterminism file, in the project directory.
pub const GITERMINISM_FILE: &str = "werf-giterminism.yaml";

/// Keys of an image or artifact document that werf 1.1 does not know (werf ≥ 1.2's).
pub const V2_IMAGE_KEYS: &[&str] = &[
    "final",
    "cacheVersion",
    "fromArtifact",
    "disableGitAfterPatch",
    "dependencies",
    "platform",
    "secrets",
    "imageSpec",
    "staged",
    "contextAddFile",
    "contextAddFiles",
];

/// Keys that make a document a stapel one (as `parse/stapel` tells them apart).
const STAPEL_MARKS: &[&str] = &[
    "artifact",
    "from",
    "fromImage",
    "fromArtifact",
    "fromImageArtifact",
    "git",
    "shell",
    "ansible",
    "import",
    "mount",
    "docker",
];

/// Keys of the meta document that werf 1.1 does not know.
pub const V2_META_KEYS: &[&str] = &["build", "gitWorktree"];

/// The reading chosen, and why (the line said on stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `None`: werf 1.1 because nothing says otherwise (the `dockerfile:` path then
    /// still takes the file that exists, see `parse/image.rs`).
    pub settled: Option<WerfVersion>,
    /// Settled by a key only werf ≥ 1.2 knows (not by the flag or a giterminism file).
    pub by_key: bool,
    pub why: String,
}

impl Choice {
    /// The version whose reading applies.
    pub fn version(&self) -> WerfVersion {
        self.settled.unwrap_or(WerfVersion::V1_1)
    }

    /// The line said on stderr.
    pub fn line(&self, file: &str) -> String {
        let v = match self.version() {
            WerfVersion::V1_1 => "1.1",
            WerfVersion::V2 => "2",
        };
        format!("{file} is read as werf {v} reads it: {}", self.why)
    }
}

/// The giterminism file: `--giterminism-config` (relative to the project directory), else
/// `werf-giterminism.yaml` there when it exists. `giterminismConfigVersion: 1` is required.
pub fn giterminism(settings: &Settings, dir: &Path) -> Result<Giterminism, ConfigErrors> {
    let path = match &settings.giterminism_config {
        Some(p) => {
            let p = if p.is_absolute() {
                p.clone()
            } else {
                dir.join(p)
            };
            if !p.is_file() {
                return Err(plain(
                    &display_name(&p, dir),
                    "giterminism config (--giterminism-config) not found",
                ));
            }
            Some(p)
        }
        None => Some(dir.join(GITERMINISM_FILE)).filter(|p| p.is_file()),
    };
    let mut g = Giterminism {
        loose: settings.loose_giterminism,
        ..Giterminism::default()
    };
    let Some(path) = path else {
        return Ok(g);
    };
    let name = display_name(&path, dir);
    let text = std::fs::read_to_string(&path).map_err(|e| plain(&name, e.to_string()))?;
    let doc: Json =
        serde_saphyr::from_str(&text).map_err(|e| plain(&name, format!("YAML syntax: {e}")))?;
    read_giterminism(&doc).map_err(|m| plain(&name, m.to_string()))?;
    let flag = |path: &[&str]| {
        path.iter()
            .try_fold(&doc, |d, k| d.get(k))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    };
    g.allow_from_latest = flag(&["config", "stapel", "allowFromLatest"]);
    g.allow_branch = flag(&["config", "stapel", "git", "allowBranch"]);
    g.file = Some(name);
    Ok(g)
}

/// What werf's schema check of a giterminism file finds wrong.
#[derive(Debug, thiserror::Error)]
enum GiterminismError {
    #[error("the giterminism config must be a mapping")]
    NotAMapping,
    #[error("giterminismConfigVersion must be 1, got {0}")]
    Version(Json),
    #[error("`giterminismConfigVersion: 1` is required")]
    NoVersion,
    /// `path`: the key's path, dotted.
    #[error("{path} must be true or false, got {value}")]
    NotABool { path: String, value: Json },
}

/// werf's schema checks of what Slipway reads: the version, and booleans where werf
/// wants them.
fn read_giterminism(doc: &Json) -> Result<(), GiterminismError> {
    if !doc.is_object() {
        return Err(GiterminismError::NotAMapping);
    }
    match doc.get("giterminismConfigVersion") {
        Some(Json::Number(n)) if n.as_f64() == Some(1.0) => {}
        Some(Json::String(s)) if s == "1" => {}
        Some(other) => return Err(GiterminismError::Version(other.clone())),
        None => return Err(GiterminismError::NoVersion),
    }
    for path in [
        &["config", "stapel", "allowFromLatest"][..],
        &["config", "stapel", "git", "allowBranch"][..],
    ] {
        let v = path.iter().try_fold(doc, |d, k| d.get(k));
        if let Some(v) = v
            && !v.is_boolean()
        {
            return Err(GiterminismError::NotABool {
                path: path.join("."),
                value: v.clone(),
            });
        }
    }
    Ok(())
}

/// The reading of this rendered werf.yaml: the flag, else the giterminism file, else the
/// first werf ≥ 1.2 key (in file order), else werf 1.1.
pub fn choose(
    settings: &Settings,
    g: &Giterminism,
    file: &str,
    text: &str,
    origins: &Origins,
) -> Choice {
    if let Some(v) = settings.werf_version {
        return Choice {
            settled: Some(v),
            by_key: false,
            why: "--werf-version (SLIPWAY_WERF_VERSION)".into(),
        };
    }
    if let Some(f) = &g.file {
        return Choice {
            settled: Some(WerfVersion::V2),
            by_key: false,
            why: format!(
                "the giterminism file {f} exists (werf 1.1 has none; --werf-version 1.1 reads it as werf 1.1)"
            ),
        };
    }
    if let Some((key, line, col)) = first_v2_key(text) {
        let (f, l, c) = match origins.locate(text, line, col) {
            Some(p) => (p.file, p.line, p.col),
            None => (file.to_string(), line, col),
        };
        return Choice {
            settled: Some(WerfVersion::V2),
            by_key: true,
            why: format!(
                "`{key}` ({f}:{l}:{c}) is a key werf 1.1 does not know (--werf-version 1.1 reads it as werf 1.1)"
            ),
        };
    }
    Choice {
        settled: None,
        by_key: false,
        why: format!(
            "no {GITERMINISM_FILE} and no key only werf ≥ 1.2 knows (--werf-version 2 reads it as werf 2)"
        ),
    }
}

/// The first werf ≥ 1.2 key of the documents, with its rendered position (of its value).
fn first_v2_key(text: &str) -> Option<(String, usize, usize)> {
    type Doc = BTreeMap<String, Spanned<Json>>;
    let mut opts = serde_saphyr::Options::default();
    opts.legacy_octal_numbers = true;
    // A file that does not parse says nothing here; the parser reports it.
    let docs: Vec<Option<Doc>> = serde_saphyr::from_multiple_with_options(text, opts).ok()?;
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for (i, doc) in docs.iter().flatten().filter(|d| !d.is_empty()).enumerate() {
        let keys = if i == 0 { V2_META_KEYS } else { V2_IMAGE_KEYS };
        let stapel = i > 0 && doc.keys().any(|k| STAPEL_MARKS.contains(&k.as_str()));
        for (k, v) in doc {
            // `network:` is werf 1.1's in Dockerfile images, werf ≥ 1.2's in stapel ones.
            if keys.contains(&k.as_str()) || stapel && k == "network" {
                let l = &v.referenced;
                found.push((l.line() as usize, l.column() as usize, k.clone()));
            }
        }
    }
    found.sort();
    found.into_iter().next().map(|(l, c, k)| (k, l, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose_for(text: &str, g: &Giterminism, flag: Option<WerfVersion>) -> Choice {
        let settings = Settings {
            werf_version: flag,
            ..Settings::default()
        };
        choose(&settings, g, "werf.yaml", text, &Origins::default())
    }

    const PLAIN: &str = "project: p\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\n";

    #[test]
    fn the_flag_then_the_giterminism_file_then_a_key_then_werf_1_1() {
        let file = Giterminism {
            file: Some("werf-giterminism.yaml".into()),
            ..Giterminism::default()
        };
        let c = choose_for(PLAIN, &file, Some(WerfVersion::V1_1));
        assert_eq!(c.settled, Some(WerfVersion::V1_1));
        let c = choose_for(PLAIN, &file, None);
        assert_eq!(c.settled, Some(WerfVersion::V2));
        assert!(c.why.contains("werf-giterminism.yaml"), "{}", c.why);
        let none = Giterminism::default();
        let c = choose_for(
            &format!("{PLAIN}cacheVersion: x\nfinal: false\n"),
            &none,
            None,
        );
        assert_eq!(c.settled, Some(WerfVersion::V2));
        assert!(
            c.why.starts_with("`cacheVersion` (werf.yaml:6:15)"),
            "{}",
            c.why
        );
        let c = choose_for(&format!("{PLAIN}network: host\n"), &none, None);
        assert_eq!(c.settled, Some(WerfVersion::V2), "stapel network");
        let c = choose_for(
            "project: p\nconfigVersion: 1\n---\nimage: a\nnetwork: host\n",
            &none,
            None,
        );
        assert_eq!(c.settled, None, "Dockerfile network is werf 1.1's");
        let c = choose_for(PLAIN, &none, None);
        assert_eq!(c.settled, None);
        assert_eq!(c.version(), WerfVersion::V1_1);
        assert!(
            c.line("werf.yaml")
                .starts_with("werf.yaml is read as werf 1.1 reads it: no werf-giterminism.yaml")
        );
    }

    #[test]
    fn the_giterminism_file_needs_its_version() {
        let ok: Json = serde_json::json!({"giterminismConfigVersion": 1});
        assert!(read_giterminism(&ok).is_ok());
        let ok: Json = serde_json::json!({"giterminismConfigVersion": "1"});
        assert!(read_giterminism(&ok).is_ok());
        let bad = serde_json::json!({"config": {}});
        assert_eq!(
            read_giterminism(&bad).expect_err("missing").to_string(),
            "`giterminismConfigVersion: 1` is required"
        );
        let bad = serde_json::json!({"giterminismConfigVersion": 2});
        assert!(read_giterminism(&bad).is_err());
        let bad = serde_json::json!({"giterminismConfigVersion": 1, "config": {"stapel": {"allowFromLatest": "yes"}}});
        assert!(
            read_giterminism(&bad)
                .expect_err("not a bool")
                .to_string()
                .starts_with("config.stapel.allowFromLatest must be true or false")
        );
    }
}
