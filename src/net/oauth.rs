//! OAuth tokens for SASL/OAUTHBEARER with KIP-768's client-credentials flow, as Kafka's
//! client gets them (apache/kafka: clients/.../oauthbearer/internals/secured/
//! HttpAccessTokenRetriever.java): a POST of `grant_type=client_credentials` (and `scope`)
//! to the token endpoint, the client id and secret in an HTTP basic `Authorization` header
//! (URL-encoded first only with `sasl.oauthbearer.header.urlencode=true`), and the JSON
//! answer's `access_token`, a JWT whose `exp` and subject claim are checked as Kafka's
//! client checks them.
//!
//! One token serves every new connection of the cluster until 80% of its lifetime has passed
//! (Kafka's `sasl.login.refresh.window.factor`); the next connection after that fetches a
//! new one. A connection authenticated with a token is retired before the session the broker
//! granted ends (KIP-368, see `sasl.rs`), which the broker bounds by the token's expiry when
//! `connections.max.reauth.ms` is set on it, so no connection outlives its token there.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use thiserror::Error;

use super::http::{self, HttpError};
use crate::secret::Secret;
use crate::security::{CachedToken, OAuthSettings, SaslSettings};

/// Time for the whole token request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's default `sasl.login.refresh.window.factor`.
const REFRESH_FACTOR: f64 = 0.8;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OAuthError {
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("the token endpoint answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the token endpoint's answer is not a JSON object with an access_token")]
    NoAccessToken,
    #[error("the access token is not a JWT: {0}")]
    NotJwt(&'static str),
    #[error("the access token has no `{0}` claim (sasl.oauthbearer.sub.claim.name)")]
    NoSubject(String),
    #[error("the access token has no numeric `exp` claim")]
    NoExpiry,
    #[error("the access token expired already (exp {0})")]
    Expired(u64),
}

/// The token for a new connection: the cached one if it is not due for refresh, else a new
/// one from the endpoint.
pub(crate) async fn token(settings: &SaslSettings, oauth: &OAuthSettings) -> Result<Secret, OAuthError> {
    let mut cached = oauth.tokens.0.lock().await;
    if let Some(t) = cached.as_ref()
        && SystemTime::now() < t.refresh_at
    {
        return Ok(t.token.clone());
    }
    let tls = oauth.token_endpoint.tls.then(|| tls_config(oauth)).transpose()?;
    let response = http::post_form(
        &oauth.token_endpoint,
        &headers(settings, oauth),
        &body(oauth),
        tls,
        REQUEST_TIMEOUT,
    )
    .await?;
    let now = SystemTime::now();
    let (token, expires) = token_from_response(&response, &oauth.sub_claim, now)?;
    let lifetime = expires.duration_since(now).unwrap_or_default();
    tracing::info!(
        endpoint = %format!("{}:{}{}", oauth.token_endpoint.host, oauth.token_endpoint.port, oauth.token_endpoint.target),
        lifetime_s = lifetime.as_secs(),
        "OAuth token obtained"
    );
    *cached = Some(CachedToken {
        token: token.clone(),
        refresh_at: now + lifetime.mul_f64(REFRESH_FACTOR),
    });
    Ok(token)
}

/// Drops the cached token, after the broker refused it.
pub(crate) async fn forget(oauth: &OAuthSettings) {
    *oauth.tokens.0.lock().await = None;
}

fn headers(settings: &SaslSettings, oauth: &OAuthSettings) -> Vec<(&'static str, String)> {
    let (id, secret) = if oauth.header_urlencode {
        (
            form_encode(&settings.username),
            form_encode(settings.password.expose()),
        )
    } else {
        (settings.username.clone(), settings.password.expose().to_owned())
    };
    vec![
        ("Accept", "application/json".to_owned()),
        (
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        ),
        ("Cache-Control", "no-cache".to_owned()),
    ]
}

fn body(oauth: &OAuthSettings) -> String {
    let mut body = "grant_type=client_credentials".to_owned();
    if let Some(scope) = oauth.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        body.push_str("&scope=");
        body.push_str(&form_encode(scope.trim()));
    }
    body
}

/// `application/x-www-form-urlencoded`, as Java's `URLEncoder` writes it.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn tls_config(oauth: &OAuthSettings) -> Result<std::sync::Arc<rustls::ClientConfig>, OAuthError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots.add_parsable_certificates(oauth.extra_roots.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// The access token of a token endpoint's answer and its expiry, checked as Kafka's client
/// checks it: a JWT (three base64url parts) whose payload has a numeric `exp` in the future
/// and a string subject claim.
pub fn token_from_response(
    response: &http::Response,
    sub_claim: &str,
    now: SystemTime,
) -> Result<(Secret, SystemTime), OAuthError> {
    if response.status != 200 {
        let text: String = String::from_utf8_lossy(&response.body)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(OAuthError::Status {
            status: response.status,
            body: text,
        });
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|_| OAuthError::NoAccessToken)?;
    let token = answer
        .get("access_token")
        .and_then(|t| t.as_str())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(OAuthError::NoAccessToken)?;
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OAuthError::NotJwt("not three dot-separated parts"));
    };
    let payload = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| OAuthError::NotJwt("the payload is not base64url"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| OAuthError::NotJwt("the payload is not JSON"))?;
    if !claims.is_object() {
        return Err(OAuthError::NotJwt("the payload is not a JSON object"));
    }
    if !claims.get(sub_claim).is_some_and(|s| s.is_string()) {
        return Err(OAuthError::NoSubject(sub_claim.to_owned()));
    }
    let exp = claims
        .get("exp")
        .and_then(|e| e.as_f64())
        .filter(|e| e.is_finite() && *e >= 0.0)
        .ok_or(OAuthError::NoExpiry)?;
    let expires = UNIX_EPOCH + Duration::from_secs_f64(exp.min(1e12));
    if expires <= now {
        return Err(OAuthError::Expired(exp as u64));
    }
    Ok((Secret::new(token.to_owned()), expires))
}

/// The `status` of the broker's OAUTHBEARER error challenge (RFC 7628 §3.2.2), if it is one.
pub(crate) fn error_status(challenge: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(challenge)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
        .map_or_else(
            || "an error challenge that is not JSON".to_owned(),
            |s| super::scram::printable(&s),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    fn answer(status: u16, body: &str) -> http::Response {
        http::Response {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_jwt_with_subject_and_future_expiry_is_taken() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let token = jwt(r#"{"sub":"kmirror","exp":1060}"#);
        let (t, exp) = token_from_response(
            &answer(200, &format!(r#"{{"access_token":"{token}","expires_in":60}}"#)),
            "sub",
            now,
        )
        .unwrap();
        assert_eq!(t.expose(), token);
        assert_eq!(exp, UNIX_EPOCH + Duration::from_secs(1060));
        let cases = [
            (
                answer(401, r#"{"error":"invalid_client"}"#),
                "HTTP 401: {\"error\":\"invalid_client\"}",
            ),
            (answer(200, "{}"), "not a JSON object with an access_token"),
            (answer(200, r#"{"access_token":"opaque"}"#), "not a JWT"),
            (
                answer(
                    200,
                    &format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"exp":1060}"#)),
                ),
                "no `sub` claim",
            ),
            (
                answer(200, &format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"sub":"k"}"#))),
                "no numeric `exp`",
            ),
            (
                answer(
                    200,
                    &format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"sub":"k","exp":900}"#)),
                ),
                "expired already",
            ),
        ];
        for (response, expected) in cases {
            let err = token_from_response(&response, "sub", now).unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn request_as_kafka_sends_it() {
        let settings = SaslSettings {
            mechanism: crate::security::SaslMechanism::OAuthBearer,
            username: "my client".to_owned(),
            password: Secret::new("s:cr=t"),
            oauth: None,
        };
        let mut oauth = OAuthSettings {
            token_endpoint: crate::security::Url::parse("http://127.0.0.1:1/token").unwrap(),
            scope: Some("kafka read".to_owned()),
            sub_claim: "sub".to_owned(),
            header_urlencode: false,
            extra_roots: Vec::new(),
            tokens: Default::default(),
        };
        assert_eq!(body(&oauth), "grant_type=client_credentials&scope=kafka+read");
        let auth = |o: &OAuthSettings| headers(&settings, o)[1].1.clone();
        assert_eq!(
            auth(&oauth),
            format!("Basic {}", STANDARD.encode("my client:s:cr=t"))
        );
        oauth.header_urlencode = true;
        assert_eq!(
            auth(&oauth),
            format!("Basic {}", STANDARD.encode("my+client:s%3Acr%3Dt"))
        );
        oauth.scope = None;
        assert_eq!(body(&oauth), "grant_type=client_credentials");
        assert_eq!(error_status(br#"{"status":"invalid_token"}"#), "invalid_token");
        assert_eq!(error_status(b"x"), "an error challenge that is not JSON");
    }
}
