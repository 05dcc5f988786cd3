//! The baseline the replicator is compared with: a plain TCP relay that reads bytes from one
//! loopback socket and writes them to another, with a 1 MiB buffer, nothing else. It moves
//! the same bytes kmirror moves (one read from the source, one write to the target) at the
//! least CPU any user-space relay can, so "CPU per GB within 2x of a plain relay" compares
//! kmirror's protocol work against pure data movement.
//!
//! With TLS ([`RelayTls`]) every hop is TLS and the relay decrypts what it reads and
//! re-encrypts what it writes (rustls, ring, blocking streams): the least work any relay
//! between two TLS legs must do, the baseline for kmirror with TLS on both legs.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};
use rustls_pki_types::ServerName;

use super::cpu;

/// TLS on every hop: what the receiving ends serve and what the sending ends trust.
#[derive(Debug, Clone)]
pub(crate) struct RelayTls {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
}

/// One end of a hop: plain TCP, or the TLS client or server side over it.
enum End {
    Plain(TcpStream),
    Client(Box<StreamOwned<ClientConnection, TcpStream>>),
    Server(Box<StreamOwned<ServerConnection, TcpStream>>),
}

fn tls_error(e: rustls::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl End {
    /// The connecting end of a hop.
    fn connect(addr: std::net::SocketAddr, tls: Option<&RelayTls>) -> std::io::Result<Self> {
        let tcp = TcpStream::connect(addr)?;
        Ok(match tls {
            None => Self::Plain(tcp),
            Some(t) => {
                let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
                let conn = ClientConnection::new(t.client.clone(), name).map_err(tls_error)?;
                Self::Client(Box::new(StreamOwned::new(conn, tcp)))
            }
        })
    }

    /// The accepting end of a hop.
    fn accept(listener: &TcpListener, tls: Option<&RelayTls>) -> std::io::Result<Self> {
        let (tcp, _) = listener.accept()?;
        Ok(match tls {
            None => Self::Plain(tcp),
            Some(t) => {
                let conn = ServerConnection::new(t.server.clone()).map_err(tls_error)?;
                Self::Server(Box::new(StreamOwned::new(conn, tcp)))
            }
        })
    }

    /// Completes the TLS handshake now, so that it is not counted as relaying.
    fn handshake(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            Self::Client(s) => s.conn.complete_io(&mut s.sock).map(drop),
            Self::Server(s) => s.conn.complete_io(&mut s.sock).map(drop),
        }
    }

    /// Ends the stream as a TLS peer expects (close_notify), then closes it.
    fn finish(mut self) -> std::io::Result<()> {
        match &mut self {
            Self::Plain(_) => {}
            Self::Client(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
            Self::Server(s) => {
                s.conn.send_close_notify();
                s.flush()?;
            }
        }
        Ok(())
    }
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Client(s) => s.read(buf),
            Self::Server(s) => s.read(buf),
        }
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Client(s) => s.write(buf),
            Self::Server(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Client(s) => s.flush(),
            Self::Server(s) => s.flush(),
        }
    }
}

/// What the relay moved and what it cost its thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayReport {
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// Relays `total` bytes, written in pieces of `chunk` by a feeder thread and read by a drain
/// thread, over TLS on both hops with `tls`; only the relay thread's CPU is counted.
pub(crate) fn run(total: u64, chunk: &[u8], tls: Option<RelayTls>) -> std::io::Result<RelayReport> {
    let inbound = TcpListener::bind("127.0.0.1:0")?;
    let outbound = TcpListener::bind("127.0.0.1:0")?;
    let (in_addr, out_addr) = (inbound.local_addr()?, outbound.local_addr()?);
    let chunk = chunk.to_vec();
    let (feed_tls, drain_tls, relay_tls) = (tls.clone(), tls.clone(), tls);
    let feeder = std::thread::Builder::new()
        .name("kmirror-feed".to_owned())
        .spawn(move || -> std::io::Result<()> {
            let mut s = End::connect(in_addr, feed_tls.as_ref())?;
            let mut left = total;
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                s.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            s.finish()
        })?;
    let drain = std::thread::Builder::new()
        .name("kmirror-drain".to_owned())
        .spawn(move || -> std::io::Result<u64> {
            let mut s = End::accept(&outbound, drain_tls.as_ref())?;
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            loop {
                match s.read(&mut buf)? {
                    0 => return Ok(got),
                    n => got += n as u64,
                }
            }
        })?;
    let relay = std::thread::Builder::new()
        .name("kmirror-relay".to_owned())
        .spawn(move || -> std::io::Result<RelayReport> {
            let mut from = End::accept(&inbound, relay_tls.as_ref())?;
            let mut to = End::connect(out_addr, relay_tls.as_ref())?;
            from.handshake()?;
            to.handshake()?;
            let (cpu_before, started) = (cpu::this_thread_seconds()?, Instant::now());
            let mut buf = vec![0u8; 1 << 20];
            let mut bytes = 0u64;
            loop {
                let n = from.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n])?;
                bytes += n as u64;
            }
            to.flush()?;
            let report = RelayReport {
                bytes,
                seconds: started.elapsed().as_secs_f64(),
                cpu_seconds: cpu::this_thread_seconds()? - cpu_before,
            };
            to.finish()?;
            Ok(report)
        })?;
    let joined = |what: &str| std::io::Error::other(format!("the relay's {what} thread panicked"));
    feeder.join().map_err(|_| joined("feeder"))??;
    let report = relay.join().map_err(|_| joined("relay"))??;
    let drained = drain.join().map_err(|_| joined("drain"))??;
    if drained != total || report.bytes != total {
        return Err(std::io::Error::other(format!(
            "the relay moved {} of {total} bytes and {drained} arrived",
            report.bytes
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_every_byte() {
        let report = run(3 << 20, &[7u8; 100_000], None).unwrap();
        assert_eq!(report.bytes, 3 << 20);
        assert!(report.cpu_seconds >= 0.0);
    }

    /// Over TLS on both hops (certificate made here, the client side built by kmirror's
    /// security settings, host name checked): every byte arrives, decrypted and re-encrypted.
    #[test]
    fn relays_every_byte_over_tls() {
        let certs = super::super::tls::BenchTls::generate().unwrap();
        let tls = RelayTls {
            server: certs.server.clone(),
            client: crate::security::TlsSettings::new(
                vec![rustls_pki_types::pem::PemObject::from_pem_slice(certs.ca_pem.as_bytes()).unwrap()],
                true,
                vec![
                    crate::security::TlsVersion::Tls12,
                    crate::security::TlsVersion::Tls13,
                ],
                None,
            )
            .unwrap()
            .rustls(),
        };
        let report = run((3 << 20) + 5, &[7u8; 100_000], Some(tls)).unwrap();
        assert_eq!(report.bytes, (3 << 20) + 5);
    }
}
