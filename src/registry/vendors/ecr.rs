//! Amazon ECR: `BatchDeleteImage` by tag (which removes only that tag), an AWS JSON API call
//! signed with Signature Version 4; region and registry id come from the host
//! (`<id>.dkr.ecr[-fips].<region>.amazonaws.com`), keys from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`. SigV4 is written here (on `ring`'s HMAC)
//! because the AWS SDK would add a large dependency tree for one call.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use ring::hmac;
use sha2::{Digest, Sha256};

use futures::future::BoxFuture;

use super::default::Deleted;
use super::{Implementation, Info, Vendor};
use crate::registry::credentials::VendorCredentials;
use crate::registry::reference::Repository;
use crate::registry::transport::{Body, Req};
use crate::registry::{Client, RegistryError};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderName};

/// `<12-digit account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
static ECR_HOST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
});

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

/// A request to sign: `headers` are the signed headers (lowercase names, including `host`
/// and `x-amz-date`).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub payload: &'a [u8],
}

/// Who signs, where, when.
pub struct Signer<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The `Authorization` header of a SigV4-signed request.
pub fn sigv4_authorization(req: &Request<'_>, signer: &Signer<'_>) -> String {
    let Request {
        method,
        path,
        query,
        headers,
        payload,
    } = *req;
    let Signer {
        region,
        service,
        access_key_id,
        secret,
        amz_date,
    } = *signer;
    let date = &amz_date[..8];
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(payload))
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    let k_signing = hmac(&k_service, "aws4_request");
    let signature = hex::encode(hmac(&k_signing, &string_to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

pub const INFO: Info = Info {
    kind: Implementation::Ecr,
    name: "ecr",
    aliases: &[],
    detect: |host| ECR_HOST.is_match(host),
    make: |creds| Box::new(Ecr(creds)),
};

pub struct Ecr<'a>(pub &'a VendorCredentials);

/// `(registry id, region)` from an ECR host.
fn host_parts(host: &str) -> Option<(String, String)> {
    let name = host.split(':').next()?;
    let mut parts = name.split('.');
    let id = parts.next()?.to_string();
    let _dkr = parts.next()?;
    let _ecr = parts.next()?;
    let region = parts.next()?.to_string();
    Some((id, region))
}

/// The refusal of a delete of `repo:tag`, saying why.
fn unauthorized(repo: &Repository, tag: &str, why: &str) -> RegistryError {
    RegistryError::Unauthorized {
        host: repo.host.clone(),
        what: format!("deleting {repo}:{tag}"),
        source_desc: why.into(),
    }
}

/// A signed API call and the endpoint it goes to (for messages).
struct SignedCall {
    req: Req,
    endpoint: String,
}

impl Ecr<'_> {
    /// `BatchDeleteImage` of `repo:tag`, signed with the AWS keys (SigV4).
    fn batch_delete(&self, repo: &Repository, tag: &str) -> Result<SignedCall, RegistryError> {
        let keys = self.0.aws.as_ref().ok_or_else(|| unauthorized(repo, tag, "ECR deletes through its API, signed with AWS keys: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)"))?;
        let (registry_id, region) = host_parts(&repo.host)
            .ok_or_else(|| unauthorized(repo, tag, "the host is not an ECR registry address"))?;
        let endpoint = self
            .0
            .ecr_endpoint
            .clone()
            .unwrap_or_else(|| format!("https://api.ecr.{region}.amazonaws.com"));
        let url = url::Url::parse(&endpoint).map_err(|e| RegistryError::Io {
            what: "ECR endpoint".into(),
            cause: e.to_string(),
        })?;
        let api_host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "registryId": registry_id,
            "repositoryName": repo.path,
            "imageIds": [{"imageTag": tag}],
        }))
        .unwrap_or_default();
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut headers = BTreeMap::new();
        headers.insert(
            "content-type".to_string(),
            "application/x-amz-json-1.1".to_string(),
        );
        headers.insert("host".to_string(), api_host);
        headers.insert("x-amz-date".to_string(), amz_date.clone());
        headers.insert(
            "x-amz-target".to_string(),
            "AmazonEC2ContainerRegistry_V20150921.BatchDeleteImage".to_string(),
        );
        if let Some(t) = &keys.session_token {
            headers.insert("x-amz-security-token".to_string(), t.expose().to_string());
        }
        let auth = sigv4_authorization(
            &Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                payload: &body,
            },
            &Signer {
                region: &region,
                service: "ecr",
                access_key_id: &keys.access_key_id,
                secret: keys.secret_access_key.expose(),
                amz_date: &amz_date,
            },
        );
        // Signed over these exact bytes and headers; reqwest sets `host` from the URL.
        let mut req = Req::api(Method::POST, url.as_str())
            .header(AUTHORIZATION, &auth)
            .body(Body::Bytes(body.into()));
        for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
            if let Ok(name) = HeaderName::from_bytes(k.as_bytes()) {
                req = req.header(name, v);
            }
        }
        Ok(SignedCall { req, endpoint })
    }
}

/// What ECR's answer (`status`, JSON `answer`) to a delete of `repo:tag` means.
fn outcome(
    repo: &Repository,
    tag: &str,
    endpoint: String,
    status: u16,
    answer: &serde_json::Value,
) -> Result<Deleted, RegistryError> {
    match status {
        200 => match answer["failures"].as_array().and_then(|f| f.first()) {
            None => Ok(Deleted::Tag),
            Some(f) if f["failureCode"] == "ImageNotFound" => Ok(Deleted::Tag),
            Some(f) => Err(RegistryError::Status {
                method: "BatchDeleteImage".into(),
                url: endpoint,
                status,
                message: format!("{} {}", f["failureCode"], f["failureReason"]),
            }),
        },
        400 | 403
            if answer["__type"].as_str().is_some_and(|t| {
                t.contains("AccessDenied")
                    || t.contains("UnrecognizedClient")
                    || t.contains("SignatureDoesNotMatch")
            }) =>
        {
            Err(unauthorized(
                repo,
                tag,
                &format!(
                    "AWS refused the keys ({}): they need ecr:BatchDeleteImage",
                    answer["__type"]
                ),
            ))
        }
        _ => Err(RegistryError::Status {
            method: "BatchDeleteImage".into(),
            url: endpoint,
            status,
            message: answer.to_string(),
        }),
    }
}

impl Vendor for Ecr<'_> {
    fn not_found_hint(&self, repo: &str) -> Option<String> {
        Some(format!(
            ": this registry does not create repositories on push (ECR, for one); create it first, e.g. `aws ecr create-repository --repository-name {repo}`"
        ))
    }
    fn deletes_single_tags(&self) -> bool {
        true
    }
    fn delete<'a>(
        &'a self,
        client: &'a Client,
        repo: &'a Repository,
        tag: &'a str,
        _digest: &'a str,
    ) -> BoxFuture<'a, Result<Deleted, RegistryError>> {
        Box::pin(async move {
            let SignedCall { req, endpoint } = self.batch_delete(repo, tag)?;
            let resp = client.t.execute(req).await?;
            let status = resp.status().as_u16();
            let answer: serde_json::Value = resp.json().await.unwrap_or_default();
            outcome(repo, tag, endpoint, status, &answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_aws_documented_example() {
        // AWS General Reference, "Signature Version 4 signing process" example:
        // GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08
        let mut headers = BTreeMap::new();
        headers.insert(
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        );
        headers.insert("host".to_string(), "iam.amazonaws.com".to_string());
        headers.insert("x-amz-date".to_string(), "20150830T123600Z".to_string());
        let auth = sigv4_authorization(
            &Request {
                method: "GET",
                path: "/",
                query: "Action=ListUsers&Version=2010-05-08",
                headers: &headers,
                payload: b"",
            },
            &Signer {
                region: "us-east-1",
                service: "iam",
                access_key_id: "AKIDEXAMPLE",
                secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                amz_date: "20150830T123600Z",
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn region_and_registry_id_come_from_the_host() {
        assert_eq!(
            host_parts("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            host_parts("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
            Some(("123456789012".into(), "us-east-1".into()))
        );
    }
}
