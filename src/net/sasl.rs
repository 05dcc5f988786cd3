//! SASL authentication of a fresh connection (KIP-43, KIP-152): SaslHandshake v1 names the
//! mechanism, then SaslAuthenticate requests carry its messages. Runs after ApiVersions and
//! before any other request. PLAIN, SCRAM-SHA-256/512, and OAUTHBEARER (KIP-255) with a token
//! from the client-credentials flow (`oauth.rs`).
//!
//! Re-authentication (KIP-368): when the broker answers with a session lifetime, the
//! connection is retired before the session expires (see [`Connection`] and `retire_at`) and
//! the cluster layer opens a freshly authenticated one for the next request; requests already
//! sent on the old one finish. kmirror does not re-authenticate in place.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;

use super::ConnectionError;
use super::connection::Connection;
use super::scram::{ScramClient, ScramError, ScramHash, printable};
use crate::protocol::errors;
use crate::security::{SaslMechanism, SaslSettings};

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Authenticates `conn`; returns the session lifetime the broker set, if any.
pub(crate) async fn authenticate(
    conn: &Connection,
    settings: &SaslSettings,
) -> Result<Option<Duration>, ConnectionError> {
    let mechanism = settings.mechanism.name();
    let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
    let version = conn.version(ApiKey::SaslHandshake).map_err(|_| {
        fail(conn, "the broker does not offer SASL (SaslHandshake v1): is this a PLAINTEXT or SSL listener? (check security.protocol)".to_owned())
    })?;
    let response = conn.request_at(&handshake, version).await?;
    match response.error_code {
        errors::NONE => {}
        UNSUPPORTED_SASL_MECHANISM => {
            let offered: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(fail(
                conn,
                format!(
                    "the broker does not enable sasl.mechanism={mechanism} (it offers: {}): set one of those",
                    offered.join(", ")
                ),
            ));
        }
        code => return Err(fail(conn, format!("SaslHandshake failed with error code {code}"))),
    }
    let mut session = Session { conn, lifetime: None };
    match settings.mechanism {
        SaslMechanism::Plain => {
            // RFC 4616: authzid NUL authcid NUL passwd, with an empty authzid.
            let mut message = Vec::new();
            message.push(0);
            message.extend_from_slice(settings.username.as_bytes());
            message.push(0);
            message.extend_from_slice(settings.password.expose().as_bytes());
            session.step(message, &settings.username, mechanism).await?;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let hash = if settings.mechanism == SaslMechanism::ScramSha256 {
                ScramHash::Sha256
            } else {
                ScramHash::Sha512
            };
            let user = &settings.username;
            let scram_error = |e| match e {
                // The server's `e=` answer: a refused proof, like SASL_AUTHENTICATION_FAILED.
                ScramError::Server(said) => {
                    fail(conn, auth_failed(user, mechanism, &format!(" (broker: {said})")))
                }
                e => fail(conn, format!("{mechanism} as user `{user}`: {e}")),
            };
            let mut scram = ScramClient::new(
                hash,
                &settings.username,
                settings.password.expose(),
                &ScramClient::random_nonce(),
            )
            .map_err(scram_error)?;
            let server_first = session
                .step(scram.client_first().into_bytes(), &settings.username, mechanism)
                .await?;
            let client_final = scram.client_final(&server_first).map_err(scram_error)?;
            let server_final = session
                .step(client_final.into_bytes(), &settings.username, mechanism)
                .await?;
            scram.verify_server_final(&server_final).map_err(scram_error)?;
        }
        SaslMechanism::OAuthBearer => oauth_bearer(&mut session, settings).await?,
    }
    Ok(session.lifetime)
}

/// KIP-255: the GS2 header without authorization id, then `auth=Bearer <token>`, each
/// key-value pair ended by 0x01 and the message by another. A refused token comes back as a
/// JSON error challenge (RFC 7628 §3.2.2), to which the client answers a lone 0x01 and the
/// broker then fails the exchange.
async fn oauth_bearer(session: &mut Session<'_>, settings: &SaslSettings) -> Result<(), ConnectionError> {
    let conn = session.conn;
    let Some(oauth) = settings.oauth.as_ref() else {
        return Err(fail(conn, "OAUTHBEARER without a token endpoint".to_owned()));
    };
    let endpoint = &oauth.token_endpoint;
    let token = super::oauth::token(settings, oauth).await.map_err(|e| {
        fail(
            conn,
            format!(
                "OAUTHBEARER: no token for client `{}` from {}:{}{}: {e}",
                settings.username, endpoint.host, endpoint.port, endpoint.target
            ),
        )
    })?;
    let message = format!("n,,\u{1}auth=Bearer {}\u{1}\u{1}", token.expose());
    let mechanism = settings.mechanism.name();
    let result = match session
        .step(message.into_bytes(), &settings.username, mechanism)
        .await
    {
        Ok(challenge) if challenge.is_empty() => Ok(()),
        Ok(challenge) => {
            let status = super::oauth::error_status(&challenge);
            let _ = session.step(vec![1], &settings.username, mechanism).await;
            Err(fail(
                conn,
                format!(
                    "the broker refused the OAuth token of client `{}` (status {status}): check the \
                     broker's JWKS endpoint, expected audience and issuer, and the scope",
                    settings.username
                ),
            ))
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        super::oauth::forget(oauth).await;
    }
    result
}

struct Session<'a> {
    conn: &'a Connection,
    lifetime: Option<Duration>,
}

impl Session<'_> {
    /// One SaslAuthenticate round trip.
    async fn step(
        &mut self,
        message: Vec<u8>,
        user: &str,
        mechanism: &str,
    ) -> Result<Bytes, ConnectionError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message));
        let version = self.conn.version(ApiKey::SaslAuthenticate)?;
        let response = self.conn.request_at(&request, version).await?;
        let broker_says = response
            .error_message
            .as_ref()
            .map(|m| format!(" (broker: {})", printable(m.as_str())))
            .unwrap_or_default();
        match response.error_code {
            errors::NONE => {}
            SASL_AUTHENTICATION_FAILED => {
                return Err(fail(self.conn, auth_failed(user, mechanism, &broker_says)));
            }
            ILLEGAL_SASL_STATE => {
                return Err(fail(
                    self.conn,
                    format!("the broker reports an illegal SASL state{broker_says}"),
                ));
            }
            code => {
                return Err(fail(
                    self.conn,
                    format!("SaslAuthenticate failed with error code {code}{broker_says}"),
                ));
            }
        }
        if response.session_lifetime_ms > 0 {
            self.lifetime = Some(Duration::from_millis(response.session_lifetime_ms as u64));
        }
        Ok(response.auth_bytes)
    }
}

fn auth_failed(user: &str, mechanism: &str, broker_says: &str) -> String {
    if mechanism == SaslMechanism::OAuthBearer.name() {
        return format!(
            "the broker refused the OAuth token of client `{user}`{broker_says}: check the broker's \
             JWKS endpoint, expected audience and issuer, and the scope"
        );
    }
    format!(
        "authentication as user `{user}` with {mechanism} failed{broker_says}: check the username and \
         password (sasl.jaas.config) and sasl.mechanism"
    )
}

fn fail(conn: &Connection, reason: String) -> ConnectionError {
    ConnectionError::Sasl {
        addr: conn.addr().to_owned(),
        reason,
    }
}
