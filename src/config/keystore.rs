//! Keystores and truststores as certificate providers hand them out: PKCS12 and JKS files,
//! beside PEM. Bytes in, certificates and keys out; reading the file and reporting against
//! the configuration key is `security_tls.rs`'s part.
//!
//! The formats are read by crates: PKCS12 by `p12-keystore` (PBES2 with AES and
//! PBKDF2-HMAC-SHA2 as keytool writes since Java 17, and the legacy RC2/3DES PBES1 schemes),
//! JKS by `jks` (vendored with bounded allocations, `vendor/jks/KMIRROR-PATCH.md`).
//!
//! Which format a file is comes from its bytes: JKS starts with the magic `FEEDFEED`, PKCS12
//! is a DER sequence, PEM is text with `-----BEGIN`. Kafka's default `ssl.*.type` is JKS, and
//! Java since 9 reads a PKCS12 file as JKS and the other way round (`keystore.type.compat`), so
//! a JKS/PKCS12 mismatch between the type and the file is accepted; PEM against a binary type
//! (or the reverse) is refused with the type to set.

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use thiserror::Error;

/// The formats kmirror reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFormat {
    Pem,
    Pkcs12,
    Jks,
}

impl StoreFormat {
    /// The value of `ssl.keystore.type` / `ssl.truststore.type`, any case.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PEM" => Some(Self::Pem),
            "PKCS12" => Some(Self::Pkcs12),
            "JKS" => Some(Self::Jks),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Pem => "PEM",
            Self::Pkcs12 => "PKCS12",
            Self::Jks => "JKS",
        }
    }

    /// The format of a file, from its first bytes.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
        if bytes.starts_with(&JKS_MAGIC) {
            Some(Self::Jks)
        } else if bytes.first() == Some(&0x30) {
            Some(Self::Pkcs12)
        } else if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            Some(Self::Pem)
        } else {
            None
        }
    }

    /// The format to read a file in, given the configured type (if any) and its bytes.
    pub fn resolve(configured: Option<Self>, bytes: &[u8]) -> Result<Self, String> {
        let detected = Self::detect(bytes);
        match (configured, detected) {
            (_, None) => Err(format!(
                "is neither a PKCS12 nor a JKS store nor PEM text{}",
                configured.map_or_else(String::new, |c| format!(" (the type says {})", c.name()))
            )),
            (None, Some(d)) => Ok(d),
            (Some(c), Some(d)) if c == d => Ok(d),
            // Java reads either binary format whichever of the two the type names.
            (Some(Self::Jks | Self::Pkcs12), Some(d @ (Self::Jks | Self::Pkcs12))) => Ok(d),
            (Some(c), Some(d)) => Err(format!(
                "is a {} file but the type says {}: set the type to {}",
                d.name(),
                c.name(),
                d.name()
            )),
        }
    }
}

/// Why a binary store cannot be used. Never carries a password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("is a {0} store and needs its password (the store password key)")]
    PasswordMissing(&'static str),
    #[error("cannot be opened: the password is wrong, or the file is damaged ({0} integrity check failed)")]
    WrongPassword(&'static str),
    #[error("cannot decrypt the private key `{0}`: check ssl.key.password (keytool's -keypass)")]
    WrongKeyPassword(String),
    #[error("uses an algorithm kmirror cannot read: {0}")]
    Unsupported(String),
    #[error("is not a valid {format} store: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("holds no private key entry (a keystore needs the client's key and certificate)")]
    NoPrivateKey,
    #[error(
        "holds {} private keys (aliases: {}): kmirror uses a keystore with one key; copy the one to use \
         into its own store (keytool -importkeystore -srcalias ALIAS)",
        .0.len(),
        .0.join(", ")
    )]
    SeveralKeys(Vec<String>),
    #[error("private key `{0}` has no certificate chain")]
    NoChain(String),
    #[error("holds no trusted certificate")]
    NoCertificate,
}

/// A private key entry: its alias, the PKCS#8 key and the certificate chain (leaf first).
#[derive(Debug)]
pub struct KeyEntry {
    pub alias: String,
    pub key: PrivateKeyDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
}

/// What a binary store holds: private key entries, and the certificates not tied to a key
/// (a truststore's entries).
#[derive(Debug, Default)]
pub struct StoreContents {
    pub keys: Vec<KeyEntry>,
    pub trusted: Vec<CertificateDer<'static>>,
}

impl StoreContents {
    /// The one private key entry of a keystore.
    pub fn single_key(mut self) -> Result<KeyEntry, StoreError> {
        match self.keys.len() {
            0 => Err(StoreError::NoPrivateKey),
            1 => {
                let entry = self.keys.remove(0);
                if entry.chain.is_empty() {
                    return Err(StoreError::NoChain(entry.alias));
                }
                Ok(entry)
            }
            _ => Err(StoreError::SeveralKeys(
                self.keys.into_iter().map(|k| k.alias).collect(),
            )),
        }
    }

    /// The trusted certificates of a truststore.
    pub fn trusted(self) -> Result<Vec<CertificateDer<'static>>, StoreError> {
        if self.trusted.is_empty() {
            return Err(StoreError::NoCertificate);
        }
        Ok(self.trusted)
    }
}

/// Reads a PKCS12 or JKS store. `key_password` opens JKS private keys (Kafka's
/// `ssl.key.password`); without it, or for PKCS12, the store password does.
pub fn read(
    bytes: &[u8],
    format: StoreFormat,
    password: &str,
    key_password: Option<&str>,
) -> Result<StoreContents, StoreError> {
    match format {
        StoreFormat::Pkcs12 => read_pkcs12(bytes, password),
        StoreFormat::Jks => read_jks(bytes, password, key_password.unwrap_or(password)),
        StoreFormat::Pem => Err(StoreError::Malformed {
            format: "binary",
            reason: "PEM text is read as PEM".to_owned(),
        }),
    }
}

fn read_pkcs12(bytes: &[u8], password: &str) -> Result<StoreContents, StoreError> {
    use p12_keystore::error::Error as P12;
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        P12::MacError(_) => StoreError::WrongPassword("PKCS12 MAC"),
        // A wrong password that the MAC did not catch shows as bad padding on decryption.
        P12::UnpadError => StoreError::WrongPassword("PKCS12 decryption"),
        P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm | P12::UnsupportedContentType => {
            StoreError::Unsupported(format!("{e} (PKCS12)"))
        }
        other => StoreError::Malformed {
            format: "PKCS12",
            reason: other.to_string(),
        },
    })?;
    let mut contents = StoreContents::default();
    let certs = &archive.certs;
    for (i, bag) in archive.keys.iter().enumerate() {
        let alias = bag
            .friendly_name
            .clone()
            .or_else(|| bag.local_key_id.as_ref().map(|id| hex(id.as_ref())))
            .unwrap_or_else(|| format!("key {}", i + 1));
        let leaf = bag.local_key_id.as_ref().and_then(|id| {
            certs
                .iter()
                .find(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
        });
        let mut chain: Vec<&p12_keystore::Certificate> = leaf.map(|c| &c.cert).into_iter().collect();
        // keytool stores the rest of the chain as certificate bags without a key id: follow
        // issuers up to a self-signed certificate.
        while let Some(last) = chain.last().copied()
            && last.issuer() != last.subject()
            && chain.len() < 10
        {
            let Some(next) = certs
                .iter()
                .map(|c| &c.cert)
                .find(|c| c.subject() == last.issuer() && !chain.contains(c))
            else {
                break;
            };
            chain.push(next);
        }
        contents.keys.push(KeyEntry {
            alias,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec())),
            chain: chain
                .into_iter()
                .map(|c| CertificateDer::from(c.as_der().to_vec()))
                .collect(),
        });
    }
    contents.trusted = certs
        .iter()
        .filter(|c| c.local_key_id.is_none())
        .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
        .collect();
    Ok(contents)
}

fn read_jks(bytes: &[u8], password: &str, key_password: &str) -> Result<StoreContents, StoreError> {
    let malformed = |e: jks::KeyStoreError| StoreError::Malformed {
        format: "JKS",
        reason: e.to_string(),
    };
    let mut store = jks::KeyStore::with_options(jks::KeyStoreOptions {
        case_exact_aliases: true,
        ..jks::KeyStoreOptions::default()
    });
    store.load(bytes, password.as_bytes()).map_err(|e| match e {
        jks::KeyStoreError::InvalidDigest => StoreError::WrongPassword("JKS"),
        e => malformed(e),
    })?;
    let mut aliases = store.aliases();
    aliases.sort();
    let mut contents = StoreContents::default();
    for alias in aliases {
        if store.is_private_key_entry(&alias) {
            let entry = store
                .get_private_key_entry(&alias, key_password.as_bytes())
                .map_err(|e| match e {
                    jks::KeyStoreError::InvalidDigest => StoreError::WrongKeyPassword(alias.clone()),
                    jks::KeyStoreError::UnsupportedAlgorithm => StoreError::Unsupported(format!(
                        "private key `{alias}` is not protected with JKS's key protector"
                    )),
                    e => malformed(e),
                })?;
            contents.keys.push(KeyEntry {
                key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.private_key)),
                chain: entry
                    .certificate_chain
                    .into_iter()
                    .map(|c| CertificateDer::from(c.content))
                    .collect(),
                alias,
            });
        } else if let Ok(entry) = store.get_trusted_certificate_entry(&alias) {
            contents
                .trusted
                .push(CertificateDer::from(entry.certificate.content));
        }
    }
    Ok(contents)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
