//! Our own OCI registry client: references, auth, transport, operations, vendor APIs.

pub mod reference;
pub mod vendors;
