//! `config validate --json`: the model as one flat object per image, in the shape it had
//! before the recipe became an enum (a stapel node shows empty Dockerfile keys and the
//! project directory as its context), so the output stays the same.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

use super::stapel::StapelRecipe;
use super::{Config, Dependency, DockerfileRecipe, ImageConfig, Recipe, Secret};

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut o = s.serialize_struct("Config", 9)?;
        o.serialize_field("project", &self.project)?;
        o.serialize_field("config_version", &self.config_version)?;
        o.serialize_field("path", &self.path)?;
        o.serialize_field("dir", &self.dir)?;
        o.serialize_field("cleanup", &self.cleanup)?;
        o.serialize_field("extra", &self.extra)?;
        o.serialize_field("images", &Nodes(&self.images, &self.dir))?;
        o.serialize_field("artifacts", &Nodes(&self.artifacts, &self.dir))?;
        o.serialize_field("stapel_toolbox", &self.stapel_toolbox)?;
        o.end()
    }
}

/// Images or artifacts, with the project directory a stapel node shows as its context.
struct Nodes<'a>(&'a [ImageConfig], &'a Path);

impl Serialize for Nodes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for img in self.0 {
            match &img.recipe {
                Recipe::Dockerfile(d) => seq.serialize_element(&Flat::new(img, d, None))?,
                Recipe::Stapel(st) => {
                    let none = DockerfileRecipe {
                        context: ".".into(),
                        context_dir: self.1.to_path_buf(),
                        dockerfile_path: self.1.to_path_buf(),
                        target: st.target.clone(),
                        ..DockerfileRecipe::default()
                    };
                    seq.serialize_element(&Flat::new(img, &none, Some(st)))?;
                }
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Flat<'a> {
    name: &'a Option<String>,
    dockerfile: &'a str,
    context: &'a str,
    context_dir: &'a Path,
    dockerfile_path: &'a Path,
    target: &'a Option<String>,
    args: &'a BTreeMap<String, String>,
    add_host: &'a [String],
    network: &'a Option<String>,
    ssh: &'a Option<String>,
    context_add_files: &'a [String],
    dependencies: &'a [Dependency],
    platform: &'a [String],
    staged: bool,
    secrets: &'a [Secret],
    labels: &'a BTreeMap<String, String>,
    stapel: Option<&'a StapelRecipe>,
}

impl<'a> Flat<'a> {
    fn new(img: &'a ImageConfig, d: &'a DockerfileRecipe, st: Option<&'a StapelRecipe>) -> Self {
        Flat {
            name: &img.name,
            dockerfile: &d.dockerfile,
            context: &d.context,
            context_dir: &d.context_dir,
            dockerfile_path: &d.dockerfile_path,
            target: &d.target,
            args: &d.args,
            add_host: &d.add_host,
            network: &d.network,
            ssh: &d.ssh,
            context_add_files: &d.context_add_files,
            dependencies: &img.dependencies,
            platform: img.platforms(),
            staged: d.staged,
            secrets: &d.secrets,
            labels: &d.labels,
            stapel: st,
        }
    }
}
