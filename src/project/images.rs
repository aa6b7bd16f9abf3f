//! What `slipway images` lists (issue 29: the handler prints, the library works it out):
//! each selected image's repository, references under the run's tags, content signature
//! and per-platform signatures. Touches no daemon and no registry.

use serde::Serialize;

use super::{Bases, Project, ProjectError};
use crate::naming::{self, TagOptions};

/// One image as `images` lists it.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    pub name: Option<String>,
    pub repository: Option<String>,
    pub references: Vec<String>,
    pub signature: String,
    /// The platforms it is built for, each with its own signature (issue 34); empty: the
    /// daemon's platform.
    pub platforms: Vec<PlatformRow>,
}

#[derive(Debug, Serialize)]
pub struct PlatformRow {
    pub platform: String,
    pub signature: String,
}

impl Project<'_> {
    /// The rows of `only` (all images when empty), built for `platforms` (werf.yaml's when
    /// empty), named under `tags` in the images repo. `fromLatest` bases are asked for their
    /// digests, never pulled.
    pub async fn image_rows(
        &mut self,
        only: &[String],
        platforms: &[String],
        tags: &TagOptions,
    ) -> Result<Vec<ImageRow>, ProjectError> {
        crate::build::selection(&self.config, only)?;
        self.config.force_platforms(platforms);
        self.resolve_bases(Bases::DigestsOnly).await?;
        let cfg = &self.config;
        let outputs = self.outputs(&[]);
        let sigs = self.signatures(&outputs)?;
        let naming = self.naming()?;
        let specs = self.tag_specs(tags)?;
        let stapel = crate::stapel::Env::new(cfg);
        let mut rows = Vec::new();
        for img in cfg
            .images
            .iter()
            .filter(|i| only.is_empty() || i.name.as_ref().is_some_and(|n| only.contains(n)))
        {
            let sig = sigs.get(&img.name).cloned().unwrap_or_default();
            let (repository, references) = match &naming {
                Some(n) => {
                    let tags = naming::image_tags(&specs, &sig);
                    let refs = n.references(img.name.as_deref(), &tags)?;
                    (Some(n.repository(img.name.as_deref())?.to_string()), refs)
                }
                None => (None, Vec::new()),
            };
            let oci = crate::labels::oci(cfg.source.as_deref(), &cfg.project, img.name.as_deref());
            let mut platforms: Vec<PlatformRow> =
                crate::signature::per_platform(img, &oci, &sigs, &outputs, Some(&stapel))?
                    .into_iter()
                    .map(|(platform, signature)| PlatformRow {
                        platform,
                        signature,
                    })
                    .collect();
            if platforms.is_empty()
                && let Some(p) = img.platforms().first()
            {
                platforms.push(PlatformRow {
                    platform: p.clone(),
                    signature: sig.clone(),
                });
            }
            rows.push(ImageRow {
                name: img.name.clone(),
                repository,
                references,
                signature: sig,
                platforms,
            });
        }
        Ok(rows)
    }
}
