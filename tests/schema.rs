//! werf-schema/werf.schema.json: generated from the Rust types, never stale, and the
//! examples validate against it.

use std::path::Path;

use slipway::settings::Settings;

fn committed_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("werf-schema/werf.schema.json")
}

#[test]
fn committed_schema_is_current() {
    let generated =
        serde_json::to_string_pretty(&slipway::config::schema::schema()).expect("json") + "\n";
    if std::env::var_os("SLIPWAY_UPDATE_SCHEMA").is_some() {
        std::fs::write(committed_path(), &generated).expect("write schema");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "werf-schema/werf.schema.json is stale: run `SLIPWAY_UPDATE_SCHEMA=1 cargo test --test integration schema::`"
    );
}

#[test]
fn examples_and_bad_documents_against_the_schema() {
    let schema = slipway::config::schema::schema();
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    for project in ["shop", "hello", "stapel"] {
        let settings = Settings {
            dir: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(project),
            ..Settings::default()
        };
        let rendered = slipway::config::render_config(&settings).expect("render");
        let docs: Vec<Option<serde_json::Value>> =
            serde_saphyr::from_multiple(&rendered.text).expect("yaml");
        let docs: Vec<serde_json::Value> = docs.into_iter().flatten().collect();
        assert!(docs.len() >= 2);
        for d in &docs {
            let errors: Vec<String> = validator.iter_errors(d).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{project}: {d}: {errors:?}");
        }
    }
    for bad in [
        serde_json::json!({"image": "a", "dockerfle": "x"}),
        serde_json::json!({"project": "Bad Name", "configVersion": 1}),
        serde_json::json!({"project": "ok", "configVersion": 2}),
        serde_json::json!({"image": "a", "dependencies": [{"image": "b", "imports": [{"type": "Nope"}]}]}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad} should be invalid");
    }
}

/// The schema types are the one list of keys: every key they allow is known to the loader
/// (none is reported unknown), and a key they lack is.
#[test]
fn loader_knows_exactly_the_schema_keys() {
    use slipway::config::schema::{image_keys, meta_keys};
    assert!(image_keys().contains(&"dockerfile") && image_keys().contains(&"cacheVersion"));
    assert!(meta_keys().contains(&"cleanup") && !meta_keys().contains(&"image"));
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    let mut yaml = String::from("project: demo\nconfigVersion: 1\n");
    for k in meta_keys() {
        if !matches!(*k, "project" | "configVersion") {
            yaml.push_str(&format!("{k}: null\n"));
        }
    }
    yaml.push_str("---\nimage: a\n");
    for k in image_keys() {
        if *k != "image" {
            yaml.push_str(&format!("{k}: null\n"));
        }
    }
    yaml.push_str("notAKey: 1\n");
    std::fs::write(dir.path().join("werf.yaml"), &yaml).expect("write");
    let err = slipway::config::load(&Settings {
        dir: dir.path().to_path_buf(),
        ..Settings::default()
    })
    .expect_err("notAKey is unknown")
    .to_string();
    let unknown: Vec<&str> = err.lines().filter(|l| l.contains("unknown key")).collect();
    assert_eq!(unknown.len(), 1, "{err}\n---\n{yaml}");
    assert!(unknown[0].contains("`notAKey`"), "{err}");
}
