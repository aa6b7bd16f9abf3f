//! Answering a registry's `401` challenge (distribution's token auth): `Basic` with the
//! stored credentials, or `Bearer` with a token fetched from the challenge's realm for the
//! scopes the request needs (username/password as Basic auth on a GET, an identity token as
//! an OAuth2 refresh-token POST, or anonymous). Tokens are kept per scope set by the
//! transport and fetched again when a request with one answers 401 (expired).

use std::collections::HashMap;

use base64::Engine;
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::{RegistryError, chain, io_err};
use crate::registry::credentials::keychain::{Credential, Found};

/// A `WWW-Authenticate` header: `Bearer realm="..",service="..",scope=".."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub kind: String,
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn parse(c: &str) -> Challenge {
        let (kind, rest) = c.trim().split_once(' ').unwrap_or((c.trim(), ""));
        let mut params = HashMap::new();
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let Some((k, v)) = rest.split_once('=') else {
                break;
            };
            let k = k.trim().trim_start_matches(',').trim().to_lowercase();
            let v = v.trim_start();
            let (val, tail) = if let Some(q) = v.strip_prefix('"') {
                match q.find('"') {
                    Some(end) => (q[..end].to_string(), &q[end + 1..]),
                    None => (q.to_string(), ""),
                }
            } else {
                match v.find(',') {
                    Some(end) => (v[..end].to_string(), &v[end..]),
                    None => (v.to_string(), ""),
                }
            };
            params.insert(k, val);
            rest = tail.trim_start_matches(',').trim();
        }
        Challenge {
            kind: kind.to_string(),
            params,
        }
    }

    pub fn is(&self, kind: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }
}

/// `Authorization: Basic …` for a username/password.
pub(crate) fn basic(credential: Option<&Found>) -> Option<String> {
    let Some(Found {
        credential: Credential::Basic { username, password },
        ..
    }) = credential
    else {
        return None;
    };
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    ))
}

/// What the token request needs to name in its errors.
pub(crate) struct TokenAsk<'a> {
    pub host: &'a str,
    pub scopes: &'a [String],
    pub credential: Option<&'a Found>,
    /// Where the credentials came from (never the secret), for `Unauthorized`.
    pub source_desc: &'a (dyn Fn() -> String + Send + Sync),
}

/// Fetch a Bearer token for `ask.scopes` from the challenge's realm; `None` when the
/// challenge names no realm or the answer holds no token.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    challenge: &Challenge,
    ask: &TokenAsk<'_>,
) -> Result<Option<String>, RegistryError> {
    let Some(realm) = challenge.params.get("realm") else {
        return Ok(None);
    };
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(s) = challenge.params.get("service") {
        query.push(("service", s.clone()));
    }
    for s in ask.scopes {
        query.push(("scope", s.clone()));
    }
    let realm_host = url::Url::parse(realm)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.to_string()))
        .unwrap_or_default();
    let req = match ask.credential.map(|f| &f.credential) {
        Some(Credential::IdentityToken(t)) => {
            let mut form = query.clone();
            form.push(("grant_type", "refresh_token".into()));
            form.push(("refresh_token", t.clone()));
            form.push(("client_id", "slipway".into()));
            http.post(realm).form(&form)
        }
        Some(Credential::Basic { username, password }) => http
            .get(realm)
            .query(&query)
            .basic_auth(username, Some(password)),
        None => http.get(realm).query(&query),
    };
    let resp = req.send().await.map_err(|e| RegistryError::Unreachable {
        host: realm_host,
        cause: format!("token service: {}", chain(&e)),
    })?;
    if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            host: ask.host.to_string(),
            what: format!("a token for {}", ask.scopes.join(" ")),
            source_desc: (ask.source_desc)(),
        });
    }
    if !resp.status().is_success() {
        return Err(RegistryError::Status {
            method: "GET".into(),
            url: realm.clone(),
            status: resp.status().as_u16(),
            message: "token service failed".into(),
        });
    }
    #[derive(Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let t: Token = resp.json().await.map_err(|e| io_err("token answer", e))?;
    Ok(t.token.or(t.access_token).map(|t| format!("Bearer {t}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Form, Query};
    use axum::http::HeaderMap;
    use axum::routing::get;

    #[test]
    fn challenges_parse() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push""#,
        );
        assert!(c.is("bearer"));
        assert_eq!(c.params["realm"], "https://auth.io/token");
        assert_eq!(c.params["service"], "registry.io");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = Challenge::parse(r#"Basic realm="Registry Realm""#);
        assert!(c.is("Basic"));
        assert_eq!(c.params["realm"], "Registry Realm");
        let c = Challenge::parse("Bearer realm=https://a/t, service=s");
        assert_eq!(c.params["realm"], "https://a/t");
        assert_eq!(c.params["service"], "s");
    }

    fn found(credential: Credential) -> Found {
        Found {
            credential,
            source: "test".into(),
        }
    }

    /// A token service that echoes what it was asked for into the token.
    async fn token_server() -> String {
        let app = axum::Router::new().route(
            "/token",
            get(
                |Query(q): Query<Vec<(String, String)>>, h: HeaderMap| async move {
                    let auth = h
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_string();
                    if auth.contains(&base64::engine::general_purpose::STANDARD.encode("u:bad")) {
                        return (StatusCode::UNAUTHORIZED, String::new());
                    }
                    let scopes: Vec<String> = q
                        .iter()
                        .filter(|(k, _)| k == "scope")
                        .map(|(_, v)| v.clone())
                        .collect();
                    let body = serde_json::json!({"token": format!("{}|{auth}", scopes.join(" "))});
                    (StatusCode::OK, body.to_string())
                },
            )
            .post(|Form(f): Form<Vec<(String, String)>>| async move {
                let get = |k: &str| {
                    f.iter()
                        .find(|(n, _)| n == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let body = serde_json::json!({"access_token": format!("{}|{}|{}", get("grant_type"), get("refresh_token"), get("scope"))});
                body.to_string()
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(l, app).await });
        format!("http://{addr}/token")
    }

    #[tokio::test]
    async fn tokens_carry_scopes_and_credentials() {
        let realm = token_server().await;
        let http = reqwest::Client::new();
        let c = Challenge::parse(&format!(r#"Bearer realm="{realm}",service="reg""#));
        let scopes = vec![
            "repository:a:pull,push".to_string(),
            "repository:b:pull".to_string(),
        ];
        let desc = || "credentials from test".to_string();
        let ask = |credential| TokenAsk {
            host: "reg",
            scopes: &scopes,
            credential,
            source_desc: &desc,
        };
        let anon = fetch_token(&http, &c, &ask(None)).await.expect("anon");
        assert_eq!(
            anon.as_deref(),
            Some("Bearer repository:a:pull,push repository:b:pull|none")
        );
        let user = found(Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        });
        let t = fetch_token(&http, &c, &ask(Some(&user)))
            .await
            .expect("basic");
        let b64 = base64::engine::general_purpose::STANDARD.encode("u:p");
        assert!(t.expect("token").ends_with(&format!("|Basic {b64}")));
        let refresh = found(Credential::IdentityToken("rt".into()));
        let t = fetch_token(&http, &c, &ask(Some(&refresh)))
            .await
            .expect("refresh");
        assert_eq!(
            t.as_deref(),
            Some("Bearer refresh_token|rt|repository:a:pull,push")
        );
        let bad = found(Credential::Basic {
            username: "u".into(),
            password: "bad".into(),
        });
        let e = fetch_token(&http, &c, &ask(Some(&bad)))
            .await
            .expect_err("refused");
        assert_eq!(
            e.to_string(),
            "registry reg refused the credentials for a token for repository:a:pull,push repository:b:pull (credentials from test)"
        );
        assert!(!e.to_string().contains("bad"), "no secret in messages");
        let none = Challenge::parse("Bearer service=reg");
        assert_eq!(
            fetch_token(&http, &none, &ask(None))
                .await
                .expect("no realm"),
            None
        );
    }

    #[test]
    fn basic_only_for_passwords() {
        let b = basic(Some(&found(Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        })));
        assert_eq!(b.as_deref(), Some("Basic dTpw"));
        assert_eq!(
            basic(Some(&found(Credential::IdentityToken("t".into())))),
            None
        );
        assert_eq!(basic(None), None);
    }
}
