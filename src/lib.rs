//! Slipway: build, name, publish, promote and clean up the images of a `werf.yaml`.
//!
//! One concept per module; the `cli` layer parses and prints, everything else is a
//! library that takes resolved values (`settings::Settings`, and a `registry::Client` built
//! once by `cli` from `registry::RegistryOptions`), never raw flags; the process
//! environment is read once, by the CLI, into a `settings::HostEnv` value that `Settings`
//! carries (no global): the library takes what it needs from it as arguments.

// Functions stay under 100 lines (clippy.toml sets the threshold; tests/architecture.rs
// counts blanks and comments too). Test modules may be longer: a table of cases reads best whole.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

pub mod archive;
pub mod build;
pub mod ci_env;
pub mod cleanup;
pub mod cli;
pub mod config;
pub mod context;
pub mod daemon;
pub mod dockerfile;
pub mod doctor;
pub mod fsutil;
pub mod git;
pub mod host_cleanup;
pub mod inspect;
pub mod labels;
pub mod naming;
pub mod pipe;
pub mod platform;
pub mod project;
pub mod promote;
pub mod provenance;
pub mod publish;
pub mod push_archive;
pub mod records;
pub mod registry;
pub mod secret;
pub mod settings;
pub mod signature;
pub mod stapel;
pub mod suggest;
pub mod transfer;
