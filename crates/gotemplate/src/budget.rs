//! The memory budget of a template set: one counter of the bytes its executions wrote as
//! output and of the strings and lists its functions returned, over the set's life. Go has
//! no such limit, so a hostile template (a string doubled by a recursion, `repeat`,
//! `until`, a `printf` width, an `append` loop) can exhaust the machine's memory; here it
//! ends with an error naming the template and line instead.
//!
//! The executor charges every function result and every byte of output after the fact;
//! functions that could allocate far more than their arguments hold (`repeat 1e12 "x"`)
//! first ask [`Templates::check_budget`] whether the result would fit.

use std::cell::Cell;

use crate::Templates;
use crate::value::Value;

/// The default budget: 64 MiB.
pub const DEFAULT_BUDGET: usize = 64 << 20;

pub(crate) struct Budget {
    limit: Cell<usize>,
    used: Cell<usize>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            limit: Cell::new(DEFAULT_BUDGET),
            used: Cell::new(0),
        }
    }
}

/// Building something would take the set over its budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverBudget {
    /// What the set would have built in all, in bytes (saturating).
    pub total: usize,
    pub limit: usize,
}

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this would take what the templates build (output, strings and lists) to {}, over the budget of {}",
            human(self.total),
            human(self.limit)
        )
    }
}

impl std::error::Error for OverBudget {}

/// `64 MiB`, `1.5 GiB`, `12 B`.
pub fn human(n: usize) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Bytes a value holds of its own: a string's text, a list's slots, a map's entries (the
/// values inside are shared, and were charged when they were built).
pub fn footprint(v: &Value) -> usize {
    const SLOT: usize = std::mem::size_of::<Value>();
    match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len().saturating_mul(SLOT),
        Value::Map(m) => m.entries.borrow().keys().map(|k| k.len() + SLOT + 32).sum(),
        _ => 0,
    }
}

/// Bytes of a list of `n` values.
pub fn list_bytes(n: usize) -> usize {
    n.saturating_mul(std::mem::size_of::<Value>())
}

impl Templates {
    /// Sets the budget (bytes); the default is [`DEFAULT_BUDGET`].
    pub fn set_budget(&self, bytes: usize) {
        self.inner.budget.limit.set(bytes);
    }

    /// The budget, in bytes.
    pub fn budget(&self) -> usize {
        self.inner.budget.limit.get()
    }

    /// What the set's executions have built so far, in bytes.
    pub fn budget_used(&self) -> usize {
        self.inner.budget.used.get()
    }

    /// Whether `more` bytes would still fit: for functions to ask before they allocate a
    /// result much larger than their arguments. Charges nothing.
    pub fn check_budget(&self, more: usize) -> Result<(), OverBudget> {
        let b = &self.inner.budget;
        let total = b.used.get().saturating_add(more);
        if total > b.limit.get() {
            return Err(OverBudget {
                total,
                limit: b.limit.get(),
            });
        }
        Ok(())
    }

    /// Counts `n` bytes built.
    pub(crate) fn charge(&self, n: usize) -> Result<(), OverBudget> {
        self.check_budget(n)?;
        let b = &self.inner.budget;
        b.used.set(b.used.get() + n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(12), "12 B");
        assert_eq!(human(64 << 20), "64 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
