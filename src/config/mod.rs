//! werf.yaml: find it, render it as a Go template, parse the multi-document YAML into a
//! typed [`Config`], and validate it with every error located as `FILE:LINE:COL`.

pub mod model;

pub use model::*;
