//! Security keys of a cluster (`security.protocol`, `ssl.*`, `sasl.*`, under their Kafka
//! names in both formats) turned into the typed [`Security`] the connection layer uses.
//!
//! Certificates and keys are read and checked at load (`security_tls.rs`), so `kmirror check`
//! and startup report a missing file, a key that does not match its certificate or a bad
//! `sasl.jaas.config` with the key that holds it. No message shows the value of a secret
//! key (passwords, private keys, the JAAS entry): they live in [`Secret`]s.

use std::collections::BTreeMap;

use super::draft::Keyed;
use super::error::Report;
use super::jaas;
use crate::secret::Secret;
use crate::security::{SaslMechanism, SaslSettings, Security, SecurityProtocol};

/// How kmirror treats a security key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Read and applied.
    Read,
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
    ("ssl.truststore.password", Use::Read),
    ("ssl.keystore.type", Use::Read),
    ("ssl.keystore.location", Use::Read),
    ("ssl.keystore.certificate.chain", Use::Read),
    ("ssl.keystore.key", Use::Read),
    ("ssl.keystore.password", Use::Read),
    ("ssl.key.password", Use::Read),
    ("ssl.protocol", Use::Read),
    ("ssl.enabled.protocols", Use::Read),
    ("ssl.endpoint.identification.algorithm", Use::Read),
    ("ssl.cipher.suites", Use::Ignored),
    ("ssl.provider", Use::Ignored),
    ("ssl.keymanager.algorithm", Use::Ignored),
    ("ssl.trustmanager.algorithm", Use::Ignored),
    ("ssl.secure.random.implementation", Use::Ignored),
    ("sasl.mechanism", Use::Read),
    ("sasl.jaas.config", Use::Read),
    ("sasl.username", Use::Read),
    ("sasl.password", Use::Read),
    ("sasl.oauthbearer.token.endpoint.url", Use::Read),
    ("sasl.login.callback.handler.class", Use::Read),
    ("sasl.oauthbearer.client.credentials.client.id", Use::Read),
    ("sasl.oauthbearer.client.credentials.client.secret", Use::Read),
    ("sasl.oauthbearer.scope", Use::Read),
    ("sasl.oauthbearer.sub.claim.name", Use::Read),
    ("sasl.oauthbearer.header.urlencode", Use::Read),
    ("sasl.oauthbearer.scope.claim.name", Use::Ignored),
    ("sasl.login.refresh.window.factor", Use::Ignored),
    ("sasl.login.refresh.window.jitter", Use::Ignored),
    ("sasl.login.refresh.min.period.seconds", Use::Ignored),
    ("sasl.login.refresh.buffer.seconds", Use::Ignored),
    ("sasl.login.connect.timeout.ms", Use::Ignored),
    ("sasl.login.read.timeout.ms", Use::Ignored),
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
    pub(super) fn of(&self, name: &str) -> String {
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
            Some((_, Use::Ignored)) if name.starts_with("sasl.") => r.warn(
                key,
                "ignored: kmirror refreshes OAuth tokens at 80% of their lifetime and times the \
                 token request itself (docs/security.md)",
            ),
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
        super::security_tls::tls(r, keys, names)
    });
    let sasl = part(r, keys, protocol, protocol.uses_sasl(), "sasl.", |r| {
        sasl(r, keys, names)
    });
    let (Ok(tls), Ok(mut sasl)) = (tls, sasl) else {
        return None;
    };
    // An https token endpoint may be signed by the cluster's own CA.
    if let (Some(oauth), Some(tls)) = (sasl.as_mut().and_then(|s| s.oauth.as_mut()), tls.as_ref()) {
        oauth.extra_roots = tls.roots.clone();
    }
    if protocol == SecurityProtocol::SaslPlaintext
        && sasl.as_ref().is_some_and(|s| s.mechanism == SaslMechanism::Plain)
    {
        r.warn(
            &keys
                .get("security.protocol")
                .map_or_else(|| names.of("security.protocol"), |k| k.key.clone()),
            "SASL_PLAINTEXT with PLAIN sends the password unencrypted: use SASL_SSL",
        );
    }
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

pub(super) type Keys = BTreeMap<String, Keyed<String>>;

/// A key that is set to something other than blanks.
pub(super) fn get<'a>(keys: &'a Keys, name: &str) -> Option<&'a Keyed<String>> {
    keys.get(name).filter(|k| !k.value.trim().is_empty())
}

fn sasl(r: &mut Report, keys: &Keys, names: &Names) -> Result<SaslSettings, ()> {
    let Some(mechanism_key) = get(keys, "sasl.mechanism") else {
        r.problem(
            &names.of("sasl.mechanism"),
            "is required with SASL (Kafka's default GSSAPI is not supported): PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
        );
        return Err(());
    };
    let Some(mechanism) = SaslMechanism::parse(&mechanism_key.value) else {
        r.problem(
            &mechanism_key.key,
            format!(
                "`{}` is not supported: kmirror speaks PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER",
                mechanism_key.value.trim()
            ),
        );
        return Err(());
    };
    if mechanism == SaslMechanism::OAuthBearer {
        return super::security_oauth::sasl(r, keys, names);
    }
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
                SaslMechanism::OAuthBearer => super::security_oauth::MODULE,
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
        oauth: None,
    })
}
