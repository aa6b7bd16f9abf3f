//! Our own OCI registry client: references, auth, transport, operations, vendor APIs.

pub mod auth;
pub mod client;
pub mod compress;
pub mod push;
pub mod reference;
pub mod vendors;

pub use client::{Client, RegistryError};
pub use reference::{Reference, Repository};
