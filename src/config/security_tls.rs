//! The TLS part of a cluster's security keys: trust roots, hostname checking, versions,
//! and the mTLS client certificate and key, read from PEM files or strings or from PKCS12 and
//! JKS stores (`keystore.rs`), and checked when the configuration is loaded.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::draft::Keyed;
use super::error::Report;
use super::keystore::{self, StoreError, StoreFormat};
use super::security::{Keys, Names, get};
use crate::secret::Secret;
use crate::security::{ClientIdentity, TlsSettings, TlsVersion};

pub(super) fn tls(r: &mut Report, keys: &Keys, names: &Names) -> Result<TlsSettings, ()> {
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
        (Some(location), None) => truststore(r, keys, location, &mut ok).unwrap_or_default(),
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
/// key and the chain, or a PKCS12 or JKS keystore with one key entry), or
/// `ssl.keystore.certificate.chain` with `ssl.keystore.key`.
fn identity(r: &mut Report, keys: &Keys, ok: &mut bool) -> Option<ClientIdentity> {
    let location = get(keys, "ssl.keystore.location");
    let chain = get(keys, "ssl.keystore.certificate.chain");
    let key = get(keys, "ssl.keystore.key");
    let (key_name, pem): (String, Vec<u8>) = match (location, chain, key) {
        (None, None, None) => return None,
        (Some(location), None, None) => {
            let bytes = read_file(r, location, ok)?;
            match store_format(r, keys, "ssl.keystore.type", location, &bytes, ok)? {
                StoreFormat::Pem => (location.key.clone(), bytes),
                format => return binary_keystore(r, keys, location, &bytes, format, ok),
            }
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
            r.problem(key, "holds no PEM certificate");
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

/// The format to read `location`'s file in: its `type_name` key if set, checked against the
/// file's bytes (see [`StoreFormat::resolve`]).
fn store_format(
    r: &mut Report,
    keys: &Keys,
    type_name: &str,
    location: &Keyed<String>,
    bytes: &[u8],
    ok: &mut bool,
) -> Option<StoreFormat> {
    let configured = match get(keys, type_name) {
        None => None,
        Some(k) => match StoreFormat::parse(&k.value) {
            Some(f) => Some(f),
            None => {
                r.problem(
                    &k.key,
                    format!(
                        "`{}` is not supported: kmirror reads PKCS12, JKS and PEM",
                        k.value.trim()
                    ),
                );
                *ok = false;
                return None;
            }
        },
    };
    StoreFormat::resolve(configured, bytes)
        .map_err(|e| {
            r.problem(&location.key, format!("`{}` {e}", location.value.trim()));
            *ok = false;
        })
        .ok()
}

/// The trusted certificates of `ssl.truststore.location`, PEM or a binary store.
fn truststore(
    r: &mut Report,
    keys: &Keys,
    location: &Keyed<String>,
    ok: &mut bool,
) -> Option<Vec<CertificateDer<'static>>> {
    let bytes = read_file(r, location, ok)?;
    let format = store_format(r, keys, "ssl.truststore.type", location, &bytes, ok)?;
    if format == StoreFormat::Pem {
        return Some(certificates(r, &location.key, &bytes, ok));
    }
    let password = store_password(r, keys, "ssl.truststore.password", location, format, ok)?;
    keystore::read(&bytes, format, password.expose(), None)
        .and_then(|contents| contents.trusted())
        .map_err(|e| store_problem(r, location, &e, ok))
        .ok()
}

/// The client identity from a PKCS12 or JKS `ssl.keystore.location`.
fn binary_keystore(
    r: &mut Report,
    keys: &Keys,
    location: &Keyed<String>,
    bytes: &[u8],
    format: StoreFormat,
    ok: &mut bool,
) -> Option<ClientIdentity> {
    let password = store_password(r, keys, "ssl.keystore.password", location, format, ok)?;
    let key_password = get(keys, "ssl.key.password").map(|k| Secret::new(k.value.clone()));
    keystore::read(
        bytes,
        format,
        password.expose(),
        key_password.as_ref().map(Secret::expose),
    )
    .and_then(|contents| contents.single_key())
    .map(|entry| ClientIdentity {
        chain: entry.chain,
        key: Arc::new(entry.key),
    })
    .map_err(|e| store_problem(r, location, &e, ok))
    .ok()
}

fn store_password(
    r: &mut Report,
    keys: &Keys,
    name: &str,
    location: &Keyed<String>,
    format: StoreFormat,
    ok: &mut bool,
) -> Option<Secret> {
    match get(keys, name) {
        Some(k) => Some(Secret::new(k.value.clone())),
        None => {
            r.problem(
                &location.key,
                format!(
                    "`{}` is a {} store: set {name}",
                    location.value.trim(),
                    format.name()
                ),
            );
            *ok = false;
            None
        }
    }
}

fn store_problem(r: &mut Report, location: &Keyed<String>, e: &StoreError, ok: &mut bool) {
    r.problem(&location.key, format!("`{}` {e}", location.value.trim()));
    *ok = false;
}
