//! Build secrets (`secrets:` of an image): read before any build starts, so a missing variable
//! or file fails with nothing built, then handed to BuildKit through the session only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{ImageConfig, Secret};
use crate::settings::HostEnv;

/// BuildKit refuses larger secrets; say so before building rather than mid-build.
const MAX_SECRET_BYTES: usize = 500 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("image {image}: secret {id:?}: {cause}")]
pub struct SecretError {
    pub image: String,
    pub id: String,
    pub cause: String,
}

/// Secret values by id. `Debug` lists the ids only.
#[derive(Clone, Default)]
pub struct SecretValues(BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.0.get(id).map(Vec::as_slice)
    }

    /// Serve `value` as secret `id` too (Slipway's own, such as a stapel build's id).
    pub fn insert(&mut self, id: &str, value: &[u8]) {
        self.0.insert(id.to_string(), value.to_vec());
    }

    /// Every (id, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// `~/x` from HOME, a relative path from the project directory (as werf reads `src`).
fn source_path(src: &Path, project_dir: &Path, env: &HostEnv) -> PathBuf {
    if let Ok(rest) = src.strip_prefix("~")
        && let Some(home) = env.home()
    {
        return home.join(rest);
    }
    project_dir.join(src)
}

static EMPTY: Vec<Secret> = Vec::new();

/// Read every secret of `img` (`env`: the variables and HOME they name).
pub fn resolve(
    img: &ImageConfig,
    project_dir: &Path,
    env: &HostEnv,
) -> Result<SecretValues, SecretError> {
    let mut out = BTreeMap::new();
    let list = match img.stapel() {
        Some(st) => &st.secrets,
        None => img.dockerfile().map(|d| &d.secrets).unwrap_or(&EMPTY),
    };
    for s in list {
        let err = |cause: String| SecretError {
            image: img.display_name().to_string(),
            id: s.id().to_string(),
            cause,
        };
        let data = match s {
            Secret::Env { env: name, .. } => env
                .var_raw(name)
                .map(|v| v.as_bytes().to_vec())
                .ok_or_else(|| err(format!("environment variable {name} is not set")))?,
            Secret::Src { src, .. } => {
                let path = source_path(src, project_dir, env);
                std::fs::read(&path).map_err(|e| err(format!("{}: {e}", path.display())))?
            }
            Secret::Value { value, .. } => value.0.as_bytes().to_vec(),
        };
        if data.len() > MAX_SECRET_BYTES {
            return Err(err(format!(
                "{} bytes; BuildKit takes at most {MAX_SECRET_BYTES}",
                data.len()
            )));
        }
        if out.insert(s.id().to_string(), data).is_some() {
            return Err(err("two secrets have this id".into()));
        }
    }
    Ok(SecretValues(out))
}
