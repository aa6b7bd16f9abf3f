//! sprig's crypto helpers: password hashes, `derivePassword`, AES, private keys and
//! certificates.

mod asn1;
mod certs;
mod encoding;
mod keys;
mod passwords;

use super::Reg;

pub(super) fn register(v: &mut Reg) {
    passwords::register(v);
    certs::register(v);
}
