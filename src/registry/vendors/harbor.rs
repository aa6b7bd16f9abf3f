//! Harbor: its registry deletes a manifest by digest, as the default implementation does;
//! named so that `--implementation harbor` and its hosts get the Docker Registry API's
//! delete rules (no single-tag delete).

use super::default::ManifestDelete;
use super::{Implementation, Info};

pub const INFO: Info = Info {
    kind: Implementation::Harbor,
    name: "harbor",
    aliases: &[],
    detect: |host| host.starts_with("harbor."),
    make: |_| Box::new(ManifestDelete),
};
