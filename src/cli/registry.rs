//! The registry client's options, resolved once from the settings: every command that
//! talks to a registry builds its [`Client`] here.

use std::sync::Arc;

use crate::registry::keychain::Keychain;
use crate::registry::vendors::VendorAdvice;
use crate::registry::{Client, RegistryOptions, Retry};
use crate::settings::Settings;

/// Where credentials are found: `--docker-config` (else `DOCKER_CONFIG`, else
/// `~/.docker`), Podman's auth files, then `--registry-username/--registry-password`.
pub fn keychain(settings: &Settings) -> Keychain {
    let explicit = match (&settings.registry_username, &settings.registry_password) {
        (Some(u), Some(p)) if !u.is_empty() => Some((u.clone(), p.expose().to_string())),
        _ => None,
    };
    Keychain {
        docker_config_dir: settings
            .docker_config
            .clone()
            .or_else(|| settings.host_env.docker_config_dir()),
        explicit,
        podman_auth_files: settings.host_env.podman_auth_files(),
    }
}

pub fn options(settings: &Settings) -> RegistryOptions {
    RegistryOptions {
        insecure: settings.insecure.clone(),
        keychain: keychain(settings),
        extra_cas: settings.registry_ca.clone(),
        retry: settings
            .registry_timeout
            .map(Retry::with_timeout)
            .unwrap_or_default(),
        advice: Some(Arc::new(VendorAdvice)),
        ..RegistryOptions::default()
    }
}

pub fn client(settings: &Settings) -> Client {
    Client::new(options(settings))
}
