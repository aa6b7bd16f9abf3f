//! Moving images into registries: the push path of a local image ([`push`]) with the
//! diffID cache it keeps ([`layer_cache`]), the daemon's export streamed through it
//! ([`daemon`]), blob copies between repositories ([`copy`]) and registry images loaded
//! into the daemon ([`pull`]). It sits above `registry` (which only speaks the protocol)
//! and reads images from `archive`.

pub mod copy;
pub mod daemon;
pub mod layer_cache;
pub mod pull;
pub mod push;
