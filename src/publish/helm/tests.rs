use super::*;
use crate::publish::report::{BuildOutcome, ImageReport, PushOutcome};

fn img(name: Option<&str>, tags: &[&str]) -> ImageReport {
    let repository = format!("reg.example.com/shop/{}", name.unwrap_or("app"));
    ImageReport {
        name: name.map(String::from),
        references: tags.iter().map(|t| format!("{repository}:{t}")).collect(),
        repository,
        digest: format!("sha256:{}", "a".repeat(64)),
        signature: "f".repeat(64),
        build: BuildOutcome::Built,
        push: PushOutcome::Pushed,
        image_id: Some(format!("sha256:{}", "c".repeat(64))),
        provenance: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        content_reference: None,
    }
}

fn report(options: &[(&str, &str)], images: Vec<ImageReport>) -> Report {
    Report {
        project: "shop".into(),
        images,
        images_repo: Some("reg.example.com/shop".into()),
        tag_options: options
            .iter()
            .map(|(k, v)| TagOption {
                kind: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

#[test]
fn git_branch_values_are_werfs() {
    let r = report(
        &[("git-branch", "main"), ("git-commit", "abc")],
        vec![
            img(Some("backend"), &["main", "abc"]),
            img(Some("web"), &["main", "abc"]),
        ],
    );
    let v = service_values(&r, "shop-production", Some("production")).unwrap();
    let w = &v["global"]["werf"];
    assert_eq!(v["global"]["namespace"], "shop-production");
    assert_eq!(v["global"]["env"], "production");
    assert_eq!(w["name"], "shop");
    assert_eq!(w["repo"], "reg.example.com/shop");
    assert_eq!(w["docker_tag"], "main");
    assert_eq!(w["is_nameless_image"], false);
    assert_eq!(
        w["ci"],
        json!({"is_tag": false, "is_branch": true, "is_custom": false,
               "branch": "main", "tag": "\"-\"", "ref": "main"})
    );
    let b = &w["image"]["backend"];
    assert_eq!(b["docker_image"], "reg.example.com/shop/backend:main");
    assert_eq!(b["docker_tag"], "main");
    assert_eq!(b["docker_image_id"], format!("sha256:{}", "c".repeat(64)));
    assert_eq!(
        b["docker_image_digest"],
        format!("sha256:{}", "a".repeat(64))
    );
}

#[test]
fn each_strategy_sets_werfs_keys() {
    let sig = "f".repeat(64);
    // Content wins over the others (werf's order); no common docker_tag, no image IDs.
    let r = report(
        &[("custom", "v1"), ("content", "")],
        vec![img(Some("backend"), &["v1", &sig])],
    );
    let v = service_values(&r, "ns", None).unwrap();
    let w = &v["global"]["werf"];
    assert!(w.get("docker_tag").is_none() && v["global"].get("env").is_none());
    assert_eq!(w["ci"]["is_tag_by_stages_signatures"], true);
    let b = &w["image"]["backend"];
    assert_eq!(
        b["docker_image"],
        format!("reg.example.com/shop/backend:{sig}")
    );
    assert!(b.get("docker_image_id").is_none());
    // Custom: `is_custom_tag` (werf's key), IDs with "-" for a missing one.
    let mut no_id = img(Some("backend"), &["v1"]);
    no_id.image_id = None;
    let v = service_values(&report(&[("custom", "v1")], vec![no_id]), "ns", None).unwrap();
    let w = &v["global"]["werf"];
    assert_eq!(w["ci"]["is_custom_tag"], true);
    assert_eq!(w["ci"]["is_custom"], false);
    assert_eq!(w["image"]["backend"]["docker_image_id"], "\"-\"");
    // Git tag: tag and ref, no IDs.
    let v = service_values(
        &report(
            &[("git-tag", "v2.0")],
            vec![img(Some("backend"), &["v2.0"])],
        ),
        "ns",
        None,
    )
    .unwrap();
    let ci = &v["global"]["werf"]["ci"];
    assert_eq!(
        (&ci["tag"], &ci["ref"], &ci["is_tag"]),
        (&json!("v2.0"), &json!("v2.0"), &json!(true))
    );
    assert!(
        v["global"]["werf"]["image"]["backend"]
            .get("docker_image_digest")
            .is_none()
    );
}

#[test]
fn the_nameless_image_is_the_image_map() {
    let r = report(&[("git-branch", "main")], vec![img(None, &["main"])]);
    let v = service_values(&r, "ns", None).unwrap();
    let w = &v["global"]["werf"];
    assert_eq!(w["is_nameless_image"], true);
    assert_eq!(w["image"]["docker_image"], "reg.example.com/shop/app:main");
    // A report without tag options (an older Slipway) is refused.
    let old = Report {
        tag_options: Vec::new(),
        ..r
    };
    assert!(matches!(
        service_values(&old, "ns", None),
        Err(HelmValuesError::NoTagOptions)
    ));
}

#[test]
fn namespace_follows_werfs_rule() {
    assert_eq!(
        namespace(None, Some("production"), "shop", None).unwrap(),
        "shop-production"
    );
    let e = namespace(None, None, "shop", None).unwrap_err().to_string();
    assert!(
        e.starts_with("cannot render Kubernetes namespace by template '[[ project ]]-[[ env ]]': --env option or $WERF_ENV variable required"),
        "{e}"
    );
    assert_eq!(namespace(Some("prod"), None, "shop", None).unwrap(), "prod");
    assert!(namespace(Some("Prod_1"), None, "shop", None).is_err());
    let deploy = json!({"namespace": "[[ project ]]-Feature/X"});
    let ns = namespace(None, None, "shop", Some(&deploy)).unwrap();
    assert_eq!(ns, slug::namespace_werf11("shop-Feature/X"));
    assert!(ns.starts_with("shop-feature-x-"), "{ns}");
    // werf 1.1 keeps a namespace with dots (a DNS-1123 subdomain).
    assert_eq!(
        namespace(Some("shop.prod"), None, "shop", None).unwrap(),
        "shop.prod"
    );
    let dotted = json!({"namespace": "[[ project ]].[[ env ]]"});
    assert_eq!(
        namespace(None, Some("prod"), "shop", Some(&dotted)).unwrap(),
        "shop.prod"
    );
    let empty = json!({"namespace": ""});
    let e = namespace(None, None, "shop", Some(&empty))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "Kubernetes namespace rendered by template '' is empty: namespace cannot be empty"
    );
    let unslugged = json!({"namespace": "[[ project ]]-Feature/X", "namespaceSlug": false});
    assert!(namespace(None, None, "shop", Some(&unslugged)).is_err());
    let other = json!({"namespace": "[[ printf \"x\" ]]"});
    assert!(namespace(None, None, "shop", Some(&other)).is_err());
}

#[test]
fn helpers_are_werfs_text() {
    assert!(WERF_HELPERS.starts_with("{{- define \"_image\" -}}\n"));
    assert!(WERF_HELPERS.contains("{{- define \"werf_container_image\" -}}"));
    assert!(WERF_HELPERS.contains("{{- define \"werf_container_env\" -}}"));
    assert!(WERF_HELPERS.ends_with("{{- end -}}\n"));
    assert!(helpers_file().ends_with(WERF_HELPERS));
}
