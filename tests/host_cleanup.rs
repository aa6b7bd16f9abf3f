//! `slipway host cleanup` on a daemon of its own whose data root is a small tmpfs
//! (tests/support/runner.rs): filled past the allowed usage, the unused Slipway images go,
//! the image of a running container stays, and so does every image that is not Slipway's.

use crate::support;

use std::path::Path;
use std::process::Command;

use support::runner::Runner;

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{t}")
}

/// Three images of 4 MB each (their own random bytes: no layer shared).
fn project(dir: &Path, name: &str) {
    let mut yaml = format!("project: {name}\nconfigVersion: 1\n");
    for image in ["web", "old1", "old2"] {
        std::fs::write(
            dir.join(format!("{image}.Dockerfile")),
            format!(
                "FROM {}\nRUN head -c 4000000 /dev/urandom > /blob-{image}\n",
                support::base_image()
            ),
        )
        .expect("Dockerfile");
        yaml.push_str(&format!(
            "---\nimage: {image}\ndockerfile: {image}.Dockerfile\n"
        ));
    }
    std::fs::write(dir.join("werf.yaml"), yaml).expect("werf.yaml");
    support::git_commit_all(dir);
}

/// A shell line in the daemon's mount namespace (where its tmpfs is).
fn in_ns(runner: &Runner, script: &str) -> String {
    let out = Command::new("nsenter")
        .args(runner.in_namespace())
        .args(["sh", "-c", script])
        .output()
        .expect("nsenter");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// (total, used) bytes of the daemon's tmpfs, as `stat -f` sees it.
fn usage(runner: &Runner) -> (u64, u64) {
    let root = runner.data_root();
    let line = in_ns(runner, &format!("stat -f -c '%b %f %S' {}", root.display()));
    let n: Vec<u64> = line
        .split_whitespace()
        .map(|w| w.parse().expect("number"))
        .collect();
    (n[0] * n[2], (n[0] - n[1]) * n[2])
}

fn has_image(runner: &Runner, reference: &str) -> bool {
    runner
        .cli()
        .args(["image", "inspect", reference])
        .output()
        .expect("docker image inspect")
        .status
        .success()
}

#[test]
fn over_the_threshold_unused_slipway_images_go_and_a_running_containers_image_stays() {
    let runner = Runner::start_on_small_disk("96m");
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    let name = unique("hostclean");
    project(dir, &name);
    let tmp = tempfile::tempdir().expect("TMPDIR");
    let slipway = || {
        let mut c = support::slipway();
        c.project(dir)
            .docker_host(Some(&runner.host()))
            .env("TMPDIR", tmp.path());
        c
    };
    slipway().arg("build").assert().success();
    let web = format!("{name}/web:latest");
    let out = runner
        .cli()
        .args(["run", "-d", "--name", "web", &web, "sleep", "600"])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A remote reference publish would leave: untagged, the image stays.
    let remote = format!("127.0.0.1:5999/{name}/web:v1");
    assert!(
        runner
            .cli()
            .args(["tag", &web, &remote])
            .status()
            .expect("tag")
            .success()
    );

    // Fill the tmpfs to 85 %.
    let (total, used) = usage(&runner);
    let fill = (total * 85 / 100).saturating_sub(used);
    let hidden = runner
        .data_root()
        .parent()
        .expect("tmpfs root")
        .to_path_buf();
    in_ns(
        &runner,
        &format!("head -c {fill} /dev/zero > {}/filler", hidden.display()),
    );
    let (total, used) = usage(&runner);
    assert!(used * 100 / total > 70, "filled: {used} of {total}");

    let run = |extra: &[&str]| {
        let mut args = vec!["host", "cleanup"];
        args.extend(extra);
        let mut c = slipway();
        c.args(&args);
        let out = c
            .via(
                "nsenter",
                &runner
                    .in_namespace()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            )
            .output()
            .expect("slipway host cleanup");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    let plan = run(&["--dry-run"]);
    eprintln!("{plan}");
    assert!(plan.starts_with("dry run"), "{plan}");
    assert!(
        plan.contains("% allowed: freeing"),
        "threshold crossed: {plan}"
    );
    for old in ["old1", "old2"] {
        assert!(
            plan.contains(&format!("{name}/{old}:latest (least recently used")),
            "{plan}"
        );
        assert!(
            has_image(&runner, &format!("{name}/{old}:latest")),
            "dry run removed {old}"
        );
    }
    assert!(
        plan.lines()
            .any(|l| l.starts_with("keep image") && l.contains(&web)),
        "{plan}"
    );
    assert!(plan.contains(&format!("untag {remote}")), "{plan}");

    let started = std::time::Instant::now();
    let done = run(&[]);
    eprintln!("host cleanup took {:?}", started.elapsed());
    assert!(!done.starts_with("dry run"), "{done}");
    assert!(!has_image(&runner, &format!("{name}/old1:latest")));
    assert!(!has_image(&runner, &format!("{name}/old2:latest")));
    assert!(
        has_image(&runner, &web),
        "the running container's image stays"
    );
    assert!(
        !has_image(&runner, &remote),
        "the remote reference is untagged"
    );
    assert!(
        has_image(&runner, support::base_image()),
        "not Slipway's: stays"
    );
    let (total2, used2) = usage(&runner);
    assert_eq!(total, total2);
    assert!(used2 < used, "usage went down: {used} -> {used2}");
    let _ = runner.cli().args(["rm", "-f", "web"]).output();
}
