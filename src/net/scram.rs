//! The client side of SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677), sans-IO: the
//! caller moves the messages, this module computes them and checks the server's.
//!
//! Written here instead of using `rsasl`: a pure state machine can be driven with a fixed
//! client nonce, so the RFC 7677 test vectors check it exactly, and the fuzz target can feed
//! it arbitrary server messages without a session or callbacks around it. The primitives
//! (HMAC, PBKDF2, SHA-2, SASLprep) come from the RustCrypto and `stringprep` crates.
//!
//! Kafka's own rules on top of the RFC (`apache/kafka: ScramSaslClient.java`): the server
//! nonce must extend ours, fewer than 4096 iterations is refused, and the server signature in
//! the final message must verify before the session counts as authenticated.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

/// Kafka's minimum iteration count for SCRAM-SHA-256 and SCRAM-SHA-512.
pub const MIN_ITERATIONS: u32 = 4096;
/// Refused above this: a hostile server could otherwise make the client spin for hours.
pub const MAX_ITERATIONS: u32 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        match self {
            Self::Sha256 => Hmac::<Sha256>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
            Self::Sha512 => Hmac::<Sha512>::new_from_slice(key)
                .map(|m| m.chain_update(data).finalize().into_bytes().to_vec())
                .unwrap_or_default(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this HMAC and one output block.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec(),
            Self::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec(),
        }
    }
}

/// Why a SCRAM exchange failed. Messages never carry the password or derived keys.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScramError {
    #[error("the password contains characters SASLprep (RFC 4013) prohibits")]
    Saslprep,
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    #[error("the server's nonce does not extend the client's")]
    Nonce,
    #[error("the server asks for {0} iterations (allowed: {MIN_ITERATIONS} to {MAX_ITERATIONS})")]
    Iterations(u32),
    #[error("the server rejected the proof: {0}")]
    Server(String),
    #[error("the server's signature does not verify: it does not know the password")]
    ServerSignature,
}

/// One SCRAM exchange, from the client-first message to the verified server-final.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    password: Vec<u8>,
    first_bare: String,
    nonce: String,
    /// Set by [`ScramClient::client_final`].
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// `nonce` must be printable ASCII without `,` (callers pass random base64).
    pub fn new(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Result<Self, ScramError> {
        let password = stringprep::saslprep(password).map_err(|_| ScramError::Saslprep)?;
        let name = username.replace('=', "=3D").replace(',', "=2C");
        Ok(Self {
            hash,
            password: password.as_bytes().to_vec(),
            first_bare: format!("n={name},r={nonce}"),
            nonce: nonce.to_owned(),
            server_signature: None,
        })
    }

    /// A fresh random nonce (24 random bytes, base64).
    pub fn random_nonce() -> String {
        let bytes: [u8; 24] = rand::random();
        B64.encode(bytes)
    }

    /// The client-first message: no channel binding, no authzid.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// Reads the server-first message and returns the client-final message.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<String, ScramError> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (i, part) in server_first.split(',').enumerate() {
            match (i, part.split_at_checked(2)) {
                (0, Some(("m=", _))) => return Err(ScramError::Malformed("mandatory extension")),
                (0, Some(("e=", e))) => return Err(ScramError::Server(printable(e))),
                (0, Some(("r=", v))) => nonce = Some(v),
                (1, Some(("s=", v))) => {
                    salt = Some(
                        B64.decode(v)
                            .map_err(|_| ScramError::Malformed("salt is not base64"))?,
                    )
                }
                (2, Some(("i=", v))) => {
                    iterations = Some(
                        v.parse::<u32>()
                            .map_err(|_| ScramError::Malformed("bad iteration count"))?,
                    )
                }
                (0..=2, _) => return Err(ScramError::Malformed("expected r=, s=, i=")),
                _ => {} // extensions
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(ScramError::Malformed("expected r=, s=, i="));
        };
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(ScramError::Nonce);
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::Iterations(iterations));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let keys = Keys::derive(self.hash, &self.password, &salt, iterations);
        let signature = self.hash.hmac(&keys.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = keys
            .client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        self.server_signature = Some(self.hash.hmac(&keys.server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final message: `v=` must carry the signature only a server that
    /// knows the password can compute.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let expected = self
            .server_signature
            .as_ref()
            .ok_or(ScramError::Malformed("server-final before server-first"))?;
        let text = std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(e) = first.strip_prefix("e=") {
            return Err(ScramError::Server(printable(e)));
        }
        let v = first
            .strip_prefix("v=")
            .ok_or(ScramError::Malformed("expected v= or e="))?;
        let got = B64
            .decode(v)
            .map_err(|_| ScramError::Malformed("signature is not base64"))?;
        if got == *expected {
            Ok(())
        } else {
            Err(ScramError::ServerSignature)
        }
    }
}

/// The keys RFC 5802 derives from the salted password (the server stores the last two).
pub struct Keys {
    pub client_key: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

impl Keys {
    pub fn derive(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> Self {
        let salted = hash.salted_password(password, salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        Self {
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
            client_key,
        }
    }
}

/// A server's error text, cut short and stripped of control characters for messages.
pub(crate) fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677 section 3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    #[test]
    fn rfc7677_sha256_vector() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", NONCE).unwrap();
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_final(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL);
        c.verify_server_final(SERVER_FINAL.as_bytes()).unwrap();
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil", NONCE).unwrap();
        c.client_final(SERVER_FIRST.as_bytes()).unwrap();
        let forged = "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(
            c.verify_server_final(forged.as_bytes()),
            Err(ScramError::ServerSignature)
        );
        assert_eq!(
            c.verify_server_final(b"e=invalid-proof"),
            Err(ScramError::Server("invalid-proof".to_owned()))
        );
    }

    #[test]
    fn a_wrong_password_gives_another_proof() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "pencil2", NONCE).unwrap();
        assert_ne!(c.client_final(SERVER_FIRST.as_bytes()).unwrap(), CLIENT_FINAL);
    }

    #[test]
    fn server_first_rules() {
        let mut c = ScramClient::new(ScramHash::Sha512, "user", "pencil", NONCE).unwrap();
        let cases = [
            ("r=other%x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", ScramError::Nonce),
            (
                "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                ScramError::Nonce,
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
                ScramError::Iterations(4095),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096",
                ScramError::Malformed("salt is not base64"),
            ),
            (
                "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=x,i=4096",
                ScramError::Malformed("expected r=, s=, i="),
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqOx",
                ScramError::Malformed("expected r=, s=, i="),
            ),
            ("e=unknown-user", ScramError::Server("unknown-user".to_owned())),
        ];
        for (message, expected) in cases {
            assert_eq!(c.client_final(message.as_bytes()), Err(expected), "{message}");
        }
    }

    #[test]
    fn usernames_are_escaped_and_passwords_saslprepped() {
        let c = ScramClient::new(ScramHash::Sha256, "a=b,c", "pass\u{00A0}word", "n").unwrap();
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=n");
        // SASLprep maps the no-break space to a space.
        assert_eq!(c.password, b"pass word");
        assert_eq!(
            ScramClient::new(ScramHash::Sha256, "u", "bad\u{0007}", "n").unwrap_err(),
            ScramError::Saslprep
        );
    }
}
