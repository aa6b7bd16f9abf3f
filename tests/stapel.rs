//! Stapel images and artifacts built through the real daemon (docs/stapel.md), checked by
//! looking into the built images (`docker run … cat / ls / stat`, `docker inspect`): the
//! acceptance cases of werf 1.1's semantics. The base is the busybox test image (no bash)
//! and steps run with the local toolbox (Debian's bash-static); nothing is pulled.

use crate::support;

use std::path::Path;

use support::based_project as project;
use support::{Registry, nonce, skopeo};

/// `slipway --json build`: the result's images.
fn build(dir: &Path) -> Vec<serde_json::Value> {
    let out = support::slipway()
        .project(dir)
        .stapel()
        .args(["--json", "build"])
        .assert()
        .success();
    support::json_result(&out.get_output().stdout)["images"]
        .as_array()
        .expect("images")
        .clone()
}

/// `docker inspect`'s `Config` of an image.
fn config(image: &str) -> serde_json::Value {
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["inspect", image])
        .output()
        .expect("docker inspect");
    assert!(out.status.success(), "inspect {image}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v[0]["Config"].clone()
}

/// §4 test 1: werf's stage order, with git and imports at their positions.
#[test]
fn stages_run_in_werf_order_with_git_and_imports_between_them() {
    let d = project(
        &[("src/x", "x\n")],
        r#"project: stapel-order
configVersion: 1
---
artifact: markers
from: BASE
shell:
  install: mkdir -p /m && for s in bi ai bs as; do echo $s > /m/$s; done
---
image: app
from: BASE
git:
- add: /src
  to: /app
import:
- {artifact: markers, add: /m/bi, to: /imp/bi, before: install}
- {artifact: markers, add: /m/ai, to: /imp/ai, after: install}
- {artifact: markers, add: /m/bs, to: /imp/bs, before: setup}
- {artifact: markers, add: /m/as, to: /imp/as, after: setup}
shell:
  beforeInstall:
  - echo beforeInstall >> /order.log
  - ls /app /imp > /saw-beforeInstall 2>&1 || true
  install:
  - echo install >> /order.log
  - ls /app /imp > /saw-install
  beforeSetup:
  - echo beforeSetup >> /order.log
  - ls /imp > /saw-beforeSetup
  setup:
  - echo setup >> /order.log
  - ls /imp > /saw-setup
"#,
    );
    let built = build(d.path());
    assert_eq!(
        built.len(),
        1,
        "the artifact is not a built image: {built:?}"
    );
    let img = "stapel-order/app:latest";
    assert_eq!(
        support::sh(img, "cat /order.log"),
        "beforeInstall\ninstall\nbeforeSetup\nsetup"
    );
    let before_install = support::sh(img, "cat /saw-beforeInstall");
    assert!(
        before_install.contains("No such file") && !before_install.contains('x'),
        "beforeInstall saw neither git nor imports: {before_install}"
    );
    assert_eq!(
        support::sh(img, "cat /saw-install"),
        "/app:\nx\n\n/imp:\nbi"
    );
    assert_eq!(support::sh(img, "cat /saw-beforeSetup"), "ai\nbi");
    assert_eq!(support::sh(img, "cat /saw-setup"), "ai\nbi\nbs");
    assert_eq!(support::sh(img, "ls /imp"), "ai\nas\nbi\nbs");
}

/// §4 test 2: steps run as root in `/` with the base's environment; `docker:` is applied
/// last and the base's USER is restored.
#[test]
fn build_environment_differs_from_the_final_config() {
    let base = "slipway-test/stapel-env-base:latest";
    let ctx = tempfile::tempdir().expect("tmp");
    support::write_tree(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nWORKDIR /w\nUSER 1000\nENV A=1\n",
                support::base_image()
            ),
        )],
    );
    let ok = std::process::Command::new("/usr/bin/docker")
        .args(["build", "-q", "-t", base])
        .arg(ctx.path())
        .output()
        .expect("docker build");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let d = project(
        &[],
        &format!(
            r#"project: stapel-env
configVersion: 1
---
image: app
from: {base}
shell:
  install:
  - pwd > /r; id -u >> /r; echo "$A" >> /r; echo "[$B]" >> /r
docker:
  WORKDIR: /app
  ENV:
    B: "x y"
"#
        ),
    );
    build(d.path());
    let img = "stapel-env/app:latest";
    assert_eq!(support::sh(img, "cat /r"), "/\n0\n1\n[]");
    let c = config(img);
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "1000");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"A=1") && env.contains(&"B=x y"), "{env:?}");
}

/// §4 test 3: the git mapping is the HEAD commit: no uncommitted or untracked change, git's
/// modes, symlinks kept, `add` defaults to `/`; an `add` HEAD lacks is a located error.
#[test]
fn git_mapping_is_the_head_commit() {
    let d = project(
        &[("a.txt", "committed\n"), ("bin/run", "#!/bin/sh\n")],
        r#"project: stapel-git
configVersion: 1
---
image: app
from: BASE
git:
- to: /app
  excludePaths: werf.yaml
"#,
    );
    let p = d.path();
    let mut perms = std::fs::metadata(p.join("bin/run"))
        .expect("meta")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(p.join("bin/run"), perms).expect("chmod");
    std::os::unix::fs::symlink("a.txt", p.join("link")).expect("symlink");
    support::git(p, &["add", "-A"]);
    support::git(p, &["commit", "-qm", "modes"]);
    std::fs::write(p.join("a.txt"), "uncommitted\n").expect("edit");
    std::fs::write(p.join("untracked"), "u\n").expect("untracked");
    build(p);
    let img = "stapel-git/app:latest";
    assert_eq!(support::sh(img, "ls -A /app"), "a.txt\nbin\nlink");
    assert_eq!(support::sh(img, "cat /app/a.txt"), "committed");
    assert_eq!(
        support::sh(img, "stat -c %a /app/a.txt /app/bin/run"),
        "644\n755"
    );
    assert_eq!(support::sh(img, "readlink /app/link"), "a.txt");

    std::fs::write(
        p.join("werf.yaml"),
        format!(
            "project: stapel-git\nconfigVersion: 1\n---\nimage: app\nfrom: {}\ngit:\n- add: /nope\n  to: /app\n",
            support::base_image()
        ),
    )
    .expect("werf.yaml");
    let out = support::slipway()
        .project(p)
        .stapel()
        .arg("build")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("werf.yaml:7:3: git[0]: add /nope: no such path in the HEAD commit"),
        "{err}"
    );
}

/// §4 test 4: werf's include/exclude globs.
#[test]
fn git_include_and_exclude_paths_filter_as_werf() {
    let d = project(
        &[
            ("src/a.php", "a"),
            ("src/.hidden.php", "h"),
            ("src/b.js", "b"),
            ("src/c-dev.js", "c"),
            ("src/lib/d.js", "d"),
            ("src/module1/deep/x.txt", "x"),
        ],
        r#"project: stapel-filter
configVersion: 1
---
image: app
from: BASE
git:
- add: /src
  to: /app
  includePaths: ['**/*.php', '*.js', module1]
  excludePaths: ['**/*-dev.*']
- add: /src/b.js
  to: /etc/renamed.js
"#,
    );
    build(d.path());
    // A single file is copied to `to` itself (werf's docs, werf >= 1.2.11).
    assert_eq!(
        support::sh("stapel-filter/app:latest", "cat /etc/renamed.js"),
        "b"
    );
    assert_eq!(
        support::sh(
            "stapel-filter/app:latest",
            "cd /app && find . -type f | sort"
        ),
        "./.hidden.php\n./a.php\n./b.js\n./module1/deep/x.txt"
    );
}

/// §4 test 7: an artifact's files imported into an image, merged into an existing
/// directory or copied as a file; the artifact is never an image of its own.
#[test]
fn imports_from_an_artifact_merge_into_the_image() {
    let d = project(
        &[],
        r#"project: stapel-import
configVersion: 1
---
artifact: my builder
from: BASE
shell:
  install:
  - mkdir -p /out/dir/sub && echo bin > /out/bin
  - echo a > /out/dir/a && echo b > /out/dir/sub/b && ln -s a /out/dir/l
---
image: app
from: BASE
shell:
  beforeInstall: mkdir -p /opt/dir && echo keep > /opt/dir/keep.txt
import:
- artifact: my builder
  add: /out/dir
  to: /opt/dir
  after: install
- artifact: my builder
  add: /out/bin
  before: setup
"#,
    );
    let built = build(d.path());
    let names: Vec<&str> = built.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["app"]);
    let img = "stapel-import/app:latest";
    assert_eq!(
        support::sh(img, "cd /opt/dir && find . | sort"),
        ".\n./a\n./keep.txt\n./l\n./sub\n./sub/b"
    );
    assert_eq!(
        support::sh(img, "readlink /opt/dir/l; cat /out/bin"),
        "a\nbin"
    );
}

/// §4 test 8: `fromImage` starts from another image with its config: ENV seen by the
/// steps; ENTRYPOINT resets the inherited CMD.
#[test]
fn from_image_chain_inherits_config() {
    let d = project(
        &[],
        r#"project: stapel-chain
configVersion: 1
---
image: base
from: BASE
docker:
  ENV: {A: "1"}
  CMD: ["sleep", "1"]
---
image: child
fromImage: base
shell:
  install: echo "$A" > /a
docker:
  ENTRYPOINT: ["/bin/echo"]
"#,
    );
    build(d.path());
    assert_eq!(support::sh("stapel-chain/child:latest", "cat /a"), "1");
    let c = config("stapel-chain/child:latest");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/echo"]));
    assert!(c["Cmd"].is_null(), "{c}");
    assert_eq!(
        config("stapel-chain/base:latest")["Cmd"],
        serde_json::json!(["sleep", "1"])
    );
}

/// §4 test 11: werf's shell: the toolbox's bash with `-e` on a base without bash, `/` for
/// every stage, multi-line items, one string for a stage; a failing command is reported
/// at its werf.yaml line.
#[test]
fn shell_steps_run_as_werf_runs_them() {
    let d = project(
        &[],
        r#"project: stapel-shell
configVersion: 1
---
image: app
from: BASE
shell:
  beforeInstall: cd /tmp
  install:
  - |
    echo one > /ml
    echo two >> /ml
  - cd /tmp && pwd > /install-pwd
  setup:
  - pwd > /setup-pwd
  - "[[ 1 == 1 ]] && echo -e 'a\\nb' > /y"
"#,
    );
    build(d.path());
    let img = "stapel-shell/app:latest";
    assert_eq!(support::sh(img, "cat /ml"), "one\ntwo");
    assert_eq!(support::sh(img, "cat /install-pwd /setup-pwd"), "/tmp\n/");
    assert_eq!(support::sh(img, "cat /y"), "a\nb");
    assert_eq!(support::sh(img, "command -v bash || echo none"), "none");

    std::fs::write(
        d.path().join("werf.yaml"),
        format!(
            "project: stapel-shell\nconfigVersion: 1\n---\nimage: bad\nfrom: {}\nshell:\n  install:\n  - \"true\"\n  - \"false\"\n  - echo after > /x\n",
            support::base_image()
        ),
    )
    .expect("werf.yaml");
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .arg("build")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("image bad: werf.yaml:9:5: shell.install[1]"),
        "{err}"
    );
}

/// Unchanged config and HEAD: the rebuild builds nothing; a new commit of a mapped file
/// rebuilds, one of an unmapped file does not.
#[test]
fn rebuild_is_skipped_until_a_mapped_file_changes() {
    let run = nonce();
    let d = project(
        &[("app/a", "1"), ("app/nonce", &run), ("docs/readme", "r")],
        r#"project: stapel-skip
configVersion: 1
---
image: app
from: BASE
git:
- add: /app
  to: /app
shell:
  install: date +%s%N > /built-at
"#,
    );
    let p = d.path();
    let first = build(p);
    assert_eq!(first[0]["skipped"], false);
    let again = build(p);
    assert_eq!(again[0]["skipped"], true, "{again:?}");
    assert_eq!(again[0]["image_id"], first[0]["image_id"]);
    std::fs::write(p.join("docs/readme"), "changed").expect("edit");
    support::git(p, &["commit", "-qam", "docs"]);
    assert_eq!(build(p)[0]["skipped"], true);
    std::fs::write(p.join("app/a"), "2").expect("edit");
    support::git(p, &["commit", "-qam", "app"]);
    let third = build(p);
    assert_eq!(third[0]["skipped"], false);
    assert_eq!(support::sh("stapel-skip/app:latest", "cat /app/a"), "2");
}

/// A mixed project (a Dockerfile image as a stapel image's `fromImage`, an artifact passed
/// to a Dockerfile image through `dependencies`) published: skopeo finds every image at
/// its reported digest, and the artifact is not published.
#[test]
fn mixed_project_publishes_stapel_images_not_artifacts() {
    let reg = Registry::plain();
    let d = project(
        &[
            (
                "base/Dockerfile",
                &format!(
                    "FROM {}\nRUN echo dockerfile > /from-dockerfile\n",
                    support::base_image()
                ),
            ),
            (
                "web/Dockerfile",
                "ARG TOOLS\nFROM $TOOLS AS tools\nFROM scratch\nCOPY --from=tools /tool /tool\n",
            ),
        ],
        r#"project: stapel-mixed
configVersion: 1
---
image: base
dockerfile: base/Dockerfile
context: base
---
artifact: tools
from: BASE
shell:
  install: echo tool > /tool
---
image: web
dockerfile: web/Dockerfile
context: web
dependencies:
- image: tools
  imports:
  - {type: ImageName, targetBuildArg: TOOLS}
---
image: app
fromImage: base
shell:
  install: cat /from-dockerfile > /seen
"#,
    );
    let report = d.path().join("../stapel-mixed-report.json");
    support::slipway()
        .project(d.path())
        .stapel()
        .args(["--images-repo", &format!("{}/mixed", reg.host)])
        .insecure(&reg.host)
        .args(["build-and-publish", "--tag-custom", "v1", "--report-path"])
        .arg(&report)
        .assert()
        .success();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    let _ = std::fs::remove_file(&report);
    let mut names: Vec<&str> = rep["images"]
        .as_array()
        .expect("images")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["app", "base", "web"]);
    for img in rep["images"].as_array().expect("images") {
        let name = img["name"].as_str().expect("name");
        assert_eq!(
            skopeo::digest(&reg, &format!("mixed/{name}:v1")).expect("skopeo"),
            img["digest"].as_str().expect("digest"),
            "{name}"
        );
    }
    assert!(skopeo::tags(&reg, "mixed/tools").is_empty());
    assert_eq!(
        support::sh("stapel-mixed/app:latest", "cat /seen"),
        "dockerfile"
    );
    let web = skopeo::config(&reg, "mixed/web:v1").expect("config");
    assert!(
        web["rootfs"]["diff_ids"]
            .as_array()
            .is_some_and(|l| l.len() == 1)
    );
}

/// Stapel images need BuildKit: the classic builder is refused with the reason.
#[test]
fn classic_builder_is_refused_for_stapel_images() {
    let d = project(
        &[],
        "project: stapel-classic\nconfigVersion: 1\n---\nimage: app\nfrom: BASE\n",
    );
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .args(["build", "--buildkit", "off"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("image app is a stapel image, which Slipway builds with BuildKit only"),
        "{err}"
    );
}

/// §4 test 5: owner and group of git mappings and imports (names resolved in the image
/// being built, after beforeInstall created them).
#[test]
fn owner_and_group_of_mappings_and_imports() {
    let d = project(
        &[("src/sub/f", "f"), ("other/g", "g")],
        r#"project: stapel-owner
configVersion: 1
---
artifact: files
from: BASE
shell:
  install: mkdir -p /out && echo i > /out/i
---
image: app
from: BASE
shell:
  beforeInstall:
  - echo 'app:x:1234:1234::/:/bin/sh' >> /etc/passwd
  - echo 'app:x:1234:' >> /etc/group
git:
- add: /src
  to: /app
  owner: app
  group: app
- add: /other
  to: /other
import:
- artifact: files
  add: /out
  to: /imported
  owner: app
  after: install
"#,
    );
    build(d.path());
    let img = "stapel-owner/app:latest";
    assert_eq!(
        support::sh(img, "stat -c '%u:%g %n' /app /app/sub /app/sub/f"),
        "1234:1234 /app\n1234:1234 /app/sub\n1234:1234 /app/sub/f"
    );
    assert_eq!(support::sh(img, "stat -c '%u:%g' /other/g"), "0:0");
    // Owner without group: werf (rsync --chown=app:) keeps the source's group, COPY
    // --chown=app gives the gid BuildKit picks; uid == gid here (docs/stapel.md).
    assert_eq!(support::sh(img, "stat -c '%u:%g' /imported/i"), "1234:1234");
}

/// §4 test 6: a mapping inside another's `to` is left out of the outer one.
#[test]
fn overlapping_mappings_are_auto_excluded() {
    let d = project(
        &[("static/old.txt", "old"), ("assets/new.txt", "new")],
        r#"project: stapel-overlap
configVersion: 1
---
image: app
from: BASE
git:
- add: /
  to: /app
- add: /assets
  to: /app/static
"#,
    );
    build(d.path());
    assert_eq!(
        support::sh(
            "stapel-overlap/app:latest",
            "cd /app && find . -type f | sort"
        ),
        "./assets/new.txt\n./static/new.txt\n./werf.yaml"
    );
}

/// §4 test 9: mounts are there while steps run and never in the image: `build_dir`
/// persists between builds and is shared by the project's images, `tmp_dir` is empty,
/// `fromPath` is readable; the base's content at a mount target is removed.
#[test]
fn mounts_live_outside_the_image() {
    // A fresh project name per run: build_dir caches outlive the test in the daemon.
    let project_name = format!("stapel-mount-{}", nonce());
    let base = "slipway-test/stapel-mount-base:latest";
    let ctx = tempfile::tempdir().expect("tmp");
    support::write_tree(
        ctx.path(),
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN mkdir /cache && echo old > /cache/old\n",
                support::base_image()
            ),
        )],
    );
    let ok = std::process::Command::new("/usr/bin/docker")
        .args(["build", "-q", "-t", base])
        .arg(ctx.path())
        .output()
        .expect("docker build");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let yaml = |version: u32| {
        format!(
            r#"project: {project_name}
configVersion: 1
---
image: a
from: {base}
mount:
- {{from: build_dir, to: /cache}}
- {{from: tmp_dir, to: /scratch}}
- {{fromPath: dist, to: /dist}}
shell:
  install:
  - echo $(( $(cat /cache/n 2>/dev/null || echo 0) + 1 )) > /cache/n; cp /cache/n /result
  - ls -A /scratch > /scratch-list; ls /cache > /cache-list; cat /dist/f > /from-path
  installCacheVersion: "{version}"
---
image: b
from: {base}
import:
- {{image: a, add: /result, to: /a-result, before: install}}
mount:
- {{from: build_dir, to: /cache}}
shell:
  install: cat /cache/n > /seen
"#
        )
    };
    let d = project(&[("dist/f", "from host")], &yaml(1));
    let a = format!("{project_name}/a:latest");
    let b = format!("{project_name}/b:latest");
    build(d.path());
    assert_eq!(support::sh(&a, "cat /result"), "1");
    assert_eq!(support::sh(&a, "cat /scratch-list"), "");
    assert_eq!(
        support::sh(&a, "cat /cache-list"),
        "n",
        "the base's /cache/old is gone"
    );
    assert_eq!(support::sh(&a, "cat /from-path"), "from host");
    assert_eq!(
        support::sh(&a, "ls -A /cache /scratch 2>/dev/null | grep -v : || true"),
        ""
    );
    assert_eq!(support::sh(&b, "cat /seen"), "1");
    std::fs::write(d.path().join("werf.yaml"), yaml(2)).expect("werf.yaml");
    build(d.path());
    assert_eq!(support::sh(&a, "cat /result"), "2");
    for i in [&a, &b] {
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", "-f", i])
            .output();
    }
}

/// §4 test 12: the ansible modules real files use, with ansible's semantics.
#[test]
fn ansible_subset_runs_with_ansible_semantics() {
    let d = project(
        &[],
        r#"project: stapel-ansible
configVersion: 1
---
image: app
from: BASE
ansible:
  install:
  - name: app dir
    file: {path: /app, state: directory, mode: 0750}
  - name: in app
    shell: pwd > here
    args: {chdir: /app}
  - shell: |
      false
      echo last > /multi
  - command: touch $HOME
    args: {chdir: /app}
  - copy: {content: "k=v\n", dest: /etc/app.conf, mode: 0640}
  - file: {state: link, src: /etc/app.conf, dest: /etc/app.link}
  - debug: {msg: hi}
  - shell: exit 3
    ignore_errors: true
  - shell: echo "$GREETING" > /env
    environment: {GREETING: hello there}
  - shell: echo never > /never
    args: {creates: /etc/app.conf}
  - shell: echo bob:x:1500:1500::/home/bob:/bin/sh >> /etc/passwd && mkdir -p /home/bob
  - shell: id -u > /tmp/bob; echo "$HOME $GREETING" >> /tmp/bob
    become_user: bob
    environment: {GREETING: kept}
  - shell: id -u > /tmp/root
    become: no
    become_user: bob
"#,
    );
    build(d.path());
    let img = "stapel-ansible/app:latest";
    assert_eq!(support::sh(img, "cat /app/here"), "/app");
    assert_eq!(support::sh(img, "stat -c %a /app"), "750");
    assert_eq!(support::sh(img, "cat /multi"), "last");
    assert_eq!(support::sh(img, "ls /app"), "$HOME\nhere");
    assert_eq!(
        support::sh(img, "stat -c %a /etc/app.conf; cat /etc/app.conf"),
        "640\nk=v"
    );
    assert_eq!(support::sh(img, "readlink /etc/app.link"), "/etc/app.conf");
    assert_eq!(support::sh(img, "cat /env"), "hello there");
    assert_eq!(
        support::sh(img, "ls /never 2>&1 || true"),
        "ls: /never: No such file or directory"
    );
    // become_user runs the task as that user, its HOME, the environment kept (werf's
    // `sudo -E -H`); `become: no` keeps root.
    assert_eq!(
        support::sh(img, "cat /tmp/bob; stat -c %u /tmp/bob"),
        "1500\n/home/bob kept\n1500"
    );
    assert_eq!(support::sh(img, "cat /tmp/root"), "0");
}

/// `config render --dockerfile IMAGE` prints the generated Dockerfile: one named stage per
/// werf stage, in werf's order, no daemon needed.
#[test]
fn config_render_prints_the_generated_dockerfile() {
    let d = project(
        &[("src/a", "a")],
        r#"project: stapel-render
configVersion: 1
---
artifact: art
from: BASE
shell:
  install: mkdir /out
---
image: app
from: BASE
git:
- add: /src
  to: /app
import:
- {artifact: art, add: /out, after: setup}
shell:
  beforeInstall: echo 1
  setup: echo 2
docker:
  WORKDIR: /app
"#,
    );
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .args(["config", "render", "--dockerfile", "app"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stages: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter_map(|l| l.rsplit(" AS ").next())
        .collect();
    assert_eq!(
        stages,
        [
            "from",
            "beforeinstall",
            "gitarchive",
            "setup",
            "importsaftersetup",
            "dockerinstructions"
        ],
        "{text}"
    );
    assert!(
        text.contains("COPY --from=stapel-render/artifact-art:latest [\"/out\", \"/out\"]"),
        "{text}"
    );
}

/// §4 test 10 (fresh-build part): a stage's cacheVersion reruns that stage and the ones
/// after it, not those before; fromCacheVersion reruns everything.
#[test]
fn cache_versions_rerun_what_werf_reruns() {
    let run = nonce();
    let yaml = |install: u32, from: u32| {
        format!(
            r#"project: stapel-cachever
configVersion: 1
---
image: app
from: {}
fromCacheVersion: "{run}-{from}"
shell:
  beforeInstall: date +%s%N > /bi
  install: date +%s%N > /i
  installCacheVersion: "{install}"
"#,
            support::base_image()
        )
    };
    let d = project(&[], &yaml(1, 1));
    let img = "stapel-cachever/app:latest";
    build(d.path());
    let (bi1, i1) = (support::sh(img, "cat /bi"), support::sh(img, "cat /i"));
    std::fs::write(d.path().join("werf.yaml"), yaml(2, 1)).expect("werf.yaml");
    assert_eq!(build(d.path())[0]["skipped"], false);
    let (bi2, i2) = (support::sh(img, "cat /bi"), support::sh(img, "cat /i"));
    assert_eq!(bi1, bi2, "beforeInstall is reused");
    assert_ne!(i1, i2, "install reran");
    std::fs::write(d.path().join("werf.yaml"), yaml(2, 2)).expect("werf.yaml");
    build(d.path());
    let (bi3, i3) = (support::sh(img, "cat /bi"), support::sh(img, "cat /i"));
    assert_ne!(bi2, bi3, "fromCacheVersion reruns beforeInstall");
    assert_ne!(i2, i3);
}

/// Every `docker:` key lands in the config; an image list gives several images; the
/// nameless image works.
#[test]
fn docker_keys_image_lists_and_the_nameless_image() {
    let d = project(
        &[],
        r#"project: stapel-docker
configVersion: 1
---
image: [one, two]
from: BASE
docker:
  VOLUME: [/data]
  EXPOSE: ["8080/tcp", "9090"]
  LABEL: {team: "a b"}
  USER: "1001"
  HEALTHCHECK: --interval=5s CMD true
  CMD: sleep 1
---
image: ~
from: BASE
shell:
  install: echo nameless > /n
"#,
    );
    let built = build(d.path());
    assert_eq!(built.len(), 3);
    for img in ["stapel-docker/one:latest", "stapel-docker/two:latest"] {
        let c = config(img);
        assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(
            c["ExposedPorts"],
            serde_json::json!({"8080/tcp": {}, "9090/tcp": {}})
        );
        assert_eq!(c["Labels"]["team"], "a b");
        assert_eq!(c["User"], "1001");
        assert_eq!(
            c["Healthcheck"]["Test"],
            serde_json::json!(["CMD-SHELL", "true"])
        );
        assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh", "-c", "sleep 1"]));
    }
    assert_eq!(support::sh("stapel-docker:latest", "cat /n"), "nameless");
}

/// examples/stapel (a builder artifact compiling a C program from git sources on the Debian
/// base, a service importing the binary, shell, ansible, a build_dir mount) builds and
/// publishes; the published service runs the binary.
#[test]
fn the_stapel_example_builds_and_publishes() {
    let reg = Registry::plain();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/stapel");
    let d = tempfile::tempdir().expect("tmp");
    for e in walkdir::WalkDir::new(&example) {
        let e = e.expect("walk");
        let dest = d.path().join(e.path().strip_prefix(&example).expect("rel"));
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
    support::git_commit_all(d.path());
    support::slipway()
        .project(d.path())
        .stapel()
        .env("DEBIAN_IMAGE", support::debian_image())
        .args(["--images-repo", &format!("{}/demo", reg.host)])
        .insecure(&reg.host)
        .args(["build-and-publish", "--tag-custom", "v1"])
        .assert()
        .success();
    assert!(skopeo::digest(&reg, "demo/service:v1").is_ok());
    assert!(skopeo::tags(&reg, "demo/builder").is_empty());
    let out = std::process::Command::new("/usr/bin/docker")
        .args(["run", "--rm", "stapel-demo/service:latest"])
        .output()
        .expect("docker run");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from the builder artifact"
    );
    // The binary tcc compiled from the git sources, run as the user ansible made.
    assert_eq!(config("stapel-demo/service:latest")["User"], "greet");
    assert_eq!(
        support::sh(
            "stapel-demo/service:latest",
            "id greet; head -c 4 /usr/local/bin/greet | od -An -c | tr -d ' '"
        ),
        "uid=4321(greet) gid=4321(greet) groups=4321(greet)\n177ELF"
    );
}

/// A bare repository at `dir/remote.git` holding `files` on branch `main` (tagged `v1`),
/// pushed from a work tree at `dir/work`.
fn remote_repo(dir: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let bare = dir.join("remote.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    support::git(dir, &["init", "-q", "--bare", "-b", "main", "remote.git"]);
    support::write_tree(&work, files);
    support::git(&work, &["init", "-q", "-b", "main"]);
    support::git(&work, &["add", "-A"]);
    for (f, _) in files.iter().filter(|(f, _)| f.ends_with("/run")) {
        support::git(&work, &["update-index", "--chmod=+x", f]);
    }
    support::git(&work, &["commit", "-qm", "one"]);
    support::git(&work, &["tag", "v1"]);
    support::git(&work, &["remote", "add", "origin", &bare.to_string_lossy()]);
    support::git(&work, &["push", "-q", "--tags", "origin", "main"]);
    bare
}

/// Remote git mappings: cloned with the git CLI into the cache (a `file://` URL here;
/// http(s) and ssh URLs go through the same `git clone`/`git fetch`), a tag's commit or a
/// branch's latest commit, filtered and owned as local mappings; a new commit on the
/// branch rebuilds, nothing new skips; a missing branch or an unreachable URL is an error
/// at the mapping's werf.yaml line.
#[test]
fn remote_git_mappings_follow_tags_and_branches() {
    let remote_dir = tempfile::tempdir().expect("tmp");
    let bare = remote_repo(
        remote_dir.path(),
        &[
            ("src/a.txt", "one\n"),
            ("src/skip.md", "no\n"),
            ("src/run", "#!/bin/sh\n"),
            ("top", "t1\n"),
        ],
    );
    let url = format!("file://{}", bare.display());
    let yaml = format!(
        r#"project: stapel-remote-{n}
configVersion: 1
---
image: app
from: BASE
git:
- url: {url}
  tag: v1
  add: /src
  to: /tagged
  excludePaths: '*.md'
  owner: 1234
  group: 1234
- url: {url}
  herebyIAdmitThatBranchMightBreakReproducibility: true
  add: /
  to: /latest
  includePaths: top
shell:
  install: cat /latest/top > /seen-by-install
"#,
        n = nonce()
    );
    let d = project(&[], &yaml);
    let p = d.path();
    let project_name = yaml
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("project: "))
        .expect("project")
        .to_string();
    let img = format!("{project_name}/app:latest");
    assert_eq!(build(p)[0]["skipped"], false);
    assert_eq!(
        support::sh(
            &img,
            "cd /tagged && ls -ln . | tail -n +2 | awk '{print $1, $3, $4, $9}'"
        ),
        "-rw-r--r-- 1234 1234 a.txt\n-rwxr-xr-x 1234 1234 run"
    );
    assert_eq!(
        support::sh(&img, "cat /latest/top /seen-by-install"),
        "t1\nt1"
    );
    assert_eq!(support::sh(&img, "ls /latest"), "top");

    // Unchanged remote: skipped.
    assert_eq!(build(p)[0]["skipped"], true);

    // A new commit on the branch (the tag stays): rebuilt with it.
    let work = remote_dir.path().join("work");
    std::fs::write(work.join("top"), "t2\n").expect("edit");
    std::fs::write(work.join("src/a.txt"), "two\n").expect("edit");
    support::git(&work, &["commit", "-qam", "two"]);
    support::git(&work, &["push", "-q", "origin", "main"]);
    assert_eq!(build(p)[0]["skipped"], false);
    assert_eq!(
        support::sh(&img, "cat /latest/top /seen-by-install /tagged/a.txt"),
        "t2\nt2\none"
    );

    // A missing branch and an unreachable URL: located errors, nothing built.
    let bad = yaml.replace(
        "  tag: v1\n",
        "  branch: nope\n  herebyIAdmitThatBranchMightBreakReproducibility: true\n",
    );
    // werf.yaml replaced by `text`: the build fails; its stderr.
    let failing = |text: &str| {
        std::fs::write(
            p.join("werf.yaml"),
            text.replace("BASE", support::base_image()),
        )
        .expect("yaml");
        let out = support::slipway()
            .project(p)
            .stapel()
            .arg("build")
            .assert()
            .failure();
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    let err = failing(&bad);
    assert!(
        err.contains("werf.yaml:7:3: git[0]: unknown branch nope of repo file://"),
        "{err}"
    );
    let gone = yaml.replace(&url, "file:///nonexistent/slipway-remote.git");
    let err = failing(&gone);
    assert!(
        err.contains("werf.yaml:7:3: git[0]: git clone file:///nonexistent/slipway-remote.git"),
        "{err}"
    );

    // A branch without werf's admission key is a config error.
    let unadmitted = yaml.replace(
        "  herebyIAdmitThatBranchMightBreakReproducibility: true\n",
        "",
    );
    let err = failing(&unadmitted);
    assert!(
        err.contains("werf.yaml:14:3: git[1]: a remote mapping that follows a branch"),
        "{err}"
    );
}

fn docker_ok(args: &[&str]) {
    let out = std::process::Command::new("/usr/bin/docker")
        .args(args)
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fromLatest` (with werf's admission key): the registry's digest of the base tag is in
/// the signature, so a base tag moved to another image rebuilds (and the new base is
/// pulled when the daemon's copy is the old one); the same digest skips.
#[test]
fn from_latest_rebuilds_when_the_base_tag_moves() {
    let reg = Registry::plain();
    let base = format!("{}/fromlatest-base:latest", reg.host);
    docker_ok(&["tag", support::base_image(), &base]);
    docker_ok(&["push", "-q", &base]);
    let n = nonce();
    let d = project(
        &[],
        &format!(
            r#"project: stapel-fromlatest-{n}
configVersion: 1
---
image: app
from: {base}
fromLatest: true
herebyIAdmitThatFromLatestMightBreakReproducibility: true
shell:
  install: cat /marker > /saw 2>/dev/null || echo none > /saw
"#
        ),
    );
    let img = format!("stapel-fromlatest-{n}/app:latest");
    let build_here = || -> Vec<serde_json::Value> {
        let out = support::slipway()
            .project(d.path())
            .stapel()
            .args(["--insecure-registry", &reg.host, "--json", "build"])
            .assert()
            .success();
        support::json_result(&out.get_output().stdout)["images"]
            .as_array()
            .expect("images")
            .clone()
    };
    assert_eq!(build_here()[0]["skipped"], false);
    assert_eq!(support::sh(&img, "cat /saw"), "none");
    assert_eq!(build_here()[0]["skipped"], true, "same digest: skipped");

    // The tag moves to another image in the registry; the daemon still has the old one.
    let ctx = tempfile::tempdir().expect("tmp");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo v2-{n} > /marker\n",
            support::base_image()
        ),
    )
    .expect("Dockerfile");
    docker_ok(&["build", "-q", "-t", &base, &ctx.path().to_string_lossy()]);
    docker_ok(&["push", "-q", &base]);
    docker_ok(&["tag", support::base_image(), &base]);
    assert_eq!(build_here()[0]["skipped"], false, "moved tag: rebuilt");
    assert_eq!(support::sh(&img, "cat /saw"), format!("v2-{n}"));
    assert_eq!(build_here()[0]["skipped"], true);

    // A base the registry does not have: an error at `fromLatest`.
    let missing = std::fs::read_to_string(d.path().join("werf.yaml"))
        .expect("yaml")
        .replace("fromlatest-base:latest", "fromlatest-missing:latest");
    std::fs::write(d.path().join("werf.yaml"), missing).expect("yaml");
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .args(["--insecure-registry", &reg.host, "build"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("werf.yaml:6:13: fromLatest: base image")
            && err.contains("the registry has no latest"),
        "{err}"
    );
}

/// Imports with `stage:` (the source built up to that stage; a stage the source lacks
/// means its last stage, as in werf 1.1) and with includePaths/excludePaths (werf's rsync
/// filters relative to `add`) and owner/group.
#[test]
fn imports_from_a_stage_and_through_filters() {
    let n = nonce();
    let d = project(
        &[],
        &format!(
            r#"project: stapel-import-filters-{n}
configVersion: 1
---
artifact: art
from: BASE
shell:
  install:
  - mkdir -p /st /out/a/deep /out/keep /out/b
  - echo install > /st/phase
  - for f in a/x.txt a/deep/y.txt a/skip-me.txt a/z.bin keep/k.bin b/w.txt top.txt .h.txt; do echo $f > /out/$f; done
  - chmod 0750 /out/a/x.txt && ln -s x.txt /out/a/link.txt
  setup:
  - echo setup > /st/phase
---
image: app
from: BASE
import:
- artifact: art
  stage: install
  add: /st
  to: /from-install
  before: setup
- artifact: art
  stage: beforeSetup
  add: /st
  to: /from-missing-stage
  after: setup
- artifact: art
  add: /st
  to: /from-last
  after: setup
- artifact: art
  add: /out
  to: /filtered
  after: setup
  includePaths: ['**/*.txt', keep]
  excludePaths: ['**/skip*', b]
  owner: 1234
  group: 1234
"#
        ),
    );
    build(d.path());
    let img = format!("stapel-import-filters-{n}/app:latest");
    assert_eq!(
        support::sh(
            &img,
            "cat /from-install/phase /from-last/phase /from-missing-stage/phase"
        ),
        "install\nsetup\nsetup"
    );
    assert_eq!(
        support::sh(&img, "cd /filtered && find . ! -type d | sort"),
        "./.h.txt\n./a/deep/y.txt\n./a/link.txt\n./a/x.txt\n./keep/k.bin\n./top.txt"
    );
    assert_eq!(
        support::sh(
            &img,
            "cd /filtered && ls -ln a/x.txt keep/k.bin | awk '{print $1, $3, $4}'"
        ),
        "-rwxr-x--- 1234 1234\n-rw-r--r-- 1234 1234"
    );
    assert_eq!(support::sh(&img, "readlink /filtered/a/link.txt"), "x.txt");
    assert_eq!(
        support::sh(&img, "cat /filtered/a/deep/y.txt"),
        "a/deep/y.txt"
    );
}

/// `slipway build ARTIFACT` builds the artifact (werf 1.1's `build` takes artifacts too)
/// and reports it with its local tag; `build-and-publish ARTIFACT` is werf's error, since
/// artifacts are never published.
#[test]
fn build_names_an_artifact() {
    let n = nonce();
    let d = project(
        &[],
        &format!(
            r#"project: stapel-build-artifact-{n}
configVersion: 1
---
artifact: my tools
from: BASE
shell:
  install: echo tool-{n} > /tool
---
image: app
from: BASE
"#
        ),
    );
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .args(["--json", "build", "my tools"])
        .assert()
        .success();
    let images = support::json_result(&out.get_output().stdout)["images"]
        .as_array()
        .expect("images")
        .clone();
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["name"], "my tools");
    let tag = images[0]["local_tag"]
        .as_str()
        .expect("local tag")
        .to_string();
    assert_eq!(
        tag,
        format!("stapel-build-artifact-{n}/artifact-my-tools:latest")
    );
    assert_eq!(support::sh(&tag, "cat /tool"), format!("tool-{n}"));

    let reg = Registry::plain();
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .args(["--images-repo", &format!("{}/ba", reg.host)])
        .insecure(&reg.host)
        .args(["build-and-publish", "--tag-custom", "v1", "my tools"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("specified image my tools is not defined in werf.yaml: it is an artifact"),
        "{err}"
    );
}
