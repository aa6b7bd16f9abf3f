//! Our own OCI registry client: the transport in layers ([`transport`]), the operations
//! one file each, references, credentials and vendor APIs. It is the only
//! code that speaks registry HTTP or reads a manifest's JSON, and it imports nothing from
//! the modules above it: it is configured with [`RegistryOptions`].

pub mod blob;
pub mod blob_source;
mod catalog;
pub mod client;
pub mod compress;
pub mod credentials;
mod delete;
pub mod image;
pub mod login;
pub mod manifest;
mod mount;
mod ping;
pub mod probe;
pub mod reference;
pub mod referrers;
mod tagging;
mod tags;
#[cfg(test)]
pub(crate) mod test_registry;
pub mod transport;
pub mod upload;
pub mod vendors;

pub use blob::ByteStream;
pub use blob_source::{BlobSource, sha256_digest};
pub use client::Client;
/// The keychain's former path, kept for the modules above the registry.
pub use credentials::keychain;
pub use image::Manifest;
pub use manifest::ManifestInfo;
pub use reference::{Reference, Repository};
pub use transport::{
    Advice, Attempts, HostPolicy, Insecure, RegistryError, RegistryOptions, Retry,
};
pub use upload::UploadMode;
