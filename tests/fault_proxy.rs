//! The fault-injection proxy of the harness does what tests rely on.

use crate::support;

use support::Registry;
use support::fault_proxy::{Fault, FaultProxy, Rule};

async fn upload(
    client: &reqwest::Client,
    base: &str,
    repo: &str,
    data: &[u8],
) -> reqwest::Result<reqwest::Response> {
    use sha2::Digest;
    let start = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await?;
    assert_eq!(start.status(), 202);
    let loc = start.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains(base.trim_start_matches("http://")) || loc.starts_with('/'),
        "location {loc} points past the proxy"
    );
    let loc = if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        loc
    };
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)));
    let sep = if loc.contains('?') { '&' } else { '?' };
    client
        .put(format!("{loc}{sep}digest={digest}"))
        .body(data.to_vec())
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_fire_as_scripted_and_clear() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    let base = format!("http://{}", proxy.host);
    let client = reqwest::Client::new();

    assert_eq!(
        client
            .get(format!("{base}/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    proxy.add(
        Rule::new(Fault::Status {
            code: 503,
            retry_after: Some(1),
        })
        .path("/v2/")
        .times(1),
    );
    let r = client.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        client
            .get(format!("{base}/v2/"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "fault used up"
    );

    // Upload bytes are counted and reach the real registry.
    let r = upload(&client, &base, "p/blob", b"0123456789")
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(proxy.blob_bytes_uploaded(), 10);
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), 1);

    // A reset in the middle of the body breaks that request only.
    proxy.add(
        Rule::new(Fault::ResetAfterBodyBytes(1))
            .method("PUT")
            .times(1),
    );
    let big = vec![7u8; 1 << 20];
    let err = upload(&client, &base, "p/blob", &big).await;
    assert!(
        err.is_err() || err.as_ref().unwrap().status().is_server_error(),
        "reset must fail the upload: {err:?}"
    );
    let ok = upload(&client, &base, "p/blob", &big).await.unwrap();
    assert_eq!(ok.status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_gate_issues_and_expires_tokens() {
    let reg = Registry::plain();
    let proxy = FaultProxy::start(&reg);
    proxy.require_bearer(Some(("ci", "pw")));
    let base = format!("http://{}", proxy.host);
    let client = reqwest::Client::new();

    let r = client
        .get(format!("{base}/v2/app/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(&format!("realm=\"http://{}/token\"", proxy.host)),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:app:pull,push,delete\""),
        "{challenge}"
    );

    assert_eq!(
        client
            .get(format!("{base}/token"))
            .basic_auth("ci", Some("wrong"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let tok: serde_json::Value = client
        .get(format!("{base}/token"))
        .basic_auth("ci", Some("pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tok = tok["token"].as_str().unwrap().to_string();
    assert_eq!(
        client
            .get(format!("{base}/v2/"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    proxy.expire_tokens();
    assert_eq!(
        client
            .get(format!("{base}/v2/"))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(proxy.tokens_issued(), 1);
}
