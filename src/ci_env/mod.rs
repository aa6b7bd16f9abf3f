//! ci_env
