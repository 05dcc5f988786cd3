//! Security keys of a cluster (`security.protocol`, `ssl.*`, `sasl.*`, under their Kafka
//! names in both formats) turned into the typed [`Security`] the connection layer uses.
//!
//! Certificates and keys are read and checked here, so `kmirror check` and startup report a
//! missing file, a key that does not match its certificate or a bad `sasl.jaas.config` with
//! the key that holds it. No message shows the value of a secret key.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::draft::Keyed;
use super::error::Report;
use super::jaas;
use crate::net::{
    ClientIdentity, SaslMechanism, SaslSettings, Security, SecurityProtocol, TlsSettings, TlsVersion,
};
use crate::secret::Secret;

/// How kmirror treats a security key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Read and applied.
    Read,
    /// Holds a secret: read, and never shown.
    Secret,
    /// Kafka's, with no meaning for kmirror's TLS stack: accepted with a warning.
    Ignored,
}

/// Every security key kmirror reads, with its use. The TOML name is the same with `.`
/// replaced by `_` (`security.protocol` → `security_protocol`).
pub(crate) const KEYS: &[(&str, Use)] = &[
    ("security.protocol", Use::Read),
    ("ssl.truststore.type", Use::Read),
    ("ssl.truststore.location", Use::Read),
    ("ssl.truststore.certificates", Use::Read),
    ("ssl.truststore.password", Use::Secret),
    ("ssl.keystore.type", Use::Read),
    ("ssl.keystore.location", Use::Read),
    ("ssl.keystore.certificate.chain", Use::Read),
    ("ssl.keystore.key", Use::Secret),
    ("ssl.keystore.password", Use::Secret),
    ("ssl.key.password", Use::Secret),
    ("ssl.protocol", Use::Read),
    ("ssl.enabled.protocols", Use::Read),
    ("ssl.endpoint.identification.algorithm", Use::Read),
    ("ssl.cipher.suites", Use::Ignored),
    ("ssl.provider", Use::Ignored),
    ("ssl.keymanager.algorithm", Use::Ignored),
    ("ssl.trustmanager.algorithm", Use::Ignored),
    ("ssl.secure.random.implementation", Use::Ignored),
    ("sasl.mechanism", Use::Read),
    ("sasl.jaas.config", Use::Secret),
    ("sasl.username", Use::Read),
    ("sasl.password", Use::Secret),
];

/// Whether `key` is a security key (listed, or any other `ssl.*` / `sasl.*` key, which is
/// accepted with a warning).
pub(crate) fn is_security_key(key: &str) -> bool {
    key == "security.protocol" || key.starts_with("ssl.") || key.starts_with("sasl.")
}

/// The MM2 name of a TOML `[clusters.X.security]` field, if it is one.
pub(crate) fn from_toml_name(field: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|(k, _)| *k)
        .find(|k| k.replace('.', "_") == field)
}

/// How the front end spells a security key of this cluster, for problems about keys that
/// are missing (present ones carry their own spelling).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) prefix: String,
    /// TOML field names (`_` for `.`).
    pub(crate) toml: bool,
}

impl Names {
    fn of(&self, name: &str) -> String {
        if self.toml {
            format!("{}{}", self.prefix, name.replace('.', "_"))
        } else {
            format!("{}{name}", self.prefix)
        }
    }
}

const PLAIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";

/// Builds the security settings of one cluster; `None` if something is wrong (reported).
pub(crate) fn build(
    r: &mut Report,
    keys: &BTreeMap<String, Keyed<String>>,
    names: &Names,
) -> Option<Security> {
    for (name, Keyed { key, .. }) in keys {
        match KEYS.iter().find(|(k, _)| k == name) {
            Some((_, Use::Ignored)) => r.warn(key, "ignored: kmirror's TLS (rustls) chooses this itself"),
            Some(_) => {}
            None => r.warn(key, "unknown security key, ignored"),
        }
    }
    let protocol = match keys.get("security.protocol") {
        None => SecurityProtocol::Plaintext,
        Some(k) => match SecurityProtocol::parse(&k.value) {
            Some(p) => p,
            None => {
                let v = k.value.trim();
                r.problem(
                    &k.key,
                    format!("`{v}` is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
                );
                return None;
            }
        },
    };
    let tls = part(r, keys, protocol, protocol.uses_tls(), "ssl.", |r| {
        tls(r, keys, names)
    });
    let sasl = part(r, keys, protocol, protocol.uses_sasl(), "sasl.", |r| {
        sasl(r, keys, names)
    });
    let (Ok(tls), Ok(sasl)) = (tls, sasl) else {
        return None;
    };
    Some(Security { protocol, tls, sasl })
}

/// The TLS or SASL part: built when the protocol uses it, otherwise its keys are ignored
/// with a warning.
fn part<T>(
    r: &mut Report,
    keys: &Keys,
    protocol: SecurityProtocol,
    used: bool,
    prefix: &str,
    build: impl FnOnce(&mut Report) -> Result<T, ()>,
) -> Result<Option<T>, ()> {
    if used {
        return build(r).map(Some);
    }
    if let Some((_, k)) = keys.iter().find(|(n, _)| n.starts_with(prefix)) {
        r.warn(
            &k.key,
            format!("ignored: security.protocol is {}", protocol.name()),
        );
    }
    Ok(None)
}

type Keys = BTreeMap<String, Keyed<String>>;

/// A key that is set to something other than blanks.
fn get<'a>(keys: &'a Keys, name: &str) -> Option<&'a Keyed<String>> {
    keys.get(name).filter(|k| !k.value.trim().is_empty())
}

fn tls(r: &mut Report, keys: &Keys, names: &Names) -> Result<TlsSettings, ()> {
    let mut ok = true;
    let roots = match (
        get(keys, "ssl.truststore.location"),
        get(keys, "ssl.truststore.certificates"),
    ) {
        (Some(a), Some(b)) => {
            r.problem(&b.key, format!("set either `{}` or this, not both", a.key));
            ok = false;
            Vec::new()
        }
        (Some(location), None) => {
            pem_only(r, keys, "ssl.truststore.type", &mut ok);
            match read_file(r, location, &mut ok) {
                Some(bytes) => certificates(r, &location.key, &bytes, &mut ok),
                None => Vec::new(),
            }
        }
        (None, Some(pem)) => certificates(r, &pem.key, pem.value.as_bytes(), &mut ok),
        (None, None) => Vec::new(),
    };
    // Kafka's default is `https`; only an explicitly empty value turns the check off.
    let verify_hostname = match keys.get("ssl.endpoint.identification.algorithm") {
        None => true,
        Some(k) if k.value.trim().is_empty() => {
            r.warn(
                &k.key,
                "is empty: the broker's host name is not checked against its certificate, so any \
                 certificate from a trusted CA is accepted (set it to https)",
            );
            false
        }
        Some(k) if k.value.trim().eq_ignore_ascii_case("https") => true,
        Some(k) => {
            r.problem(&k.key, format!("`{}` is not `https` or empty", k.value.trim()));
            ok = false;
            true
        }
    };
    let versions = versions(r, keys, &mut ok);
    let identity = identity(r, keys, &mut ok);
    if !ok {
        return Err(());
    }
    let key = get(keys, "ssl.keystore.location")
        .or_else(|| get(keys, "ssl.truststore.location"))
        .map_or_else(|| names.of("security.protocol"), |k| k.key.clone());
    TlsSettings::new(roots, verify_hostname, versions, identity).map_err(|e| r.problem(&key, e))
}

/// The versions offered: `ssl.enabled.protocols` if set, else `ssl.protocol` and newer
/// (TLS 1.2 and 1.3 when neither is set, as Kafka's defaults).
fn versions(r: &mut Report, keys: &Keys, ok: &mut bool) -> Vec<TlsVersion> {
    let parse = |name: &str| match name.trim() {
        "TLSv1.2" => Some(Some(TlsVersion::Tls12)),
        "TLSv1.3" => Some(Some(TlsVersion::Tls13)),
        // Java names for older or unspecific protocols: nothing rustls speaks.
        "TLSv1" | "TLSv1.1" | "SSLv3" => Some(None),
        _ => None,
    };
    let all = vec![TlsVersion::Tls12, TlsVersion::Tls13];
    if let Some(k) = get(keys, "ssl.enabled.protocols") {
        let mut out = Vec::new();
        for name in k.value.split(',').filter(|n| !n.trim().is_empty()) {
            match parse(name) {
                Some(Some(v)) if !out.contains(&v) => out.push(v),
                Some(_) => {}
                None => {
                    r.problem(
                        &k.key,
                        format!("`{}` is not a TLS protocol name (TLSv1.2, TLSv1.3)", name.trim()),
                    );
                    *ok = false;
                }
            }
        }
        if out.is_empty() && *ok {
            r.problem(
                &k.key,
                "enables neither TLSv1.2 nor TLSv1.3, the versions kmirror speaks",
            );
            *ok = false;
        }
        out.sort();
        return out;
    }
    match get(keys, "ssl.protocol") {
        None => all,
        Some(k) if k.value.trim().eq_ignore_ascii_case("TLS") => all,
        Some(k) => match parse(&k.value) {
            Some(Some(min)) => all.into_iter().filter(|v| *v >= min).collect(),
            _ => {
                r.problem(
                    &k.key,
                    format!("`{}` is not TLSv1.2, TLSv1.3 or TLS", k.value.trim()),
                );
                *ok = false;
                all
            }
        },
    }
}

/// The client certificate and key for mTLS: `ssl.keystore.location` (a PEM file with the
/// key and the chain), or `ssl.keystore.certificate.chain` with `ssl.keystore.key`.
fn identity(r: &mut Report, keys: &Keys, ok: &mut bool) -> Option<ClientIdentity> {
    let location = get(keys, "ssl.keystore.location");
    let chain = get(keys, "ssl.keystore.certificate.chain");
    let key = get(keys, "ssl.keystore.key");
    let (key_name, pem): (String, Vec<u8>) = match (location, chain, key) {
        (None, None, None) => return None,
        (Some(location), None, None) => {
            pem_only(r, keys, "ssl.keystore.type", ok);
            (location.key.clone(), read_file(r, location, ok)?)
        }
        (None, Some(chain), Some(key)) => {
            let mut pem = chain.value.clone().into_bytes();
            pem.push(b'\n');
            pem.extend_from_slice(key.value.as_bytes());
            (key.key.clone(), pem)
        }
        (_, _, _) => {
            let named = location
                .or(chain)
                .or(key)
                .map_or("ssl.keystore.*", |k| k.key.as_str());
            r.problem(
                named,
                "set either ssl.keystore.location, or both ssl.keystore.certificate.chain and ssl.keystore.key",
            );
            *ok = false;
            return None;
        }
    };
    let chain = certificates(r, &key_name, &pem, ok);
    let password = get(keys, "ssl.key.password").map(|k| Secret::new(k.value.clone()));
    let key = private_key(&pem, password.as_ref())
        .map_err(|e| {
            r.problem(&key_name, e);
            *ok = false;
        })
        .ok()?;
    if chain.is_empty() {
        return None;
    }
    Some(ClientIdentity {
        chain,
        key: Arc::new(key),
    })
}

/// The private key in `pem`: PKCS#8, PKCS#1 or SEC1, or encrypted PKCS#8 with `password`.
fn private_key(pem: &[u8], password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    if let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let end_marker = "-----END ENCRYPTED PRIVATE KEY-----";
        let end = text[start..]
            .find(end_marker)
            .ok_or("has an ENCRYPTED PRIVATE KEY block without its END line")?;
        let block = &text[start..start + end + end_marker.len()];
        let password = password.ok_or("holds an encrypted private key: set ssl.key.password")?;
        let (_, doc) = pkcs8::Document::from_pem(block).map_err(|e| format!("encrypted private key: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| format!("encrypted private key: {e}"))?;
        let plain = info
            .decrypt(password.expose().as_bytes())
            .map_err(|_| "cannot decrypt the private key: check ssl.key.password".to_owned())?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned())
}

fn certificates(r: &mut Report, key: &str, pem: &[u8], ok: &mut bool) -> Vec<CertificateDer<'static>> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => certs,
        _ => {
            r.problem(
                key,
                "holds no PEM certificate (kmirror reads PEM: convert JKS or PKCS12 with keytool or openssl)",
            );
            *ok = false;
            Vec::new()
        }
    }
}

fn read_file(r: &mut Report, location: &Keyed<String>, ok: &mut bool) -> Option<Vec<u8>> {
    let path = location.value.trim();
    std::fs::read(path)
        .map_err(|e| {
            r.problem(&location.key, format!("cannot read `{path}`: {e}"));
            *ok = false;
        })
        .ok()
}

/// Kafka's store types default to JKS; kmirror reads PEM only.
fn pem_only(r: &mut Report, keys: &Keys, name: &str, ok: &mut bool) {
    if let Some(k) = get(keys, name)
        && !k.value.trim().eq_ignore_ascii_case("PEM")
    {
        r.problem(
            &k.key,
            format!(
                "`{}` is not supported: kmirror reads PEM files (set PEM after converting)",
                k.value.trim()
            ),
        );
        *ok = false;
    }
}

fn sasl(r: &mut Report, keys: &Keys, names: &Names) -> Result<SaslSettings, ()> {
    let Some(mechanism_key) = get(keys, "sasl.mechanism") else {
        r.problem(
            &names.of("sasl.mechanism"),
            "is required with SASL (Kafka's default GSSAPI is not supported): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        );
        return Err(());
    };
    let Some(mechanism) = SaslMechanism::parse(&mechanism_key.value) else {
        r.problem(
            &mechanism_key.key,
            format!(
                "`{}` is not supported: kmirror speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512",
                mechanism_key.value.trim()
            ),
        );
        return Err(());
    };
    let (username, password) = match (get(keys, "sasl.jaas.config"), get(keys, "sasl.username")) {
        (Some(jaas), Some(user)) => {
            r.problem(
                &user.key,
                format!(
                    "set either `{}` or sasl.username and sasl.password, not both",
                    jaas.key
                ),
            );
            return Err(());
        }
        (Some(jaas), None) => {
            let entry = jaas::parse(&jaas.value).map_err(|e| r.problem(&jaas.key, e))?;
            let module = match mechanism {
                SaslMechanism::Plain => PLAIN_MODULE,
                SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => SCRAM_MODULE,
            };
            if entry.module != module {
                r.problem(
                    &jaas.key,
                    format!(
                        "names login module `{}`; sasl.mechanism={} needs {module}",
                        entry.module,
                        mechanism.name()
                    ),
                );
                return Err(());
            }
            let user = entry.options.get("username");
            let password = entry.options.get("password");
            match (user, password) {
                (Some(u), Some(p)) => (u.expose().to_owned(), p.clone()),
                _ => {
                    r.problem(&jaas.key, "needs both username=\"…\" and password=\"…\"");
                    return Err(());
                }
            }
        }
        (None, Some(user)) => match get(keys, "sasl.password") {
            Some(p) => (user.value.trim().to_owned(), Secret::new(p.value.clone())),
            None => {
                r.problem(&user.key, "is set without sasl.password");
                return Err(());
            }
        },
        (None, None) => {
            r.problem(
                &names.of("sasl.jaas.config"),
                format!(
                    "is required with sasl.mechanism={} (or sasl.username and sasl.password)",
                    mechanism.name()
                ),
            );
            return Err(());
        }
    };
    Ok(SaslSettings {
        mechanism,
        username,
        password,
    })
}
