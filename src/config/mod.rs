//! werf.yaml: find it, render it as a Go template, parse the multi-document YAML into a
//! typed [`Config`], and validate it with every error located as `FILE:LINE:COL`.

pub mod ansible;
pub mod cleanup;
pub mod load;
pub mod model;
pub mod render;
pub mod schema;
pub mod stapel;

pub use load::{ConfigError, ConfigErrors, Origins, Rendered, SourcePos, load, render_config};
pub use model::*;
