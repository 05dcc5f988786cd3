//! The URL of an OAuth token endpoint, checked when the configuration is loaded and split as
//! the connection layer's HTTP client needs it.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("is not an http:// or https:// URL")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("has a port that is not a number from 1 to 65535")]
    Port,
}

/// An `http` or `https` URL, split as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(UrlError::Scheme);
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or(UrlError::Port)?;
                (h, port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_target() {
        let u = Url::parse("https://idp.example/oauth2/v1/token?x=1").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (true, "idp.example", 443, "/oauth2/v1/token?x=1")
        );
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (false, "127.0.0.1", 8080, "/")
        );
        assert!(u.is_loopback());
        let u = Url::parse("http://[::1]:9/t").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert!(!Url::parse("https://idp.example/").unwrap().is_loopback());
        assert_eq!(Url::parse("file:///tmp/token"), Err(UrlError::Scheme));
        assert_eq!(Url::parse("http://:80/"), Err(UrlError::NoHost));
        assert_eq!(Url::parse("http://h:0/"), Err(UrlError::Port));
        assert_eq!(Url::parse("http://h:x/"), Err(UrlError::Port));
    }
}
