//! Finding, rendering and loading werf.yaml: the top of the config layers (error < yaml <
//! model < parse < load). Every problem is collected (not just the first) and located as
//! `FILE:LINE:COL`.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrors, display_name, plain};
use super::model::Config;
use super::render::{RenderInput, render_mapped};
use super::rendered::{Origins, Rendered};
use crate::settings::Settings;

// Paths other modules and the tests use.
pub use super::parse::image::suggest_image_name;
pub use super::parse::parse;

/// Locate werf.yaml: `--config`, else `werf.yaml` / `werf.yml` in `--dir`.
pub fn find(settings: &Settings) -> Result<(PathBuf, PathBuf), ConfigErrors> {
    let dir = std::path::absolute(&settings.dir)
        .map_err(|e| plain(&settings.dir.display().to_string(), e.to_string()))?;
    if !dir.is_dir() {
        return Err(plain(
            &settings.dir.display().to_string(),
            "project directory (--dir) does not exist",
        ));
    }
    let path = match &settings.config {
        Some(c) => {
            let p = if c.is_absolute() {
                c.clone()
            } else {
                dir.join(c)
            };
            if !p.is_file() {
                return Err(plain(
                    &c.display().to_string(),
                    "config file (--config) not found",
                ));
            }
            p
        }
        None => ["werf.yaml", "werf.yml"]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                plain(
                    &dir.display().to_string(),
                    "no werf.yaml or werf.yml here (use --dir or --config)",
                )
            })?,
    };
    Ok((path, dir))
}

/// Render werf.yaml with the process environment.
pub fn render_config(settings: &Settings) -> Result<Rendered, ConfigErrors> {
    let (path, dir) = find(settings)?;
    let file = display_name(&path, &dir);
    let source = read_template(&path, &file)?;
    let mut partials = Vec::new();
    // werf's --config-templates-dir (relative to the working directory, as werf's).
    let werf_dir = match &settings.config_templates_dir {
        Some(d) => d.clone(),
        None => dir.join(".werf"),
    };
    let mut templates_prefix = None;
    if let Some(d) = &settings.config_templates_dir {
        let shown = display_name(d, &dir);
        templates_prefix = Some(format!("{}/", shown.trim_end_matches('/')));
    }
    if werf_dir.is_dir() {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&werf_dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "tmpl")
            })
            .map(|e| e.into_path())
            .collect();
        files.sort();
        let mut partials_bytes = 0usize;
        for p in files {
            let name = display_name(&p, &dir);
            let text = read_template(&p, &name)?;
            partials_bytes += text.len();
            if partials_bytes as u64 > MAX_TEMPLATE_BYTES {
                return Err(plain(
                    &name,
                    format!(
                        "the .werf/ partials up to this one hold {}: more than the {} they may hold together",
                        gotemplate::budget::human(partials_bytes),
                        gotemplate::budget::human(MAX_TEMPLATE_BYTES as usize)
                    ),
                ));
            }
            partials.push((name, text));
        }
    }
    let input = RenderInput {
        dir: dir.clone(),
        env: settings.env.clone(),
        partials,
        vars: settings.host_env.vars().clone(),
        templates_prefix,
    };
    let giterminism = super::version::giterminism(settings, &dir)?;
    let r = render_mapped(&file, &source, &input).map_err(|e| plain(&e.file, e.message))?;
    let origins = Origins {
        map: Some(r.map),
        files: r.files,
    };
    let choice = super::version::choose(settings, &giterminism, &file, &r.text, &origins);
    // Said once per command, on stderr (stdout may be YAML or shell lines).
    if first_time(&choice.line(&file)) {
        tracing::info!("{}", choice.line(&file));
    }
    Ok(Rendered {
        path,
        dir,
        text: r.text,
        origins,
        werf_version: choice.settled.filter(|_| !choice.by_key),
        werf_by_key: choice.by_key,
        giterminism,
        monorepo: settings.images_repo_mode == crate::settings::RepoMode::Monorepo
            || crate::naming::Naming::new(settings)
                .ok()
                .flatten()
                .is_some_and(|n| n.mode == Some(crate::settings::RepoMode::Monorepo)),
    })
}

/// Whether `line` is said for the first time in this process: `build-and-publish` loads
/// werf.yaml for its build and again for its publish, and says the version once.
fn first_time(line: &str) -> bool {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut said) = SAID.lock() else {
        return true;
    };
    if said.iter().any(|l| l == line) {
        return false;
    }
    said.push(line.to_string());
    true
}

/// The largest werf.yaml (and the most the `.werf/` partials may hold together): a template
/// is read whole and rendered, so memory grows with it; real ones are kilobytes.
pub const MAX_TEMPLATE_BYTES: u64 = 16 << 20;

/// A template file's text: refused when larger than [`MAX_TEMPLATE_BYTES`] (said before
/// reading it), and located at its first byte that is not UTF-8.
fn read_template(path: &Path, name: &str) -> Result<String, ConfigErrors> {
    use std::io::Read;
    let too_big = |size: String| {
        plain(
            name,
            format!(
                "the file is {size}: larger than the {} a werf.yaml or partial may be",
                gotemplate::budget::human(MAX_TEMPLATE_BYTES as usize)
            ),
        )
    };
    let f = std::fs::File::open(path).map_err(|e| plain(name, e.to_string()))?;
    let len = f.metadata().map_err(|e| plain(name, e.to_string()))?.len();
    if len > MAX_TEMPLATE_BYTES {
        return Err(too_big(format!(
            "{} ({len} bytes)",
            gotemplate::budget::human(usize::try_from(len).unwrap_or(usize::MAX))
        )));
    }
    // The size may have changed since (or the file may be a pipe): read one byte more
    // than allowed, never the rest.
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(MAX_TEMPLATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| plain(name, e.to_string()))?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(too_big("more than that".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let valid = &bytes[..at];
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // Everything before `at` is valid UTF-8: count its characters for the column.
        let col = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        ConfigErrors(vec![ConfigError {
            file: name.to_string(),
            line: valid.iter().filter(|b| **b == b'\n').count() + 1,
            col,
            message: format!(
                "invalid UTF-8 (byte 0x{:02x}): werf.yaml and its partials must be UTF-8 text",
                bytes[at]
            ),
        }])
    })
}

/// Find, render, parse and validate. Touches nothing but the files it reads.
pub fn load(settings: &Settings) -> Result<Config, ConfigErrors> {
    let rendered = render_config(settings)?;
    let mut cfg = parse(&rendered)?;
    if let Some(t) = &settings.stapel_toolbox {
        cfg.stapel_toolbox = t.clone();
    }
    cfg.home = settings.host_env.home();
    cfg.git_remotes = settings.paths().git_remotes();
    cfg.ssh_agent = settings.ssh_agent.clone();
    cfg.source = crate::provenance::git_remote(&cfg.dir)
        .as_deref()
        .and_then(crate::provenance::normalize_remote);
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_line_is_said_once() {
        assert!(super::first_time(
            "werf.yaml is read as werf 2 reads it: test line"
        ));
        assert!(!super::first_time(
            "werf.yaml is read as werf 2 reads it: test line"
        ));
        assert!(super::first_time(
            "werf.yaml is read as werf 1.1 reads it: test line"
        ));
    }
}
