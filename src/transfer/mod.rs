//! Moving images into registries, one path for every source: an image source
//! ([`source`]: the daemon's export stream, an archive, a registry repository), a plan of
//! what each blob needs ([`plan`]), and the target side ([`push`]'s `Session`, with the
//! diffID cache it keeps in [`layer_cache`]); [`copy`] moves one blob between registries.
//! It sits above `registry` (which only speaks the protocol) and reads images from
//! `archive`. Registry images are loaded into the daemon by [`pull`] (stages storage);
//! [`from_daemon`] pushes a daemon image (publish, stages storage).

pub mod copy;
pub mod from_daemon;
pub mod index;
pub mod layer_cache;
pub mod plan;
pub mod pull;
pub mod push;
pub mod source;
pub mod verify;
