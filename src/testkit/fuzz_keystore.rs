//! Fuzz target body for the keystore reader (`config::keystore`): the bytes of a PKCS12 or
//! JKS file as `ssl.keystore.location` / `ssl.truststore.location` names it. Registered in
//! [`super::fuzz`]; the committed seeds are stores made by openssl and keytool with the
//! password [`PASSWORD`].

use sha1::{Digest, Sha1};

use crate::config::keystore::{self, StoreFormat};

/// The password of the seed stores (keytool's customary one).
pub const PASSWORD: &str = "changeit";

/// Reads `data` as PKCS12 and as JKS, and as JKS again with its trailing SHA-1 integrity
/// digest recomputed for [`PASSWORD`] (so that mutations reach the entries and the key
/// decryption instead of stopping at the digest). Never panics; what reads gives keys with a
/// certificate chain or a typed error, and one key or a typed error from `single_key`.
pub fn keystore_read(data: &[u8]) {
    let _ = StoreFormat::resolve(None, data);
    for format in [StoreFormat::Pkcs12, StoreFormat::Jks] {
        check(data, format);
    }
    if data.len() > 20 {
        let body = &data[..data.len() - 20];
        let mut fixed = body.to_vec();
        fixed.extend_from_slice(&jks_digest(body));
        check(&fixed, StoreFormat::Jks);
    }
}

fn check(data: &[u8], format: StoreFormat) {
    let Ok(contents) = keystore::read(data, format, PASSWORD, None) else {
        return;
    };
    let keys = contents.keys.len();
    for key in &contents.keys {
        assert!(!key.alias.is_empty() || format == StoreFormat::Jks);
    }
    if let Ok(entry) = contents.single_key() {
        assert!(keys == 1 && !entry.chain.is_empty());
    }
}

/// JKS's integrity digest: SHA-1 over the password as UTF-16BE, "Mighty Aphrodite", and the
/// store's bytes.
fn jks_digest(body: &[u8]) -> [u8; 20] {
    let mut hash = Sha1::new();
    for b in PASSWORD.bytes() {
        hash.update([0, b]);
    }
    hash.update(b"Mighty Aphrodite");
    hash.update(body);
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_up_digest_is_the_one_keytool_writes() {
        let seed =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/keystore_read/keytool.jks");
        let data = std::fs::read(seed).unwrap();
        let (body, digest) = data.split_at(data.len() - 20);
        assert_eq!(jks_digest(body), digest);
        let contents = keystore::read(&data, StoreFormat::Jks, PASSWORD, None).unwrap();
        assert_eq!(contents.single_key().unwrap().alias, "kmirror");
    }
}
