//! [`DaemonApi`] on bollard: the real daemon.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, PushImageOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptions, RemoveImageOptionsBuilder,
};
use futures::StreamExt;

use super::{
    Archive, Call, ContainerSummary, DaemonApi, DaemonError, ImageInfo, ImageSummary, StorageInfo,
    split_reference,
};
use crate::settings::DaemonEnv;

/// The daemon through bollard.
#[derive(Debug, Clone)]
pub struct DockerDaemon(Docker, Option<DaemonEnv>);

impl DockerDaemon {
    pub fn new(docker: Docker) -> Self {
        DockerDaemon(docker, None)
    }

    /// Where the daemon is, for the calls bollard cannot make (Podman's push without TLS
    /// verification goes around it).
    pub fn with_env(mut self, env: DaemonEnv) -> Self {
        self.1 = Some(env);
        self
    }

    /// The bollard client, for the calls not behind [`DaemonApi`] yet.
    pub fn docker(&self) -> &Docker {
        &self.0
    }
}

impl DaemonApi for DockerDaemon {
    fn inspect<'a>(&'a self, reference: &'a str) -> Call<'a, ImageInfo> {
        Box::pin(async move {
            let i = self.0.inspect_image(reference).await?;
            let config = i.config.unwrap_or_default();
            Ok(ImageInfo {
                id: i.id.unwrap_or_default(),
                labels: config.labels.unwrap_or_default(),
                user: config.user.unwrap_or_default(),
                layers: i.root_fs.and_then(|r| r.layers),
            })
        })
    }

    fn tag<'a>(&'a self, id: &'a str, reference: &'a str) -> Call<'a, ()> {
        Box::pin(async move { Ok(super::tag(&self.0, id, reference).await?) })
    }

    fn remove<'a>(&'a self, reference: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            self.0
                .remove_image(reference, None::<RemoveImageOptions>, None)
                .await?;
            Ok(())
        })
    }

    fn find_by_label<'a>(&'a self, key: &'a str, value: &'a str) -> Call<'a, Option<String>> {
        Box::pin(async move {
            let filters = HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
            let opts = ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build();
            let found = self.0.list_images(Some(opts)).await?;
            Ok(found.into_iter().next().map(|i| i.id))
        })
    }

    fn version(&self) -> Call<'_, bollard::models::SystemVersion> {
        Box::pin(async move { Ok(self.0.version().await?) })
    }

    fn pull<'a>(&'a self, reference: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            let (repo, tag) = split_reference(reference);
            let opts = CreateImageOptionsBuilder::default()
                .from_image(repo)
                .tag(tag)
                .build();
            let mut pull = self.0.create_image(Some(opts), None, None);
            while let Some(item) = pull.next().await {
                item.map_err(DaemonError::from)?;
            }
            Ok(())
        })
    }

    fn list_images<'a>(&'a self, key: &'a str) -> Call<'a, Vec<ImageSummary>> {
        Box::pin(async move {
            let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
            let opts = ListImagesOptionsBuilder::default()
                .all(false)
                .filters(&filters)
                .build();
            let found = self.0.list_images(Some(opts)).await?;
            Ok(found
                .into_iter()
                .map(|i| ImageSummary {
                    id: i.id,
                    tags: i
                        .repo_tags
                        .into_iter()
                        .filter(|t| t != "<none>:<none>")
                        .collect(),
                    labels: i.labels,
                    size: u64::try_from(i.size).unwrap_or(0),
                    created: i.created,
                })
                .collect())
        })
    }

    fn list_containers(&self) -> Call<'_, Vec<ContainerSummary>> {
        Box::pin(async move {
            let opts = ListContainersOptionsBuilder::default().all(true).build();
            let found = self.0.list_containers(Some(opts)).await?;
            Ok(found
                .into_iter()
                .map(|c| ContainerSummary {
                    id: c.id.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    names: c
                        .names
                        .unwrap_or_default()
                        .into_iter()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .collect(),
                    labels: c.labels.unwrap_or_default(),
                    running: c.state.is_some_and(|s| {
                        matches!(
                            s,
                            bollard::models::ContainerSummaryStateEnum::RUNNING
                                | bollard::models::ContainerSummaryStateEnum::PAUSED
                                | bollard::models::ContainerSummaryStateEnum::RESTARTING
                        )
                    }),
                })
                .collect())
        })
    }

    fn remove_container<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()> {
        Box::pin(async move {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(force)
                .build();
            self.0.remove_container(id, Some(opts)).await?;
            Ok(())
        })
    }

    fn remove_image<'a>(&'a self, id: &'a str, force: bool) -> Call<'a, ()> {
        Box::pin(async move {
            let opts = RemoveImageOptionsBuilder::default().force(force).build();
            self.0.remove_image(id, Some(opts), None).await?;
            Ok(())
        })
    }

    fn remove_keeping_parents<'a>(&'a self, id: &'a str) -> Call<'a, ()> {
        Box::pin(async move {
            let opts = RemoveImageOptionsBuilder::default().noprune(true).build();
            self.0.remove_image(id, Some(opts), None).await?;
            Ok(())
        })
    }

    fn root_dir(&self) -> Call<'_, String> {
        Box::pin(async move { Ok(self.0.info().await?.docker_root_dir.unwrap_or_default()) })
    }

    fn storage(&self) -> Call<'_, StorageInfo> {
        Box::pin(async move {
            let info = self.0.info().await?;
            Ok(StorageInfo {
                driver: info.driver.unwrap_or_default(),
                root_dir: info.docker_root_dir.unwrap_or_default(),
            })
        })
    }

    fn push<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        auth: Option<&'a bollard::auth::DockerCredentials>,
        tls_verify: bool,
    ) -> Call<'a, ()> {
        Box::pin(async move {
            if !tls_verify {
                let env = self.1.clone().unwrap_or_default();
                return super::http::podman_push_insecure(&env, name, tag, auth)
                    .await
                    .map_err(|e| DaemonError(e.to_string()));
            }
            let opts = PushImageOptionsBuilder::default().tag(tag).build();
            let mut stream = self.0.push_image(name, Some(opts), auth.cloned());
            while let Some(item) = stream.next().await {
                if let Some(e) = item?.error_detail.and_then(|d| d.message) {
                    return Err(DaemonError(e));
                }
            }
            Ok(())
        })
    }

    fn load<'a>(&'a self, archive: Archive<'static>) -> Call<'a, ()> {
        Box::pin(async move {
            let opts = ImportImageOptionsBuilder::default().quiet(true).build();
            // Read to the end: the first error is the load's, later ones follow from it.
            let mut first: Option<DaemonError> = None;
            let mut progress = std::pin::pin!(self.0.import_image_stream(opts, archive, None));
            while let Some(item) = progress.next().await {
                let failed = match item {
                    Ok(info) => info.error_detail.and_then(|d| d.message).map(DaemonError),
                    Err(e) => Some(e.into()),
                };
                if let Some(e) = failed {
                    first.get_or_insert(e);
                }
            }
            first.map_or(Ok(()), Err)
        })
    }

    fn export(&self, id: &str) -> Archive<'static> {
        Box::pin(
            self.0
                .export_image(id)
                .map(|r| r.map_err(std::io::Error::other)),
        )
    }
}
