//! werf 1.1's other command lines (issue 32): each runs under Slipway with the effect
//! werf's documentation gives it. One table: the werf line, where werf defines it, and what
//! is checked.

use crate::support;

use std::path::Path;

use support::Registry;

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{t}")
}

/// A project with two Dockerfile images, one of them literally named `publish`.
fn project(dir: &Path, name: &str, marker: &str) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo {marker} > /marker\n",
            support::base_image()
        ),
    )
    .expect("Dockerfile");
    std::fs::write(
        dir.join("werf.yaml"),
        format!(
            "project: {name}\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n---\nimage: publish\ndockerfile: Dockerfile\n"
        ),
    )
    .expect("werf.yaml");
    support::git_commit_all(dir);
}

fn digests(report: &Path) -> Vec<(String, String)> {
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("report")).expect("json");
    let mut out: Vec<(String, String)> = rep["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap_or("").to_string(),
                i["digest"].as_str().expect("digest").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn image_id(reference: &str) -> Option<String> {
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["image", "inspect", "-f", "{{.Id}}", reference])
        .output()
        .expect("docker image inspect");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A row's check: exit success, stdout, stderr.
type Check = Box<dyn Fn(bool, &str, &str)>;

/// One row: the werf line, werf's definition of it, and the check of its effect.
struct Row {
    werf: &'static str,
    source: &'static str,
    args: Vec<String>,
    check: Check,
}

fn row(
    werf: &'static str,
    source: &'static str,
    args: &[&str],
    check: impl Fn(bool, &str, &str) + 'static,
) -> Row {
    Row {
        werf,
        source,
        args: args.iter().map(|a| a.to_string()).collect(),
        check: Box::new(check),
    }
}

#[test]
fn werf_command_lines_run_with_their_effect() {
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("werfcmd");
    // Markers of this run only: no image of another run has these signatures.
    project(dir, &name, &format!("one-{name}"));
    let repo = "werfcmd";
    let slipway = || {
        let mut c = support::slipway();
        c.project(dir).images_repo(&reg, repo);
        c
    };
    // An image built and then replaced: dangling, what host cleanup lists.
    slipway().args(["build", "app"]).assert().success();
    let old = image_id(&format!("{name}/app:latest")).expect("built");
    project(dir, &name, &format!("two-{name}"));
    let r1 = dir.join("publish.json");
    let r2 = dir.join("images-publish.json");
    let rows = vec![
        row(
            "werf stages build",
            "cmd/werf/stages/build/main.go (werf 1.1): `stages build [IMAGE_NAME...]`",
            &["stages", "build"],
            {
                let name = name.clone();
                move |ok, _, err| {
                    assert!(ok, "{err}");
                    assert!(image_id(&format!("{name}/app:latest")).is_some(), "{err}");
                    assert!(image_id(&format!("{name}/publish:latest")).is_some());
                }
            },
        ),
        row(
            "werf publish (Slipway's)",
            "the reference run for `images publish`",
            &[
                "publish",
                "--tag-custom",
                "v1",
                "--report-path",
                r1.to_str().expect("utf-8"),
            ],
            |ok, _, err| assert!(ok, "{err}"),
        ),
        row(
            "werf images publish",
            "cmd/werf/images/publish/main.go (werf 1.1): `images publish [IMAGE_NAME...]`",
            &[
                "images",
                "publish",
                "--tag-custom",
                "v2",
                "--report-path",
                r2.to_str().expect("utf-8"),
            ],
            {
                let (r1, r2) = (r1.clone(), r2.clone());
                move |ok, _, err| {
                    assert!(ok, "{err}");
                    assert_eq!(digests(&r1), digests(&r2), "same digests as publish");
                    assert_eq!(digests(&r2).len(), 2);
                }
            },
        ),
        row(
            "werf images cleanup --dry-run",
            "cmd/werf/images/cleanup/cleanup.go (werf 1.1)",
            &["images", "cleanup", "--dry-run", "--without-kube"],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.starts_with("dry run"), "{out}");
            },
        ),
        row(
            "werf stages cleanup --dry-run",
            "cmd/werf/stages/cleanup/cleanup.go (werf 1.1)",
            &["stages", "cleanup", "--dry-run", "--without-kube"],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.starts_with("dry run"), "{out}");
            },
        ),
        row(
            "werf images purge --dry-run",
            "cmd/werf/images/purge/purge.go (werf 1.1)",
            &["images", "purge", "--dry-run"],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.starts_with("dry run") && out.contains(":v1"), "{out}");
            },
        ),
        row(
            "werf stages purge --dry-run",
            "cmd/werf/stages/purge/purge.go (werf 1.1)",
            &["stages", "purge", "--dry-run"],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.starts_with("dry run"), "{out}");
            },
        ),
        row(
            "werf host cleanup --dry-run",
            "cmd/werf/host/cleanup/cleanup.go (werf 1.1): lost images of interrupted builds",
            &["host", "cleanup", "--dry-run"],
            {
                let short = old.trim_start_matches("sha256:")[..12].to_string();
                move |ok, out, err| {
                    assert!(ok, "{err}");
                    assert!(out.starts_with("dry run"), "{out}");
                    assert!(
                        out.contains(&format!("remove image {short} <none> (dangling")),
                        "the replaced image is listed: {out}"
                    );
                }
            },
        ),
        row(
            "werf host purge --dry-run",
            "cmd/werf/host/purge/purge.go (werf 1.1)",
            &["host", "purge", "--dry-run"],
            {
                let name = name.clone();
                move |ok, out, err| {
                    assert!(ok, "{err}");
                    let local = format!("{name}/app:latest");
                    assert!(
                        out.lines()
                            .any(|l| l.contains(&local) && l.contains("(purge")),
                        "{out}"
                    );
                }
            },
        ),
        row(
            "werf run --shell --dry-run",
            "cmd/werf/run/run.go (werf 1.1): `docker run -ti --rm IMAGE /bin/sh`",
            &["run", "--shell", "--dry-run", "app"],
            {
                let name = name.clone();
                move |ok, out, err| {
                    assert!(ok, "{err}");
                    assert_eq!(
                        out,
                        format!("docker run -ti --rm {name}/app:latest /bin/sh\n")
                    );
                }
            },
        ),
        row(
            "werf run --bash --dry-run -- (WERF_DOCKER_OPTIONS unset)",
            "cmd/werf/run/run.go (werf 1.1): --bash runs /bin/bash",
            &["run", "--bash", "--dry-run", "app"],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.ends_with(":latest /bin/bash\n"), "{out}");
            },
        ),
        row(
            "werf run --shell --bash",
            "cmd/werf/run/run.go (werf 1.1): werf's error",
            &["run", "--shell", "--bash", "app"],
            |ok, _, err| {
                assert!(!ok);
                assert!(
                    err.contains("cannot use --shell and --bash options at the same time!"),
                    "{err}"
                );
            },
        ),
        row(
            "werf run --shell -- ls",
            "cmd/werf/run/run.go (werf 1.1): werf's error",
            &["run", "--shell", "app", "--", "ls"],
            |ok, _, err| {
                assert!(!ok);
                assert!(
                    err.contains("shell option cannot be used with other docker run arguments"),
                    "{err}"
                );
            },
        ),
        row(
            "werf stage image app",
            "cmd/werf/stage/image/main.go (werf 1.1): prints the image's docker name",
            &["stage", "image", "app"],
            {
                let name = name.clone();
                move |ok, out, err| {
                    assert!(ok, "{err}");
                    assert_eq!(out, format!("{name}/app:latest\n"));
                }
            },
        ),
        row(
            "slipway images --local -- publish",
            "an image named like a werf subcommand, after `--`",
            &["images", "--local", "--", "publish"],
            {
                let name = name.clone();
                move |ok, out, err| {
                    assert!(ok, "{err}");
                    assert_eq!(out, format!("{name}/publish:latest\n"));
                }
            },
        ),
    ];
    for r in rows {
        let out = slipway().args(&r.args).output().expect("slipway");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        eprintln!("{} ({}): exit {:?}", r.werf, r.source, out.status.code());
        (r.check)(out.status.success(), &stdout, &stderr);
    }
    // `run --docker-options` comes from werf's variable.
    let out = slipway()
        .env("WERF_DOCKER_OPTIONS", "-e CI=1 --rm")
        .args(["run", "--dry-run", "app"])
        .output()
        .expect("slipway");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("docker run -e CI=1 --rm {name}/app:latest\n")
    );
    // The shared daemon keeps nothing of this run (its content is its own).
    let mut ids: Vec<String> = ["app", "publish"]
        .iter()
        .filter_map(|i| image_id(&format!("{name}/{i}:latest")))
        .collect();
    ids.push(old);
    let _ = std::process::Command::new("/usr/bin/docker")
        .arg("rmi")
        .arg("-f")
        .args(&ids)
        .output();
}

/// The groups stay out of `-h`; docs/werf.md lists each.
#[test]
fn werf_groups_are_hidden_from_help_and_listed_in_docs() {
    let out = support::slipway().arg("-h").output().expect("slipway -h");
    let help = String::from_utf8_lossy(&out.stdout);
    for hidden in ["stages", "host", "stage "] {
        assert!(
            !help.contains(&format!("\n  {hidden}")),
            "{hidden} in -h:\n{help}"
        );
    }
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/werf.md"))
        .expect("docs/werf.md");
    for line in [
        "images publish",
        "images cleanup",
        "images purge",
        "stages build",
        "stages cleanup",
        "stages purge",
        "host cleanup",
        "host purge",
        "stage image",
        "run --shell",
        "run --bash",
        "run --dry-run",
    ] {
        assert!(
            docs.contains(&format!("werf {line}")),
            "docs/werf.md lacks `werf {line}`"
        );
    }
}

/// `--git-unshallow` (werf's, `WERF_GIT_UNSHALLOW`) makes a shallow clone whole before the
/// command, with the git CLI.
#[test]
fn git_unshallow_fetches_the_whole_history() {
    let d = tempfile::tempdir().expect("tmp");
    let origin = d.path().join("origin");
    std::fs::create_dir(&origin).expect("mkdir");
    project(&origin, &unique("unshallow"), "one");
    std::fs::write(origin.join("more"), "x").expect("write");
    support::git_commit_all(&origin);
    let clone = d.path().join("clone");
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1"])
        .arg(format!("file://{}", origin.display()))
        .arg(&clone)
        .output()
        .expect("git clone");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shallow = || support::git(&clone, &["rev-parse", "--is-shallow-repository"]);
    assert_eq!(shallow().trim(), "true");
    // Without the option nothing is fetched.
    support::slipway()
        .project(&clone)
        .args(["images", "--local"])
        .assert()
        .success();
    assert_eq!(shallow().trim(), "true");
    support::slipway()
        .project(&clone)
        .env("WERF_GIT_UNSHALLOW", "1")
        .args(["images", "--local"])
        .assert()
        .success();
    assert_eq!(shallow().trim(), "false");
}

/// werf 1.1's global options that change what a command does: each row's werf line, its
/// definition in werf's source, and the effect.
#[test]
fn werf_options_take_effect() {
    let reg = Registry::plain();
    let d = tempfile::tempdir().expect("tmp");
    // A project whose name comes from a partial: `.werf/`'s, or another directory's.
    let origin = d.path().join("origin");
    let name = unique("werfopt");
    support::write_tree(
        &origin,
        &[
            (
                "werf.yaml",
                "project: {{ include \"name\" . }}\nconfigVersion: 1\n---\nimage: app\ndockerfile: Dockerfile\n",
            ),
            ("Dockerfile", &format!("FROM {}\n", support::base_image())),
            (
                ".werf/name.tmpl",
                &format!("{{{{ define \"name\" }}}}{name}-werf{{{{ end }}}}"),
            ),
            (
                "tpl/name.tmpl",
                &format!("{{{{ define \"name\" }}}}{name}-tpl{{{{ end }}}}"),
            ),
        ],
    );
    support::git_commit_all(&origin);
    std::fs::write(origin.join("more"), "x").expect("write");
    support::git_commit_all(&origin);
    // A shallow clone of it, as GitLab makes.
    let clone = d.path().join("clone");
    let out = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1"])
        .arg(format!("file://{}", origin.display()))
        .arg(&clone)
        .output()
        .expect("git clone");
    assert!(out.status.success());
    let tpl = clone.join("tpl");
    let tpl = tpl.to_str().expect("utf-8").to_string();
    let project_is = |want: String| {
        move |ok: bool, out: &str, err: &str| {
            assert!(ok, "{err}");
            assert!(out.contains(&format!("project: {want}\n")), "{out}");
        }
    };
    let rows = vec![
        row(
            "werf config render",
            "pkg/config/parser.go (werf 1.1): partials from .werf/ by default",
            &["config", "render"],
            project_is(format!("{name}-werf")),
        ),
        row(
            "werf config render --config-templates-dir DIR",
            "cmd/werf/common/common.go (werf 1.1) GetWerfConfigTemplatesDir: the custom directory replaces .werf",
            &["config", "render", "--config-templates-dir", &tpl],
            project_is(format!("{name}-tpl")),
        ),
        row(
            "werf cleanup (shallow clone)",
            "cmd/werf/common/common.go (werf 1.1) GetLocalGitRepoForImagesCleanup: a shallow clone is refused",
            &["cleanup", "--dry-run", "--without-kube"],
            |ok, _, err| {
                assert!(!ok);
                assert!(err.contains("shallow clone"), "{err}");
            },
        ),
        row(
            "werf cleanup --allow-git-shallow-clone",
            "cmd/werf/common/common.go (werf 1.1): \"sign the intention of using shallow clone despite restrictions\"",
            &[
                "cleanup",
                "--dry-run",
                "--without-kube",
                "--allow-git-shallow-clone",
            ],
            |ok, out, err| {
                assert!(ok, "{err}");
                assert!(out.starts_with("dry run"), "{out}");
            },
        ),
    ];
    for r in rows {
        let out = support::slipway()
            .project(&clone)
            .images_repo(&reg, "werfopt")
            .args(&r.args)
            .output()
            .expect("slipway");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        eprintln!("{} ({}): exit {:?}", r.werf, r.source, out.status.code());
        (r.check)(out.status.success(), &stdout, &stderr);
    }
    // werf's variables say the same.
    let out = support::slipway()
        .project(&clone)
        .images_repo(&reg, "werfopt")
        .env("WERF_CONFIG_TEMPLATES_DIR", &tpl)
        .env("WERF_ALLOW_GIT_SHALLOW_CLONE", "1")
        .args(["cleanup", "--dry-run", "--without-kube"])
        .output()
        .expect("slipway");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = support::slipway()
        .project(&clone)
        .env("WERF_CONFIG_TEMPLATES_DIR", &tpl)
        .args(["config", "render"])
        .output()
        .expect("slipway");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("project: {name}-tpl\n")));
}

/// werf's `--ssh-key` and `WERF_SSH_KEY_*` (werf 1.1 `cmd/werf/common/common.go`: "Use only
/// specific ssh key(s)"; `pkg/ssh_agent` runs an agent with them, and `pkg/build/
/// build_phase.go` hands it to each stapel stage at `$SSH_AUTH_SOCK`): a stapel step asks the
/// agent for its identities and gets the given key, not the system agent's.
#[test]
fn ssh_key_gives_stapel_steps_an_agent_with_only_those_keys() {
    use std::process::Command;
    let d = tempfile::tempdir().expect("tmp");
    let name = unique("sshkey");
    let ok = |c: &mut Command| {
        let out = c.output().expect("run");
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = |file: &str| {
        let path = d.path().join(file);
        ok(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C"])
            .arg(format!("{name}-{file}"))
            .arg("-f")
            .arg(&path));
        path
    };
    let (system, flag, var) = (key("system"), key("flag"), key("var"));
    // The system agent (SSH_AUTH_SOCK) holds another key.
    let sock = d.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent (openssh-client)");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(Command::new("ssh-add")
        .env("SSH_AUTH_SOCK", &sock)
        .arg(&system));

    let dir = d.path().join("p");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("unixcat.c"), super::build::UNIXCAT_C).expect("unixcat.c");
    ok(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(dir.join("unixcat"))
        .arg(dir.join("unixcat.c")));
    let yaml = format!(
        r#"project: {name}
configVersion: 1
---
image: app
from: {base}
git:
- add: /
  to: /src
  includePaths: [unixcat]
shell:
  installCacheVersion: '{{{{ env "V" }}}}'
  install:
  - printf '\0\0\0\1\13' | /src/unixcat "$SSH_AUTH_SOCK" > /agent-answer
"#,
        base = support::base_image()
    );
    std::fs::write(dir.join("werf.yaml"), yaml).expect("werf.yaml");
    support::git_commit_all(&dir);
    let image = format!("{name}/app:latest");
    let answer = || support::sh(&image, "cat /agent-answer");
    let build = |v: &str| {
        let mut c = support::slipway();
        c.project(&dir)
            .stapel()
            .env("SSH_AUTH_SOCK", &sock)
            .env("V", v)
            .arg("build");
        c
    };
    let flag_s = flag.to_str().expect("utf-8");
    let runs = build("1").args(["--ssh-key", flag_s]).output();
    let answer_flag = answer();
    let runs_var = build("2").env("WERF_SSH_KEY_DEPLOY", &var).output();
    let answer_var = answer();
    let missing = build("3")
        .args(["--ssh-key", &format!("{flag_s}-missing")])
        .output();
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();

    for out in [runs, runs_var] {
        let out = out.expect("slipway");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // SSH2_AGENT_IDENTITIES_ANSWER carrying the given key's comment only.
    assert!(
        answer_flag.contains(&format!("{name}-flag")),
        "{answer_flag:?}"
    );
    assert!(
        !answer_flag.contains(&format!("{name}-system")),
        "{answer_flag:?}"
    );
    assert!(
        answer_var.contains(&format!("{name}-var")),
        "{answer_var:?}"
    );
    assert!(
        !answer_var.contains(&format!("{name}-system")),
        "{answer_var:?}"
    );
    let missing = missing.expect("slipway");
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains(&format!(
            "specified ssh key {flag_s}-missing does not exist"
        )),
        "werf's text: {err}"
    );
}
