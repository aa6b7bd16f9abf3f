//! sprig v3's `TxtFuncMap`.

use super::Func;
use crate::value::Time;

/// Every sprig function this crate provides.
pub fn all() -> Vec<(&'static str, Func)> {
    Vec::new()
}

/// Go's `time.Format` with a Go layout.
pub fn format_time(_t: &Time, _layout: &str) -> String {
    String::new()
}
