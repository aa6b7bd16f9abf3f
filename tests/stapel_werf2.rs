//! Stapel images as werf 2 builds them (issue #42): ansible `block`/`rescue`/`always`,
//! `secrets` and `dependencies`, built through the real daemon on the busybox test base with
//! the local toolbox, checked by looking into the images.

use crate::support;

use std::path::Path;

use support::based_project as project;

fn rmi(image: &str) {
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "-f", image])
        .output();
}

/// `slipway build --force`; stdout and stderr of a run expected to `succeed` or not.
fn build(dir: &Path, succeed: bool, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = support::slipway();
    cmd.project(dir).stapel();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["build", "--force"]);
    let a = cmd.assert();
    let a = if succeed { a.success() } else { a.failure() };
    let o = a.get_output();
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// A failing task in a block is rescued: block, rescue and always run in that order, the
/// stage goes on and the build succeeds; keywords of outer blocks reach nested tasks.
#[test]
fn ansible_block_rescue_always_run_in_order_and_rescue_clears_the_failure() {
    let d = project(
        &[],
        r#"project: stapel-blocks
configVersion: 1
---
image: app
from: BASE
ansible:
  install:
  - name: outer
    block:
    - shell: echo block >> /order
    - shell: "false"
    - shell: echo never >> /order
    rescue:
    - shell: echo rescue >> /order
    always:
    - shell: echo always >> /order
  - shell: echo after >> /order
  - environment: {A: outer, C: outer-c}
    block:
    - environment: {A: inner}
      block:
      - shell: echo "$A $C $D" > /env
        environment: {D: task}
  - block:
    - shell: echo x > /skipped
    when: false
  - ignore_errors: true
    block:
    - shell: exit 3
    - shell: echo y > /ignored
"#,
    );
    let img = "stapel-blocks/app:latest";
    rmi(img);
    build(d.path(), true, &[]);
    assert_eq!(
        support::sh(img, "cat /order"),
        "block\nrescue\nalways\nafter"
    );
    assert_eq!(support::sh(img, "cat /env"), "inner outer-c task");
    assert_eq!(
        support::sh(img, "ls /skipped 2>/dev/null || echo none"),
        "none"
    );
    assert_eq!(support::sh(img, "cat /ignored"), "y");
    rmi(img);
}

/// Without rescue, always runs and the failure then fails the build at the failing task's
/// werf.yaml line; a failing rescue fails it at the rescue task after always ran.
#[test]
fn ansible_block_without_rescue_runs_always_then_fails_at_the_task() {
    for (tasks, at, marker) in [
        (
            "  - block:\n    - shell: echo b\n    - name: fails\n      shell: exit 4\n    always:\n    - shell: echo ALWAYS-RAN-1\n",
            "werf.yaml:10:7: ansible.install[0].block[1]",
            "ALWAYS-RAN-1",
        ),
        (
            "  - block:\n    - shell: exit 1\n    rescue:\n    - shell: exit 5\n    always:\n    - shell: echo ALWAYS-RAN-2\n",
            "werf.yaml:11:7: ansible.install[0].rescue[0]",
            "ALWAYS-RAN-2",
        ),
    ] {
        let d = project(
            &[],
            &format!(
                "project: stapel-blockfail\nconfigVersion: 1\n---\nimage: app\nfrom: BASE\nansible:\n  install:\n{tasks}"
            ),
        );
        rmi("stapel-blockfail/app:latest");
        let (out, err) = build(d.path(), false, &[]);
        assert!(err.contains(at), "{at}: {err}");
        assert!(
            out.contains(marker) || err.contains(marker),
            "always ran: {out}{err}"
        );
        let inspect = std::process::Command::new("/usr/bin/docker")
            .args(["image", "inspect", "stapel-blockfail/app:latest"])
            .output()
            .expect("docker");
        assert!(!inspect.status.success(), "nothing is tagged");
    }
}

/// Text unique to this run (a fresh signature, and a secret nobody knows).
fn nonce() -> String {
    use sha2::Digest;
    let seed = format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
    );
    hex::encode(sha2::Sha256::digest(seed.as_bytes()))
}

/// `slipway` with `args` in `dir` (toolbox given), its output.
fn slipway(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = support::slipway();
    cmd.project(dir).stapel();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    cmd.assert().get_output().clone()
}

/// A 40-character random secret reaches every user step (shell and ansible) at
/// `/run/secrets/ID` and nothing else: not the layers (`docker save`), the history, the
/// config, the log, the `--json` events or `config render --dockerfile`. An unset variable
/// fails before anything is built, naming it.
#[test]
fn stapel_secrets_are_mounted_in_every_step_and_stored_nowhere() {
    let secret: String = nonce()[..40].to_string();
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    };
    let host = tempfile::tempdir().expect("tmp");
    let token = host.path().join("token.txt");
    std::fs::write(&token, &secret).expect("token");
    let d = project(
        &[],
        &r#"project: stapel-secrets
configVersion: 1
---
image: app
from: BASE
secrets:
- env: SLIPWAY_T_SECRET
shell:
  beforeInstall:
  - test "$(sha256sum < /run/secrets/SLIPWAY_T_SECRET | cut -d' ' -f1)" = SUM
  install:
  - test "$(sha256sum < /run/secrets/SLIPWAY_T_SECRET | cut -d' ' -f1)" = SUM && wc -c < /run/secrets/SLIPWAY_T_SECRET > /size
---
image: app2
from: BASE
secrets:
- src: TOKEN
ansible:
  install:
  - shell: test "$(sha256sum < /run/secrets/token.txt | cut -d' ' -f1)" = SUM && echo ok > /ok
"#
        .replace("SUM", &sum)
        .replace("TOKEN", &token.to_string_lossy()),
    );
    for i in ["stapel-secrets/app:latest", "stapel-secrets/app2:latest"] {
        rmi(i);
    }
    // Unset: fails naming it, nothing built.
    let out = slipway(d.path(), &["build", "--force"], &[]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(
        err.contains("SLIPWAY_T_SECRET") && err.contains("is not set"),
        "{err}"
    );
    assert!(!err.contains("building"), "nothing is built: {err}");
    // Set: the steps see exactly it.
    let env = [("SLIPWAY_T_SECRET", secret.as_str())];
    let out = slipway(d.path(), &["--json", "build", "--force"], &env);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(&secret), "the log holds the secret");
    assert_eq!(
        support::sh("stapel-secrets/app:latest", "cat /size").trim(),
        "40"
    );
    assert_eq!(support::sh("stapel-secrets/app2:latest", "cat /ok"), "ok");
    for img in ["stapel-secrets/app:latest", "stapel-secrets/app2:latest"] {
        for args in [
            vec!["save", img],
            vec!["history", "--no-trunc", img],
            vec!["inspect", img],
        ] {
            let o = std::process::Command::new("/usr/bin/docker")
                .args(&args)
                .output()
                .expect("docker");
            assert!(o.status.success(), "{args:?}");
            let hay = String::from_utf8_lossy(&o.stdout);
            assert!(!hay.contains(&secret), "docker {args:?} holds the secret");
        }
    }
    let out = slipway(d.path(), &["config", "render", "--dockerfile", "app"], &env);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("--mount=type=secret,id=SLIPWAY_T_SECRET,target=/run/secrets/SLIPWAY_T_SECRET,required=true"),
        "{text}"
    );
    assert!(!text.contains(&secret));
    for i in ["stapel-secrets/app:latest", "stapel-secrets/app2:latest"] {
        rmi(i);
    }
}

/// A `src:` secret of a stapel image: `~` is HOME, the id is the file's base name (werf's
/// default); a missing file fails before anything is built, naming it.
#[test]
fn a_stapel_src_secret_expands_home_and_a_missing_file_fails_naming_it() {
    let secret: String = nonce()[..40].to_string();
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("tok.txt"), &secret).expect("token");
    let yaml = |src: &str| {
        format!(
            "project: stapel-srcsecret\nconfigVersion: 1\n---\nimage: app\nfrom: BASE\nsecrets:\n- src: {src}\nshell:\n  install: test \"$(cat /run/secrets/tok.txt)\" = {secret} && echo ok > /ok\n"
        )
    };
    let img = "stapel-srcsecret/app:latest";
    rmi(img);
    let home_env = [("HOME", home.path().to_str().expect("utf-8"))];
    let d = project(&[], &yaml("~/tok.txt"));
    build(d.path(), true, &home_env);
    assert_eq!(support::sh(img, "cat /ok"), "ok");
    rmi(img);
    let missing = project(&[], &yaml("keys/tok.txt"));
    let (out, err) = build(missing.path(), false, &home_env);
    let want = missing.path().join("keys/tok.txt");
    assert!(
        err.contains("image app: secret \"tok.txt\": ") && err.contains(&*want.to_string_lossy()),
        "{err}"
    );
    assert!(
        !format!("{out}{err}").contains("building"),
        "nothing is built: {err}"
    );
    let inspect = std::process::Command::new("/usr/bin/docker")
        .args(["image", "inspect", img])
        .output()
        .expect("docker");
    assert!(!inspect.status.success(), "nothing is tagged");
}

/// The two-image project of issue #42: B's install sees A's content-signature reference
/// in `$A_NAME` (werf's dependenciesBeforeInstall), B's config carries it and `A_DIGEST`;
/// changing A rebuilds B, changing only a B file keeps A.
#[test]
fn stapel_dependencies_pass_the_content_reference_and_rebuild_dependants() {
    let run = nonce();
    let yaml = |a: &str| {
        format!(
            r#"project: stapel-deps
configVersion: 1
---
image: a
from: BASE
git:
- add: /a
  to: /a
shell:
  install: echo {a} > /a-content
---
image: b
from: BASE
dependencies:
- image: a
  before: install
  imports:
  - {{type: ImageName, targetEnv: A_NAME}}
  - {{type: ImageDigest, targetEnv: A_DIGEST}}
git:
- add: /b
  to: /b
shell:
  beforeInstall: echo "[$A_NAME]" > /before
  install: echo "$A_NAME" > /a_name
"#
        )
    };
    let d = project(&[("a/nonce", &run), ("b/file", "1")], &yaml("one"));
    let p = d.path();
    let build = |p: &Path| -> Vec<serde_json::Value> {
        let out = slipway(p, &["--json", "build"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        support::json_result(&out.stdout)["images"]
            .as_array()
            .expect("images")
            .clone()
    };
    let by = |v: &[serde_json::Value], n: &str| {
        v.iter().find(|i| i["name"] == n).cloned().expect("image")
    };
    let first = build(p);
    let sig_a = by(&first, "a")["signature"]
        .as_str()
        .expect("sig")
        .to_string();
    let want = format!("stapel-deps/a:{sig_a}");
    assert_eq!(support::sh("stapel-deps/b:latest", "cat /a_name"), want);
    // beforeInstall runs before werf's dependenciesBeforeInstall stage.
    assert_eq!(support::sh("stapel-deps/b:latest", "cat /before"), "[]");
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["inspect", "stapel-deps/b:latest"])
        .output()
        .expect("inspect");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let env: Vec<String> = v[0]["Config"]["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    assert!(env.contains(&format!("A_NAME={want}")), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("A_DIGEST=")), "{env:?}");
    // Only a B file changes: A is kept, B rebuilt.
    std::fs::write(p.join("b/file"), "2").expect("edit");
    support::git(p, &["commit", "-qam", "b"]);
    let second = build(p);
    assert_eq!(by(&second, "a")["skipped"], true, "{second:?}");
    assert_eq!(by(&second, "a")["signature"], sig_a.as_str());
    assert_eq!(by(&second, "b")["skipped"], false);
    // A changes: B is rebuilt and names A's new content.
    std::fs::write(
        p.join("werf.yaml"),
        yaml("two").replace("BASE", support::base_image()),
    )
    .expect("werf.yaml");
    support::git(p, &["commit", "-qam", "a"]);
    let third = build(p);
    let sig_a2 = by(&third, "a")["signature"]
        .as_str()
        .expect("sig")
        .to_string();
    assert_ne!(sig_a2, sig_a);
    assert_eq!(by(&third, "b")["skipped"], false);
    assert_eq!(
        support::sh("stapel-deps/b:latest", "cat /a_name"),
        format!("stapel-deps/a:{sig_a2}")
    );
}

/// Published, a stapel dependant's `ImageDigest` import is the dependency's manifest digest
/// in the registry (as for Dockerfile images), and its `ImageName` is the dependency's
/// published repository with its content signature as the tag.
#[test]
fn a_published_stapel_dependency_passes_its_registry_digest() {
    let reg = support::registry::Registry::plain();
    let run = nonce();
    let d = project(
        &[],
        &format!(
            "project: stapel-depdig\nconfigVersion: 1\n---\nimage: a\nfrom: BASE\nshell:\n  install: echo {run} > /a\n---\nimage: b\nfrom: BASE\ndependencies:\n- image: a\n  after: install\n  imports:\n  - {{type: ImageName, targetEnv: A_NAME}}\n  - {{type: ImageDigest, targetEnv: A_DIGEST}}\n"
        ),
    );
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .images_repo(&reg, "depdig")
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let a_digest = support::skopeo::digest(&reg, "depdig/a:v1").expect("a digest");
    let b = support::skopeo::config(&reg, "depdig/b:v1").expect("b config");
    let env: Vec<String> = b["config"]["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    assert!(
        env.contains(&format!("A_DIGEST={a_digest}")),
        "{env:?}\n{log}"
    );
    let name = env
        .iter()
        .find_map(|e| e.strip_prefix("A_NAME="))
        .expect("A_NAME");
    let (repo, tag) = name.rsplit_once(':').expect("tag");
    assert_eq!(repo, format!("{}/depdig/a", reg.host), "{name}");
    assert!(
        tag.len() == 64 && tag.bytes().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
}

/// werf 2's rules for a stapel image's `dependencies`, and the ansible keys blocks bring,
/// each a located error; `apk`/`yum`/`dnf` stay refused at the task.
#[test]
fn stapel_dependencies_and_blocks_are_checked_as_werf_checks_them() {
    let load = |yaml: &str| {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("werf.yaml"), yaml).expect("write");
        slipway::config::load(&slipway::settings::Settings {
            dir: dir.path().to_path_buf(),
            ..slipway::settings::Settings::default()
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    };
    let head = "project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\n---\nimage: b\nfrom: alpine\n";
    let mut bad = Vec::new();
    for (tail, want) in [
        (
            "dependencies:\n- image: a\n  imports: [{type: ImageName, targetEnv: X}]\n",
            "dependency stage is not specified with `before: install|setup` or `after: install|setup`",
        ),
        (
            "dependencies:\n- image: a\n  before: install\n  after: setup\n",
            "only one dependency stage can be specified",
        ),
        (
            "dependencies:\n- image: a\n  after: build\n",
            "invalid dependency stage `after: build`: expected install or setup!",
        ),
        (
            "dependencies:\n- image: a\n  before: setup\n  imports:\n  - {type: ImageName, targetBuildArg: X}\n",
            "targetEnv directive cannot be empty for a Stapel image",
        ),
        (
            "dependencies:\n- image: a\n  before: setup\n  imports:\n  - {type: ImageName, targetEnv: X}\n  - {type: ImageTag, targetEnv: X}\n",
            "each targetEnv for dependency import should be unique, but found duplicates for: X",
        ),
        (
            "dependencies:\n- image: nope\n  before: setup\n",
            "depends on unknown image \"nope\"",
        ),
        (
            "ansible:\n  install:\n  - block:\n    - shell: x\n    loop: [1]\n",
            "werf.yaml:13:5: ansible.install[0]: `loop` is not a block keyword",
        ),
        (
            "ansible:\n  install:\n  - block:\n    - shell: x\n      when: ansible_os_family == 'Debian'\n",
            "werf.yaml:13:7: ansible.install[0].block[0]: task keyword `when` is not supported; use `shell:` (only true or false",
        ),
        (
            "ansible:\n  install:\n  - apk: {name: curl}\n",
            "werf.yaml:11:5: ansible.install[0]: module `apk` is refused",
        ),
    ] {
        let got = load(&format!("{head}{tail}")).err().unwrap_or_default();
        if !got.contains(want) {
            bad.push(format!("{tail}\n got: {got}\nwant: {want}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Accepted: both positions, ENV imports, secrets.
    load(&format!(
        "{head}dependencies:\n- image: a\n  after: setup\n  imports: [{{type: ImageID, targetEnv: A_ID}}]\nsecrets:\n- env: TOKEN\n"
    ))
    .expect("loads");
}
