//! The operator's window: a small HTTP endpoint serving Prometheus metrics (`/metrics`),
//! liveness (`/healthz`: the process answers) and readiness (`/readyz`: connected, flows
//! assigned, no partition stopped for good). Metric names live in [`crate::metrics`].

mod http;
pub mod status;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub use http::{Route, parse_request};

/// A partition stopped for good (`partition_failure = stop-partition`): named in `/readyz`
/// until the process restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedPartition {
    pub flow: String,
    pub topic: String,
    pub partition: i32,
    /// The first source offset not replicated, where the partition resumes after a restart
    /// (-1 when it stopped before it had a position).
    pub offset: i64,
    /// Why, as the metric labels it (`target_refused`, `corrupt_batch`, ...).
    pub reason: &'static str,
    pub error: String,
}

#[derive(Debug, Default)]
struct ReadinessState {
    ready: AtomicBool,
    stopped: Mutex<Vec<StoppedPartition>>,
}

/// Set by the engine once every flow has its clusters connected and its partitions assigned;
/// not ready again while stopping, or while any partition is stopped for good.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<ReadinessState>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
    }

    /// A partition stopped for good: the process is not ready until it restarts.
    pub fn partition_stopped(&self, stopped: StoppedPartition) {
        self.0
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(stopped);
    }

    /// The partitions stopped for good, in the order they stopped.
    pub fn stopped(&self) -> Vec<StoppedPartition> {
        self.0.stopped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_ready(&self) -> bool {
        self.answer().0
    }

    /// What `/readyz` answers: ready or not, and the body.
    pub fn answer(&self) -> (bool, String) {
        readiness_answer(self.0.ready.load(Ordering::Relaxed), &self.stopped())
    }
}

/// `/readyz`: `ready` once every flow runs and no partition is stopped; otherwise `not ready`,
/// followed by one line per stopped partition (flow, topic-partition, the source offset it
/// resumes from, why), so that a probe's log says what to look at.
pub fn readiness_answer(ready: bool, stopped: &[StoppedPartition]) -> (bool, String) {
    if stopped.is_empty() {
        return (ready, if ready { "ready\n" } else { "not ready\n" }.to_owned());
    }
    let mut body = format!("not ready: {} partition(s) stopped\n", stopped.len());
    for s in stopped {
        let error: String = s
            .error
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        body.push_str(&format!(
            "{} {}-{} at source offset {} ({}): {error}\n",
            s.flow, s.topic, s.partition, s.offset, s.reason
        ));
    }
    (false, body)
}

/// Installs the process-wide Prometheus recorder and serves the endpoint on `addr`.
/// Returns the address actually bound (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, readiness: Readiness) -> std::io::Result<SocketAddr> {
    let handle = install_recorder()?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    drop(tokio::spawn(accept(listener, handle, readiness)));
    Ok(bound)
}

/// Installs the process-wide Prometheus recorder without serving it: what `serve` does first,
/// and what the synthetic benchmark does so that it pays for metrics as a deployment does.
pub fn install_recorder() -> std::io::Result<PrometheusHandle> {
    // Request latencies on a loopback link are sub-millisecond; WAN links add tens to
    // hundreds of ms; replication latency during a catch-up can be hours.
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 3600.0,
    ];
    PrometheusBuilder::new()
        .set_buckets(&buckets)
        .map_err(|e| std::io::Error::other(format!("histogram buckets: {e}")))?
        .install_recorder()
        .map_err(|e| std::io::Error::other(format!("cannot install the metrics recorder: {e}")))
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
                Some(Route::Ready) => match readiness.answer() {
                    (true, body) => ("200 OK", "text/plain", body),
                    (false, body) => ("503 Service Unavailable", "text/plain", body),
                },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(partition: i32) -> StoppedPartition {
        StoppedPartition {
            flow: "a->b".into(),
            topic: "orders".into(),
            partition,
            offset: 120,
            reason: "target_refused",
            error: "cluster b: Produce a.orders-3 failed: INVALID_TIMESTAMP (32)\n(out of range)".into(),
        }
    }

    #[test]
    fn readiness_names_the_stopped_partitions() {
        assert_eq!(readiness_answer(true, &[]), (true, "ready\n".to_owned()));
        assert_eq!(readiness_answer(false, &[]), (false, "not ready\n".to_owned()));
        let (ready, body) = readiness_answer(true, &[stopped(3), stopped(4)]);
        assert!(!ready);
        assert_eq!(
            body.lines().collect::<Vec<_>>(),
            [
                "not ready: 2 partition(s) stopped",
                "a->b orders-3 at source offset 120 (target_refused): cluster b: Produce a.orders-3 failed: INVALID_TIMESTAMP (32) (out of range)",
                "a->b orders-4 at source offset 120 (target_refused): cluster b: Produce a.orders-3 failed: INVALID_TIMESTAMP (32) (out of range)",
            ]
        );
    }

    #[test]
    fn a_stopped_partition_keeps_the_process_unready() {
        let r = Readiness::default();
        assert!(!r.is_ready());
        r.set(true);
        assert!(r.is_ready());
        r.partition_stopped(stopped(0));
        assert!(!r.is_ready());
        assert_eq!(r.stopped(), [stopped(0)]);
        r.set(true);
        assert!(!r.is_ready(), "stays stopped until the process restarts");
    }
}
