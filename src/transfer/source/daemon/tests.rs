use super::*;

fn files(manifest: &str) -> BTreeMap<String, Vec<u8>> {
    let mut f = BTreeMap::new();
    f.insert("manifest.json".to_string(), manifest.as_bytes().to_vec());
    f.insert("abc.json".to_string(), b"{}".to_vec());
    f
}

#[test]
fn manifest_gives_config_and_layer_order() {
    let (config, layers) = parse_manifest(&files(
        r#"[{"Config":"abc.json","RepoTags":null,"Layers":["b/layer.tar","a/layer.tar"]}]"#,
    ))
    .expect("parse");
    assert_eq!(config, b"{}");
    assert_eq!(layers, ["b/layer.tar", "a/layer.tar"]);
}

#[test]
fn layer_json_files_place_their_layers_from_the_top_down() {
    let mut p = Positions::default();
    // Directories arrive sorted by id: the base (no parent) before the others.
    p.note("a", br#"{"id":"a","created":"x","container_config":{}}"#, 3);
    p.note(
        "b",
        br#"{"id":"b","parent":"c","config":{"Cmd":["sh"]}}"#,
        3,
    );
    p.note("c", br#"{"id":"c","parent":"a","container_config":{}}"#, 3);
    p.note("d", b"not json", 3);
    assert_eq!(p.0.get("a"), Some(&0));
    assert_eq!(p.0.get("b"), Some(&2));
    assert_eq!(p.0.get("c"), Some(&1));
    assert_eq!(p.0.get("d"), None);
    // A null config (a base image) places nothing.
    let mut q = Positions::default();
    q.note("e", br#"{"id":"e","config":null}"#, 1);
    assert!(q.0.is_empty());
}

#[test]
fn odd_exports_fall_back() {
    for bad in [
        r#"[]"#,
        r#"[{"Config":"abc.json","Layers":[]},{"Config":"abc.json","Layers":[]}]"#,
        r#"[{"Config":"missing.json","Layers":[]}]"#,
        "not json",
    ] {
        assert!(
            matches!(parse_manifest(&files(bad)), Err(Failure::Fallback(_))),
            "{bad}"
        );
    }
}

#[test]
fn transient_and_refused_uploads_fall_back_others_do_not() {
    let status = |status| {
        PushError::Registry(RegistryError::Status {
            method: "PATCH".into(),
            url: String::new(),
            status,
            message: String::new(),
        })
    };
    assert!(falls_back(&status(405)));
    assert!(falls_back(&status(503)));
    assert!(!falls_back(&status(403)));
    assert!(!falls_back(&PushError::Compress {
        diff_id: String::new(),
        cause: String::new(),
    }));
}
