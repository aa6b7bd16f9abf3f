//! The one home of credential lookups, as go-containerregistry's `authn`: the registry
//! [`keychain`] (docker config, credential helpers, Podman's auth files, explicit login)
//! and the credentials of vendor APIs that do not take registry credentials ([`vendor`]).
//! The transport, the daemon paths and the vendors read from here; nothing here reads
//! them back.

pub mod keychain;
pub mod vendor;

pub use vendor::{AwsKeys, VendorCredentials};
