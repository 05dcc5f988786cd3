//! PKCS12 and JKS stores made by openssl and Java's keytool (`testkit::keytool`): read through
//! the keystore module and through the configuration keys, and every way they can be wrong
//! reported with the file and the cause, never the password.

use rustls_pki_types::CertificateDer;

use super::keystore::{self, StoreError, StoreFormat};
use crate::config::from_properties_str;
use crate::testkit::certs::{Leaf, TestCa};
use crate::testkit::keytool::{self, KEY_PASSWORD, Stores};

const PASSWORD: &str = "store-pass-7";

fn stores(dir: &std::path::Path) -> (TestCa, Leaf, Stores) {
    let ca = TestCa::new("keystore CA");
    let client = ca.client("kmirror");
    let stores = keytool::write(dir, &ca, &client, PASSWORD).expect("openssl and keytool");
    (ca, client, stores)
}

fn read(
    path: &std::path::Path,
    password: &str,
    key_password: Option<&str>,
) -> Result<keystore::StoreContents, StoreError> {
    let bytes = std::fs::read(path).unwrap();
    let format = StoreFormat::resolve(None, &bytes).unwrap();
    keystore::read(&bytes, format, password, key_password)
}

#[test]
fn stores_from_openssl_and_keytool_read_and_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, client, s) = stores(dir.path());
    let chain = vec![client.chain()[0].clone(), ca.cert_der()];
    for (path, format) in [
        (&s.openssl_pkcs12, StoreFormat::Pkcs12),
        (&s.pkcs12, StoreFormat::Pkcs12),
        (&s.legacy_pkcs12, StoreFormat::Pkcs12),
        (&s.jks, StoreFormat::Jks),
    ] {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(StoreFormat::detect(&bytes), Some(format), "{}", path.display());
        let entry = read(path, PASSWORD, None)
            .and_then(|c| c.single_key())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(entry.alias, "kmirror", "{}", path.display());
        assert_eq!(entry.chain, chain, "{}", path.display());
        assert!(
            crate::security::TlsSettings::new(
                vec![ca.cert_der()],
                true,
                vec![crate::security::TlsVersion::Tls13],
                Some(crate::security::ClientIdentity {
                    chain: entry.chain,
                    key: std::sync::Arc::new(entry.key),
                }),
            )
            .is_ok(),
            "{}",
            path.display()
        );
        let wrong = read(path, "wrong-pass", None).unwrap_err();
        assert!(
            matches!(wrong, StoreError::WrongPassword(_)),
            "{}: {wrong}",
            path.display()
        );
        assert!(!wrong.to_string().contains("wrong-pass"));
    }
    for path in [&s.trust_pkcs12, &s.trust_jks] {
        let trusted: Vec<CertificateDer<'static>> = read(path, PASSWORD, None)
            .and_then(|c| c.trusted())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(trusted, vec![ca.cert_der()], "{}", path.display());
        let err = read(path, PASSWORD, None)
            .and_then(|c| c.single_key())
            .unwrap_err();
        assert_eq!(err, StoreError::NoPrivateKey, "{}", path.display());
    }
    // A JKS key with its own password: the store password does not open it.
    let err = read(&s.jks_key_password, PASSWORD, None).unwrap_err();
    assert_eq!(err, StoreError::WrongKeyPassword("kmirror".to_owned()));
    let entry = read(&s.jks_key_password, PASSWORD, Some(KEY_PASSWORD))
        .and_then(|c| c.single_key())
        .unwrap();
    assert_eq!(entry.chain, chain);
    let err = read(&s.jks_two_keys, PASSWORD, None)
        .and_then(|c| c.single_key())
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::SeveralKeys(vec!["kmirror".to_owned(), "other".to_owned()])
    );
    assert!(
        err.to_string().contains("keytool -importkeystore -srcalias"),
        "{err}"
    );
    // Cut short anywhere: an error, never a panic.
    for path in [&s.pkcs12, &s.legacy_pkcs12, &s.jks] {
        let bytes = std::fs::read(path).unwrap();
        let format = StoreFormat::detect(&bytes).unwrap();
        for len in (1..bytes.len()).step_by(97) {
            assert!(keystore::read(&bytes[..len], format, PASSWORD, None).is_err());
        }
    }
}

#[test]
fn the_type_and_the_file_must_agree() {
    let p12 = [0x30, 0x82, 0x01, 0x00];
    let jks = [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2];
    let pem = b"-----BEGIN CERTIFICATE-----\n";
    assert_eq!(StoreFormat::resolve(None, &p12), Ok(StoreFormat::Pkcs12));
    assert_eq!(StoreFormat::resolve(None, &jks), Ok(StoreFormat::Jks));
    assert_eq!(StoreFormat::resolve(None, pem), Ok(StoreFormat::Pem));
    // Kafka's default type JKS, and Java reading either binary format as either type.
    assert_eq!(
        StoreFormat::resolve(Some(StoreFormat::Jks), &p12),
        Ok(StoreFormat::Pkcs12)
    );
    assert_eq!(
        StoreFormat::resolve(Some(StoreFormat::Pkcs12), &jks),
        Ok(StoreFormat::Jks)
    );
    let err = StoreFormat::resolve(Some(StoreFormat::Pem), &p12).unwrap_err();
    assert!(err.contains("is a PKCS12 file but the type says PEM"), "{err}");
    let err = StoreFormat::resolve(Some(StoreFormat::Jks), pem).unwrap_err();
    assert!(err.contains("is a PEM file but the type says JKS"), "{err}");
    assert!(StoreFormat::resolve(None, b"hello").is_err());
    assert_eq!(StoreFormat::parse("pkcs12"), Some(StoreFormat::Pkcs12));
    assert_eq!(StoreFormat::parse("JCEKS"), None);
}

const BASE: &str = "clusters = source, target\nsource.bootstrap.servers = s:9092\n\
                    target.bootstrap.servers = t:9093\nsource->target.enabled = true\n";

fn problems(extra: &str) -> String {
    match from_properties_str(&format!("{BASE}{extra}"), "mm2.properties") {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn keystore_keys_in_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, client, s) = stores(dir.path());
    for (keystore, truststore, store_type) in [
        (&s.pkcs12, &s.trust_pkcs12, "PKCS12"),
        (&s.jks, &s.trust_jks, "JKS"),
    ] {
        let c = from_properties_str(
            &format!(
                "{BASE}target.security.protocol=SSL\n\
                 target.ssl.keystore.type={store_type}\n\
                 target.ssl.keystore.location={}\n\
                 target.ssl.keystore.password={PASSWORD}\n\
                 target.ssl.truststore.type={store_type}\n\
                 target.ssl.truststore.location={}\n\
                 target.ssl.truststore.password={PASSWORD}\n",
                keystore.display(),
                truststore.display()
            ),
            "mm2.properties",
        )
        .unwrap_or_else(|e| panic!("{store_type}: {e}"));
        let tls = c.clusters["target"].client.security.tls.clone().unwrap();
        assert_eq!(tls.roots, vec![ca.cert_der()]);
        let identity = tls.identity.unwrap();
        assert_eq!(identity.chain[0], client.chain()[0]);
        assert!(!format!("{c:?}").contains(PASSWORD));
    }
    // No type: found from the file (Kafka's default JKS reads PKCS12 too).
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.location={}\n",
        s.pkcs12.display()
    ));
    assert!(
        text.contains("target.ssl.keystore.location")
            && text.contains("is a PKCS12 store: set ssl.keystore.password"),
        "{text}"
    );
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.location={}\n\
         target.ssl.keystore.password=nope-nope\n",
        s.jks.display()
    ));
    assert!(
        text.contains(&format!(
            "`{}` cannot be opened: the password is wrong",
            s.jks.display()
        )),
        "{text}"
    );
    assert!(!text.contains("nope-nope"), "{text}");
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.type=PEM\n\
         target.ssl.keystore.location={}\ntarget.ssl.keystore.password={PASSWORD}\n",
        s.jks.display()
    ));
    assert!(
        text.contains("is a JKS file but the type says PEM: set the type to JKS"),
        "{text}"
    );
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.type=BCFKS\n\
         target.ssl.keystore.location={}\n",
        s.jks.display()
    ));
    assert!(
        text.contains("target.ssl.keystore.type") && text.contains("`BCFKS` is not supported"),
        "{text}"
    );
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.location={}\n\
         target.ssl.keystore.password={PASSWORD}\n",
        s.jks_two_keys.display()
    ));
    assert!(
        text.contains("holds 2 private keys (aliases: kmirror, other)"),
        "{text}"
    );
    let text = problems(&format!(
        "target.security.protocol=SSL\ntarget.ssl.keystore.location={}\n\
         target.ssl.keystore.password={PASSWORD}\ntarget.ssl.key.password=wrong-key\n",
        s.jks_key_password.display()
    ));
    assert!(
        text.contains("cannot decrypt the private key `kmirror`: check ssl.key.password"),
        "{text}"
    );
    let ok = from_properties_str(
        &format!(
            "{BASE}target.security.protocol=SSL\ntarget.ssl.keystore.location={}\n\
             target.ssl.keystore.password={PASSWORD}\ntarget.ssl.key.password={KEY_PASSWORD}\n\
             target.ssl.truststore.location={}\ntarget.ssl.truststore.password={PASSWORD}\n",
            s.jks_key_password.display(),
            s.trust_jks.display()
        ),
        "mm2.properties",
    );
    assert!(ok.is_ok(), "{:?}", ok.err().map(|e| e.to_string()));
}
