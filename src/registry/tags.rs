//! Tag listing (`GET /v2/NAME/tags/list`) and the `Link: <…>; rel="next"` pagination it
//! shares with the catalog.

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::client::{Client, scope};
use super::reference::Repository;
use super::transport::error::io_err;
use super::transport::{RegistryError, Req};

/// Entries asked for per page.
const PAGE: usize = 1000;

impl Client {
    /// Every tag of a repository, following pagination. Empty when it does not exist.
    pub async fn list_tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let first = format!("/v2/{}/tags/list?n={PAGE}", repo.path);
        let pages: Vec<Tags> = self
            .pages(
                &repo.host,
                &repo.path,
                first,
                Some(scope(&repo.path, "pull")),
                "GET tags",
            )
            .await?;
        Ok(pages
            .into_iter()
            .flat_map(|p| p.tags.unwrap_or_default())
            .collect())
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
            let mut req = Req::new(Method::GET, host, path);
            if let Some(s) = &scope {
                req = req.scope(s.clone());
            }
            let resp = self.t.execute(req).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                break;
            }
            let resp = self.t.expect(resp, &[], host, repo, what).await?;
            next = link_next(resp.headers());
            let page: T = resp
                .json()
                .await
                .map_err(|e| io_err(format!("{what} of {host}/{repo}"), e))?;
            out.push(page);
        }
        Ok(out)
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
