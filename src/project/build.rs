//! A build request resolved against the project (issue 29): `slipway build` and `slipway
//! run` hand over their parsed flags as plain values ([`BuildRequest`]), and the options
//! `build::build` takes are assembled here from them, the project's facts and the run's
//! settings (tags, `--cache-from` references, keychain, stages storage, environment), so
//! the handlers only parse and print.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Bases, Project, ProjectError, Signatures};
use crate::build::{self, BuildOptions, BuiltImage, Event, ParsedBuildFlags, introspect};
use crate::naming::{self, TagOptions, TagSpec};

/// What a build asks for, as the command line gave it.
pub struct BuildRequest {
    /// Images to build (with their dependencies); empty: all.
    pub images: Vec<String>,
    /// The tag flags (werf's `WERF_TAG_CUSTOM_*` variables are added here); `None`: the
    /// images get their local names only (`slipway run`).
    pub tags: Option<TagOptions>,
    pub flags: ParsedBuildFlags,
    /// `--cache-from` values: tag names in the images repo, slugged here.
    pub cache_from: Vec<String>,
    /// `--introspect-stage IMAGE/STAGE`: checked before anything is built.
    pub introspect_stage: Option<String>,
    pub on_event: Arc<dyn Fn(&Event) + Send + Sync>,
}

/// A request resolved: the build's options, the signatures they were computed with, and
/// the stage to introspect after the build.
pub struct PreparedBuild {
    pub options: BuildOptions,
    pub sigs: Signatures,
    pub introspect: Option<introspect::Target>,
}

impl Project<'_> {
    /// The run's tags: the tag flags with werf's `WERF_TAG_CUSTOM_*` added, resolved
    /// against HEAD.
    pub fn tag_specs(&self, tags: &TagOptions) -> Result<Vec<TagSpec>, ProjectError> {
        let tags = self.with_custom_env(tags);
        Ok(naming::tags(&tags, self.git())?)
    }

    fn with_custom_env(&self, tags: &TagOptions) -> TagOptions {
        tags.clone().with_custom_env(&self.settings.tag_custom_env)
    }

    /// Resolves a build request: `--platform` applied, the named images checked,
    /// `fromLatest` bases pulled, the signatures computed, the stage to introspect checked,
    /// and the extra tags and `--cache-from` references named in the images repo.
    pub async fn prepare_build(
        &mut self,
        request: BuildRequest,
    ) -> Result<PreparedBuild, ProjectError> {
        let settings = request
            .flags
            .resolve(self.settings.docker_buildkit.as_deref())?;
        self.config.force_platforms(&settings.platform);
        build::build_roots(&self.config, &request.images)?;
        self.resolve_bases(Bases::Pull).await?;
        let outputs = self.outputs(&[]);
        let sigs = self.signatures(&outputs)?;
        let introspect = match &request.introspect_stage {
            Some(spec) => Some(introspect::target(&self.config, spec, &sigs)?),
            None => None,
        };
        let mut images = request.images;
        // The introspected image is built too when the selection leaves it out.
        if let Some(t) = &introspect
            && !images.is_empty()
            && let Some(n) = &t.image.name
            && !images.contains(n)
        {
            images.push(n.clone());
        }
        let cache_from = self.cache_from(&request.cache_from)?;
        let extra_tags = match &request.tags {
            Some(tags) => self.extra_tags(tags, &sigs)?,
            None => BTreeMap::new(),
        };
        let options = BuildOptions {
            images,
            settings,
            extra_tags,
            on_event: request.on_event,
            git_commit: self.git_commit(),
            extra_labels: Default::default(),
            cache_from,
            keychain: self.run.keychain(),
            outputs,
            registry_digest: None,
            stages_storage: self.run.stages_storage()?,
            host_env: self.settings.host_env.clone(),
        };
        Ok(PreparedBuild {
            options,
            sigs,
            introspect,
        })
    }

    /// Builds what [`Project::prepare_build`] resolved, through the run's daemon.
    pub async fn build(
        &self,
        options: BuildOptions,
        sigs: &Signatures,
    ) -> Result<Vec<BuiltImage>, ProjectError> {
        let docker = self.daemon().await?;
        Ok(build::build(docker, &self.config, sigs, options).await?)
    }

    /// The image of the stage to introspect (built as a target), for a debugging shell.
    pub async fn introspect_image(
        &self,
        sigs: &Signatures,
        target: &introspect::Target,
    ) -> Result<String, ProjectError> {
        let docker = self.daemon().await?;
        Ok(introspect::stage_image(
            docker,
            &self.config,
            sigs,
            target,
            self.run.keychain(),
            &self.settings.host_env.daemon(),
        )
        .await?)
    }

    /// Per image, the references `--cache-from`'s tags name in the images repo.
    fn cache_from(
        &self,
        values: &[String],
    ) -> Result<BTreeMap<Option<String>, Vec<String>>, ProjectError> {
        let mut cache_from = BTreeMap::new();
        let cache_tags = naming::cache_tags(values);
        if cache_tags.is_empty() {
            return Ok(cache_from);
        }
        let Some(naming) = self.naming()? else {
            return Err(ProjectError::CacheFromNeedsRepo);
        };
        for img in &self.config.images {
            let refs = naming.references(img.name.as_deref(), &cache_tags)?;
            cache_from.insert(img.name.clone(), refs);
        }
        Ok(cache_from)
    }

    /// Per image, the references its tags name in the images repo (none without
    /// `--images-repo` or tag flags).
    fn extra_tags(
        &self,
        tags: &TagOptions,
        sigs: &Signatures,
    ) -> Result<BTreeMap<Option<String>, Vec<String>>, ProjectError> {
        let mut extra_tags = BTreeMap::new();
        let Some(naming) = self.naming()? else {
            return Ok(extra_tags);
        };
        if self.with_custom_env(tags).is_empty() {
            return Ok(extra_tags);
        }
        let specs = self.tag_specs(tags)?;
        for img in &self.config.images {
            let sig = sigs.get(&img.name).cloned().unwrap_or_default();
            let image_tags = naming::image_tags(&specs, &sig);
            extra_tags.insert(
                img.name.clone(),
                naming.references(img.name.as_deref(), &image_tags)?,
            );
        }
        Ok(extra_tags)
    }
}
