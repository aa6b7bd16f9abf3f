//! Publish: plan what the registry lacks, build it, push it through the one push path,
//! report digests.

pub mod archive;
pub mod plan;
pub mod report;
