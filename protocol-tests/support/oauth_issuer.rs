//! A local OAuth issuer on loopback for the OAUTHBEARER tests: `POST /token` checks the client
//! id and secret (HTTP basic auth) and `grant_type=client_credentials`, and issues RS256 JWTs
//! (subject [`SUBJECT`], audience `kafka`) with a short lifetime; `GET /jwks` serves the public
//! key for Kafka's broker to validate them. The RSA key is made by `openssl genpkey` and signs
//! with ring.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const CLIENT_ID: &str = "kmirror-client";
pub const CLIENT_SECRET: &str = "Client-Secret-31";
pub const SUBJECT: &str = "kmirror-principal";
const KID: &str = "kmirror-test-key";

struct State {
    key: RsaKeyPair,
    lifetime: Duration,
    issued: AtomicUsize,
    refused: AtomicUsize,
    first_expiry: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The running issuer; stops when dropped.
pub struct Issuer {
    port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("port", &self.port).finish()
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    /// Starts an issuer whose tokens live `lifetime`.
    pub async fn start(lifetime: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("issuer.der");
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&der)
            .output()
            .expect("run openssl genpkey");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // OpenSSL 3 writes a DER RSA key as PKCS#1 (RSAPrivateKey).
        let key = RsaKeyPair::from_der(&std::fs::read(&der).unwrap()).expect("an RSA PKCS#1 key");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            key,
            lifetime,
            issued: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            first_expiry: std::sync::Mutex::new(None),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &state).await;
                });
            }
        });
        Self { port, state, task }
    }

    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn jwks_url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks", self.port)
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Whether the first token issued has expired.
    pub fn first_token_expired(&self) -> bool {
        let first = *self.state.first_expiry.lock().unwrap();
        first.is_some_and(|at| std::time::Instant::now() > at)
    }

    /// Token requests refused (wrong client credentials or grant type).
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

/// Reads one request (head and `Content-Length` body, at most 64 KiB) and answers it.
async fn serve(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body) = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 || raw.len() > 65536 {
            return Ok(());
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                break (
                    head,
                    String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).to_string(),
                );
            }
        }
    };
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let (status, answer) = if request_line.starts_with("GET /jwks") {
        (200, jwks(state))
    } else if request_line.starts_with("POST /token") {
        token(state, &head, &body)
    } else {
        (404, json!({"error": "not_found"}))
    };
    let text = answer.to_string();
    let reason = if status == 200 { "OK" } else { "Error" };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn jwks(state: &State) -> serde_json::Value {
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(state.key.public());
    json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
    }]})
}

fn token(state: &State, head: &str, body: &str) -> (u16, serde_json::Value) {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorized = head.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case("authorization") && v.trim() == expected)
    });
    let grant = body.split('&').any(|p| p == "grant_type=client_credentials");
    if !authorized || !grant {
        state.refused.fetch_add(1, Ordering::SeqCst);
        return (401, json!({"error": "invalid_client"}));
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    let claims = json!({
        "sub": SUBJECT, "iss": "kmirror-test-issuer", "aud": "kafka", "scope": "kafka",
        "iat": now, "exp": now + state.lifetime.as_secs(),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; state.key.public().modulus_len()];
    state
        .key
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .expect("RS256 signature");
    state.issued.fetch_add(1, Ordering::SeqCst);
    state
        .first_expiry
        .lock()
        .unwrap()
        .get_or_insert_with(|| std::time::Instant::now() + state.lifetime);
    let jwt = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    (
        200,
        json!({"access_token": jwt, "token_type": "bearer", "expires_in": state.lifetime.as_secs()}),
    )
}
