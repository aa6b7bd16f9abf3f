//! promote
