//! ansible modules that need a distribution's own tools (`apt`, `user`, `group`) and the
//! file modules `get_url` and `lineinfile`, built on the Debian base image
//! (`scripts/debian-base`) and checked by looking into the image. Downloads come from a
//! file server the test runs on the host, on Docker's bridge (build steps reach it there):
//! a flat apt repository of .deb files made here, and a payload for `get_url`.

use crate::support;

use std::path::Path;

use sha2::Digest;

/// A committed project with `werf.yaml` (`DEBIAN` → the Debian base, `URL` → `url`).
fn project(yaml: &str, url: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(
        d.path().join("werf.yaml"),
        yaml.replace("DEBIAN", support::debian_image())
            .replace("URL", url),
    )
    .expect("werf.yaml");
    support::git_commit_all(d.path());
    d
}

fn build(dir: &Path) {
    support::slipway()
        .project(dir)
        .stapel()
        .args(["build", "--force"])
        .assert()
        .success();
}

/// A .deb made with dpkg-deb: one file `/usr/share/NAME/version`, and control fields.
fn deb(out: &Path, name: &str, version: &str, extra: &str) -> (String, Vec<u8>) {
    let root = tempfile::tempdir().expect("tmp");
    support::write_tree(
        root.path(),
        &[
            (
                "DEBIAN/control",
                &format!(
                    "Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.com>\n{extra}Description: slipway test package\n"
                ),
            ),
            (
                &format!("usr/share/{name}/version"),
                &format!("{version}\n"),
            ),
        ],
    );
    let file = format!("{name}_{version}_all.deb");
    let st = std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(root.path())
        .arg(out.join(&file))
        .output()
        .expect("dpkg-deb");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let data = std::fs::read(out.join(&file)).expect("deb");
    (file, data)
}

/// A flat apt repository (`deb [trusted=yes] URL ./`): .deb files, `Packages`, and an
/// unsigned `Release`.
fn apt_repo(dir: &Path) {
    let mut packages = String::new();
    for (name, extra) in [
        (
            "slipway-hello",
            "Depends: slipway-dep\nRecommends: slipway-rec\n",
        ),
        ("slipway-dep", ""),
        ("slipway-rec", ""),
        ("slipway-extra", ""),
    ] {
        let (file, data) = deb(dir, name, "1.0", extra);
        packages.push_str(&format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\n{extra}Filename: ./{file}\nSize: {}\nSHA256: {}\nDescription: slipway test package\n\n",
            data.len(),
            hex::encode(sha2::Sha256::digest(&data))
        ));
    }
    std::fs::write(dir.join("Packages"), &packages).expect("Packages");
    std::fs::write(
        dir.join("Release"),
        format!(
            "Origin: slipway-test\nLabel: slipway-test\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n {} {} Packages\n",
            hex::encode(sha2::Sha256::digest(packages.as_bytes())),
            packages.len()
        ),
    )
    .expect("Release");
}

/// `apt`, `group`, `user` (and `become_user`), `get_url` and `lineinfile` as ansible 2.7
/// runs them, on Debian's own apt-get, dpkg and useradd.
#[test]
fn system_modules_run_with_the_images_own_tools() {
    let served = tempfile::tempdir().expect("tmp");
    apt_repo(served.path());
    std::fs::write(served.path().join("payload.txt"), "payload\n").expect("payload");
    let server = support::file_server(&support::docker_host_ip(), served.path());
    let sum = hex::encode(sha2::Sha256::digest(b"payload\n"));
    let d = project(
        &r#"project: stapel-system
configVersion: 1
---
image: app
from: DEBIAN
ansible:
  beforeInstall:
  - shell: "true NONCE"
  - name: only the test's repository
    copy:
      content: "deb [trusted=yes] URL ./\n"
      dest: /etc/apt/sources.list
  - name: packages
    apt:
      name: [slipway-hello, slipway-extra]
      update_cache: yes
      install_recommends: no
  - apt: {pkg: slipway-extra, state: absent}
  - apt: {name: slipway-hello}
  - shell: dpkg-query -W -f='${Status}' slipway-rec > /tmp/rec 2>&1 || true
  install:
  - group: {name: team, gid: 2345}
  - group: {name: sysgrp, system: yes}
  - user:
      name: app
      uid: 1234
      group: team
      groups: [sysgrp]
      home: /srv/app
      shell: /bin/bash
  - user: {name: app, shell: /bin/sh}
  - user: {name: svc, system: yes, create_home: no}
  - shell: id -un > /tmp/who; echo "$HOME" >> /tmp/who
    become: yes
    become_user: app
  - get_url:
      url: URL/payload.txt
      dest: /opt/payload.txt
      mode: 0600
      owner: app
      group: team
      checksum: "sha256:SUM"
  - get_url: {url: URL/payload.txt, dest: /srv/}
  - shell: echo changed > /opt/kept.txt; echo changed > /opt/fixed.txt
  - get_url: {url: URL/payload.txt, dest: /opt/kept.txt}
  - get_url: {url: URL/payload.txt, dest: /opt/fixed.txt, checksum: "sha256:SUM"}
  - apt: {name: slipway-rec, state: latest}
  - apt: {name: no-such-package}
    ignore_errors: yes
  setup:
  - copy: {content: "a=1\n#Port 22\nb=2\n", dest: /etc/app.conf}
  - lineinfile: {path: /etc/app.conf, regexp: "^#?Port ", line: Port 2222}
  - lineinfile: {path: /etc/app.conf, line: c=3}
  - lineinfile: {path: /etc/app.conf, line: c=3}
  - lineinfile: {path: /etc/app.conf, line: first, insertafter: BOF}
  - lineinfile: {path: /etc/app.conf, regexp: "^b=", state: absent}
  - lineinfile: {path: /etc/new/made.conf, line: x=1, create: yes, mode: 0600}
"#
        .replace("SUM", &sum)
        // BuildKit's cache outlives a run: a file server on a port an earlier run drew would
        // otherwise give the same steps, served from cache with no download.
        .replace(
            "NONCE",
            &format!(
                "{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("clock")
                    .as_nanos()
            ),
        ),
        &server.url,
    );
    build(d.path());
    let img = "stapel-system/app:latest";
    let status = |p: &str| {
        support::sh(
            img,
            &format!("dpkg-query -W -f='${{Status}}' {p} 2>/dev/null || echo missing"),
        )
    };
    assert_eq!(status("slipway-hello"), "install ok installed");
    assert_eq!(
        status("slipway-dep"),
        "install ok installed",
        "a dependency"
    );
    let recommended = support::sh(img, "cat /tmp/rec");
    assert!(
        !recommended.contains("ok installed"),
        "install_recommends: no: {recommended}"
    );
    assert_ne!(
        status("slipway-extra"),
        "install ok installed",
        "removed by `pkg:`"
    );
    assert_eq!(
        support::sh(img, "cat /usr/share/slipway-hello/version"),
        "1.0"
    );
    assert!(server.hits.load(std::sync::atomic::Ordering::SeqCst) >= 4);

    assert_eq!(
        support::sh(img, "id app"),
        "uid=1234(app) gid=2345(team) groups=2345(team),999(sysgrp)"
    );
    assert_eq!(
        support::sh(img, "getent passwd app"),
        "app:x:1234:2345::/srv/app:/bin/sh"
    );
    assert_eq!(support::sh(img, "stat -c '%u %g' /srv/app"), "1234 2345");
    let svc = support::sh(img, "getent passwd svc");
    let fields: Vec<&str> = svc.split(':').collect();
    assert!(fields[2].parse::<u32>().expect("uid") < 1000, "{svc}");
    assert_eq!(
        support::sh(
            img,
            &format!("test -e {} && echo home || echo none", fields[5])
        ),
        "none"
    );
    assert_eq!(support::sh(img, "cat /tmp/who"), "app\n/srv/app");
    assert_eq!(support::sh(img, "stat -c %u /tmp/who"), "1234");

    assert_eq!(
        support::sh(
            img,
            "stat -c '%a %u %g' /opt/payload.txt; cat /opt/payload.txt"
        ),
        "600 1234 2345\npayload"
    );
    assert_eq!(
        support::sh(img, "stat -c '%a' /srv/payload.txt; cat /srv/payload.txt"),
        "644\npayload"
    );

    assert_eq!(
        support::sh(img, "cat /opt/kept.txt /opt/fixed.txt"),
        "changed\npayload",
        "an existing file is kept unless its checksum differs"
    );
    assert_eq!(
        status("slipway-rec"),
        "install ok installed",
        "state: latest"
    );
    assert_eq!(
        support::sh(img, "cat /etc/app.conf"),
        "first\na=1\nPort 2222\nc=3"
    );
    assert_eq!(
        support::sh(img, "stat -c %a /etc/new/made.conf; cat /etc/new/made.conf"),
        "600\nx=1"
    );
}

/// A download whose checksum differs fails the build at the task's line; nothing is
/// tagged.
#[test]
fn get_url_with_a_wrong_checksum_fails_at_the_task() {
    let served = tempfile::tempdir().expect("tmp");
    std::fs::write(served.path().join("payload.txt"), "payload\n").expect("payload");
    let server = support::file_server(&support::docker_host_ip(), served.path());
    let d = project(
        r#"project: stapel-badsum
configVersion: 1
---
image: app
from: DEBIAN
ansible:
  install:
  - get_url:
      url: URL/payload.txt
      dest: /opt/payload.txt
      checksum: "sha256:0000"
"#,
        &server.url,
    );
    let _ = std::process::Command::new("/usr/bin/docker")
        .args(["rmi", "-f", "stapel-badsum/app:latest"])
        .output();
    let out = support::slipway()
        .project(d.path())
        .stapel()
        .arg("build")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("werf.yaml:8:5: ansible.install[0]"), "{err}");
    assert!(
        err.contains("get_url: the checksum for /opt/payload.txt did not match 0000"),
        "{err}"
    );
    let inspect = std::process::Command::new("/usr/bin/docker")
        .args(["image", "inspect", "stapel-badsum/app:latest"])
        .output()
        .expect("docker");
    assert!(!inspect.status.success(), "nothing is tagged");
}

/// An unknown module or an unknown key of a supported one is an error located at the
/// task's key; `apk`, `yum` and `dnf` (short or qualified, in a block too) are refused by
/// name with the `shell:` to use; nothing is built.
#[test]
fn unknown_modules_and_keys_are_located_errors_and_nothing_is_built() {
    let refused = "is refused: of the package managers Slipway translates `apt` only (there is no Alpine or RPM base to test a translation on); use `shell:";
    for (yaml, want) in [
        (
            "  - name: pkgs\n    yum: {name: curl}\n".to_string(),
            format!("werf.yaml:9:5: ansible.install[0] (\"pkgs\"): module `yum` {refused} yum install -y …`"),
        ),
        (
            "  - apk: {name: curl, update_cache: yes}\n".to_string(),
            format!("werf.yaml:8:5: ansible.install[0]: module `apk` {refused} apk add --no-cache …`"),
        ),
        (
            "  - shell: echo first\n  - block:\n    - name: rpm\n      ansible.builtin.dnf: {name: curl}\n".to_string(),
            format!("werf.yaml:11:7: ansible.install[1].block[0] (\"rpm\"): module `ansible.builtin.dnf` {refused} dnf install -y …`"),
        ),
        (
            "  - community.general.apk: {name: curl}\n".to_string(),
            format!("werf.yaml:8:5: ansible.install[0]: module `community.general.apk` {refused} apk add"),
        ),
        (
            "  - user: {name: app, password: secret}\n".to_string(),
            "werf.yaml:8:23: ansible.install[0]: user.password is not supported yet".to_string(),
        ),
        (
            "  - apt: {name: curl, cache_valid_time: 60}\n".to_string(),
            "werf.yaml:8:23: ansible.install[0]: apt.cache_valid_time is not supported yet"
                .to_string(),
        ),
    ] {
        let d = project(
            &format!(
                "project: stapel-reject\nconfigVersion: 1\n---\nimage: app\nfrom: DEBIAN\nansible:\n  install:\n{yaml}"
            ),
            "",
        );
        let _ = std::process::Command::new("/usr/bin/docker")
            .args(["rmi", "-f", "stapel-reject/app:latest"])
            .output();
        let out = support::slipway()
            .project(d.path())
            .stapel()
            .arg("build")
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(&want), "{want}\n{err}");
        assert!(!err.contains("secret"), "{err}");
        let inspect = std::process::Command::new("/usr/bin/docker")
            .args(["image", "inspect", "stapel-reject/app:latest"])
            .output()
            .expect("docker");
        assert!(!inspect.status.success(), "nothing is built");
    }
}
