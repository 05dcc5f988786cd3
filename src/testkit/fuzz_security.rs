//! Fuzz target bodies for the security parsers: SCRAM server messages as the client reads
//! them, and `sasl.jaas.config`. Registered in [`super::fuzz`].

use crate::config::jaas;
use crate::net::scram::{ScramClient, ScramHash};

const NONCE: &str = "fyko+d2lbbFgONRv9qkxdawL";

/// The first byte picks the hash; the rest, split at the first NUL, is a server-first and a
/// server-final message. Never panics; a client-final always keeps the client's nonce as
/// the prefix of the one it echoes.
pub fn scram_server(data: &[u8]) {
    let [pick, rest @ ..] = data else { return };
    let (first, last) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    // PBKDF2 at a server-chosen count is slow by design; the parser is what is fuzzed.
    if iterations_above(first, 8192) {
        return;
    }
    let hash = if pick % 2 == 0 {
        ScramHash::Sha256
    } else {
        ScramHash::Sha512
    };
    let Ok(mut client) = ScramClient::new(hash, "user", "pencil", NONCE) else {
        return;
    };
    let _ = client.verify_server_final(last);
    if let Ok(message) = client.client_final(first) {
        let nonce = message
            .strip_prefix("c=biws,r=")
            .and_then(|m| m.split(',').next())
            .expect("client-final starts with c=biws,r=");
        assert!(nonce.starts_with(NONCE) && nonce.len() > NONCE.len());
        let _ = client.verify_server_final(last);
    }
}

fn iterations_above(message: &[u8], limit: u32) -> bool {
    String::from_utf8_lossy(message)
        .split(',')
        .filter_map(|p| p.strip_prefix("i="))
        .any(|n| n.parse::<u32>().is_ok_and(|n| n > limit))
}

/// Parses `sasl.jaas.config`; whatever parses must parse again, to the same entry, once
/// written back with every value quoted and escaped.
pub fn jaas_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(entry) = jaas::parse(&text) else { return };
    let mut again = format!("{} {}", entry.module, entry.flag);
    for (key, value) in &entry.options {
        let escaped = value.expose().replace('\\', "\\\\").replace('"', "\\\"");
        again.push_str(&format!(" {key}=\"{escaped}\""));
    }
    again.push(';');
    assert_eq!(jaas::parse(&again).as_ref(), Ok(&entry), "{again}");
}

/// Seeds: the RFC 7677 exchange, server errors, and MM2-style JAAS entries.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let first = format!("r={NONCE}3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    let mut exchange = vec![0u8];
    exchange.extend_from_slice(first.as_bytes());
    exchange.push(0);
    exchange.extend_from_slice(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    let jaas = [
        (
            "plain",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="token" password="p;w=\"x\"";"#,
        ),
        (
            "scram",
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n username=alice\n password=secret;",
        ),
        ("unterminated", r#"M required password="open"#),
    ];
    let mut out = vec![
        ("scram_server", "exchange".to_owned(), exchange),
        (
            "scram_server",
            "error".to_owned(),
            b"\x01e=invalid-proof".to_vec(),
        ),
        ("scram_server", "extension".to_owned(), b"\x01m=ext,r=x".to_vec()),
    ];
    for (name, text) in jaas {
        out.push(("jaas_parse", name.to_owned(), text.as_bytes().to_vec()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_run_and_a_parsed_entry_round_trips() {
        for (target, _, data) in seeds() {
            match target {
                "scram_server" => scram_server(&data),
                _ => jaas_parse(&data),
            }
        }
        assert!(iterations_above(b"r=x,s=y,i=100000", 8192));
        assert!(!iterations_above(b"r=x,s=y,i=4096", 8192));
    }
}
