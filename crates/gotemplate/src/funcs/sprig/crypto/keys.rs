//! Private keys as sprig handles them: `genPrivateKey`'s key types and PEM forms
//! (`pemBlockForKey`), reading a PEM key back (`parsePrivateKeyPEM`, with Go's error texts),
//! and what certificates need from a key (public key, signature).

use p256::elliptic_curve::sec1::ToSec1Point;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::signature::Signer;

use super::asn1::{self, Tlv};
use super::encoding::{Block, pem_decode, pem_encode};

/// OIDs (arcs) of the key types sprig uses.
const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_EC: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
const OID_P521: &[u64] = &[1, 3, 132, 0, 35];

/// A private key of a type sprig creates or reads.
pub(crate) enum PrivateKey {
    Rsa(Box<rsa::PrivateKey>),
    /// Go's `DSAKeyFormat` integers (big-endian): P, Q, G, Y, X. Go cannot sign
    /// certificates with DSA, so only the numbers are kept.
    Dsa([Vec<u8>; 5]),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

fn rng_err(e: impl std::fmt::Display) -> String {
    format!("failed to generate private key: {e}")
}

/// An RSA key of `bits` bits from the system's random source.
pub(crate) fn rsa_key(bits: usize) -> Result<PrivateKey, String> {
    let k = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| e.to_string())?;
    Ok(PrivateKey::Rsa(Box::new(k)))
}

/// sprig's `genPrivateKey`: the PEM text, or sprig's message for a failure (never an error).
pub(crate) fn generate_pem(typ: &str) -> String {
    let key = match typ {
        "" | "rsa" => rsa_key(4096).map_err(rng_err),
        "dsa" => generate_dsa(),
        "ecdsa" => {
            use p256::elliptic_curve::Generate;
            p256::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
                .map(PrivateKey::P256)
                .map_err(rng_err)
        }
        "ed25519" => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed)
                .map(|_| {
                    PrivateKey::Ed25519(Box::new(ed25519_dalek::SigningKey::from_bytes(&seed)))
                })
                .map_err(rng_err)
        }
        _ => return format!("Unknown type {typ}"),
    };
    match key.and_then(|k| k.to_pem().map_err(rng_err)) {
        Ok(pem) => pem,
        Err(e) => e,
    }
}

fn generate_dsa() -> Result<PrivateKey, String> {
    let mut rng = getrandom::SysRng;
    let c =
        dsa::Components::try_generate_from_rng_with_key_size(&mut rng, dsa::KeySize::DSA_2048_256)
            .map_err(|e| format!("failed to generate dsa params: {e}"))?;
    let k = dsa::SigningKey::try_generate_from_rng_with_components(&mut rng, c).map_err(rng_err)?;
    let vk = k.verifying_key();
    let cs = vk.components();
    let be = |x: &dsa::BoxedUint| x.to_be_bytes().to_vec();
    Ok(PrivateKey::Dsa([
        be(cs.p()),
        be(cs.q()),
        be(cs.g()),
        be(vk.y()),
        be(k.x()),
    ]))
}

impl PrivateKey {
    /// Go's `pemBlockForKey`, encoded.
    pub(crate) fn to_pem(&self) -> Result<String, String> {
        Ok(match self {
            PrivateKey::Rsa(k) => {
                let der = k.to_pkcs1_der().map_err(|e| e.to_string())?;
                pem_encode("RSA PRIVATE KEY", der.as_bytes())
            }
            PrivateKey::Dsa(n) => {
                let mut parts = vec![asn1::small_int(0)];
                parts.extend(n.iter().map(|x| asn1::uint(x)));
                pem_encode("DSA PRIVATE KEY", &asn1::seq(&parts))
            }
            PrivateKey::P256(k) => ec_pem(&k.to_bytes(), OID_P256, &self.public_bits()?),
            PrivateKey::P384(k) => ec_pem(&k.to_bytes(), OID_P384, &self.public_bits()?),
            PrivateKey::P521(k) => ec_pem(&k.to_bytes(), OID_P521, &self.public_bits()?),
            PrivateKey::Ed25519(k) => {
                let der = asn1::seq(&[
                    asn1::small_int(0),
                    asn1::seq(&[asn1::oid(OID_ED25519)]),
                    asn1::octets(&asn1::octets(&k.to_bytes())),
                ]);
                pem_encode("PRIVATE KEY", &der)
            }
        })
    }

    /// The subjectPublicKey bits (Go's `marshalPublicKey` bytes).
    fn public_bits(&self) -> Result<Vec<u8>, String> {
        Ok(match self {
            PrivateKey::Rsa(k) => k
                .to_public_key()
                .to_pkcs1_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec(),
            PrivateKey::Dsa(_) => {
                return Err("x509: unsupported public key type: *dsa.PublicKey".into());
            }
            PrivateKey::P256(k) => k.public_key().to_sec1_point(false).as_bytes().to_vec(),
            PrivateKey::P384(k) => k.public_key().to_sec1_point(false).as_bytes().to_vec(),
            PrivateKey::P521(k) => k.public_key().to_sec1_point(false).as_bytes().to_vec(),
            PrivateKey::Ed25519(k) => k.verifying_key().to_bytes().to_vec(),
        })
    }

    /// Go's `marshalPublicKey`: the public key bits and its algorithm identifier.
    pub(crate) fn public_key_info(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        let alg = match self {
            PrivateKey::Rsa(_) => asn1::seq(&[asn1::oid(OID_RSA), asn1::null()]),
            PrivateKey::Dsa(_) => {
                return Err("x509: unsupported public key type: *dsa.PublicKey".into());
            }
            PrivateKey::P256(_) => asn1::seq(&[asn1::oid(OID_EC), asn1::oid(OID_P256)]),
            PrivateKey::P384(_) => asn1::seq(&[asn1::oid(OID_EC), asn1::oid(OID_P384)]),
            PrivateKey::P521(_) => asn1::seq(&[asn1::oid(OID_EC), asn1::oid(OID_P521)]),
            PrivateKey::Ed25519(_) => asn1::seq(&[asn1::oid(OID_ED25519)]),
        };
        Ok((self.public_bits()?, alg))
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki(&self) -> Result<Vec<u8>, String> {
        let (bits, alg) = self.public_key_info()?;
        Ok(asn1::seq(&[alg, asn1::bits(&bits)]))
    }

    /// Go's `signingParamsForPublicKey`: the signature algorithm identifier.
    pub(crate) fn signature_algorithm(&self) -> Result<Vec<u8>, String> {
        let ecdsa = |n: u64| asn1::seq(&[asn1::oid(&[1, 2, 840, 10045, 4, 3, n])]);
        Ok(match self {
            PrivateKey::Rsa(_) => {
                asn1::seq(&[asn1::oid(&[1, 2, 840, 113549, 1, 1, 11]), asn1::null()])
            }
            PrivateKey::Dsa(_) => {
                return Err(
                    "x509: certificate private key does not implement crypto.Signer".into(),
                );
            }
            PrivateKey::P256(_) => ecdsa(2),
            PrivateKey::P384(_) => ecdsa(3),
            PrivateKey::P521(_) => ecdsa(4),
            PrivateKey::Ed25519(_) => asn1::seq(&[asn1::oid(OID_ED25519)]),
        })
    }

    /// The signature over `msg` (SHA-256 PKCS#1 v1.5, ECDSA with the curve's hash in DER,
    /// or Ed25519), as Go's `CreateCertificate` makes it.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let e = |e: rsa::signature::Error| e.to_string();
        Ok(match self {
            PrivateKey::Rsa(k) => {
                let sk = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**k).clone());
                let sig: rsa::pkcs1v15::Signature = sk.try_sign(msg).map_err(e)?;
                Box::<[u8]>::from(sig).to_vec()
            }
            PrivateKey::Dsa(_) => {
                return Err(
                    "x509: certificate private key does not implement crypto.Signer".into(),
                );
            }
            PrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature =
                    p256::ecdsa::SigningKey::from(k).try_sign(msg).map_err(e)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature =
                    p384::ecdsa::SigningKey::from(k).try_sign(msg).map_err(e)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(k) => {
                let sk = p521::ecdsa::SigningKey::from_bytes(&k.to_bytes()).map_err(e)?;
                let sig: p521::ecdsa::Signature = sk.try_sign(msg).map_err(e)?;
                sig.to_der().as_bytes().to_vec()
            }
            PrivateKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
        })
    }
}

fn ec_pem(d: &[u8], curve: &[u64], point: &[u8]) -> String {
    let der = asn1::seq(&[
        asn1::small_int(1),
        asn1::octets(d),
        asn1::explicit(0, &asn1::oid(curve)),
        asn1::explicit(1, &asn1::bits(point)),
    ]);
    pem_encode("EC PRIVATE KEY", &der)
}

/// sprig's `parsePrivateKeyPEM`, with its error texts.
pub(crate) fn parse_pem(text: &str) -> Result<PrivateKey, String> {
    let Some(Block { typ, bytes }) = pem_decode(text.as_bytes()) else {
        return Err("no PEM data in input".into());
    };
    if typ == "PRIVATE KEY" {
        return parse_pkcs8(&bytes).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(kind) = typ.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {typ}"));
    };
    match kind {
        "RSA" => parse_pkcs1(&bytes).map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => {
            parse_sec1(None, &bytes).map_err(|e| format!("parsing EC private key from PEM: {e}"))
        }
        "DSA" => parse_dsa(&bytes).map_err(|e| format!("parsing DSA private key from PEM: {e}")),
        _ => Err(format!("invalid private key type {typ}")),
    }
}

/// The text of a DER structure error (Go's `encoding/asn1` wording differs in detail).
const MALFORMED: &str = "asn1: structure error: malformed private key";

fn is_int(t: &Tlv) -> bool {
    t.tag == 0x02
}

/// Shapes Go's `asn1.Unmarshal` accepts for the three private key structures, used for
/// its "use ParseXXX instead" hints.
fn looks_pkcs8(der: &[u8]) -> bool {
    asn1::read_seq(der).is_some_and(|(v, _)| {
        v.len() >= 3
            && is_int(&v[0])
            && v[1].tag == asn1::SEQUENCE
            && asn1::items(v[1].content).is_some_and(|a| a.first().is_some_and(|o| o.tag == 6))
            && v[2].tag == 0x04
    })
}

fn looks_sec1(der: &[u8]) -> bool {
    asn1::read_seq(der).is_some_and(|(v, _)| v.len() >= 2 && is_int(&v[0]) && v[1].tag == 0x04)
}

fn looks_pkcs1(der: &[u8]) -> bool {
    asn1::read_seq(der).is_some_and(|(v, _)| v.len() >= 9 && v[..9].iter().all(is_int))
}

fn parse_pkcs1(der: &[u8]) -> Result<PrivateKey, String> {
    if !looks_pkcs1(der) {
        if looks_sec1(der) {
            return Err("x509: failed to parse private key (use ParseECPrivateKey instead for this key format)".into());
        }
        if looks_pkcs8(der) {
            return Err("x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)".into());
        }
        return Err(MALFORMED.into());
    }
    rsa::PrivateKey::from_pkcs1_der(der)
        .map(|k| PrivateKey::Rsa(Box::new(k)))
        .map_err(|e| format!("crypto/rsa: {e}"))
}

fn parse_pkcs8(der: &[u8]) -> Result<PrivateKey, String> {
    if !looks_pkcs8(der) {
        if looks_sec1(der) {
            return Err("x509: failed to parse private key (use ParseECPrivateKey instead for this key format)".into());
        }
        if looks_pkcs1(der) {
            return Err("x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)".into());
        }
        return Err(MALFORMED.into());
    }
    let (v, _) = asn1::read_seq(der).ok_or(MALFORMED)?;
    let alg = asn1::items(v[1].content).ok_or(MALFORMED)?;
    let oid = alg[0].content;
    let key = v[2].content;
    if oid == &asn1::oid(OID_RSA)[2..] {
        parse_pkcs1(key)
            .map_err(|e| format!("x509: failed to parse RSA private key embedded in PKCS#8: {e}"))
    } else if oid == &asn1::oid(OID_EC)[2..] {
        let curve = alg.get(1).filter(|t| t.tag == 6).map(|t| t.content);
        parse_sec1(curve, key)
            .map_err(|e| format!("x509: failed to parse EC private key embedded in PKCS#8: {e}"))
    } else if oid == &asn1::oid(OID_ED25519)[2..] {
        if alg.len() > 1 {
            return Err("x509: invalid Ed25519 private key parameters".into());
        }
        let seed = match asn1::read(key) {
            Some((t, _)) if t.tag == 0x04 => t.content,
            _ => return Err(format!("x509: invalid Ed25519 private key: {MALFORMED}")),
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| format!("x509: invalid Ed25519 private key length: {}", seed.len()))?;
        Ok(PrivateKey::Ed25519(Box::new(
            ed25519_dalek::SigningKey::from_bytes(&seed),
        )))
    } else {
        Err(format!(
            "x509: PKCS#8 wrapping contained private key with unknown algorithm: {}",
            asn1::oid_string(oid)
        ))
    }
}

/// Go's `parseECPrivateKey`; `curve` is the PKCS#8 parameters' OID content, if any.
fn parse_sec1(curve: Option<&[u8]>, der: &[u8]) -> Result<PrivateKey, String> {
    if !looks_sec1(der) {
        if looks_pkcs8(der) {
            return Err("x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)".into());
        }
        if looks_pkcs1(der) {
            return Err("x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)".into());
        }
        return Err(format!("x509: failed to parse EC private key: {MALFORMED}"));
    }
    let (v, _) = asn1::read_seq(der).ok_or(MALFORMED)?;
    if v[0].content != [1] {
        let n = v[0]
            .content
            .iter()
            .fold(0i64, |a, x| (a << 8) | i64::from(*x));
        return Err(format!("x509: unknown EC private key version {n}"));
    }
    let inner_curve = v[2..]
        .iter()
        .find(|t| t.tag == 0xa0)
        .and_then(|t| asn1::read(t.content))
        .filter(|(t, _)| t.tag == 6)
        .map(|(t, _)| t.content);
    let curve = curve.or(inner_curve).unwrap_or_default();
    let mut d = v[1].content;
    let is = |o: &[u64]| curve == &asn1::oid(o)[2..];
    let size = if is(OID_P256) {
        32
    } else if is(OID_P384) {
        48
    } else if is(OID_P521) {
        66
    } else {
        return Err("x509: unknown elliptic curve".into());
    };
    while d.len() > size {
        if d[0] != 0 {
            return Err("x509: invalid private key length".into());
        }
        d = &d[1..];
    }
    let mut padded = vec![0u8; size - d.len()];
    padded.extend_from_slice(d);
    let bad = |_| "x509: invalid elliptic curve private key value".to_string();
    Ok(if is(OID_P256) {
        PrivateKey::P256(p256::SecretKey::from_slice(&padded).map_err(bad)?)
    } else if is(OID_P384) {
        PrivateKey::P384(p384::SecretKey::from_slice(&padded).map_err(bad)?)
    } else {
        PrivateKey::P521(p521::SecretKey::from_slice(&padded).map_err(bad)?)
    })
}

fn parse_dsa(der: &[u8]) -> Result<PrivateKey, String> {
    let (v, _) = asn1::read_seq(der).ok_or(MALFORMED)?;
    if v.len() < 6 || !v[..6].iter().all(is_int) {
        return Err(MALFORMED.into());
    }
    let n = |i: usize| v[i].content.to_vec();
    Ok(PrivateKey::Dsa([n(1), n(2), n(3), n(4), n(5)]))
}
