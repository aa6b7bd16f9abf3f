//! Tag listing (`GET /v2/NAME/tags/list`) and the `Link: <…>; rel="next"` pagination it
//! shares with the catalog.

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use smol_str::SmolStr;

use super::client::{Client, scope};
use super::reference::Repository;
use super::transport::error::io_err;
use super::transport::{RegistryError, Req};

/// Entries asked for per page.
const PAGE: usize = 1000;

#[derive(serde::Deserialize)]
struct Tags {
    /// Inline (no allocation per tag) up to 23 bytes.
    #[serde(default)]
    tags: Option<Vec<SmolStr>>,
}

/// A repository's tags, a page at a time ([`Client::tag_pages`]).
pub struct TagPages<'a> {
    client: &'a Client,
    repo: &'a Repository,
    next: Option<String>,
}

impl TagPages<'_> {
    /// The next page's tags; `None` after the last (or when the repository does not exist).
    pub async fn next(&mut self) -> Result<Option<Vec<SmolStr>>, RegistryError> {
        let Some(path) = self.next.take() else {
            return Ok(None);
        };
        let scope = Some(scope(&self.repo.path, "pull"));
        let page = self
            .client
            .page::<Tags>(&self.repo.host, &self.repo.path, path, scope, "GET tags")
            .await?;
        Ok(page.map(|(tags, next)| {
            self.next = next;
            tags.tags.unwrap_or_default()
        }))
    }
}

impl Client {
    /// Every tag of a repository, following pagination. Empty when it does not exist.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        let mut pages = self.tag_pages(repo);
        let mut out = Vec::new();
        while let Some(tags) = pages.next().await? {
            out.extend(tags.into_iter().map(String::from));
        }
        Ok(out)
    }

    /// The tags of a repository a page at a time: a caller that keeps something smaller
    /// than each tag's name never holds the whole list (cleanup over many thousand tags).
    pub fn tag_pages<'a>(&'a self, repo: &'a Repository) -> TagPages<'a> {
        TagPages {
            client: self,
            repo,
            next: Some(format!("/v2/{}/tags/list?n={PAGE}", repo.path)),
        }
    }

    /// GET `first` and every `rel="next"` page after it, parsed as `T`. A 404 ends the
    /// listing (a repository that does not exist has no tags).
    pub(crate) async fn pages<T: DeserializeOwned>(
        &self,
        host: &str,
        repo: &str,
        first: String,
        scope: Option<String>,
        what: &str,
    ) -> Result<Vec<T>, RegistryError> {
        let mut next = Some(first);
        let mut out = Vec::new();
        while let Some(path) = next.take() {
            let Some((page, after)) = self.page(host, repo, path, scope.clone(), what).await?
            else {
                break;
            };
            next = after;
            out.push(page);
        }
        Ok(out)
    }

    /// GET one page: it and the `rel="next"` page after it; `None` on a 404.
    async fn page<T: DeserializeOwned>(
        &self,
        host: &str,
        repo: &str,
        path: String,
        scope: Option<String>,
        what: &str,
    ) -> Result<Option<(T, Option<String>)>, RegistryError> {
        let mut req = Req::new(Method::GET, host, path);
        if let Some(s) = scope {
            req = req.scope(s);
        }
        let resp = self.t.execute(req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.t.expect(resp, &[], host, repo, what).await?;
        let next = link_next(resp.headers());
        let page: T = resp
            .json()
            .await
            .map_err(|e| io_err(format!("{what} of {host}/{repo}"), e))?;
        Ok(Some((page, next)))
    }
}

/// `<url>; rel="next"` from a `Link` header.
pub(crate) fn link_next(h: &HeaderMap) -> Option<String> {
    let v = h.get(LINK)?.to_str().ok()?;
    v.split(',').find_map(|part| {
        let (u, rest) = part.trim().split_once(';')?;
        rest.contains("rel=\"next\"").then(|| {
            u.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn links_parse() {
        let mut h = HeaderMap::new();
        assert_eq!(link_next(&h), None);
        h.insert(
            LINK,
            HeaderValue::from_static(r#"</v2/a/tags/list?last=x&n=2>; rel="next""#),
        );
        assert_eq!(link_next(&h).as_deref(), Some("/v2/a/tags/list?last=x&n=2"));
        h.insert(LINK, HeaderValue::from_static(r#"</x>; rel="prev""#));
        assert_eq!(link_next(&h), None);
    }
}
