//! The stages storage's daemon paths against the fake daemon (`daemon::fake`, which moves
//! real docker-save bytes) and a real registry: a stage stored from one daemon comes back
//! whole into another, one the daemon holds under another name is tagged instead of pulled,
//! and the layers a nearby image already brought are neither downloaded nor sent again.

use std::collections::HashMap;

use super::*;
use crate::daemon::fake::{FakeDaemon, Recorded};
use crate::registry::test_registry::TestRegistry;
use crate::settings::HostEnv;

fn storage(reg: &TestRegistry) -> StagesStorage {
    let client = Client::new(Default::default());
    let repo = format!("{}/demo/stages", reg.host);
    StagesStorage::from_setting(&client, Some(&repo), &HostEnv::empty())
        .expect("valid")
        .expect("a storage")
}

fn sig(c: char) -> String {
    c.to_string().repeat(64)
}

/// 64 KiB that gzip cannot shrink much: the base layer's file.
fn base_content() -> String {
    use sha2::{Digest, Sha256};
    (0..1024u32)
        .map(|i| hex::encode(Sha256::digest(i.to_le_bytes())))
        .collect()
}

/// A stage image: the shared base layer and one small file of its own.
fn stage(daemon: &FakeDaemon, signature: &str, own: &str) -> String {
    let labels: HashMap<String, String> =
        [(crate::labels::SIGNATURE.to_string(), signature.to_string())].into();
    daemon.add_saved_image(labels, &[("base.txt", &base_content()), (own, own)])
}

fn loads(daemon: &FakeDaemon) -> Vec<usize> {
    daemon
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Recorded::Load(n) => Some(n),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stage_stored_from_one_daemon_comes_back_whole_into_another() {
    let reg = TestRegistry::start();
    let st = storage(&reg);
    let builder = FakeDaemon::new("1.44");
    let id = stage(&builder, &sig('a'), "a.txt");
    let work = tempfile::tempdir().expect("tempdir");
    let tag = st
        .store(builder.as_ref(), &id, &sig('a'), work.path())
        .await
        .expect("stored");
    assert_eq!(parse_tag(&tag).map(|t| t.signature), Some(sig('a')));
    let listed = st.stages().await.expect("listing");
    assert_eq!(listed[&sig('a')][0].tag, tag);
    // The registry holds the very image: skopeo copies it whole, its config is the
    // daemon's (the image ID is the config's digest).
    let (_, config) = reg.judge(&format!("demo/stages:{tag}"));
    let layers = builder.image(&id).and_then(|i| i.layers).expect("layers");
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(layers));
    assert_eq!(
        config["config"]["Labels"][crate::labels::SIGNATURE],
        sig('a')
    );

    let runner = FakeDaemon::new("1.44");
    let (reference, pulled) = st.fetch(runner.as_ref(), &tag, &[]).await.expect("fetched");
    assert_eq!(reference, st.reference(&tag));
    assert!(pulled.is_some_and(|n| n > 0), "{pulled:?}");
    let got = runner.image(&reference).expect("loaded and tagged");
    assert_eq!(got.id, id, "the same image");
    assert_eq!(got.layers.as_ref(), Some(&layers));
    assert_eq!(loads(&runner).len(), 1);

    // Present now: nothing pulled, nothing loaded.
    let again = st.fetch(runner.as_ref(), &tag, &[]).await.expect("fetched");
    assert_eq!(again, (reference, None));
    assert_eq!(loads(&runner).len(), 1);
}

#[tokio::test]
async fn a_stage_the_daemon_holds_under_another_name_is_tagged_not_pulled() {
    let reg = TestRegistry::start();
    let st = storage(&reg);
    let daemon = FakeDaemon::new("1.44");
    let id = stage(&daemon, &sig('b'), "b.txt");
    let work = tempfile::tempdir().expect("tempdir");
    let tag = st
        .store(daemon.as_ref(), &id, &sig('b'), work.path())
        .await
        .expect("stored");
    let blobs_before = reg.count_requests("GET", "/blobs/sha256:");
    let (reference, pulled) = st.fetch(daemon.as_ref(), &tag, &[]).await.expect("fetched");
    assert_eq!(pulled, None);
    assert_eq!(daemon.tagged(&reference), Some(id.clone()));
    assert!(daemon.calls().contains(&Recorded::Tag {
        id,
        reference: reference.clone()
    }));
    assert!(loads(&daemon).is_empty(), "no load");
    // Only the config was read (to learn the image ID), no layer.
    assert_eq!(
        reg.count_requests("GET", "/blobs/sha256:") - blobs_before,
        1
    );

    // A tag the daemon refuses is the storage's error, naming both.
    let other = FakeDaemon::new("1.44");
    let same = stage(&other, &sig('b'), "b.txt");
    other.fail_tag(&reference);
    let err = st
        .fetch(other.as_ref(), &tag, &[])
        .await
        .expect_err("the tag fails");
    assert_eq!(
        err.to_string(),
        format!(
            "stages storage {}: storing {tag}: tagging {same} as {reference}: cannot tag {reference}",
            st.repository()
        )
    );
}

#[tokio::test]
async fn layers_a_near_image_brought_are_not_pulled_or_sent_again() {
    let reg = TestRegistry::start();
    let builder = FakeDaemon::new("1.44");
    let one = stage(&builder, &sig('c'), "one.txt");
    let two = stage(&builder, &sig('d'), "two.txt");
    let work = tempfile::tempdir().expect("tempdir");
    let st = storage(&reg);
    let tag_one = st
        .store(builder.as_ref(), &one, &sig('c'), work.path())
        .await
        .expect("stored");
    let tag_two = st
        .store(builder.as_ref(), &two, &sig('d'), work.path())
        .await
        .expect("stored");
    let layers_two = builder.image(&two).and_then(|i| i.layers);

    // A daemon with nothing: the second stage in full. (A storage value per daemon: what
    // it learns of the daemon's layers holds for one daemon, as in a run.)
    let empty = FakeDaemon::new("1.44");
    let (_, full) = storage(&reg)
        .fetch(empty.as_ref(), &tag_two, &[])
        .await
        .expect("fetched");
    let full = full.expect("pulled");

    // A daemon with the first stage: the shared base layer stays home (the fake takes an
    // empty layer file only for a layer chain it holds).
    let runner = FakeDaemon::new("1.44");
    let st_run = storage(&reg);
    let (near, _) = st_run
        .fetch(runner.as_ref(), &tag_one, &[])
        .await
        .expect("fetched");
    let (reference, pulled) = st_run
        .fetch(runner.as_ref(), &tag_two, &[near])
        .await
        .expect("fetched");
    let pulled = pulled.expect("pulled");
    assert!(pulled < full / 10, "{pulled} of {full} bytes pulled");
    let got = runner.image(&reference).expect("loaded");
    assert_eq!(got.id, two);
    assert_eq!(got.layers, layers_two);
    let sent = loads(&runner);
    assert_eq!(sent.len(), 2, "one load each");
    assert!(sent[1] < loads(&empty)[0], "{sent:?}");

    // A daemon that lacks a layer believed present refuses the load: it is made again in
    // full.
    let other = FakeDaemon::new("1.44");
    let (reference, pulled) = st_run
        .fetch(other.as_ref(), &tag_two, &[])
        .await
        .expect("fetched");
    assert_eq!(pulled, Some(full));
    assert_eq!(other.image(&reference).map(|i| i.id), Some(two));
    assert_eq!(loads(&other).len(), 2, "refused, then whole");
}
