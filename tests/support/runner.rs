//! A second Docker daemon, as a second CI runner: its own data root, exec root, pid file,
//! socket and network bridge, sharing nothing with the host's daemon but the kernel. Stage
//! reuse across runners is tested by building once on the host's daemon and again here.
//!
//! The bridge is created here and given to dockerd with `--bridge=NAME`, with iptables and
//! masquerading off so the host's rules are left alone. Never `--bridge=none`: that makes
//! dockerd delete the host's `docker0`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{BASE_IMAGE, STAPEL_TOOLBOX, base_image, block_on, stapel_toolbox};

pub struct Runner {
    dir: tempfile::TempDir,
    bridge: String,
    child: Child,
    /// `tcp://127.0.0.1:PORT` when it also listens there ([`Runner::start_remote`]).
    tcp: Option<String>,
}

impl Runner {
    /// Start a daemon and wait until it answers. The base image is loaded into it from the
    /// host's daemon (`docker save` | load: the same image ID, as a pull would give); the
    /// stapel toolbox is made again by `scripts/stapel-toolbox` (a `docker import`, so its
    /// ID differs from the host's, as it would on another machine). Nothing is pulled.
    pub fn start() -> Runner {
        Runner::start_with(false, None)
    }

    /// A daemon as a remote `DOCKER_HOST` is (docker:dind, a build host): it also listens on
    /// TCP ([`Runner::tcp_host`]), and its data root is a tmpfs mounted in a mount namespace
    /// of its own, so that the path `docker info` gives is empty here: its layer store
    /// cannot be read from this host.
    pub fn start_remote() -> Runner {
        Runner::start_with(true, None)
    }

    /// As [`Runner::start_remote`], on a tmpfs of `size` (`64m`): a small disk that fills.
    /// Seen from this host only through [`Runner::in_namespace`].
    pub fn start_on_small_disk(size: &str) -> Runner {
        Runner::start_with(true, Some(size))
    }

    /// `nsenter` arguments that run a program in the daemon's mount namespace, where its
    /// data root ([`Runner::data_root`]) is mounted.
    pub fn in_namespace(&self) -> Vec<String> {
        ["-t", &self.child.id().to_string(), "-m", "--"]
            .map(str::to_string)
            .to_vec()
    }

    /// The daemon's data root (on the tmpfs of a remote-like runner).
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("hidden/data")
    }

    fn start_with(remote: bool, tmpfs_size: Option<&str>) -> Runner {
        base_image();
        stapel_toolbox();
        let dir = tempfile::Builder::new()
            .prefix("slipway-runner")
            .tempdir()
            .expect("tempdir");
        // Interface names have at most 15 bytes; the pid keeps parallel test processes apart
        // and the counter tests within one process.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = std::process::id() % 100_000;
        let bridge = format!("slw{id}r{n}");
        // A /24 in 10.200.0.0/13 picked from the same numbers, away from docker0's 172.17.
        let subnet = 200 + (id % 8);
        let third = (id / 8 + n * 37) % 256;
        ip(&["link", "add", "name", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("10.{subnet}.{third}.1/24"),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);

        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log")).expect("dockerd log");
        let tcp = remote.then(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            format!("tcp://{}", l.local_addr().expect("port"))
        });
        let mut args: Vec<String> = vec![
            "--data-root".into(),
            p.join(if remote { "hidden/data" } else { "data" })
                .display()
                .to_string(),
            "--exec-root".into(),
            p.join("exec").display().to_string(),
            "--pidfile".into(),
            p.join("dockerd.pid").display().to_string(),
            "-H".into(),
            format!("unix://{}", p.join("docker.sock").display()),
            format!("--bridge={bridge}"),
            "--iptables=false".into(),
            "--ip-masq=false".into(),
        ];
        if let Some(t) = &tcp {
            args.extend(["-H".to_string(), t.clone()]);
        }
        let mut command = if remote {
            let hidden = p.join("hidden");
            std::fs::create_dir(&hidden).expect("hidden dir");
            // `exec`: the child is dockerd itself, which Drop stops; the namespace (and the
            // tmpfs) goes with its last process.
            let mount = match tmpfs_size {
                Some(size) => format!("mount -t tmpfs -o size={size} tmpfs"),
                None => "mount -t tmpfs tmpfs".to_string(),
            };
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!(r#"{mount} "$0" && exec dockerd "$@""#))
                .arg(&hidden)
                .args(&args);
            c
        } else {
            let mut c = Command::new("dockerd");
            c.args(&args);
            c
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let runner = Runner {
            dir,
            bridge,
            child,
            tcp,
        };
        runner.wait_ready();
        runner.load_from_host(&[BASE_IMAGE]);
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/stapel-toolbox");
        let out = Command::new("bash")
            .arg(script)
            .arg(STAPEL_TOOLBOX)
            .env("DOCKER_HOST", runner.host())
            .output()
            .expect("scripts/stapel-toolbox");
        assert!(
            out.status.success(),
            "scripts/stapel-toolbox on the second daemon: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        runner
    }

    /// `DOCKER_HOST` for this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// `DOCKER_HOST` over TCP (a runner from [`Runner::start_remote`]).
    pub fn tcp_host(&self) -> String {
        self.tcp
            .clone()
            .expect("a runner started with start_remote")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    pub fn docker(&self) -> bollard::Docker {
        bollard::Docker::connect_with_unix(
            &self.socket().to_string_lossy(),
            300,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("client of the second daemon")
    }

    /// `/usr/bin/docker` against this daemon.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("/usr/bin/docker");
        c.arg("-H").arg(self.host());
        c
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok =
                self.socket().exists() && block_on(async { self.docker().ping().await.is_ok() });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "second dockerd did not answer in 60 s: {}",
                std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn load_from_host(&self, images: &[&str]) {
        let mut save = Command::new("/usr/bin/docker")
            .arg("save")
            .args(images)
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let load = self
            .cli()
            .args(["load", "-q"])
            .stdin(save.stdout.take().expect("save stdout"))
            .output()
            .expect("docker load");
        let saved = save.wait().expect("docker save");
        assert!(saved.success(), "docker save {images:?} on the host");
        assert!(
            load.status.success(),
            "docker load into the second daemon: {}",
            String::from_utf8_lossy(&load.stderr)
        );
    }

    /// IDs of every image in this daemon (to show what a build left there).
    pub fn image_ids(&self) -> Vec<String> {
        let out = self
            .cli()
            .args(["images", "-aq", "--no-trunc"])
            .output()
            .expect("docker images");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // SIGTERM lets dockerd unmount its layers and stop its containerd before the
        // directory goes.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        super::note_if_host_daemon_is_gone("a second dockerd (a runner) was stopped");
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
