//! The daemon's classic builder through bollard (also Podman's Buildah behind the
//! Docker-compatible API, which answers in the same JSON messages).

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use futures::StreamExt;
use futures::future::BoxFuture;

use super::{BuildRequest, Builder, CannotRun, Log, Ran, StepFailure};
use crate::build::dockerfile;
use crate::registry::keychain::Keychain;

/// The classic builder of daemon `docker`.
pub struct ClassicBuilder {
    pub docker: Docker,
    pub keychain: Keychain,
}

impl Builder for ClassicBuilder {
    fn run<'a>(&'a self, req: BuildRequest<'a>, mut log: Log<'a>) -> BoxFuture<'a, Ran> {
        Box::pin(async move {
            let creds =
                super::base_credentials(req.from_args, req.dockerfile_text, &self.keychain).await?;
            run_classic(
                &self.docker,
                req.options,
                creds,
                req.body,
                req.dockerfile_text,
                &mut log,
            )
            .await
        })
    }
}

/// The classic builder through bollard; `log` gets every output line.
pub async fn run_classic(
    docker: &Docker,
    options: bollard::query_parameters::BuildImageOptions,
    credentials: Option<HashMap<String, bollard::auth::DockerCredentials>>,
    body: impl futures::Stream<Item = bytes::Bytes> + Send + 'static,
    dockerfile_text: &str,
    log: &mut impl FnMut(&str),
) -> Ran {
    let mut stream = docker.build_image(options, credentials, Some(bollard::body_stream(body)));
    let mut progress = ClassicProgress::default();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(i) => i,
            // bollard reports a failed step as a stream error: locate it like error_detail.
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                bollard::models::BuildInfo {
                    error_detail: Some(bollard::models::ErrorDetail {
                        code: None,
                        message: Some(error),
                    }),
                    ..Default::default()
                }
            }
            Err(e) => return Err(CannotRun::Classic(e)),
        };
        if let Some(failed) = progress.feed(info, dockerfile_text, log) {
            return Ok(Err(failed));
        }
    }
    Ok(Ok(progress.image_id))
}

/// Reads the classic builder's JSON messages (Docker's and Podman's): steps, output, the
/// image ID, a failed step put back on its Dockerfile line.
#[derive(Default)]
pub(super) struct ClassicProgress {
    current_step: String,
    pub(super) image_id: Option<String>,
}

impl ClassicProgress {
    pub(super) fn feed(
        &mut self,
        info: bollard::models::BuildInfo,
        dockerfile_text: &str,
        log: &mut impl FnMut(&str),
    ) -> Option<StepFailure> {
        if let Some(s) = &info.stream {
            for line in s.lines().filter(|l| !l.trim().is_empty()) {
                if line.starts_with("Step ") || dockerfile::is_podman_step(line) {
                    self.current_step = line.to_string();
                }
                if let Some(id) = line.strip_prefix("Successfully built ") {
                    self.image_id = Some(id.trim().to_string());
                }
                log(line);
            }
        }
        if let Some(aux) = &info.aux
            && let Some(id) = &aux.id
        {
            self.image_id = Some(id.clone());
        }
        let err = info.error_detail?;
        let step = &self.current_step;
        let (line, text) = if dockerfile::is_podman_step(step) {
            (
                dockerfile::locate_podman_step(dockerfile_text, step),
                step.split_once(": ").map(|x| x.1),
            )
        } else {
            (
                dockerfile::locate_step(dockerfile_text, step),
                step.split_once(" : ").map(|x| x.1),
            )
        };
        Some(StepFailure {
            line,
            step: text.unwrap_or(step).to_string(),
            message: err.message.unwrap_or_else(|| "the build failed".into()),
        })
    }
}

/// Credentials for the registries of the Dockerfile's `FROM` images (after `ARG`
/// expansion), as the classic builder takes them (`X-Registry-Config`): BuildKit asks
/// Slipway's session instead. Hosts without credentials are left out (anonymous pulls).
pub(super) async fn base_image_credentials(
    dockerfile_text: &str,
    args: &BTreeMap<String, String>,
    keychain: &Keychain,
) -> Result<Option<HashMap<String, bollard::auth::DockerCredentials>>, CannotRun> {
    let df = crate::dockerfile::parse(dockerfile_text);
    let meta: BTreeMap<String, String> = df.meta_args(args).into_iter().collect();
    let mut hosts: Vec<String> = Vec::new();
    for (k, stage) in df.stages.iter().enumerate() {
        let base = crate::dockerfile::expand(&stage.base, &meta);
        if base == "scratch" || df.stage_ref(&base, k).is_some() {
            continue;
        }
        if let Ok(r) = crate::registry::Reference::parse(&base)
            && !hosts.contains(&r.repository.host)
        {
            hosts.push(r.repository.host);
        }
    }
    let mut out = HashMap::new();
    for host in hosts {
        let kc = keychain.clone();
        let h = host.clone();
        let found = tokio::task::spawn_blocking(move || kc.lookup(&h))
            .await
            .map_err(CannotRun::Join)?
            .map_err(CannotRun::Credentials)?;
        let Some(found) = found else { continue };
        let server = if host == "docker.io" {
            "https://index.docker.io/v1/".to_string()
        } else {
            host.clone()
        };
        let creds = match found.credential {
            crate::registry::keychain::Credential::Basic { username, password } => {
                bollard::auth::DockerCredentials {
                    username: Some(username),
                    password: Some(password),
                    serveraddress: Some(server.clone()),
                    ..Default::default()
                }
            }
            crate::registry::keychain::Credential::IdentityToken(t) => {
                bollard::auth::DockerCredentials {
                    identitytoken: Some(t),
                    serveraddress: Some(server.clone()),
                    ..Default::default()
                }
            }
        };
        out.insert(server, creds);
    }
    Ok((!out.is_empty()).then_some(out))
}
