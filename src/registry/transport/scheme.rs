//! Which scheme a registry host is spoken to with, and the one meaning of
//! `--insecure-registry`: https always; plain http only when the host may use it (named
//! insecure, or loopback as dockerd allows) and answers plain HTTP where TLS was expected.
//! A certificate error is never a reason to fall back.

use super::error::chain;

/// `--insecure-registry` in its two forms, and `--skip-tls-verify-registry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Insecure {
    /// werf's boolean form (`--insecure-registry`, `=true`, `WERF_INSECURE_REGISTRY=true`):
    /// every registry.
    pub all: bool,
    /// Slipway's form (`--insecure-registry HOST`): these `host[:port]`s only.
    pub hosts: Vec<String>,
    /// werf's `--skip-tls-verify-registry`: TLS without certificate checks, everywhere.
    pub skip_tls_verify: bool,
}

impl Insecure {
    /// From the values given to `--insecure-registry`: a boolean word selects werf's form,
    /// anything else names a host.
    pub fn from_values(values: &[String], skip_tls_verify: bool) -> Insecure {
        let mut out = Insecure {
            skip_tls_verify,
            ..Insecure::default()
        };
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => out.all = true,
                "0" | "false" | "no" => {}
                _ => out.hosts.push(v.to_string()),
            }
        }
        out
    }

    /// The one meaning of `--insecure-registry`: a named host or the boolean form allows
    /// plain HTTP and unverified TLS; `--skip-tls-verify-registry` allows unverified TLS;
    /// a loopback host may fall back to plain HTTP but its certificate is still checked.
    pub fn policy(&self, host: &str) -> HostPolicy {
        let named = self.all || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
        HostPolicy {
            allow_http: named || is_loopback(host),
            skip_verify: named || self.skip_tls_verify,
            insecure: named,
        }
    }
}

/// How Slipway may talk to one registry host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPolicy {
    /// Plain HTTP allowed when the host does not speak TLS.
    pub allow_http: bool,
    /// TLS certificates not verified.
    pub skip_verify: bool,
    /// Named by `--insecure-registry` (as a host or by the boolean form).
    pub insecure: bool,
}

/// `127.0.0.0/8`, `::1` or `localhost`, with or without a port: dockerd lets these use
/// plain HTTP without configuration, so Slipway does too (certificates stay checked).
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() > 1 {
        host
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// True when a TLS handshake failed because the server answered in plain HTTP (rustls sees
/// an HTTP response where a TLS record should be).
pub fn is_plain_http(cause: &str) -> bool {
    cause.contains("InvalidContentType")
        || cause.contains("corrupt message")
        || cause.contains("wrong version number")
}

/// No connection to the host could be made: the cause chain of the attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NoConnection(pub String);

/// Pick the scheme for `host`: one `GET https://host/v2/` when plain HTTP is allowed.
/// `Ok(None)`: the host did not answer within `stall`; `Err(cause)`: no connection could
/// be made (no such name, refused), which says nothing of the scheme: the caller's attempt
/// failed and is retried as such.
pub(crate) async fn detect(
    http: &reqwest::Client,
    host: &str,
    policy: HostPolicy,
    stall: std::time::Duration,
) -> Result<Option<&'static str>, NoConnection> {
    if !policy.allow_http {
        return Ok(Some("https"));
    }
    let ping = http.get(format!("https://{host}/v2/")).send();
    let Ok(answer) = tokio::time::timeout(stall, ping).await else {
        return Ok(None);
    };
    Ok(Some(match answer {
        Ok(_) => "https",
        Err(e) => {
            let cause = chain(&e);
            if is_plain_http(&cause) {
                "http"
            } else if super::retry::NetCause::of(&cause) != super::retry::NetCause::Other {
                return Err(NoConnection(cause));
            } else if policy.skip_verify {
                "http"
            } else {
                "https"
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "registry.example.com",
            "[fe80::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn insecure_registry_has_one_meaning() {
        let s = Insecure::from_values(&["reg.corp:5000".into()], false);
        let p = |h: &str| {
            let p = s.policy(h);
            (p.allow_http, p.skip_verify, p.insecure)
        };
        assert_eq!(p("reg.corp:5000"), (true, true, true));
        assert_eq!(p("REG.corp:5000"), (true, true, true));
        assert_eq!(p("other.corp"), (false, false, false));
        // Loopback: plain HTTP allowed, certificates still checked.
        assert_eq!(p("127.0.0.1:5000"), (true, false, false));
        assert_eq!(p("localhost"), (true, false, false));
        assert_eq!(p("[::1]:5000"), (true, false, false));
        let all = Insecure::from_values(&["true".into()], false);
        assert!(all.all && all.policy("any.io").allow_http);
        assert!(
            Insecure::from_values(&["false".into()], false)
                .hosts
                .is_empty()
        );
        let skip = Insecure::from_values(&[], true);
        assert_eq!(
            skip.policy("x.io"),
            HostPolicy {
                allow_http: false,
                skip_verify: true,
                insecure: false
            }
        );
    }

    async fn plain_server() -> String {
        let app = axum::Router::new().route("/v2/", axum::routing::get(|| async { "{}" }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        addr.to_string()
    }

    #[tokio::test]
    async fn plain_http_only_where_allowed() {
        let host = plain_server().await;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .build()
            .expect("client");
        let allowed = Insecure::default().policy(&host);
        assert!(allowed.allow_http, "loopback");
        assert_eq!(
            detect(&http, &host, allowed, std::time::Duration::from_secs(5)).await,
            Ok(Some("http"))
        );
        // A host that may not use plain HTTP stays on https (and fails there, clearly).
        let strict = HostPolicy {
            allow_http: false,
            skip_verify: false,
            insecure: false,
        };
        assert_eq!(
            detect(&http, &host, strict, std::time::Duration::from_secs(5)).await,
            Ok(Some("https"))
        );
        // Nothing listening: no scheme, but the refusal, for the caller to retry as such.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let refused = detect(&http, &closed, allowed, std::time::Duration::from_secs(5)).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|c| c.0.contains("Connection refused")),
            "{refused:?}"
        );
        // Accepted but never answered: no scheme, after the stall time.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let silent_host = silent.local_addr().expect("addr").to_string();
        let started = std::time::Instant::now();
        assert_eq!(
            detect(
                &http,
                &silent_host,
                allowed,
                std::time::Duration::from_millis(300)
            )
            .await,
            Ok(None)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }
}
