//! The server side of SCRAM (RFC 5802), for the test kit's SASL gate: it checks the client's
//! proof for real and can forge its own signature to test that the client verifies it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::net::scram::{Keys, ScramHash};

/// Iterations the test server asks for (Kafka's minimum).
const ITERATIONS: u32 = 4096;

/// One exchange, from client-first to server-final.
#[derive(Debug)]
pub struct ScramServer {
    hash: ScramHash,
    forge_signature: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Start,
    /// server-first sent: what the final check needs.
    First {
        keys: Keys,
        nonce: String,
        auth_prefix: String,
    },
    Done,
}

/// How the exchange went after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this and wait for the next message.
    Continue(Vec<u8>),
    /// Authenticated: send this server-final message.
    Success(Vec<u8>),
    /// Refuse with SASL_AUTHENTICATION_FAILED and this message.
    Failure(String),
}

impl ScramServer {
    pub fn new(hash: ScramHash, forge_signature: bool) -> Self {
        Self {
            hash,
            forge_signature,
            state: State::Start,
        }
    }

    /// Handles a client message; `password_of` looks a user's password up.
    pub fn step(&mut self, message: &[u8], password_of: impl Fn(&str) -> Option<String>) -> Step {
        let Ok(text) = std::str::from_utf8(message) else {
            return Step::Failure("not UTF-8".to_owned());
        };
        match std::mem::replace(&mut self.state, State::Done) {
            State::Start => self.first(text, password_of),
            State::First {
                keys,
                nonce,
                auth_prefix,
            } => self.last(text, &keys, &nonce, &auth_prefix),
            State::Done => Step::Failure("exchange already finished".to_owned()),
        }
    }

    fn first(&mut self, text: &str, password_of: impl Fn(&str) -> Option<String>) -> Step {
        let Some(bare) = text.strip_prefix("n,,") else {
            return Step::Failure("expected a gs2 header without channel binding".to_owned());
        };
        let mut user = None;
        let mut client_nonce = None;
        for part in bare.split(',') {
            if let Some(u) = part.strip_prefix("n=") {
                user = Some(u.replace("=2C", ",").replace("=3D", "="));
            } else if let Some(r) = part.strip_prefix("r=") {
                client_nonce = Some(r.to_owned());
            }
        }
        let (Some(user), Some(client_nonce)) = (user, client_nonce) else {
            return Step::Failure("client-first without n= or r=".to_owned());
        };
        let Some(password) = password_of(&user) else {
            return Step::Failure(format!("unknown user {user}"));
        };
        let salt: [u8; 16] = rand::random();
        let nonce = format!("{client_nonce}{}", B64.encode(rand::random::<[u8; 18]>()));
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(salt));
        let keys = Keys::derive(self.hash, password.as_bytes(), &salt, ITERATIONS);
        self.state = State::First {
            keys,
            nonce,
            auth_prefix: format!("{bare},{server_first}"),
        };
        Step::Continue(server_first.into_bytes())
    }

    fn last(&self, text: &str, keys: &Keys, nonce: &str, auth_prefix: &str) -> Step {
        let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
            return Step::Failure("client-final without a proof".to_owned());
        };
        if without_proof != format!("c=biws,r={nonce}") {
            return Step::Failure("client-final with another nonce or channel binding".to_owned());
        }
        let Ok(proof) = B64.decode(proof) else {
            return Step::Failure("proof is not base64".to_owned());
        };
        let auth_message = format!("{auth_prefix},{without_proof}");
        let signature = self.hash.hmac(&keys.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if proof.len() != signature.len() || self.hash.hash(&client_key) != keys.stored_key {
            return Step::Failure("Authentication failed: invalid credentials".to_owned());
        }
        let mut server_signature = self.hash.hmac(&keys.server_key, auth_message.as_bytes());
        if self.forge_signature {
            server_signature[0] ^= 0xff;
        }
        Step::Success(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::scram::{ScramClient, ScramError};

    fn run(client_password: &str, forge: bool) -> Result<(), String> {
        let mut server = ScramServer::new(ScramHash::Sha512, forge);
        let users = |u: &str| (u == "alice").then(|| "right".to_owned());
        let mut client = ScramClient::new(ScramHash::Sha512, "alice", client_password, "abc").unwrap();
        let Step::Continue(first) = server.step(client.client_first().as_bytes(), users) else {
            return Err("no server-first".to_owned());
        };
        let last = client.client_final(&first).map_err(|e| e.to_string())?;
        match server.step(last.as_bytes(), users) {
            Step::Success(fin) => client.verify_server_final(&fin).map_err(|e| e.to_string()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn client_and_server_agree_and_check_each_other() {
        assert_eq!(run("right", false), Ok(()));
        assert!(run("wrong", false).unwrap_err().contains("invalid credentials"));
        assert_eq!(run("right", true), Err(ScramError::ServerSignature.to_string()));
    }
}
