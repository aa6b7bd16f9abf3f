use super::*;

#[tokio::test]
async fn builds_on_an_older_daemon_wait_for_each_other() {
    let bk = |one_at_a_time| BuildKit {
        endpoint: Endpoint::Unix(std::path::PathBuf::from(format!(
            "/nonexistent/slipway-test-{}.sock",
            new_id()
        ))),
        one_at_a_time,
    };
    let old = bk(true);
    let first = SolveLock::take(&old).await;
    assert!(first._held.is_some());
    let waiting = tokio::spawn({
        let old = old.clone();
        async move { SolveLock::take(&old).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second build did not wait");
    drop(first);
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the second build went on once the first was done")
        .expect("task");
    assert!(second._held.is_some());

    // A newer daemon: no queue at all.
    let new = bk(false);
    let a = SolveLock::take(&new).await;
    let b = SolveLock::take(&new).await;
    assert!(a._held.is_none() && b._held.is_none());
}
use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

fn ts(s: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: s,
        nanos: 0,
    })
}

#[test]
fn trace_becomes_plain_lines() {
    let mut t = Trace::default();
    let v = |d: &str, name: &str, started, completed, cached, error: &str| Vertex {
        digest: d.into(),
        name: name.into(),
        started,
        completed,
        cached,
        error: error.into(),
        ..Default::default()
    };
    let out = t.feed(StatusResponse {
        vertexes: vec![
            v("a", "[internal] load metadata", ts(1), ts(2), false, ""),
            v("b", "[app 2/3] RUN make", ts(2), None, false, ""),
        ],
        logs: vec![VertexLog {
            vertex: "b".into(),
            msg: b"compiling\npart".to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(
        out,
        vec![
            Progress::Line("#1 [internal] load metadata".into()),
            Progress::Line("#1 DONE 1.0s".into()),
            Progress::Line("#2 [app 2/3] RUN make".into()),
            Progress::Line("#2 compiling".into()),
        ]
    );
    // The rest of the split line, then the failure; the same vertex is not restarted.
    let out = t.feed(StatusResponse {
        vertexes: vec![v(
            "b",
            "[app 2/3] RUN make",
            ts(2),
            ts(3),
            false,
            "exit code: 2",
        )],
        logs: vec![VertexLog {
            vertex: "b".into(),
            msg: b"ial line\n".to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(
        out,
        vec![
            Progress::Line("#2 partial line".into()),
            Progress::Line("#2 ERROR: exit code: 2".into()),
        ]
    );
    let fail = t.message(Message {
        error_detail: Some(ErrorDetail {
            message: Some("executor failed".into()),
        }),
        ..Default::default()
    });
    assert_eq!(
        fail,
        vec![Progress::Failed {
            message: "executor failed".into(),
            vertex: Some("[app 2/3] RUN make".into()),
        }]
    );
}

/// A `--cache-from` tag not pushed yet (a branch's first pipeline): one note, no `ERROR`
/// line, and the build's failure (if any) is not pinned on the cache import.
#[test]
fn a_cache_import_of_a_missing_tag_is_one_note() {
    let mut t = Trace::default();
    let name = "importing cache manifest from reg.example.com:5000/shop/app:feature-x-1234abcd";
    let import = |completed, error: &str| Vertex {
        digest: "m".into(),
        name: name.into(),
        started: ts(1),
        completed,
        error: error.into(),
        ..Default::default()
    };
    assert!(
        t.feed(StatusResponse {
            vertexes: vec![import(None, "")],
            ..Default::default()
        })
        .is_empty()
    );
    let out = t.feed(StatusResponse {
        vertexes: vec![import(
            ts(2),
            "reg.example.com:5000/shop/app:feature-x-1234abcd: not found",
        )],
        ..Default::default()
    });
    assert_eq!(
        out,
        vec![Progress::Line(
            "#1 note: no cache at reg.example.com:5000/shop/app:feature-x-1234abcd yet \
             (not pushed): building without it"
                .into()
        )]
    );
    assert_eq!(t.failed_vertex, None);
    // A cache found: its name and DONE, as any step.
    let mut t = Trace::default();
    let out = t.feed(StatusResponse {
        vertexes: vec![Vertex {
            digest: "m".into(),
            name: name.into(),
            started: ts(1),
            completed: ts(2),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(
        out,
        vec![
            Progress::Line(format!("#1 {name}")),
            Progress::Line("#1 DONE 1.0s".into()),
        ]
    );
}

#[test]
fn output_without_a_final_newline_is_shown_before_done() {
    let mut t = Trace::default();
    let vertex = |completed| Vertex {
        digest: "c".into(),
        name: "[1/1] RUN printf done".into(),
        started: ts(1),
        completed,
        ..Default::default()
    };
    let out = t.feed(StatusResponse {
        vertexes: vec![vertex(None)],
        logs: vec![VertexLog {
            vertex: "c".into(),
            msg: b"done".to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(out, vec![Progress::Line("#1 [1/1] RUN printf done".into())]);
    let out = t.feed(StatusResponse {
        vertexes: vec![vertex(ts(2))],
        ..Default::default()
    });
    assert_eq!(
        out,
        vec![
            Progress::Line("#1 done".into()),
            Progress::Line("#1 DONE 1.0s".into()),
        ]
    );
}

#[test]
fn image_id_and_encoded_trace_messages() {
    let mut t = Trace::default();
    let id: Message =
        serde_json::from_str(r#"{"id":"moby.image.id","aux":{"ID":"sha256:abc"}}"#).expect("json");
    assert_eq!(t.message(id), vec![Progress::ImageId("sha256:abc".into())]);
    let st = StatusResponse {
        vertexes: vec![Vertex {
            digest: "d".into(),
            name: "[1/1] FROM x".into(),
            started: ts(1),
            completed: ts(1),
            cached: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(<StatusResponse as prost::Message>::encode_to_vec(&st));
    let m: Message =
        serde_json::from_value(serde_json::json!({"id": "moby.buildkit.trace", "aux": b64}))
            .expect("json");
    assert_eq!(
        t.message(m),
        vec![
            Progress::Line("#1 [1/1] FROM x".into()),
            Progress::Line("#1 CACHED".into()),
        ]
    );
}
