//! A TLS terminator for tests (tokio-rustls): accepts TLS on its own port and relays the
//! plaintext bytes to an upstream broker (the fake broker, which speaks no TLS; tests against
//! Apache Kafka use its own TLS listeners). Optionally requires a client certificate signed by
//! a given CA (mTLS).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::certs::{Leaf, TestCa};

/// A running relay; dropping it stops accepting.
#[derive(Debug)]
pub struct TlsRelay {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    handshakes_failed: Arc<AtomicUsize>,
    /// The SNI name of each accepted connection (`None` when the client sent none).
    server_names: Arc<Mutex<Vec<Option<String>>>>,
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The server side's TLS configuration: its certificate, and the CA client certificates
/// must chain to when mTLS is required.
pub fn server_config(server: &Leaf, client_ca: Option<&TestCa>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions");
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert_der()).expect("client CA");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(
        builder
            .with_single_cert(server.chain(), server.key())
            .expect("server certificate"),
    )
}

impl TlsRelay {
    /// Binds `127.0.0.1:0` and relays to `upstream`.
    pub async fn start(upstream: &str, server: &Leaf, client_ca: Option<&TestCa>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        Self::serve(listener, upstream, server_config(server, client_ca))
    }

    /// Serves on a listener the caller bound (so that the upstream broker can advertise this
    /// port before the relay starts).
    pub fn serve(listener: TcpListener, upstream: &str, config: Arc<ServerConfig>) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let acceptor = TlsAcceptor::from(config);
        let upstream = upstream.to_owned();
        let failed = Arc::new(AtomicUsize::new(0));
        let handshakes_failed = failed.clone();
        let names = Arc::new(Mutex::new(Vec::new()));
        let server_names = names.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, upstream, failed, names) =
                    (acceptor.clone(), upstream.clone(), failed.clone(), names.clone());
                drop(tokio::spawn(async move {
                    let mut tls = match acceptor.accept(socket).into_fallible().await {
                        Ok(tls) => tls,
                        Err((_, socket)) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            linger(socket).await;
                            return;
                        }
                    };
                    let sni = tls.get_ref().1.server_name().map(str::to_owned);
                    names.lock().unwrap_or_else(|p| p.into_inner()).push(sni);
                    if let Ok(mut broker) = TcpStream::connect(&upstream).await {
                        let _ = broker.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                    }
                }));
            }
        });
        Self {
            addr,
            accept,
            handshakes_failed,
            server_names,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The SNI name sent by each client that completed a handshake, in order.
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.server_names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// TLS handshakes the relay refused or that failed.
    pub fn handshakes_failed(&self) -> usize {
        self.handshakes_failed.load(Ordering::SeqCst)
    }
}

/// After a refused handshake (its alert already written): half-close and read what the
/// client still sends until it closes. Closing a socket with unread bytes makes the kernel
/// send a reset, which can overtake the alert, and the client would see a bare reset instead
/// of the reason (under TLS 1.3 the client sends its first request before the server has
/// judged its certificate).
async fn linger(mut socket: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = socket.shutdown().await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}
