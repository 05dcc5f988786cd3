//! A small HTTP/1.1 client for one thing: POSTing a form to an OAuth token endpoint and reading
//! the answer. Written over the TCP and rustls stack kmirror already has rather than taking an
//! HTTP client crate (each brings its own TLS set-up and, with it, a second way to load trust
//! roots): one request per connection (`Connection: close`), a body read to its
//! `Content-Length`, chunked encoding or the end of the stream, and at most [`MAX_RESPONSE`]
//! bytes. The response parser is pure and fuzzed (`fuzz_targets/http_response.rs`).

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::security::Url;

/// The largest response read.
pub const MAX_RESPONSE: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HttpError {
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("the connection failed: {0}")]
    Io(String),
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("the response is larger than {MAX_RESPONSE} bytes")]
    TooLarge,
}

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// POSTs `body` (`application/x-www-form-urlencoded`) to `url` with `headers`, within
/// `timeout` for the whole exchange. `tls` is used for `https`.
pub async fn post_form(
    url: &Url,
    headers: &[(&str, String)],
    body: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<Response, HttpError> {
    let attempt = async {
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| HttpError::Connect(e.to_string()))?;
        let request = request(url, headers, body);
        let raw = if url.tls {
            let config = tls.ok_or_else(|| HttpError::Tls("no TLS configuration".to_owned()))?;
            let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                .map_err(|_| HttpError::Tls(format!("`{}` is not a valid host name", url.host)))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| HttpError::Tls(e.to_string()))?;
            exchange(stream, &request).await?
        } else {
            exchange(tcp, &request).await?
        };
        parse_response(&raw)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}

fn request(url: &Url, headers: &[(&str, String)], body: &str) -> String {
    let host = if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut out = format!("POST {} HTTP/1.1\r\nHost: {host}\r\n", url.target);
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    out
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> Result<Vec<u8>, HttpError> {
    let io = |e: std::io::Error| HttpError::Io(e.to_string());
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // Servers that close without TLS close_notify: what arrived is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(HttpError::TooLarge);
        }
        if complete(&raw) {
            break;
        }
    }
    Ok(raw)
}

/// Whether `raw` holds a whole response (so that a server keeping the connection open does
/// not leave the client waiting).
fn complete(raw: &[u8]) -> bool {
    parse_response(raw).is_ok() && head_end(raw).is_some_and(|end| framed(&raw[..end]))
}

fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether the head says where the body ends (a length or chunked encoding).
fn framed(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.contains("\r\ncontent-length:") || head.contains("\r\ntransfer-encoding:")
}

/// Parses a whole response: status line, headers, and the body by `Content-Length`, chunked
/// encoding, or everything after the head.
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let end = head_end(raw).ok_or(HttpError::Malformed("no end of the header section"))?;
    let head =
        std::str::from_utf8(&raw[..end - 4]).map_err(|_| HttpError::Malformed("header is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(HttpError::Malformed("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..1000).contains(c))
        .ok_or(HttpError::Malformed("bad status code"))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Malformed("header line without a colon"));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Malformed("bad Content-Length"))?,
            );
        } else if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    let rest = &raw[end..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)
            .ok_or(HttpError::Malformed("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(HttpError::Malformed("chunk size line not terminated"))?;
        let size_text =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| HttpError::Malformed("bad chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("bad chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .ok_or(HttpError::Malformed("chunk shorter than its size"))?;
        body.extend_from_slice(chunk);
        if body.len() > MAX_RESPONSE {
            return Err(HttpError::TooLarge);
        }
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or(HttpError::Malformed("chunk not followed by CRLF"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_by_length_chunks_or_close() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2;x=y\r\n\"}\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (401, &b"{\"a\"}"[..]));
        let r = parse_response(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall of it").unwrap();
        assert_eq!(r.body, b"all of it");
        assert!(complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}"));
        assert!(!complete(b"HTTP/1.0 200 OK\r\n\r\n{}"));
        for bad in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"SSH-2.0\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(parse_response(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
