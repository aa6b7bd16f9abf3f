//! werf.yaml: find it, render it as a Go template, parse the multi-document YAML into a
//! typed [`Config`], and validate it with every error located as `FILE:LINE:COL`.
//!
//! Layers, each using only those before it: `rendered` (the rendered text and its origins),
//! `error` (located errors and their collector), `yaml` (the positioned tree), `model` (the
//! types), `version` (which werf's reading applies), `parse` (rendered text → model),
//! `load` (find, render, parse).

mod error;
pub mod load;
pub mod model;
mod parse;
pub mod render;
mod rendered;
pub mod schema;
pub mod version;
mod yaml;

pub use error::{ConfigError, ConfigErrors};
pub use load::{load, render_config};
pub use model::stapel;
pub use model::*;
pub use rendered::{Giterminism, Origins, Rendered, SourcePos};
