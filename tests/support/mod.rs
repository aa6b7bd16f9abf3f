//! Test harness shared by every integration test: the real Docker daemon, a base image made
//! from Debian's busybox-static, a fresh CNCF distribution registry per test (plain, or
//! TLS + htpasswd with a CA made here), skopeo as the independent judge, and the `slipway`
//! binary with an isolated environment.
//!
//! Nothing here is skipped when a daemon or registry is missing: tests fail loudly.

pub mod command;
pub mod doc_blocks;
pub mod fault_proxy;
pub mod kube;
pub mod multiarch;
pub mod registry;
pub mod runner;
pub mod skopeo;

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

pub use command::{Slipway, slipway};
pub use registry::Registry;

/// Name of the base image every test builds FROM.
pub const BASE_IMAGE: &str = "slipway-test/busybox:latest";

/// Docker daemon client from `DOCKER_HOST` or `/var/run/docker.sock`.
pub fn docker() -> bollard::Docker {
    daemon_answers();
    connect().expect("cannot configure a Docker client")
}

fn connect() -> Result<bollard::Docker, bollard::errors::Error> {
    bollard::Docker::connect_with_defaults()
}

/// Whether the daemon of `DOCKER_HOST` or the default socket answers a ping (a daemon that
/// stopped cleanly has removed its socket: that is "no" too).
fn answers() -> bool {
    match connect() {
        Ok(d) => block_on(async { d.ping().await.is_ok() }),
        Err(_) => false,
    }
}

/// Where `scripts/setup` has the host's dockerd log, and where a restart below is recorded
/// (`scripts/test` prints that record at its end, so a run that needed one says so and why).
const DOCKERD_LOG: &str = "/var/log/slipway-dockerd.log";
const RESTARTS_LOG: &str = "/var/log/slipway-dockerd-restarts.log";

/// Make sure the host's daemon answers, once per test process. If the default daemon (no
/// `DOCKER_HOST`) does not, it is started again as `scripts/setup` starts it (the brief's
/// rule: no daemon answering means start `dockerd`), after its log tail, the disks' free space
/// and the kernel's last words are written to `RESTARTS_LOG`. A daemon named by
/// `DOCKER_HOST` is never started here: that fails as before.
pub fn daemon_answers() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if answers() {
            return;
        }
        assert!(
            std::env::var_os("DOCKER_HOST").is_none(),
            "the Docker daemon at DOCKER_HOST does not answer"
        );
        let lock_path = std::env::temp_dir().join("slipway-test-dockerd.lock");
        let lock = std::fs::File::create(&lock_path).expect("create lock file");
        lock.lock().expect("lock dockerd restart");
        // Another test process may have started it while this one waited for the lock.
        if !answers() {
            restart_dockerd();
        }
        drop(lock);
    });
}

/// Record in `RESTARTS_LOG` (printed by `scripts/test`) when the host's daemon no longer
/// answers after `what`: a test that stops something of its own (a second dockerd) says so if
/// the host's daemon went with it. Never panics: it is called from `Drop`.
pub fn note_if_host_daemon_is_gone(what: &str) {
    if std::env::var_os("DOCKER_HOST").is_some() || answers() {
        return;
    }
    record(&format!(
        "== the host's dockerd does not answer after {what} (test process {})\n{}",
        std::process::id(),
        host_state()
    ));
}

/// Output of `sh -c script`, both streams, or why it could not run.
fn shell(script: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_else(|e| format!("({script}: {e})"))
}

/// What may say why a daemon stopped: its log's tail, free disk and memory, the kernel's log.
fn host_state() -> String {
    format!(
        "-- last lines of {DOCKERD_LOG}:\n{}\n-- df -h:\n{}\n-- free -m:\n{}\n-- dmesg:\n{}\n",
        shell(&format!("tail -n 40 {DOCKERD_LOG}")),
        shell("df -h / /var/lib/docker /tmp"),
        shell("free -m"),
        shell("dmesg 2>&1 | tail -n 20"),
    )
}

/// To the test's stderr and appended to `RESTARTS_LOG`.
fn record(text: &str) {
    eprintln!("{text}");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(RESTARTS_LOG)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

fn restart_dockerd() {
    let state = host_state();
    record(&format!(
        "== {} the host's dockerd did not answer (test process {}, {}); restarting it\n{state}",
        shell("date -u +%FT%TZ").trim(),
        std::process::id(),
        std::env::args().next().unwrap_or_default(),
    ));
    // A daemon that crashed may still be writing its goroutine dump: dockerd refuses to
    // start while the pid in its pid file runs. Wait for it (killed after 30 s).
    if let Some(pid) = std::fs::read_to_string("/var/run/docker.pid")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let runs = || {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "dockerd")
        };
        while runs() {
            if std::time::Instant::now() > deadline {
                shell(&format!("kill -9 {pid}"));
                std::thread::sleep(std::time::Duration::from_secs(1));
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    let started = shell(&format!(
        "setsid nohup dockerd >>{DOCKERD_LOG} 2>&1 </dev/null & echo started"
    ));
    assert!(started.contains("started"), "start dockerd: {started}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !answers() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Docker daemon does not answer (/var/run/docker.sock) and did not start again in \
             60 s:\n{state}\n-- its log now:\n{}",
            shell(&format!("tail -n 40 {DOCKERD_LOG}"))
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Run a future to completion on a private runtime, even from inside another runtime.
pub fn block_on<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f)
        })
        .join()
        .expect("harness thread panicked")
    })
}

/// Make sure `slipway-test/busybox:latest` exists in the daemon, once per test process and
/// safely across processes (file lock). It is a `docker load` of a docker-save archive that
/// we assemble from `/bin/busybox` (Debian's busybox-static), so it is byte-identical on
/// every machine and needs no pull.
pub fn base_image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let lock_path = std::env::temp_dir().join("slipway-test-base-image.lock");
        let lock = std::fs::File::create(&lock_path).expect("create lock file");
        lock.lock().expect("lock base image");
        daemon_answers();
        block_on(async {
            let docker = docker();
            if docker.inspect_image(BASE_IMAGE).await.is_ok() {
                return;
            }
            let archive = busybox_save_archive();
            let mut stream = docker.import_image(
                bollard::query_parameters::ImportImageOptionsBuilder::default()
                    .quiet(true)
                    .build(),
                bollard::body_full(archive.into()),
                None,
            );
            use futures::StreamExt;
            while let Some(item) = stream.next().await {
                item.expect("docker load of the base image");
            }
            docker
                .inspect_image(BASE_IMAGE)
                .await
                .expect("base image present after load");
        });
        drop(lock);
    });
    BASE_IMAGE
}

/// Name of the stapel toolbox image tests build stapel images with.
pub const STAPEL_TOOLBOX: &str = "slipway-test/stapel-toolbox:latest";

/// Make sure the stapel toolbox (`scripts/stapel-toolbox`: Debian's bash-static and
/// busybox-static at `/.werf/stapel/embedded/bin`) exists, once per test process and
/// safely across processes (file lock). Nothing is pulled.
pub fn stapel_toolbox() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let lock_path = std::env::temp_dir().join("slipway-test-stapel-toolbox.lock");
        let lock = std::fs::File::create(&lock_path).expect("create lock file");
        lock.lock().expect("lock stapel toolbox");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stapel-toolbox");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(STAPEL_TOOLBOX)
            .output()
            .expect("scripts/stapel-toolbox runs");
        assert!(
            out.status.success(),
            "scripts/stapel-toolbox: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(lock);
    });
    STAPEL_TOOLBOX
}

/// Name of the Debian base image (`scripts/debian-base`: mmdebstrap's minbase of bookworm,
/// with tcc and libc6-dev) for tests that need a distribution's own tools (apt, useradd).
pub const DEBIAN_IMAGE: &str = "slipway-test/debian:bookworm";

/// The Debian base image, which `scripts/setup` makes (`scripts/debian-base` runs here too,
/// once per process and under a file lock, when it is missing: it needs Debian's archive).
/// Never skipped: a machine that cannot make it fails the test.
pub fn debian_image() -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let lock_path = std::env::temp_dir().join("slipway-test-debian-image.lock");
        let lock = std::fs::File::create(&lock_path).expect("create lock file");
        lock.lock().expect("lock debian image");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debian-base");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(DEBIAN_IMAGE)
            .output()
            .expect("scripts/debian-base runs");
        assert!(
            out.status.success(),
            "scripts/debian-base: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        drop(lock);
    });
    DEBIAN_IMAGE
}

/// The address build steps reach the host at: the host's address on Docker's default bridge
/// (BuildKit's RUN steps are on that network). IPAM's `Gateway` is not asked: when `docker0`
/// exists before dockerd starts, `docker network inspect bridge` shows the Subnet only. The
/// bridge interface's own IPv4 address is the answer; where it cannot be read, the subnet's
/// first host (dockerd gives the bridge that address).
pub fn docker_host_ip() -> String {
    let inspect = |format: &str| {
        let out = std::process::Command::new("/usr/bin/docker")
            .args(["network", "inspect", "bridge", "--format", format])
            .output()
            .expect("docker network inspect");
        assert!(out.status.success(), "docker network inspect bridge");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let name = inspect("{{index .Options \"com.docker.network.bridge.name\"}}");
    let name = if name.is_empty() || name == "<no value>" {
        "docker0".to_string()
    } else {
        name
    };
    if let Some(ip) = interface_ipv4(&name) {
        return ip;
    }
    let subnet = inspect("{{(index .IPAM.Config 0).Subnet}}");
    first_host(&subnet).unwrap_or_else(|| panic!("bridge {name}: no address, subnet {subnet:?}"))
}

/// The first IPv4 address of a network interface (`ip -4 -o addr show dev NAME`).
fn interface_ipv4(name: &str) -> Option<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", name])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words.find(|w| *w == "inet")?;
    let cidr = words.next()?;
    Some(cidr.split('/').next()?.to_string())
}

/// `172.17.0.0/16` → `172.17.0.1`.
fn first_host(subnet: &str) -> Option<String> {
    let (net, _) = subnet.split_once('/')?;
    let ip: std::net::Ipv4Addr = net.parse().ok()?;
    Some(std::net::Ipv4Addr::from(u32::from(ip) + 1).to_string())
}

/// A static HTTP/1.0 file server on `ip` (a free port) for what build steps download;
/// `GET /PATH` answers `root/PATH` or 404. Runs until the test process ends; `hits` counts
/// the requests served.
pub struct FileServer {
    pub url: String,
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

pub fn file_server(ip: &str, root: &Path) -> FileServer {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind((ip, 0)).expect("bind the file server");
    let port = listener.local_addr().expect("addr").port();
    let root = root.to_path_buf();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let root = root.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut line = String::new();
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(clone);
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                // Headers up to the blank line.
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/");
                let rel = path.trim_start_matches('/').split('?').next().unwrap_or("");
                let file = root.join(rel);
                let head = line.starts_with("HEAD ");
                let resp = match std::fs::read(&file) {
                    Ok(data) if !rel.contains("..") && file.is_file() => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let mut r = format!(
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                            data.len()
                        )
                        .into_bytes();
                        if !head {
                            r.extend(data);
                        }
                        r
                    }
                    _ => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&resp);
            });
        }
    });
    FileServer {
        url: format!("http://{ip}:{port}"),
        hits,
    }
}

/// Run git in `dir` as a fixed test identity (no user config needed); panics with git's
/// message on failure; returns its trimmed stdout.
/// `git init` in `dir` and one commit (`init`) of everything in it.
pub fn git_commit_all(dir: &Path) {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "init"]);
}

/// The `stapel stages:` summary of a build's output, from `reused …` on.
pub fn stages_summary(err: &str) -> String {
    err.lines()
        .find_map(|l| {
            l.split_once("stapel stages: reused ")
                .map(|(_, r)| format!("reused {r}"))
        })
        .unwrap_or_else(|| panic!("no stapel stages line in:\n{err}"))
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `slipway --json images` in `dir`: image name → content signature.
pub fn signatures(cmd: &mut assert_cmd::Command) -> std::collections::BTreeMap<String, String> {
    let out = cmd.args(["--json", "images"]).assert().success();
    let v = json_result(&out.get_output().stdout);
    v["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| {
            (
                i["name"].as_str().expect("name").to_string(),
                i["signature"].as_str().expect("sig").to_string(),
            )
        })
        .collect()
}

/// The socket `scripts/setup` starts `podman system service` on
/// (`SLIPWAY_TEST_PODMAN_HOST` overrides it).
pub fn podman_host() -> String {
    std::env::var("SLIPWAY_TEST_PODMAN_HOST")
        .unwrap_or_else(|_| "unix:///run/slipway-podman/podman.sock".to_string())
}

/// A client of the Podman service, with the base image loaded into it (once per process).
pub fn podman_with_base_image() -> bollard::Docker {
    static DONE: OnceLock<()> = OnceLock::new();
    let host = podman_host();
    let path = host.trim_start_matches("unix://").to_string();
    let connect = || {
        bollard::Docker::connect_with_unix(&path, 120, bollard::API_DEFAULT_VERSION)
            .expect("Podman client")
    };
    DONE.get_or_init(|| {
        block_on(async {
            let podman = connect();
            podman.ping().await.unwrap_or_else(|e| {
                panic!("Podman does not answer on {host} (scripts/setup starts it): {e}")
            });
            if podman.inspect_image(BASE_IMAGE).await.is_ok() {
                return;
            }
            let mut stream = podman.import_image(
                bollard::query_parameters::ImportImageOptionsBuilder::default()
                    .quiet(true)
                    .build(),
                bollard::body_full(busybox_save_archive().into()),
                None,
            );
            use futures::StreamExt;
            while let Some(item) = stream.next().await {
                item.expect("podman load of the base image");
            }
        });
    });
    connect()
}

fn busybox_save_archive() -> Vec<u8> {
    use sha2::Digest;
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox missing: install Debian's busybox-static");
    let applets = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8(applets.stdout).expect("applet list");

    let mut layer = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, p: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, p, std::io::empty()).expect("dir");
    };
    for (p, m) in [
        ("bin/", 0o755),
        ("etc/", 0o755),
        ("tmp/", 0o1777),
        ("root/", 0o700),
    ] {
        dir(&mut layer, p, m);
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(0);
    layer
        .append_data(&mut h, "bin/busybox", busybox.as_slice())
        .expect("busybox");
    let mut names: Vec<&str> = applets
        .lines()
        .filter(|a| *a != "busybox" && !a.is_empty())
        .collect();
    names.sort();
    for a in names {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        layer
            .append_link(&mut h, format!("bin/{a}"), "busybox")
            .expect("applet link");
    }
    for (p, content) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_mtime(0);
        layer
            .append_data(&mut h, p, content.as_bytes())
            .expect("etc");
    }
    let layer = layer.into_inner().expect("layer tar");
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "slipway test harness: busybox-static"}],
    });
    let config = serde_json::to_vec(&config).expect("config json");
    let config_name = format!("{}.json", hex::encode(sha2::Sha256::digest(&config)));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": [BASE_IMAGE], "Layers": ["layer/layer.tar"]}
    ]))
    .expect("manifest json");

    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in [
        (config_name.as_str(), config.as_slice()),
        ("layer/layer.tar", layer.as_slice()),
        ("manifest.json", manifest.as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        out.append_data(&mut h, name, data).expect("archive entry");
    }
    out.into_inner().expect("archive")
}

/// An in-memory tar of a directory tree given as (path, content) pairs.
pub fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(c.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, p, c.as_bytes()).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

/// Write files under `root`, creating parent folders.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = root.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        let mut f = std::fs::File::create(&path).expect("create file");
        f.write_all(c.as_bytes()).expect("write file");
    }
}

/// Slipway's cache folder (`XDG_CACHE_HOME`) for a project: one per project directory, under
/// the system temp dir, so runs on the committed examples/ never write into the source tree.
pub fn cache_home(project: &Path) -> std::path::PathBuf {
    use sha2::Digest;
    let key = hex::encode(sha2::Sha256::digest(project.to_string_lossy().as_bytes()));
    std::env::temp_dir()
        .join("slipway-test-cache")
        .join(&key[..16])
}

/// `docker save` of a small image FROM the base image: a COPY of a per-call nonce and `kb`
/// KiB of random bytes, so every call gives new layers.
pub fn image_tarball(dir: &Path, kb: usize) -> std::path::PathBuf {
    let ctx = dir.join("ctx");
    let nonce = format!("{:?}{}", std::time::SystemTime::now(), dir.display());
    write_tree(
        &ctx,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY nonce /nonce\nRUN head -c {}000 /dev/urandom > /blob\n",
                    base_image(),
                    kb
                ),
            ),
            ("nonce", &nonce),
        ],
    );
    let tag = format!(
        "slipway-test/tarball:{}",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .trim_start_matches('.')
            .to_lowercase()
    );
    let ok = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(&ctx)
        .output()
        .expect("docker build");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let tar = dir.join("image.tar");
    let ok = std::process::Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(&tag)
        .status()
        .expect("docker save");
    assert!(ok.success());
    tar
}

/// The `result` of a `--json` run: the final line of the event stream (docs/json.md),
/// which must say `ok: true`.
pub fn json_result(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let last = text.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).expect("final JSON line");
    assert_eq!(v["ok"], true, "{text}");
    v["result"].clone()
}

/// Run `cmd` with the image's `sh` as root; stdout, trimmed.
pub fn sh(image: &str, cmd: &str) -> String {
    let out = std::process::Command::new("/usr/bin/docker")
        .args([
            "run",
            "--rm",
            "--user",
            "0",
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
        ])
        .arg(cmd)
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Text unique to this run: images with the same content signature from an earlier run
/// would otherwise be reused (skipped) where a test wants a build.
pub fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

/// A committed git project: `files`, then `werf.yaml` with `BASE` → the test base image.
pub fn based_project(files: &[(&str, &str)], yaml: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    write_tree(d.path(), files);
    std::fs::write(
        d.path().join("werf.yaml"),
        yaml.replace("BASE", base_image()),
    )
    .expect("werf.yaml");
    git_commit_all(d.path());
    d
}
