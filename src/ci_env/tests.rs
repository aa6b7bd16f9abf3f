use base64::Engine;

use super::gitlab::gitlab_color_mode;
use super::*;

fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value(env: &CiEnv, key: &str) -> Option<String> {
    env.lines.iter().find_map(|l| match l {
        Line::Set { key: k, value, .. } if k == key => Some(value.clone()),
        _ => None,
    })
}

#[test]
fn gitlab_login_prefers_the_registry_pair_then_the_job_token_then_a_deploy_token() {
    let base = [
        ("CI_REGISTRY", "registry.gitlab.example"),
        ("CI_REGISTRY_IMAGE", "registry.gitlab.example/g/p"),
    ];
    let login = |extra: &[(&str, &str)]| {
        let mut kv = base.to_vec();
        kv.extend_from_slice(extra);
        compute(Ci::GitLab, Tagging::Content, &vars(&kv))
            .expect("env")
            .login
            .map(|l| (l.registry, l.username, l.password))
    };
    let on = |u: &str, p: &str| {
        Some((
            "registry.gitlab.example".to_string(),
            u.to_string(),
            p.to_string(),
        ))
    };
    let all = [
        ("CI_REGISTRY_USER", "deployer"),
        ("CI_REGISTRY_PASSWORD", "pw"),
        ("CI_JOB_TOKEN", "tok"),
        ("CI_DEPLOY_USER", "gitlab+deploy-token-1"),
        ("CI_DEPLOY_PASSWORD", "dpw"),
    ];
    assert_eq!(login(&all), on("deployer", "pw"));
    assert_eq!(login(&all[1..]), on("gitlab-ci-token", "tok"));
    assert_eq!(login(&all[3..]), on("gitlab+deploy-token-1", "dpw"));
    assert_eq!(login(&[]), None);
}

#[test]
fn gitlab_color_mode_as_werf() {
    assert_eq!(gitlab_color_mode(Some("12.1.4")), "off");
    assert_eq!(gitlab_color_mode(Some("12.1.3")), "on");
    assert_eq!(gitlab_color_mode(Some("12.2.0")), "on");
    assert_eq!(gitlab_color_mode(Some("16.5.1-ee")), "on");
    assert_eq!(gitlab_color_mode(None), "on");
}

#[test]
fn user_set_slipway_twin_skips_the_werf_variable() {
    let v = vars(&[
        ("CI_REGISTRY", "registry.example.com"),
        ("CI_REGISTRY_IMAGE", "registry.example.com/g/app"),
        ("SLIPWAY_IMAGES_REPO", "other.example.com/mine"),
    ]);
    let env = compute(Ci::GitLab, Tagging::Content, &v).expect("env");
    assert_eq!(value(&env, "WERF_IMAGES_REPO"), None);
    // werf's condition: the user's repository is not on GitLab's registry.
    assert_eq!(value(&env, "WERF_IMAGES_REPO_IMPLEMENTATION"), None);
    assert_eq!(
        value(&env, "WERF_STAGES_STORAGE_REPO_IMPLEMENTATION").as_deref(),
        Some("gitlab")
    );
}

#[test]
fn verbose_echoes_are_quoted_and_mask_secrets() {
    let lines = vec![
        Line::Header("H".into()),
        Line::Set {
            key: "K".into(),
            value: "it's".into(),
            secret: false,
        },
        Line::Set {
            key: "T".into(),
            value: "tok".into(),
            secret: true,
        },
    ];
    let r = Render {
        shell: Shell::Posix,
        verbose: true,
    };
    let text = r.lines(&lines);
    assert_eq!(
        text,
        "# H\necho '# H'\nexport K=\"it's\"\necho 'export K=\"it'\\''s\"'\nexport T=\"tok\"\necho 'export T=\"***\"'\n"
    );
    assert_eq!(r.fatal("boom"), "echo ''\necho 'Error: boom'\nexit 1\n");
}

#[test]
fn powershell_and_quoting() {
    let lines = vec![Line::Set {
        key: "K".into(),
        value: "a\"b$c`d\ne".into(),
        secret: false,
    }];
    assert_eq!(
        render(&lines, Shell::PowerShell),
        "$Env:K = \"a`\"b`$c``d`ne\"\n"
    );
    assert_eq!(
        render(&lines, Shell::Posix),
        "export K=\"a\\\"b\\$c\\`d\ne\"\n"
    );
}

#[test]
fn docker_config_copies_and_adds_the_login() {
    let user = tempfile::tempdir().expect("tmp");
    std::fs::write(
        user.path().join("config.json"),
        r#"{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"registry.example.com":"x"}}"#,
    )
    .expect("w");
    let base = tempfile::tempdir().expect("tmp");
    let login = Login {
        registry: "registry.example.com".into(),
        username: "gitlab-ci-token".into(),
        password: "tok".into(),
    };
    let dir = write_docker_config(base.path(), Some(user.path()), Some(&login)).expect("write");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
    assert_eq!(
        cfg["auths"]["registry.example.com"]["auth"],
        base64::engine::general_purpose::STANDARD.encode("gitlab-ci-token:tok")
    );
    assert!(cfg["credHelpers"].get("registry.example.com").is_none());
}

#[test]
fn job_files_older_than_a_day_are_swept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = job_files_dir(tmp.path());
    let old = write_docker_config(&dir, None, None).expect("old");
    let new = write_docker_config(&dir, None, None).expect("new");
    let stranger = dir.join("not-ours");
    std::fs::create_dir_all(&stranger).expect("mkdir");
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    for p in [&old, &stranger] {
        std::fs::File::open(p)
            .and_then(|f| f.set_modified(two_days_ago))
            .expect("age");
    }
    assert_eq!(sweep_job_files(&dir, JOB_FILES_MAX_AGE), 1);
    assert!(!old.exists());
    assert!(new.join("config.json").exists());
    assert!(stranger.exists(), "only Slipway's own files are swept");
    assert_eq!(
        sweep_job_files(&tmp.path().join("absent"), JOB_FILES_MAX_AGE),
        0
    );
}
