//! The request line of the observability endpoint: `GET <path> HTTP/1.x`. Anything else is a
//! bad request; nothing from the request is echoed or stored.

/// What the endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Health,
    Ready,
    NotFound,
}

/// Parses the first line of an HTTP request; `None` for anything that is not a GET.
pub fn parse_request(bytes: &[u8]) -> Option<Route> {
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method != "GET" || !version.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some(match path {
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Health,
        "/readyz" => Route::Ready,
        _ => Route::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_requests() {
        assert_eq!(
            parse_request(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Route::Metrics)
        );
        assert_eq!(
            parse_request(b"GET /healthz HTTP/1.0\r\n\r\n"),
            Some(Route::Health)
        );
        assert_eq!(
            parse_request(b"GET /readyz?verbose HTTP/1.1\r\n\r\n"),
            Some(Route::Ready)
        );
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n\r\n"), Some(Route::NotFound));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            &b"POST /metrics HTTP/1.1\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1",
            b"\xff\xfe\r\n",
            b"",
        ] {
            assert_eq!(parse_request(bad), None, "{bad:?}");
        }
    }
}
