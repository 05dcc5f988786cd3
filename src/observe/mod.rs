//! The operator's window: a small HTTP endpoint serving Prometheus metrics (`/metrics`),
//! liveness (`/healthz`: the process answers) and readiness (`/readyz`: connected, flows
//! assigned). Metric names live in [`crate::metrics`].

mod http;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub use http::{Route, parse_request};

/// Set by the engine once every flow has its clusters connected and its partitions assigned.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Installs the process-wide Prometheus recorder and serves the endpoint on `addr`.
/// Returns the address actually bound (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, readiness: Readiness) -> std::io::Result<SocketAddr> {
    // Request latencies on a loopback link are sub-millisecond; WAN links add tens to
    // hundreds of ms; replication latency during a catch-up can be hours.
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 3600.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets(&buckets)
        .map_err(|e| std::io::Error::other(format!("histogram buckets: {e}")))?
        .install_recorder()
        .map_err(|e| std::io::Error::other(format!("cannot install the metrics recorder: {e}")))?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    drop(tokio::spawn(accept(listener, handle, readiness)));
    Ok(bound)
}

async fn accept(listener: TcpListener, handle: PrometheusHandle, readiness: Readiness) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        let readiness = readiness.clone();
        drop(tokio::spawn(async move {
            // One request per connection, at most 8 KiB of it, a few seconds to send it.
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            let read = async {
                while len < buf.len() {
                    match socket.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            };
            if tokio::time::timeout(std::time::Duration::from_secs(5), read)
                .await
                .is_err()
            {
                return;
            }
            let (status, content_type, body) = match parse_request(&buf[..len]) {
                Some(Route::Metrics) => {
                    handle.run_upkeep();
                    ("200 OK", "text/plain; version=0.0.4", handle.render())
                }
                Some(Route::Health) => ("200 OK", "text/plain", "ok\n".to_owned()),
                Some(Route::Ready) if readiness.is_ready() => ("200 OK", "text/plain", "ready\n".to_owned()),
                Some(Route::Ready) => ("503 Service Unavailable", "text/plain", "not ready\n".to_owned()),
                Some(Route::NotFound) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
                None => ("400 Bad Request", "text/plain", "bad request\n".to_owned()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
            let _ = socket.shutdown().await;
        }));
    }
}
