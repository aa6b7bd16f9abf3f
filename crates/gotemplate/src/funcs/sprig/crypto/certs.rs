//! sprig's certificate functions: `genCA`, `genSelfSignedCert`, `genSignedCert` (each also
//! `…WithKey`) and `buildCustomCert`. Certificates are encoded as Go's `x509.CreateCertificate`
//! encodes sprig's template (same fields, extensions, criticality and string types).

use std::rc::Rc;

use x509_cert::der::{Decode, Encode};

use super::super::{Reg, fixed};
use super::asn1;
use super::encoding::{b64_decode, pem_decode, pem_encode};
use super::keys::{self, PrivateKey};
use crate::funcs::{Func, Ty, int, s};
use crate::value::{Object, Value};

/// Go's type name of sprig's certificate struct.
pub(crate) const TYPE: &str = "sprig.certificate";

/// sprig's `certificate{Cert, Key string}`: PEM texts.
#[derive(Debug)]
pub(crate) struct Certificate {
    pub cert: String,
    pub key: String,
}

impl Object for Certificate {
    fn type_name(&self) -> String {
        TYPE.into()
    }
    fn method(&self, _name: &str) -> Option<Func> {
        None
    }
    fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("Cert", Value::str(&self.cert)),
            ("Key", Value::str(&self.key)),
        ]
    }
    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }
}

fn cert_value(cert: String, key: String) -> Value {
    Value::Object(Rc::new(Certificate { cert, key }))
}

/// The certificate argument's fields (the argument check made sure of its type).
fn cert_arg(v: &Value) -> (String, String) {
    match v {
        Value::Object(o) => {
            let f = o.fields();
            let get = |n: &str| {
                f.iter()
                    .find(|(k, _)| *k == n)
                    .and_then(|(_, v)| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            (get("Cert"), get("Key"))
        }
        _ => (String::new(), String::new()),
    }
}

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    fixed(v, "genPrivateKey", &[String], |a| {
        Ok(Value::string(keys::generate_pem(s(&a[0]))))
    });
    fixed(v, "buildCustomCert", &[String, String], |a| {
        build_custom(s(&a[0]), s(&a[1]))
    });
    fixed(v, "genCA", &[String, Int], |a| {
        let key = new_rsa()?;
        ca(s(&a[0]), int(&a[1]), key)
    });
    fixed(v, "genCAWithKey", &[String, Int, String], |a| {
        let key = keys::parse_pem(s(&a[2])).map_err(|e| format!("parsing private key: {e}"))?;
        ca(s(&a[0]), int(&a[1]), key)
    });
    fixed(
        v,
        "genSelfSignedCert",
        &[String, ListAny, ListAny, Int],
        |a| {
            let t = Template::new(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?;
            let key = new_rsa()?;
            cert_and_key(&t, &key, None, &key)
        },
    );
    fixed(
        v,
        "genSelfSignedCertWithKey",
        &[String, ListAny, ListAny, Int, String],
        |a| {
            let key = keys::parse_pem(s(&a[4])).map_err(|e| format!("parsing private key: {e}"))?;
            let t = Template::new(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?;
            cert_and_key(&t, &key, None, &key)
        },
    );
    fixed(
        v,
        "genSignedCert",
        &[String, ListAny, ListAny, Int, Struct(TYPE)],
        |a| {
            // sprig makes the key before reading the CA; making it last only saves the
            // time of a call that fails anyway (no error text depends on the order).
            let (parent, signer) = signer(&a[4])?;
            let t = Template::new(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?;
            let key = new_rsa()?;
            cert_and_key(&t, &key, Some(&parent), &signer)
        },
    );
    fixed(
        v,
        "genSignedCertWithKey",
        &[String, ListAny, ListAny, Int, Struct(TYPE), String],
        |a| {
            let key = keys::parse_pem(s(&a[5])).map_err(|e| format!("parsing private key: {e}"))?;
            let (parent, signer) = signer(&a[4])?;
            let t = Template::new(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?;
            cert_and_key(&t, &key, Some(&parent), &signer)
        },
    );
}

fn new_rsa() -> Result<PrivateKey, String> {
    keys::rsa_key(2048).map_err(|e| format!("error generating rsa key: {e}"))
}

fn ca(cn: &str, days: i64, key: PrivateKey) -> Result<Value, String> {
    let t = Template::new(cn, &Value::Nil, &Value::Nil, days, true)?;
    cert_and_key(&t, &key, None, &key)
}

fn build_custom(b64cert: &str, b64key: &str) -> Result<Value, String> {
    let cert = b64_decode(b64cert.as_bytes())
        .map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = b64_decode(b64key.as_bytes())
        .map_err(|_| "unable to decode base64 private key".to_string())?;
    let block = pem_decode(&cert).ok_or("unable to decode certificate")?;
    parse_certificate(&block.bytes)
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    let key = String::from_utf8_lossy(&key).into_owned();
    keys::parse_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(cert_value(String::from_utf8_lossy(&cert).into_owned(), key))
}

/// What signing needs from a parsed issuer certificate.
struct Parent {
    subject: Vec<u8>,
    subject_key_id: Option<Vec<u8>>,
    spki: Vec<u8>,
}

/// Go's `x509.ParseCertificate`, as far as sprig uses the result.
fn parse_certificate(der: &[u8]) -> Result<Parent, String> {
    let c = x509_cert::Certificate::from_der(der).map_err(|_| "x509: malformed certificate")?;
    let tbs = c.tbs_certificate();
    let subject = tbs
        .subject()
        .to_der()
        .map_err(|_| "x509: malformed certificate")?;
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|_| "x509: malformed certificate")?;
    let skid_oid = asn1::oid(&[2, 5, 29, 14]);
    let subject_key_id = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id.as_bytes() == &skid_oid[2..])
        .and_then(|e| {
            asn1::read(e.extn_value.as_bytes())
                .filter(|(t, _)| t.tag == 0x04)
                .map(|(t, _)| t.content.to_vec())
        })
        .filter(|k| !k.is_empty());
    Ok(Parent {
        subject,
        subject_key_id,
        spki,
    })
}

/// The issuer of `genSignedCert`: its certificate and key, with sprig's error texts.
fn signer(ca: &Value) -> Result<(Parent, PrivateKey), String> {
    let (cert, key) = cert_arg(ca);
    let block = pem_decode(cert.as_bytes()).ok_or("unable to decode certificate")?;
    let parent = parse_certificate(&block.bytes)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let key = keys::parse_pem(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok((parent, key))
}

/// sprig's `getBaseCertTemplate`, with `genCA`'s changes when `is_ca`.
struct Template {
    cn: String,
    ips: Vec<Vec<u8>>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

impl Template {
    fn new(cn: &str, ips: &Value, dns: &Value, days: i64, is_ca: bool) -> Result<Self, String> {
        let list = |v: &Value| match v {
            Value::List(l) => l.to_vec(),
            _ => Vec::new(),
        };
        let mut ip_bytes = Vec::new();
        for ip in list(ips) {
            let Some(text) = ip.as_str() else {
                return Err(format!(
                    "error parsing ip: {} is not a string",
                    crate::fmt::sprint_value(&ip)
                ));
            };
            ip_bytes.push(parse_ip(text).ok_or_else(|| format!("error parsing ip: {text}"))?);
        }
        let mut names = Vec::new();
        for d in list(dns) {
            let Some(text) = d.as_str() else {
                return Err(format!(
                    "error processing alternate dns name: {} is not a string",
                    crate::fmt::sprint_value(&d)
                ));
            };
            names.push(text.to_string());
        }
        Ok(Template {
            cn: cn.to_string(),
            ips: ip_bytes,
            dns: names,
            days,
            is_ca,
        })
    }
}

/// Go's `net.ParseIP`, as the bytes a certificate holds (IPv4, also IPv4-mapped, in 4).
fn parse_ip(s: &str) -> Option<Vec<u8>> {
    match s.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(v4.octets().to_vec()),
        std::net::IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        }),
    }
}

/// sprig's `getCertAndKey`: the certificate for `t` with `key`'s public key, signed by
/// `signer` (issued by `parent`, or self-signed), and `key` in PEM.
fn cert_and_key(
    t: &Template,
    key: &PrivateKey,
    parent: Option<&Parent>,
    signer: &PrivateKey,
) -> Result<Value, String> {
    let der = create_certificate(t, key, parent, signer)
        .map_err(|e| format!("error creating certificate: {e}"))?;
    let key = key
        .to_pem()
        .map_err(|e| format!("error pem-encoding key: {e}"))?;
    Ok(cert_value(pem_encode("CERTIFICATE", &der), key))
}

fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return asn1::seq(&[]);
    }
    let atv = asn1::seq(&[asn1::oid(&[2, 5, 4, 3]), asn1::go_string(cn)]);
    asn1::seq(&[asn1::tlv(asn1::SET, &atv)])
}

fn extension(oid: &[u64], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![asn1::oid(oid)];
    if critical {
        parts.push(asn1::boolean(true));
    }
    parts.push(asn1::octets(value));
    asn1::seq(&parts)
}

/// Go's `marshalKeyUsage`: bit 0 first, trailing zero bits unused.
fn key_usage(ku: u16) -> Vec<u8> {
    let a = [(ku as u8).reverse_bits(), ((ku >> 8) as u8).reverse_bits()];
    let bytes = if a[1] != 0 { &a[..] } else { &a[..1] };
    let last = bytes[bytes.len() - 1];
    let unused = if last == 0 {
        0
    } else {
        last.trailing_zeros() as u8
    };
    asn1::bits_unused(bytes, unused)
}

/// Go's `x509.CreateCertificate` for sprig's template.
fn create_certificate(
    t: &Template,
    key: &PrivateKey,
    parent: Option<&Parent>,
    signer: &PrivateKey,
) -> Result<Vec<u8>, String> {
    let sig_alg = signer.signature_algorithm()?;
    let (pub_bits, pub_alg) = key.public_key_info()?;
    let subject = name(&t.cn);
    let issuer = parent.map_or_else(|| subject.clone(), |p| p.subject.clone());
    let authority_key_id = match parent {
        Some(p) if p.subject != subject => p.subject_key_id.clone(),
        _ => None,
    };
    let subject_key_id = t.is_ca.then(|| {
        use sha1::Digest;
        sha1::Sha1::digest(&pub_bits).to_vec()
    });
    if let Some(p) = parent
        && p.spki != signer.spki()?
    {
        return Err("x509: provided PrivateKey doesn't match parent's PublicKey".into());
    }

    // Extensions in Go's order: key usage, extended key usage, basic constraints, subject
    // key id, authority key id, subject alternative names.
    let ku = if t.is_ca { 0b10_0101 } else { 0b101 };
    let mut exts = vec![extension(&[2, 5, 29, 15], true, &key_usage(ku))];
    let eku = asn1::seq(&[
        asn1::oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]),
        asn1::oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2]),
    ]);
    exts.push(extension(&[2, 5, 29, 37], false, &eku));
    let bc = if t.is_ca {
        asn1::seq(&[asn1::boolean(true)])
    } else {
        asn1::seq(&[])
    };
    exts.push(extension(&[2, 5, 29, 19], true, &bc));
    if let Some(id) = &subject_key_id {
        exts.push(extension(&[2, 5, 29, 14], false, &asn1::octets(id)));
    }
    if let Some(id) = &authority_key_id {
        exts.push(extension(
            &[2, 5, 29, 35],
            false,
            &asn1::seq(&[asn1::tlv(0x80, id)]),
        ));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names = Vec::new();
        for d in &t.dns {
            if !d.is_ascii() {
                return Err(format!(
                    "x509: {} cannot be encoded as an IA5String",
                    crate::fmt::quote(d)
                ));
            }
            names.push(asn1::tlv(0x82, d.as_bytes()));
        }
        for ip in &t.ips {
            names.push(asn1::tlv(0x87, ip));
        }
        let empty_subject = subject == asn1::seq(&[]);
        exts.push(extension(
            &[2, 5, 29, 17],
            empty_subject,
            &asn1::seq(&names),
        ));
    }

    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now();
    // Go's `time.Hour * 24 * time.Duration(days)` wraps around in int64 nanoseconds.
    let span = 86_400_000_000_000i64.wrapping_mul(t.days);
    let not_after = now + chrono::Duration::nanoseconds(span);
    let tbs = asn1::seq(&[
        asn1::explicit(0, &asn1::small_int(2)),
        asn1::uint(&serial),
        sig_alg.clone(),
        issuer,
        asn1::seq(&[asn1::time(&now), asn1::time(&not_after)]),
        subject,
        asn1::seq(&[pub_alg, asn1::bits(&pub_bits)]),
        asn1::explicit(3, &asn1::seq(&exts)),
    ]);
    let sig = signer.sign(&tbs)?;
    Ok(asn1::seq(&[tbs, sig_alg, asn1::bits(&sig)]))
}
