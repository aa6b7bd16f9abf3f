//! The `cleanup:` section, validated as werf 1.1 validates it (pkg/config/raw_meta_cleanup.go)
//! with every problem located at its own key or value: the section is read again from the
//! rendered text as a tree whose every node keeps its position.

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::config::error::Ctx;
use crate::config::model::{CleanupConfig, KeepPolicy, Limit, LimitOperator, References};
use crate::config::schema::{cleanup_keys, limit_keys, policy_keys, references_keys};
use crate::config::yaml::{Node, boolean, get, map, unknown_keys};

type Doc = std::collections::BTreeMap<String, Spanned<Node>>;

/// The `cleanup:` node of the meta document, with positions.
pub(super) fn cleanup_node(text: &str) -> Option<Spanned<Node>> {
    let docs: Vec<Option<Doc>> = serde_saphyr::from_multiple(text).ok()?;
    docs.into_iter()
        .flatten()
        .find(|d| !d.is_empty())?
        .remove("cleanup")
}

/// Parse and validate `cleanup:`; problems go to `cx`.
pub(super) fn parse(cx: &mut Ctx<'_>, node: &Spanned<Node>) -> CleanupConfig {
    let mut c = CleanupConfig::default();
    if matches!(node.value, Node::Null) {
        return c;
    }
    let Some(m) = map(cx, node, "cleanup") else {
        return c;
    };
    unknown_keys(cx, m, cleanup_keys(), "cleanup");
    for (k, v) in m {
        match k.as_str() {
            "disable" => c.disable = boolean(cx, v, "cleanup.disable"),
            "disableKubernetesBasedPolicy" => {
                c.disable_kubernetes_based_policy =
                    boolean(cx, v, "cleanup.disableKubernetesBasedPolicy")
            }
            "disableGitHistoryBasedPolicy" => {
                c.disable_git_history_based_policy =
                    boolean(cx, v, "cleanup.disableGitHistoryBasedPolicy")
            }
            "keepPolicies" => {
                let items = match &v.value {
                    Node::Seq(items) => items.as_slice(),
                    Node::Null => &[],
                    other => {
                        cx.at(
                            &v.referenced,
                            format!("cleanup.keepPolicies must be a list, not {}", other.kind()),
                        );
                        &[]
                    }
                };
                let policies: Vec<KeepPolicy> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| policy(cx, p, &format!("cleanup.keepPolicies[{i}]")))
                    .collect();
                // werf applies its defaults when the list is empty.
                c.keep_policies = Some(policies).filter(|p| !p.is_empty());
            }
            _ => {}
        }
    }
    c
}

fn policy(cx: &mut Ctx<'_>, node: &Spanned<Node>, path: &str) -> Option<KeepPolicy> {
    let m = map(cx, node, path)?;
    unknown_keys(cx, m, policy_keys(), path);
    let Some(refs) = get(m, "references") else {
        cx.at(
            &node.referenced,
            format!("{path}: a keep policy needs `references:` with `branch:` or `tag:`"),
        );
        return None;
    };
    let rpath = format!("{path}.references");
    let rm = map(cx, refs, &rpath)?;
    unknown_keys(cx, rm, references_keys(), &rpath);
    let branch = get(rm, "branch").and_then(|v| pattern(cx, v, &format!("{rpath}.branch")));
    let tag = get(rm, "tag").and_then(|v| pattern(cx, v, &format!("{rpath}.tag")));
    let has = |k: &str| get(rm, k).is_some();
    if has("branch") && has("tag") {
        let at = get(rm, "tag").map_or(refs.referenced, |v| v.referenced);
        cx.at(
            &at,
            format!(
                "{rpath}: specify only one of `branch: string|/REGEX/` or `tag: string|/REGEX/` (werf: one kind of reference per policy)"
            ),
        );
        return None;
    }
    if !has("branch") && !has("tag") {
        cx.at(
            &refs.referenced,
            format!("{rpath}: `branch: string|/REGEX/` or `tag: string|/REGEX/` is required"),
        );
        return None;
    }
    let ref_limit = get(rm, "limit").and_then(|v| limit(cx, v, &format!("{rpath}.limit")));
    let images_per_reference = get(m, "imagesPerReference")
        .and_then(|v| limit(cx, v, &format!("{path}.imagesPerReference")));
    if branch.is_none() && tag.is_none() {
        return None;
    }
    Some(KeepPolicy {
        references: References {
            branch,
            tag,
            limit: ref_limit,
        },
        images_per_reference,
    })
}

/// werf: `/re/` is a regex, anything else matches exactly.
fn pattern(cx: &mut Ctx<'_>, v: &Spanned<Node>, path: &str) -> Option<String> {
    let Node::Str(s) = &v.value else {
        cx.at(
            &v.referenced,
            format!(
                "{path} must be a string (`name` for an exact match or `/REGEX/`), not {}",
                v.value.kind()
            ),
        );
        return None;
    };
    if s.is_empty() {
        cx.at(&v.referenced, format!("{path} must not be empty"));
        return None;
    }
    let re = match s.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
        Some(inner) if s.len() >= 2 => inner.to_string(),
        _ => format!("^{}$", regex::escape(s)),
    };
    match regex::Regex::new(&re) {
        Ok(_) => Some(re),
        Err(e) => {
            let first = e.to_string();
            let first = first.lines().last().unwrap_or("invalid").trim().to_string();
            cx.at(
                &v.referenced,
                format!("{path}: invalid regex {s:?}: {first}"),
            );
            None
        }
    }
}

fn limit(cx: &mut Ctx<'_>, node: &Spanned<Node>, path: &str) -> Option<Limit> {
    let m = map(cx, node, path)?;
    unknown_keys(cx, m, limit_keys(), path);
    let mut l = Limit::default();
    let mut ok = true;
    if let Some(v) = get(m, "last") {
        match v.value {
            Node::Int(n) if n >= -1 => l.last = Some(n),
            _ => {
                cx.at(
                    &v.referenced,
                    format!("{path}.last must be an integer >= 0, or -1 for no limit"),
                );
                ok = false;
            }
        }
    }
    if let Some(v) = get(m, "in") {
        match &v.value {
            Node::Str(s) => match go_duration(s) {
                Ok(d) => l.in_ = Some(d),
                Err(why) => {
                    cx.at(
                        &v.referenced,
                        format!("{path}.in: {s:?} is not a duration: {why} (Go durations: `168h`, `30m`, `1h30m`; no days)"),
                    );
                    ok = false;
                }
            },
            other => {
                cx.at(
                    &v.referenced,
                    format!(
                        "{path}.in must be a duration string such as `168h`, not {}",
                        other.kind()
                    ),
                );
                ok = false;
            }
        }
    }
    if let Some(v) = get(m, "operator") {
        match &v.value {
            Node::Str(s) if s == "And" => l.operator = LimitOperator::And,
            Node::Str(s) if s == "Or" => l.operator = LimitOperator::Or,
            Node::Str(s) => {
                cx.at(
                    &v.referenced,
                    format!("{path}.operator: unsupported value {s:?}: `And` or `Or` (as written)"),
                );
                ok = false;
            }
            other => {
                cx.at(
                    &v.referenced,
                    format!(
                        "{path}.operator must be `And` or `Or`, not {}",
                        other.kind()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(l)
}

/// Why a `cleanup` duration is not one (the text follows `is not a duration:`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("negative")]
    Negative,
    #[error("empty")]
    Empty,
    #[error("a number must come before each unit")]
    NoNumber,
    #[error("bad number {0:?}")]
    BadNumber(String),
    #[error("missing unit after {0:?}")]
    MissingUnit(String),
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    #[error("too large")]
    TooLarge,
}

/// Go's `time.ParseDuration` grammar (what werf's YAML decoder accepts for `in`): a
/// sequence of decimal numbers with units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`; `0`
/// alone. Negative durations are refused (they would select nothing).
pub fn go_duration(s: &str) -> Result<Duration, DurationError> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(DurationError::NoNumber);
        }
        let value: f64 = num
            .parse()
            .map_err(|_| DurationError::BadNumber(num.to_string()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(DurationError::MissingUnit(num.to_string())),
            u => return Err(DurationError::UnknownUnit(u.to_string())),
        };
        total += value * secs;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(DurationError::TooLarge);
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn go_durations_as_go_parses_them() {
        assert_eq!(go_duration("168h"), Ok(Duration::from_secs(168 * 3600)));
        assert_eq!(go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("300ms"), Ok(Duration::from_millis(300)));
        for bad in ["7d", "foo", "", "h", "1", "1w", "-1h", "1hh"] {
            assert!(go_duration(bad).is_err(), "{bad} accepted");
        }
    }
}
