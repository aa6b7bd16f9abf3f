//! One command's run (issue 29), after ripgrep's `HiArgs`: the resolved settings, the one
//! registry client and the daemon, connected at most once. Every command handler in `cli/`
//! takes `&Run`; [`super::Project::open`] builds on it for the commands that read werf.yaml.
//! The client is made and the daemon connected on first use, so `config render` or
//! `slugify` pay for neither.

use std::sync::{Arc, OnceLock};

use bollard::Docker;

use crate::daemon::{Connection, Unreachable};
use crate::registry::keychain::Keychain;
use crate::registry::vendors::VendorAdvice;
use crate::registry::{Client, RegistryOptions, Retry};
use crate::settings::Settings;

pub struct Run {
    pub settings: Settings,
    client: OnceLock<Client>,
    daemon: Connection,
}

impl Run {
    pub fn new(settings: Settings) -> Self {
        let daemon = Connection::new(settings.host_env.daemon());
        Run {
            settings,
            client: OnceLock::new(),
            daemon,
        }
    }

    /// Where credentials are found: `--docker-config` (else `DOCKER_CONFIG`, else
    /// `~/.docker`), Podman's auth files, then `--registry-username/--registry-password`.
    pub fn keychain(&self) -> Keychain {
        let s = &self.settings;
        let explicit = match (&s.registry_username, &s.registry_password) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.expose().to_string())),
            _ => None,
        };
        Keychain {
            docker_config_dir: s
                .docker_config
                .clone()
                .or_else(|| s.host_env.docker_config_dir()),
            explicit,
            podman_auth_files: s.host_env.podman_auth_files(),
        }
    }

    /// The registry client's options as the settings give them (`login` swaps the
    /// keychain for the credentials it checks).
    pub fn registry_options(&self) -> RegistryOptions {
        let s = &self.settings;
        RegistryOptions {
            insecure: s.insecure.clone(),
            keychain: self.keychain(),
            extra_cas: s.registry_ca.clone(),
            retry: s
                .registry_timeout
                .map(Retry::with_timeout)
                .unwrap_or_default(),
            advice: Some(Arc::new(VendorAdvice)),
            ..RegistryOptions::default()
        }
    }

    /// The run's one registry client (its token cache and connections shared by every
    /// part of the command), made on first use.
    pub fn client(&self) -> &Client {
        self.client
            .get_or_init(|| Client::new(self.registry_options()))
    }

    /// The images repository's naming (`None` without `--images-repo`): settings alone,
    /// for commands that work without werf.yaml (`managed-images`).
    pub fn naming(&self) -> Result<Option<crate::naming::Naming>, crate::naming::NamingError> {
        crate::naming::Naming::new(&self.settings)
    }

    /// The stages storage of `--stages-storage REPO` (`None`: `:local`), on the run's
    /// client.
    pub fn stages_storage(
        &self,
    ) -> Result<Option<crate::stapel::storage::StagesStorage>, crate::stapel::storage::StorageError>
    {
        crate::stapel::storage::StagesStorage::from_setting(
            self.client(),
            self.settings.stages_storage.as_deref(),
            &self.settings.host_env,
        )
    }

    /// The daemon, connected on first use.
    pub async fn daemon(&self) -> Result<&Docker, Unreachable> {
        self.daemon.get().await
    }

    /// The daemon handle itself, for library code that connects only on some paths
    /// (cleanup reads werf's records from it with `-s :local`; publish's phases).
    pub fn daemon_connection(&self) -> &Connection {
        &self.daemon
    }
}
