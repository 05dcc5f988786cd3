//! SASL/OAUTHBEARER with KIP-768's client-credentials flow, as Kafka clients configure it:
//!
//! ```text
//! sasl.mechanism=OAUTHBEARER
//! sasl.oauthbearer.token.endpoint.url=https://idp.example/oauth2/token
//! sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler
//! sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
//!     clientId="…" clientSecret="…" scope="…";
//! ```
//!
//! Kafka 4.1 and later also take the client id, secret and scope as
//! `sasl.oauthbearer.client.credentials.client.id`, `….client.secret` and
//! `sasl.oauthbearer.scope`; either spelling is read, not both. The login callback handler is
//! `…oauthbearer.secured.OAuthBearerLoginCallbackHandler` in Kafka 3.x and
//! `…oauthbearer.OAuthBearerLoginCallbackHandler` in 4.x: both are accepted, or none.

use super::error::Report;
use super::jaas;
use super::security::{Keys, Names, get};
use crate::secret::Secret;
use crate::security::{OAuthSettings, SaslMechanism, SaslSettings, TokenCache, Url};

pub(super) const MODULE: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

/// The login callback handlers of Kafka 3.x and 4.x for the client-credentials flow.
const HANDLERS: [&str; 2] = [
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
];

pub(super) fn sasl(r: &mut Report, keys: &Keys, names: &Names) -> Result<SaslSettings, ()> {
    let mut ok = true;
    if let Some(k) = get(keys, "sasl.login.callback.handler.class")
        && !HANDLERS.contains(&k.value.trim())
    {
        r.problem(
            &k.key,
            format!(
                "`{}` is not supported: kmirror runs the client-credentials flow of {} (or of \
                 Kafka 3.x, {})",
                k.value.trim(),
                HANDLERS[1],
                HANDLERS[0]
            ),
        );
        ok = false;
    }
    let endpoint = match get(keys, "sasl.oauthbearer.token.endpoint.url") {
        None => {
            r.problem(
                &names.of("sasl.oauthbearer.token.endpoint.url"),
                "is required with sasl.mechanism=OAUTHBEARER (the identity provider's token endpoint)",
            );
            ok = false;
            None
        }
        Some(k) => match Url::parse(k.value.trim()) {
            Ok(url) => {
                if !url.tls && !url.is_loopback() {
                    r.warn(
                        &k.key,
                        "is plain http to a host that is not loopback: the client secret and the \
                         tokens cross the network unencrypted (use https)",
                    );
                }
                Some(url)
            }
            Err(e) => {
                r.problem(&k.key, format!("`{}` {e}", k.value.trim()));
                ok = false;
                None
            }
        },
    };
    let (mut client_id, mut secret, mut scope) = (None, None, None);
    if let Some(k) = get(keys, "sasl.jaas.config") {
        match jaas::parse(&k.value) {
            Err(e) => {
                r.problem(&k.key, e);
                ok = false;
            }
            Ok(entry) if entry.module != MODULE => {
                r.problem(
                    &k.key,
                    format!(
                        "names login module `{}`; sasl.mechanism=OAUTHBEARER needs {MODULE}",
                        entry.module
                    ),
                );
                ok = false;
            }
            Ok(entry) => {
                client_id = entry.options.get("clientId").map(|s| s.expose().to_owned());
                secret = entry.options.get("clientSecret").cloned();
                scope = entry.options.get("scope").map(|s| s.expose().to_owned());
            }
        }
    }
    for (name, slot) in [
        ("sasl.oauthbearer.client.credentials.client.id", &mut client_id),
        ("sasl.oauthbearer.scope", &mut scope),
    ] {
        if let Some(k) = get(keys, name) {
            if slot.is_some() {
                r.problem(&k.key, "is also set in sasl.jaas.config: set one of them");
                ok = false;
            }
            *slot = Some(k.value.trim().to_owned());
        }
    }
    if let Some(k) = get(keys, "sasl.oauthbearer.client.credentials.client.secret") {
        if secret.is_some() {
            r.problem(&k.key, "is also set in sasl.jaas.config: set one of them");
            ok = false;
        }
        secret = Some(Secret::new(k.value.clone()));
    }
    let (Some(client_id), Some(secret)) = (client_id, secret) else {
        r.problem(
            &names.of("sasl.jaas.config"),
            format!(
                "needs clientId=\"…\" and clientSecret=\"…\" with sasl.mechanism=OAUTHBEARER: \
                 {MODULE} required clientId=\"…\" clientSecret=\"…\";"
            ),
        );
        return Err(());
    };
    let header_urlencode = match get(keys, "sasl.oauthbearer.header.urlencode") {
        None => false,
        Some(k) => match k.value.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            other => {
                r.problem(&k.key, format!("`{other}` is not true or false"));
                ok = false;
                false
            }
        },
    };
    let (true, Some(endpoint)) = (ok, endpoint) else {
        return Err(());
    };
    Ok(SaslSettings {
        mechanism: SaslMechanism::OAuthBearer,
        username: client_id,
        password: secret,
        oauth: Some(OAuthSettings {
            token_endpoint: endpoint,
            scope,
            sub_claim: get(keys, "sasl.oauthbearer.sub.claim.name")
                .map_or_else(|| "sub".to_owned(), |k| k.value.trim().to_owned()),
            header_urlencode,
            extra_roots: Vec::new(),
            tokens: TokenCache::default(),
        }),
    })
}
