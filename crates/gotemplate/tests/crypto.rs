//! sprig's crypto helpers whose output is random (salts, IVs, keys, serials, the clock),
//! checked by property and by independent judges: the `bcrypt` crate and Apache's
//! `htpasswd` for password hashes, Go's sprig (the reference renderer) for AES and for
//! reading our keys and certificates back, openssl for keys and certificate chains.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use gotemplate::{Templates, Value};
use support::{Case, go_render};
use x509_cert::der::Decode;

fn render(text: &str) -> String {
    let t = Templates::with_sprig();
    t.parse("t", text).expect("parses");
    t.execute("t", &Value::Nil).expect("executes")
}

/// Go's output for a template (panics on a Go error).
fn go(text: &str) -> String {
    let r = go_render(&[Case {
        text: text.to_string(),
        data: String::new(),
        missingkey: String::new(),
        differs: None,
        line: 0,
    }]);
    assert_eq!(r[0].err, "", "Go failed on {text}");
    r[0].out.clone()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gotemplate-crypto-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// openssl's stdout; panics with its stderr when it fails.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The certificate and key of a `sprig.certificate` value rendered as `CERT|KEY`.
fn cert_key(template_of_cert: &str) -> (String, String) {
    let out = render(&format!(
        "{{{{ $c := {template_of_cert} }}}}{{{{ $c.Cert }}}}|{{{{ $c.Key }}}}"
    ));
    let (c, k) = out.split_once('|').expect("cert|key");
    (c.to_string(), k.to_string())
}

fn der_of(pem_text: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM body")
}

fn parse_cert(pem_text: &str) -> x509_cert::Certificate {
    x509_cert::Certificate::from_der(&der_of(pem_text)).expect("certificate DER")
}

/// Validity in seconds (notAfter - notBefore).
fn validity_secs(c: &x509_cert::Certificate) -> i64 {
    let v = c.tbs_certificate().validity();
    v.not_after.to_unix_duration().as_secs() as i64
        - v.not_before.to_unix_duration().as_secs() as i64
}

fn extension(c: &x509_cert::Certificate, oid: &str) -> Option<(bool, Vec<u8>)> {
    let oid = x509_cert::der::oid::ObjectIdentifier::new_unwrap(oid);
    c.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == oid)
        .map(|e| (e.critical, e.extn_value.as_bytes().to_vec()))
}

fn common_name(c: &x509_cert::Certificate) -> String {
    c.tbs_certificate().subject().to_string()
}

#[test]
fn bcrypt_and_htpasswd_verify_with_sprigs_cost() {
    // Beyond 72 bytes bcrypt ignores the rest, in Go as here.
    let long = "long".repeat(30);
    assert!(
        bcrypt::verify(&long[..72], &render(&format!("{{{{ bcrypt {long:?} }}}}"))).expect("hash")
    );
    for pw in ["", "pässword", &long] {
        let h = render(&format!("{{{{ bcrypt {pw:?} }}}}"));
        assert!(h.starts_with("$2a$10$"), "{h}");
        assert_eq!(h.len(), 60);
        assert!(bcrypt::verify(pw, &h).expect("bcrypt hash"), "{pw:?} {h}");
        assert!(!bcrypt::verify(format!("x{pw}"), &h).expect("bcrypt hash"));
        assert_ne!(h, render(&format!("{{{{ bcrypt {pw:?} }}}}")), "salted");
    }
    let line = render(r#"{{ htpasswd "alice" "s3cret" }}"#);
    let (user, hash) = line.split_once(':').expect("user:hash");
    assert_eq!(user, "alice");
    assert!(hash.starts_with("$2a$10$"));
    assert!(bcrypt::verify("s3cret", hash).expect("hash"));
    // Apache's own tool accepts the line.
    let dir = scratch("htpasswd");
    let file = write(&dir, "htpasswd", &format!("{line}\n"));
    let check = |pw: &str| {
        Command::new("htpasswd")
            .arg("-vb")
            .arg(&file)
            .args(["alice", pw])
            .output()
            .expect("run htpasswd (scripts/setup installs apache2-utils)")
            .status
            .success()
    };
    assert!(check("s3cret"));
    assert!(!check("wrong"));
}

#[test]
fn encrypt_aes_decrypts_with_ours_and_with_gos() {
    let cases = [
        ("secretkey", "plaintext"),
        ("", "exactly sixteen!"),
        (
            "a-key-longer-than-thirty-two-bytes-for-sure",
            "ünïcode, and more than one block of text",
        ),
    ];
    for (key, text) in cases {
        let ct = render(&format!("{{{{ encryptAES {key:?} {text:?} }}}}"));
        let raw = der_of(&ct);
        assert_eq!(
            raw.len(),
            16 + (text.len() / 16 + 1) * 16,
            "IV + padded text"
        );
        assert_eq!(
            render(&format!("{{{{ decryptAES {key:?} {ct:?} }}}}")),
            text
        );
        assert_eq!(go(&format!("{{{{ decryptAES {key:?} {ct:?} }}}}")), text);
        assert_ne!(
            ct,
            render(&format!("{{{{ encryptAES {key:?} {text:?} }}}}")),
            "random IV"
        );
    }
}

/// A Go-made self-signed certificate, to read keys back with Go's `buildCustomCert`.
fn go_ca() -> (String, String) {
    let out = go(r#"{{ $c := genCA "go-ca" 30 }}{{ $c.Cert }}|{{ $c.Key }}"#);
    let (c, k) = out.split_once('|').expect("cert|key");
    (c.to_string(), k.to_string())
}

#[test]
fn gen_private_key_makes_each_type_that_openssl_and_go_read() {
    let dir = scratch("keys");
    let (ca_cert, _) = go_ca();
    let cases = [
        ("rsa", "RSA PRIVATE KEY", "Private-Key: (4096 bit"),
        ("", "RSA PRIVATE KEY", "Private-Key: (4096 bit"),
        ("ecdsa", "EC PRIVATE KEY", "NIST CURVE: P-256"),
        ("ed25519", "PRIVATE KEY", "ED25519 Private-Key"),
        ("dsa", "DSA PRIVATE KEY", "Private-Key: (2048 bit"),
    ];
    for (typ, header, text) in cases {
        let key = render(&format!("{{{{ genPrivateKey {typ:?} }}}}"));
        assert!(
            key.starts_with(&format!("-----BEGIN {header}-----\n")),
            "{typ}: {key}"
        );
        assert!(key.ends_with(&format!("-----END {header}-----\n")), "{typ}");
        let file = write(&dir, &format!("key-{typ}.pem"), &key);
        let file = file.to_str().expect("utf-8 path");
        let shown = openssl(&["pkey", "-in", file, "-noout", "-text"]);
        assert!(shown.contains(text), "{typ}: {shown}");
        if typ != "dsa" {
            openssl(&["pkey", "-in", file, "-noout", "-check"]);
        }
        // Go reads the key; where it can sign with it, it writes it back byte for byte.
        let back = go(&format!(
            "{{{{ (buildCustomCert {:?} {:?}).Key }}}}",
            b64(&ca_cert),
            b64(&key)
        ));
        assert_eq!(back, key, "{typ}");
        if typ != "dsa" {
            let again = go(&format!(
                "{{{{ (genSelfSignedCertWithKey \"x\" nil nil 1 `{key}`).Key }}}}"
            ));
            assert_eq!(again, key, "{typ}: Go's encoding of the same key");
        }
    }
    assert_ne!(
        render(r#"{{ genPrivateKey "ecdsa" }}"#),
        render(r#"{{ genPrivateKey "ecdsa" }}"#)
    );
}

#[test]
fn gen_ca_is_a_self_signed_ca_for_the_days_asked() {
    let dir = scratch("ca");
    let (cert, key) = cert_key(r#"genCA "My CA" 30"#);
    let c = parse_cert(&cert);
    assert_eq!(common_name(&c), "CN=My CA");
    assert_eq!(c.tbs_certificate().issuer(), c.tbs_certificate().subject());
    assert_eq!(validity_secs(&c), 30 * 86400);
    let (critical, bc) = extension(&c, "2.5.29.19").expect("basic constraints");
    assert!(critical);
    assert_eq!(
        bc,
        [0x30, 0x03, 0x01, 0x01, 0xff],
        "CA:TRUE, no path length"
    );
    let (critical, ku) = extension(&c, "2.5.29.15").expect("key usage");
    assert!(critical);
    assert_eq!(
        ku,
        [0x03, 0x02, 0x02, 0xa4],
        "digitalSignature keyEncipherment keyCertSign"
    );
    assert!(extension(&c, "2.5.29.14").is_some(), "subject key id");
    assert!(extension(&c, "2.5.29.35").is_none(), "no authority key id");
    assert!(key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let cert_file = write(&dir, "ca.pem", &cert);
    let key_file = write(&dir, "ca.key", &key);
    let (cf, kf) = (
        cert_file.to_str().expect("path"),
        key_file.to_str().expect("path"),
    );
    let text = openssl(&["x509", "-in", cf, "-noout", "-text"]);
    for want in [
        "Signature Algorithm: sha256WithRSAEncryption",
        "Public-Key: (2048 bit)",
        "CA:TRUE",
        "Digital Signature, Key Encipherment, Certificate Sign",
        "TLS Web Server Authentication, TLS Web Client Authentication",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(
        openssl(&["x509", "-in", cf, "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", kf, "-pubout"]),
        "the key is the certificate's"
    );
    assert_eq!(
        openssl(&["verify", "-CAfile", cf, cf]).trim(),
        format!("{cf}: OK")
    );
}

#[test]
fn self_signed_certs_carry_the_names_and_addresses() {
    let (cert, _) = cert_key(
        r#"genSelfSignedCert "web" (list "10.0.0.1" "::1" "::ffff:1.2.3.4") (list "a.test" "b.test") 365"#,
    );
    let c = parse_cert(&cert);
    assert_eq!(common_name(&c), "CN=web");
    assert_eq!(validity_secs(&c), 365 * 86400);
    let (_, bc) = extension(&c, "2.5.29.19").expect("basic constraints");
    assert_eq!(bc, [0x30, 0x00], "CA:FALSE");
    let (_, ku) = extension(&c, "2.5.29.15").expect("key usage");
    assert_eq!(
        ku,
        [0x03, 0x02, 0x05, 0xa0],
        "digitalSignature keyEncipherment"
    );
    assert!(extension(&c, "2.5.29.14").is_none(), "no subject key id");
    let (critical, _) = extension(&c, "2.5.29.17").expect("subject alternative names");
    assert!(!critical);
    let dir = scratch("self");
    let f = write(&dir, "web.pem", &cert);
    let text = openssl(&["x509", "-in", f.to_str().expect("path"), "-noout", "-text"]);
    assert!(
        text.contains(
            "DNS:a.test, DNS:b.test, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:1.2.3.4"
        ),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"), "{text}");

    // No subject: the names extension is critical (RFC 5280, as Go does).
    let (cert, _) = cert_key(r#"genSelfSignedCert "" nil (list "only.test") 1"#);
    let c = parse_cert(&cert);
    assert_eq!(common_name(&c), "");
    assert!(extension(&c, "2.5.29.17").expect("names").0);
}

#[test]
fn signed_certs_verify_against_their_ca_ours_and_gos() {
    let dir = scratch("signed");
    let (ca, ca_key) = cert_key(r#"genCA "chain-ca" 10"#);
    let custom = format!("(buildCustomCert {:?} {:?})", b64(&ca), b64(&ca_key));
    let (leaf, leaf_key) = cert_key(&format!(
        r#"genSignedCert "leaf" (list "127.0.0.1") (list "localhost") 7 {custom}"#
    ));
    let c = parse_cert(&leaf);
    let ca_c = parse_cert(&ca);
    assert_eq!(common_name(&c), "CN=leaf");
    assert_eq!(
        c.tbs_certificate().issuer(),
        ca_c.tbs_certificate().subject()
    );
    assert_eq!(validity_secs(&c), 7 * 86400);
    let skid = extension(&ca_c, "2.5.29.14").expect("CA key id").1;
    let akid = extension(&c, "2.5.29.35").expect("authority key id").1;
    assert_eq!(akid[4..], skid[2..], "the leaf names the CA's key");
    assert!(leaf_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));

    let ca_file = write(&dir, "ca.pem", &ca);
    let leaf_file = write(&dir, "leaf.pem", &leaf);
    let (caf, lf) = (
        ca_file.to_str().expect("path"),
        leaf_file.to_str().expect("path"),
    );
    assert_eq!(
        openssl(&["verify", "-purpose", "sslserver", "-CAfile", caf, lf]).trim(),
        format!("{lf}: OK")
    );

    // Go signs with our CA (it checks that our key is the certificate's) and openssl
    // accepts Go's leaf under our CA.
    let go_leaf = go(&format!(
        r#"{{{{ (genSignedCert "go-leaf" nil (list "go.test") 3 {custom}).Cert }}}}"#
    ));
    let gf = write(&dir, "go-leaf.pem", &go_leaf);
    let gf = gf.to_str().expect("path");
    assert_eq!(
        openssl(&["verify", "-CAfile", caf, gf]).trim(),
        format!("{gf}: OK")
    );

    // We sign with Go's CA.
    let (go_ca_cert, go_ca_key) = go_ca();
    let (ours, _) = cert_key(&format!(
        r#"genSignedCert "ours" nil nil 3 (buildCustomCert {:?} {:?})"#,
        b64(&go_ca_cert),
        b64(&go_ca_key)
    ));
    let gcaf = write(&dir, "go-ca.pem", &go_ca_cert);
    let of = write(&dir, "ours.pem", &ours);
    let (gcaf, of) = (gcaf.to_str().expect("path"), of.to_str().expect("path"));
    assert_eq!(
        openssl(&["verify", "-CAfile", gcaf, of]).trim(),
        format!("{of}: OK")
    );
}

#[test]
fn with_key_forms_sign_with_ecdsa_and_ed25519_keys() {
    let dir = scratch("withkey");
    for (ca_type, curve_alg) in [("ecdsa", "ecdsa-with-SHA256"), ("ed25519", "ED25519")] {
        let ca_key = render(&format!("{{{{ genPrivateKey {ca_type:?} }}}}"));
        let leaf_key = render(r#"{{ genPrivateKey "ed25519" }}"#);
        let out = render(&format!(
            "{{{{ $ca := genCAWithKey \"k-ca\" 2 `{ca_key}` }}}}{{{{ $l := genSignedCertWithKey \"k-leaf\" nil (list \"k.test\") 2 $ca `{leaf_key}` }}}}{{{{ $ca.Cert }}}}|{{{{ $ca.Key }}}}|{{{{ $l.Cert }}}}|{{{{ $l.Key }}}}"
        ));
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts[1], ca_key, "the CA's key is the one given");
        assert_eq!(parts[3], leaf_key, "the leaf's key is the one given");
        let caf = write(&dir, &format!("{ca_type}-ca.pem"), parts[0]);
        let lf = write(&dir, &format!("{ca_type}-leaf.pem"), parts[2]);
        let (caf, lf) = (caf.to_str().expect("path"), lf.to_str().expect("path"));
        let text = openssl(&["x509", "-in", lf, "-noout", "-text"]);
        assert!(
            text.contains(&format!("Signature Algorithm: {curve_alg}")),
            "{text}"
        );
        assert!(text.contains("ED25519"), "{text}");
        assert_eq!(
            openssl(&["verify", "-CAfile", caf, lf]).trim(),
            format!("{lf}: OK")
        );
        let self_signed = render(&format!(
            "{{{{ (genSelfSignedCertWithKey \"s\" nil nil 1 `{ca_key}`).Cert }}}}"
        ));
        let sf = write(&dir, &format!("{ca_type}-self.pem"), &self_signed);
        let sf = sf.to_str().expect("path");
        assert_eq!(
            openssl(&["x509", "-in", sf, "-noout", "-pubkey"]),
            openssl(&[
                "pkey",
                "-in",
                write(&dir, "k.pem", &ca_key).to_str().expect("path"),
                "-pubout"
            ])
        );
    }
}

/// Everything of a certificate but its serial, its validity dates and its signature value:
/// version, signature algorithm, issuer, subject, public key, extensions (DER), and the
/// validity's length.
fn stable_parts(pem_text: &str) -> (Vec<Vec<u8>>, i64) {
    use x509_cert::der::Encode;
    let c = parse_cert(pem_text);
    let t = c.tbs_certificate();
    let der = |e: &dyn Fn() -> x509_cert::der::Result<Vec<u8>>| e().expect("DER");
    let mut parts = vec![
        vec![t.version() as u8],
        der(&|| t.signature().to_der()),
        der(&|| c.signature_algorithm().to_der()),
        der(&|| t.issuer().to_der()),
        der(&|| t.subject().to_der()),
        der(&|| t.subject_public_key_info().to_der()),
    ];
    for e in t.extensions().into_iter().flatten() {
        parts.push(der(&|| e.to_der()));
    }
    (parts, validity_secs(&c))
}

#[test]
fn certificates_are_encoded_as_gos_apart_from_serial_dates_and_signature() {
    let ed = render(r#"{{ genPrivateKey "ed25519" }}"#);
    let ec = render(r#"{{ genPrivateKey "ecdsa" }}"#);
    let go_ca = go(&format!(
        "{{{{ $c := genCAWithKey \"go ca\" 9 `{ec}` }}}}{{{{ $c.Cert }}}}|{{{{ $c.Key }}}}"
    ));
    let (go_ca_cert, go_ca_key) = go_ca.split_once('|').expect("cert|key");
    let signer = format!(
        "(buildCustomCert {:?} {:?})",
        b64(go_ca_cert),
        b64(go_ca_key)
    );
    let templates = [
        format!("{{{{ (genCAWithKey \"ca\" 5 `{ed}`).Cert }}}}"),
        format!("{{{{ (genCAWithKey \"ca\" 5 `{ec}`).Cert }}}}"),
        format!(
            "{{{{ (genSelfSignedCertWithKey \"web\" (list \"10.0.0.1\" \"::1\" \"::ffff:1.2.3.4\") (list \"a.test\" \"b.test\") 5 `{ed}`).Cert }}}}"
        ),
        format!("{{{{ (genSelfSignedCertWithKey \"\" nil (list \"only.test\") 1 `{ed}`).Cert }}}}"),
        format!(
            "{{{{ (genSelfSignedCertWithKey \"*.wild.test & ünï\" nil nil 400 `{ec}`).Cert }}}}"
        ),
        format!(
            "{{{{ (genSignedCertWithKey \"leaf\" (list \"127.0.0.1\") (list \"localhost\") 3 {signer} `{ed}`).Cert }}}}"
        ),
        // Same subject as the issuer: Go then leaves the authority key id out.
        format!("{{{{ (genSignedCertWithKey \"go ca\" nil nil 3 {signer} `{ed}`).Cert }}}}"),
    ];
    for t in &templates {
        let ours = stable_parts(&render(t));
        let gos = stable_parts(&go(t));
        assert_eq!(ours, gos, "{t}");
    }
}
