//! [`DaemonApi`] on bollard: the real daemon.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptions,
};
use futures::StreamExt;

use super::{Call, DaemonApi, DaemonError, ImageInfo, split_reference};

/// The daemon through bollard.
#[derive(Debug, Clone)]
pub struct DockerDaemon(Docker);

impl DockerDaemon {
    pub fn new(docker: Docker) -> Self {
        DockerDaemon(docker)
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
}
