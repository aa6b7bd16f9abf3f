//! Registries' TLS as docker trusts it (issue 36): a self-signed certificate put in
//! certs.d (or given with `--registry-ca`) is trusted as the server's own, names are still
//! checked, and each bad certificate gets its own sentence. Real `docker-registry`
//! processes serving certificates made with the openssl CLI, pushed to with
//! `push-archive` over `localhost:PORT`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Registry;

/// `/etc/docker/certs.d/HOST`, removed on drop.
struct CertsD(PathBuf);

impl CertsD {
    fn install(host: &str, cert: &Path) -> CertsD {
        let d = PathBuf::from("/etc/docker/certs.d").join(host);
        std::fs::create_dir_all(&d).expect("mkdir certs.d");
        std::fs::copy(cert, d.join("ca.crt")).expect("copy cert");
        CertsD(d)
    }
}

impl Drop for CertsD {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openssl req -x509 -newkey rsa:2048 -nodes -subj SUBJ [-addext EXT]`: the usual
/// self-signed certificate (CA:TRUE, used as the server's own).
fn openssl_self_signed(dir: &Path, subj: &str, ext: Option<&str>) -> (PathBuf, PathBuf) {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    ])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&cert)
    .args(["-subj", subj]);
    if let Some(e) = ext {
        cmd.args(["-addext", e]);
    }
    let out = cmd.output().expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A self-signed certificate for `localhost` that expired yesterday (openssl 3.0's `req`
/// cannot back-date, so Python's `cryptography` makes it).
fn expired_self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
    .public_key(key.public_key()).serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=10))
    .not_valid_after(now - datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(key, hashes.SHA256()))
open(sys.argv[1], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[2], "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&cert)
        .arg(&key)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The base image saved with `docker save`: something small to push.
fn archive(dir: &Path) -> PathBuf {
    let base = support::base_image();
    let tar = dir.join("image.tar");
    let ok = Command::new("docker")
        .args(["save", "-o"])
        .arg(&tar)
        .arg(base)
        .status()
        .expect("docker save");
    assert!(ok.success());
    tar
}

fn port(reg: &Registry) -> &str {
    reg.host.rsplit(':').next().expect("port")
}

/// `push-archive TAR localhost:PORT/tls/app:TAG` with `extra` global flags; (success, stderr).
fn push(reg: &Registry, tar: &Path, tag: &str, extra: &[&str]) -> (bool, String) {
    let target = format!("localhost:{}/tls/app:{tag}", port(reg));
    let out = support::slipway()
        .args(extra)
        .arg("push-archive")
        .arg(tar)
        .arg(&target)
        .env("XDG_CACHE_HOME", tempfile::tempdir().expect("tmp").keep())
        .output()
        .expect("slipway");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_self_signed_certificate_in_certs_d_is_trusted_as_itself() {
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = openssl_self_signed(
        dir.path(),
        "/CN=localhost",
        Some("subjectAltName=DNS:localhost"),
    );
    let reg = Registry::serving(&cert, &key);
    let tar = archive(dir.path());
    let host = format!("localhost:{}", port(&reg));

    // Not trusted yet: the sentence names the file that would fix it.
    let (ok, err) = push(&reg, &tar, "v0", &[]);
    assert!(!ok, "pushed to an untrusted registry: {err}");
    assert!(
        err.contains(&format!(
            "registry {host} presents a self-signed certificate (CN=localhost) that is not trusted: put it in /etc/docker/certs.d/{host}/ca.crt, or pass --registry-ca FILE"
        )),
        "{err}"
    );

    // `--registry-ca FILE` trusts it for the run.
    let (ok, err) = push(
        &reg,
        &tar,
        "v1",
        &["--registry-ca", &cert.to_string_lossy()],
    );
    assert!(ok, "--registry-ca: {err}");

    // certs.d trusts it as dockerd does; verification stays on.
    let _certs = CertsD::install(&host, &cert);
    let (ok, err) = push(&reg, &tar, "v2", &[]);
    assert!(ok, "certs.d: {err}");
    assert_eq!(reg.count_requests("PUT", "/tls/app/manifests/v1"), 1);
    assert_eq!(reg.count_requests("PUT", "/tls/app/manifests/v2"), 1);
}

/// Writes a certificate and its key into a directory.
type MakeCert = fn(&Path) -> (PathBuf, PathBuf);

#[test]
fn expired_wrong_name_and_cn_only_certificates_each_get_their_sentence() {
    let cases: [(&str, MakeCert, &str); 3] = [
        ("expired", expired_self_signed, "'s certificate expired on "),
        (
            "wrong name",
            |d| {
                openssl_self_signed(
                    d,
                    "/CN=registry.example",
                    Some("subjectAltName=DNS:registry.example"),
                )
            },
            "'s certificate is for registry.example, not localhost: regenerate it with -addext subjectAltName=DNS:localhost, or use a name it has",
        ),
        (
            "CN only",
            |d| openssl_self_signed(d, "/CN=localhost", None),
            "'s certificate has no subjectAltName (a name only in its CN is not read): regenerate it with -addext subjectAltName=DNS:localhost",
        ),
    ];
    let dir = tempfile::tempdir().expect("tmp");
    let tar = archive(dir.path());
    for (what, make, sentence) in cases {
        let d = tempfile::tempdir().expect("tmp");
        let (cert, key) = make(d.path());
        let reg = Registry::serving(&cert, &key);
        let host = format!("localhost:{}", port(&reg));
        // Trusted as itself, so only what is wrong with it is left to say.
        let _certs = CertsD::install(&host, &cert);
        let (ok, err) = push(&reg, &tar, "v1", &[]);
        assert!(!ok, "{what}: pushed");
        assert!(
            err.contains(&format!(
                "TLS with registry {host} failed: registry {host}{sentence}"
            )),
            "{what}: {err}"
        );
        assert_eq!(
            reg.count_requests("PUT", "/manifests/"),
            0,
            "{what}: nothing pushed"
        );
    }
}

/// A client CA and a client certificate it signed (clientAuth), in `dir`.
fn client_certs(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "client-ca.key",
        "-out",
        "client-ca.crt",
        "-subj",
        "/CN=Slipway Test Client CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=slipway-ci",
    ]);
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "client-ca.crt",
        "-CAkey",
        "client-ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "client.ext",
        "-out",
        "client.cert",
    ]);
    (
        dir.join("client-ca.crt"),
        dir.join("client.cert"),
        dir.join("client.key"),
    )
}

#[test]
fn a_client_certificate_in_certs_d_is_presented() {
    let dir = tempfile::tempdir().expect("tmp");
    let (cert, key) = openssl_self_signed(
        dir.path(),
        "/CN=localhost",
        Some("subjectAltName=DNS:localhost"),
    );
    let (client_ca, client_cert, client_key) = client_certs(dir.path());
    let mut reg = Registry::serving_for_clients_of(&cert, &key, Some(&client_ca));
    // skopeo's check of what was pushed presents the same certificate.
    let for_skopeo = dir.path().join("skopeo-client");
    std::fs::create_dir_all(&for_skopeo).expect("mkdir");
    std::fs::copy(&client_cert, for_skopeo.join("client.cert")).expect("cert");
    std::fs::copy(&client_key, for_skopeo.join("client.key")).expect("key");
    reg.client_cert_dir = Some(for_skopeo);
    let tar = archive(dir.path());
    let host = format!("localhost:{}", port(&reg));
    let certs = CertsD::install(&host, &cert);
    // The registry wants a client certificate: none yet.
    let (ok, err) = push(&reg, &tar, "v0", &[]);
    assert!(!ok, "pushed without a client certificate: {err}");
    assert!(
        err.contains(&format!(
            "registry {host} ended the TLS handshake (BadCertificate): if it wants a client certificate, put it in /etc/docker/certs.d/{host}/client.cert with its client.key"
        )),
        "{err}"
    );
    // dockerd's layout: NAME.cert with its NAME.key.
    std::fs::copy(&client_cert, certs.0.join("client.cert")).expect("cert");
    std::fs::copy(&client_key, certs.0.join("client.key")).expect("key");
    let (ok, err) = push(&reg, &tar, "v1", &[]);
    assert!(ok, "with the client certificate: {err}");
    assert_eq!(reg.count_requests("PUT", "/tls/app/manifests/v1"), 1);
}
