//! werf's slugs: turn any text into a valid docker tag, Kubernetes namespace, Helm release
//! or project name. Text that is already valid is kept; otherwise it is slugified and made
//! unique with the murmur3-32 hash (seed 0, lowercase hex, no padding) of the original.

use std::io::Cursor;

/// Which kind of name to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlugFormat {
    #[default]
    DockerTag,
    KubernetesNamespace,
    HelmRelease,
    Project,
}

/// A name that is not a [`SlugFormat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid format {0:?}: choose docker-tag, kubernetes-namespace, helm-release or project")]
pub struct UnknownSlugFormat(pub String);

impl std::str::FromStr for SlugFormat {
    type Err = UnknownSlugFormat;
    fn from_str(s: &str) -> Result<Self, UnknownSlugFormat> {
        match s {
            "docker-tag" => Ok(Self::DockerTag),
            "kubernetes-namespace" => Ok(Self::KubernetesNamespace),
            "helm-release" => Ok(Self::HelmRelease),
            "project" => Ok(Self::Project),
            o => Err(UnknownSlugFormat(o.to_string())),
        }
    }
}

/// murmur3 x86 32-bit, seed 0, as `%x`.
pub fn murmur_hex(data: &str) -> String {
    let h = murmur3::murmur3_32(&mut Cursor::new(data.as_bytes()), 0).unwrap_or(0);
    format!("{h:x}")
}

/// Lowercase `[a-z0-9]` kept, separators become `-`, everything else dropped, dash runs
/// collapsed, no dash at either end.
pub fn slugify(data: &str) -> String {
    let mut out = String::with_capacity(data.len());
    for c in data.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if "&(){}[]-_,.;:=+<>~/ ".contains(c) && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn with_hash(data: &str, max: usize) -> String {
    let hash = murmur_hex(data);
    let slug = slugify(data);
    let room = max.saturating_sub(hash.len() + 1);
    let cut: String = slug.chars().take(room).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        hash
    } else {
        format!("{cut}-{hash}")
    }
}

fn valid_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// k8s' `IsDNS1123Subdomain` message, as werf 1.1 quotes it.
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Why werf 1.1 refuses a Kubernetes namespace (its texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamespaceError {
    #[error("kubernetes namespace should be a valid DNS-1123 subdomain: {0:?} is {1} chars long")]
    TooLong(String, usize),
    #[error(
        "kubernetes namespace should be a valid DNS-1123 subdomain: {}",
        DNS1123_SUBDOMAIN_MSG
    )]
    NotSubdomain,
}

/// werf 1.1's `ValidateKubernetesNamespace`: empty, or a DNS-1123 *subdomain* (dots
/// allowed) of at most 63 characters. werf 1.2, and [`slug`], want a label; werf 1.1's
/// deploy kept `a.b`, so its namespace rule is its own.
pub fn validate_namespace_werf11(name: &str) -> Result<(), NamespaceError> {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() {
        Ok(())
    } else if name.len() > 63 {
        Err(NamespaceError::TooLong(name.to_string(), name.len()))
    } else if name.split('.').all(label) {
        Ok(())
    } else {
        Err(NamespaceError::NotSubdomain)
    }
}

/// werf 1.1's `slug.KubernetesNamespace`: kept when [`validate_namespace_werf11`] accepts
/// it, else slugified with the hash.
pub fn namespace_werf11(data: &str) -> String {
    if validate_namespace_werf11(data).is_ok() {
        data.to_string()
    } else {
        with_hash(data, 63)
    }
}

/// The slug of `data` in `format`.
pub fn slug(data: &str, format: SlugFormat) -> String {
    match format {
        SlugFormat::DockerTag => {
            if crate::registry::reference::valid_tag(data) {
                data.to_string()
            } else {
                with_hash(data, 128)
            }
        }
        SlugFormat::KubernetesNamespace => {
            if valid_dns_label(data, 63) {
                data.to_string()
            } else {
                with_hash(data, 63)
            }
        }
        SlugFormat::HelmRelease => {
            if valid_dns_label(data, 53) {
                data.to_string()
            } else {
                with_hash(data, 53)
            }
        }
        SlugFormat::Project => {
            let s: String = slugify(data).chars().take(50).collect();
            s.trim_end_matches('-').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_matches_reference_values() {
        // murmur3_32(seed 0) reference vectors.
        assert_eq!(murmur_hex(""), "0");
        assert_eq!(murmur_hex("hello"), "248bfa47");
        assert_eq!(
            murmur_hex("The quick brown fox jumps over the lazy dog"),
            "2e4ff723"
        );
    }

    #[test]
    fn docker_tags() {
        let h = murmur_hex("feature/x");
        let cases = [
            ("main", "main".to_string()),
            ("v1.2.3", "v1.2.3".to_string()),
            ("Release_1.0", "Release_1.0".to_string()),
            ("feature/x", format!("feature-x-{h}")),
            ("-lead", format!("lead-{}", murmur_hex("-lead"))),
            (
                "Feature/ÜBER Cool!!",
                format!("feature-ber-cool-{}", murmur_hex("Feature/ÜBER Cool!!")),
            ),
            ("a//b", format!("a-b-{}", murmur_hex("a//b"))),
            (
                "$(rm -rf ~)",
                format!("rm-rf-{}", murmur_hex("$(rm -rf ~)")),
            ),
            ("ÜÖ", murmur_hex("ÜÖ")),
        ];
        for (input, want) in cases {
            assert_eq!(slug(input, SlugFormat::DockerTag), want, "{input}");
        }
        let long = format!("feature/{}", "x".repeat(200));
        let s = slug(&long, SlugFormat::DockerTag);
        let h = murmur_hex(&long);
        assert_eq!(s.len(), 128);
        assert!(s.ends_with(&format!("-{h}")));
        assert!(crate::registry::reference::valid_tag(&s));
    }

    #[test]
    fn other_formats() {
        assert_eq!(slug("my-ns", SlugFormat::KubernetesNamespace), "my-ns");
        let ns = slug("My_NS", SlugFormat::KubernetesNamespace);
        assert_eq!(ns, format!("my-ns-{}", murmur_hex("My_NS")));
        let long = "r".repeat(80);
        assert!(slug(&long, SlugFormat::KubernetesNamespace).len() <= 63);
        assert!(slug(&long, SlugFormat::HelmRelease).len() <= 53);
        assert_eq!(slug("My Project!", SlugFormat::Project), "my-project");
        assert_eq!(slug(&long, SlugFormat::Project).len(), 50);
    }

    #[test]
    fn werf11_namespaces_allow_dots() {
        assert_eq!(namespace_werf11("shop.prod"), "shop.prod");
        assert!(validate_namespace_werf11("shop.prod").is_ok());
        assert_eq!(
            namespace_werf11("Shop_Prod"),
            format!("shop-prod-{}", murmur_hex("Shop_Prod"))
        );
        let e = validate_namespace_werf11("a..b").unwrap_err().to_string();
        assert!(e.contains("RFC 1123 subdomain"), "{e}");
        let long = "n".repeat(64);
        assert!(
            validate_namespace_werf11(&long)
                .unwrap_err()
                .to_string()
                .ends_with("is 64 chars long")
        );
        assert!(namespace_werf11(&long).len() <= 63);
    }
}
