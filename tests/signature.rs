//! Content signatures mean "same image": the same files give the same signature on any
//! branch, after a squash or rebase merge, in a fresh clone at another path and under
//! umask 0000; only what a Dockerfile's `COPY`/`ADD`/bind mounts reach counts.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::git;

/// `slipway images --json` signatures by image name.
fn sigs(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut c = support::slipway();
    c.project(dir)
        .env("DOCKER_HOST", "unix:///nonexistent.sock");
    support::signatures(&mut c)
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const WERF: &str = "project: sig\nconfigVersion: 1\n---\nimage: api\ndockerfile: docker/api.Dockerfile\n---\nimage: web\ndockerfile: docker/web.Dockerfile\n";
// The source comes from an ARG; a bind mount reads shared/; the `tools` stage is not needed
// by the final stage.
const API: &str = "# api\nARG SRC=api\nFROM scratch AS tools\nCOPY tools/ /tools/\n\nFROM scratch\nARG SRC\nCOPY $SRC/ /app/\nRUN --mount=type=bind,source=shared/lib.txt,target=/l true\n";
const WEB: &str = "FROM scratch\nCOPY web /web\n";

fn project(dir: &Path) {
    write(dir, "werf.yaml", WERF);
    write(dir, "docker/api.Dockerfile", API);
    write(dir, "api/main.sh", "#!/bin/sh\necho api\n");
    write(dir, "docker/web.Dockerfile", WEB);
    write(dir, "web/index.html", "<p>hi</p>\n");
    write(dir, "shared/lib.txt", "lib 1\n");
    write(dir, "tools/t.txt", "tool 1\n");
    write(dir, "README.md", "readme 1\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("api/main.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
}

#[test]
fn same_files_same_signature_across_branches_merges_clones_and_umasks() {
    let d = tempfile::tempdir().expect("tmp");
    let repo = d.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    project(&repo);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let base = sigs(&repo);
    assert_eq!(base.len(), 2);

    // A README edit, a Dockerfile comment and the unneeded `tools` stage's files: the
    // images are unchanged, committed or not.
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    write(&repo, "README.md", "readme 2\n");
    write(&repo, "tools/t.txt", "tool 2\n");
    write(
        &repo,
        "docker/api.Dockerfile",
        &API.replace("# api", "# the api"),
    );
    git(&repo, &["commit", "-q", "-am", "docs"]);
    assert_eq!(
        sigs(&repo),
        base,
        "README, comments and unneeded stages count"
    );

    // Another image's directory: only that image changes.
    write(&repo, "web/index.html", "<p>hello</p>\n");
    git(&repo, &["commit", "-q", "-am", "web"]);
    let web_changed = sigs(&repo);
    assert_eq!(web_changed["api"], base["api"]);
    assert_ne!(web_changed["web"], base["web"]);

    // A bind-mount source counts.
    write(&repo, "shared/lib.txt", "lib 2\n");
    git(&repo, &["commit", "-q", "-am", "lib"]);
    let feature = sigs(&repo);
    assert_ne!(feature["api"], base["api"]);
    assert_eq!(feature["web"], web_changed["web"]);

    // Squash merge into main: other commits, same files, same signatures.
    git(&repo, &["checkout", "-q", "main"]);
    assert_eq!(sigs(&repo), base);
    git(&repo, &["merge", "-q", "--squash", "feature"]);
    git(&repo, &["commit", "-q", "-m", "squashed"]);
    assert_eq!(sigs(&repo), feature, "squash merge");

    // Rebase merge on a main that moved on (a file no image reads): same again.
    git(&repo, &["checkout", "-q", "-b", "main2", "HEAD~1"]);
    write(&repo, "NOTES.md", "notes\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "main moved"]);
    git(&repo, &["checkout", "-q", "feature"]);
    git(&repo, &["rebase", "-q", "main2"]);
    assert_eq!(sigs(&repo), feature, "rebase");

    // A fresh clone at another path, checked out under umask 0000 (GitLab runners).
    let clone = d.path().join("elsewhere/clone");
    std::fs::create_dir_all(clone.parent().expect("p")).expect("mkdir");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 0000 && git clone -q --branch main file://{} {}",
            repo.display(),
            clone.display()
        ))
        .status()
        .expect("clone");
    assert!(st.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(clone.join("web/index.html"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o666, "the clone really has umask-0000 modes");
    }
    assert_eq!(sigs(&clone), feature, "fresh clone, other path, umask 0000");

    // A changed executable bit is a different image.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            clone.join("api/main.sh"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        assert_ne!(sigs(&clone)["api"], feature["api"]);
    }
}

#[test]
fn args_and_target_decide_which_sources_count() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    write(
        dir,
        "werf.yaml",
        "project: sig\nconfigVersion: 1\n---\nimage: one\nargs: {SRC: one}\n---\nimage: two\nargs: {SRC: two}\n---\nimage: dev\ntarget: dev\n",
    );
    write(
        dir,
        "Dockerfile",
        "FROM scratch AS dev\nCOPY dev.txt /\nFROM scratch\nARG SRC=none\nCOPY [\"${SRC}/\", \"/src/\"]\n",
    );
    write(dir, "one/a.txt", "1\n");
    write(dir, "two/a.txt", "2\n");
    write(dir, "dev.txt", "dev 1\n");
    let first = sigs(dir);
    write(dir, "two/a.txt", "22\n");
    let second = sigs(dir);
    assert_eq!(second["one"], first["one"]);
    assert_ne!(second["two"], first["two"]);
    assert_eq!(second["dev"], first["dev"]);
    write(dir, "dev.txt", "dev 2\n");
    let third = sigs(dir);
    assert_ne!(third["dev"], second["dev"]);
    assert_eq!(third["one"], second["one"]);
    // `.git` never counts, even under `COPY . /`.
    write(
        dir,
        "Dockerfile",
        "FROM scratch AS dev\nCOPY . /\nFROM scratch\nARG SRC=none\nCOPY [\"${SRC}/\", \"/src/\"]\n",
    );
    let before = sigs(dir);
    write(dir, ".git/HEAD", "ref: refs/heads/x\n");
    write(dir, "sub/.git", "gitdir: ../.git/modules/sub\n");
    assert_eq!(sigs(dir), before);
    write(dir, "sub/file", "x\n");
    assert_ne!(sigs(dir)["dev"], before["dev"]);
}

/// Finding 38.8: an excluded `.dockerignore` or Dockerfile is not part of the context a
/// `COPY . …` reaches, so editing them changes no signature beyond the Dockerfile's own
/// text; a byte order mark before the first pattern is dropped, as docker drops it.
#[test]
fn excluded_dockerignore_and_dockerfile_are_not_in_the_signature() {
    let d = tempfile::tempdir().expect("tmp");
    write(
        d.path(),
        "werf.yaml",
        "project: sig\nconfigVersion: 1\n---\nimage: app\n---\nimage: sub\ndockerfile: sub/Dockerfile\n",
    );
    write(d.path(), "Dockerfile", "FROM scratch\nCOPY . /app\n");
    write(d.path(), "sub/Dockerfile", "FROM scratch\nCOPY . /app\n");
    write(d.path(), ".dockerignore", "*\n!src\n");
    write(d.path(), "src/a.txt", "a\n");
    let before = sigs(d.path());
    write(d.path(), ".dockerignore", "# the allow-list\n*\n!src\n");
    write(
        d.path(),
        "sub/Dockerfile",
        "FROM scratch\nCOPY . /app\n# a comment\n",
    );
    let after = sigs(d.path());
    assert_eq!(
        before["app"], after["app"],
        "the excluded .dockerignore counted"
    );
    // `sub` names its Dockerfile, whose text counts (comments aside: the same instructions).
    assert_eq!(
        before["sub"], after["sub"],
        "the excluded sub/Dockerfile counted as a file"
    );
    // Sanity: a file the allow-list keeps does count.
    write(d.path(), "src/a.txt", "b\n");
    assert_ne!(sigs(d.path())["app"], after["app"]);
}

#[test]
fn a_byte_order_mark_before_the_first_dockerignore_pattern_is_dropped() {
    let d = tempfile::tempdir().expect("tmp");
    write(d.path(), ".dockerignore", "\u{FEFF}secret.txt\n");
    write(d.path(), "secret.txt", "s3cr3t\n");
    write(d.path(), "app.txt", "app\n");
    let entries = slipway::context::walk(d.path(), &[], &[]).expect("walk");
    let names: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
    assert_eq!(names, vec![".dockerignore", "app.txt"]);
}
