//! "Did you mean": the known name closest to a mistyped one, for messages that list what
//! exists (an unknown image name names the images werf.yaml has).

/// The name in `known` closest to `name`: within an edit distance of a third of its length
/// (at least 2), or one that starts with it. `None` when nothing is close.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(2);
    known
        .into_iter()
        .filter(|k| *k != name)
        .map(|k| (distance(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= limit || k.to_lowercase().starts_with(&lower))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `; did you mean "x"?`, or nothing.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, known)
        .map(|k| format!("; did you mean {k:?}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let known = ["backend", "frontend", "migrations"];
        assert_eq!(closest("backnd", known), Some("backend"));
        assert_eq!(closest("Frontend", known), Some("frontend"));
        assert_eq!(closest("migr", known), Some("migrations"));
        assert_eq!(closest("database", known), None);
        assert_eq!(
            did_you_mean("fronted", known),
            "; did you mean \"frontend\"?"
        );
        assert_eq!(did_you_mean("zzz", known), "");
    }
}
