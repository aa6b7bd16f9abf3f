//! Moving images into registries: the push path ([`push`]) and the diffID cache it keeps
//! ([`layer_cache`]). It sits above `registry` (which only speaks the protocol) and reads
//! images from `archive`.

pub mod layer_cache;
pub mod push;
