//! Fuzz target body for what a token endpoint sends back (`net::http` and `net::oauth`): the
//! raw HTTP response as the client reads it, then the token in it. Registered in
//! [`super::fuzz`].

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::net::http::{MAX_RESPONSE, parse_response};
use crate::net::oauth::token_from_response;

/// Never panics; a parsed body is no longer than the input, and an accepted token is the
/// body's (JSON-decoded) `access_token` and expires after "now".
pub fn oauth_response(data: &[u8]) {
    let Ok(response) = parse_response(data) else {
        return;
    };
    assert!(response.body.len() <= data.len().min(MAX_RESPONSE));
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Ok((token, expires)) = token_from_response(&response, "sub", now) {
        assert!(expires > now);
        let body: serde_json::Value = serde_json::from_slice(&response.body).expect("accepted JSON");
        assert_eq!(body["access_token"].as_str().map(str::trim), Some(token.expose()));
    }
}

/// Seeds: answers as identity providers give them (length-framed, chunked, errors).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"kmirror","exp":1800000000,"scope":"kafka"}"#)
    );
    let ok = format!(r#"{{"access_token":"{jwt}","token_type":"bearer","expires_in":3600}}"#);
    let framed = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let (a, b) = ok.split_at(ok.len() / 2);
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    vec![
        ("oauth_response", "token".to_owned(), framed("200 OK", &ok)),
        ("oauth_response", "chunked".to_owned(), chunked.into_bytes()),
        (
            "oauth_response",
            "invalid-client".to_owned(),
            framed("401 Unauthorized", r#"{"error":"invalid_client"}"#),
        ),
        (
            "oauth_response",
            "close-delimited".to_owned(),
            format!("HTTP/1.0 200 OK\r\n\r\n{ok}").into_bytes(),
        ),
    ]
}
