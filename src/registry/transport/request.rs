//! One registry request as a value ([`Req`]), with a body that can be produced again for
//! a retry ([`Body`]), and the redaction of its headers for logs.

use std::fmt;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::registry::blob_source::BlobSource;

/// A request body that can be produced again for a retry, except [`Body::Once`].
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
    /// A byte range of a blob source (read again for each attempt).
    Source {
        source: BlobSource,
        offset: u64,
        len: u64,
    },
    /// A stream that can be sent once: the request is not retried.
    Once(Option<reqwest::Body>),
}

impl Body {
    /// A whole blob source.
    pub fn source(source: &BlobSource) -> Body {
        Body::Source {
            source: source.clone(),
            offset: 0,
            len: source.len(),
        }
    }

    pub fn once(body: reqwest::Body) -> Body {
        Body::Once(Some(body))
    }

    pub(super) fn replayable(&self) -> bool {
        !matches!(self, Body::Once(_))
    }

    /// The body for one attempt, and its length when known.
    pub(super) async fn for_attempt(
        &mut self,
    ) -> std::io::Result<Option<(reqwest::Body, Option<u64>)>> {
        Ok(match self {
            Body::Empty => None,
            Body::Bytes(b) => Some((reqwest::Body::from(b.clone()), Some(b.len() as u64))),
            Body::Source {
                source,
                offset,
                len,
            } => Some((source.body(*offset, *len).await?, Some(*len))),
            Body::Once(b) => match b.take() {
                Some(b) => Some((b, None)),
                None => {
                    return Err(std::io::Error::other(
                        "a streamed request body cannot be sent twice",
                    ));
                }
            },
        })
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({})", b.len()),
            Body::Source { offset, len, .. } => write!(f, "Source({offset}+{len})"),
            Body::Once(_) => f.write_str("Once"),
        }
    }
}

/// One registry request as a value.
pub(crate) struct Req {
    pub method: Method,
    /// The registry host (`host[:port]`) whose credentials, TLS and scheme apply.
    pub host: String,
    /// `/v2/…` on the host, or an absolute URL (an upload session's `Location`).
    pub path: String,
    /// Token scopes (`repository:NAME:ACTIONS`).
    pub scopes: Vec<String>,
    pub headers: HeaderMap,
    pub body: Body,
    /// May be sent again after a transient failure (also needs a replayable body).
    pub idempotent: bool,
    /// Answer 401 challenges with the host's credentials (off for vendor APIs, which
    /// carry their own `Authorization`).
    pub registry_auth: bool,
}

impl Req {
    pub fn new(method: Method, host: &str, path: impl Into<String>) -> Req {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        Req {
            method,
            host: host.to_string(),
            path: path.into(),
            scopes: Vec::new(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            idempotent,
            registry_auth: true,
        }
    }

    /// A vendor API request to an absolute URL: the URL host's TLS settings and the retry
    /// policy apply; registry auth does not (the API's own `Authorization` is set by the
    /// caller).
    pub fn api(method: Method, url: &str) -> Req {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                let h = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
            })
            .unwrap_or_default();
        let mut r = Req::new(method, &host, url);
        r.registry_auth = false;
        r
    }

    pub fn scope(mut self, scope: String) -> Req {
        self.scopes.push(scope);
        self
    }

    pub fn header(mut self, name: HeaderName, value: &str) -> Req {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn body(mut self, body: Body) -> Req {
        self.body = body;
        self
    }

    /// Override whether the request may be repeated (a POST that opens an upload session
    /// may; a write inside a session may not: the session is restarted whole instead).
    pub fn retry(mut self, idempotent: bool) -> Req {
        self.idempotent = idempotent;
        self
    }

    /// Append `k=v` to the path's query.
    pub fn query(mut self, k: &str, v: &str) -> Req {
        let sep = if self.path.contains('?') { '&' } else { '?' };
        let v: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        self.path = format!("{}{sep}{k}={v}", self.path);
        self
    }
}

impl fmt::Debug for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Req")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("scopes", &self.scopes)
            .field("headers", &redacted(&self.headers))
            .field("body", &self.body)
            .finish()
    }
}

/// Headers for logs: credentials replaced by `***`.
fn redacted(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            let secret = matches!(
                k.as_str(),
                "authorization" | "proxy-authorization" | "cookie" | "x-registry-auth"
            );
            let v = if secret {
                "***".to_string()
            } else {
                v.to_str().unwrap_or("<binary>").to_string()
            };
            (k.to_string(), v)
        })
        .collect()
}
