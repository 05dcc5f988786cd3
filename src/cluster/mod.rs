//! One Kafka cluster as kmirror sees it: bootstrap, a metadata snapshot, one connection per
//! broker (reconnected with jittered backoff), leader routing and retries of partition
//! requests after a metadata refresh.

pub mod acls;
pub mod admin;
pub mod alter_configs;
pub mod authorized;
mod backoff;
mod error;
pub mod groups;
pub mod metadata;
pub mod partition;
mod refresh;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::time::Instant;

pub use backoff::Backoff;
pub use error::ClusterError;
pub use metadata::{BrokerMetadata, MetadataSnapshot, RoutingError, TopicId};
pub use partition::{FetchOptions, FetchedPartition, IsolationLevel, OffsetSpec, ProduceAck};

use crate::config::ClientConfig;
use crate::metrics;
use crate::net::{Connection, ConnectionError};
use metadata::{build_metadata_request, process_metadata_response};

/// Connection state of one broker address.
#[derive(Debug)]
struct BrokerSlot {
    conn: Option<Connection>,
    backoff: Backoff,
    /// No new attempt before this instant (set after a failure).
    retry_at: Option<Instant>,
}

/// A cluster handle, shared by every task that talks to that cluster.
#[derive(Debug)]
pub struct Cluster {
    name: String,
    seeds: Vec<String>,
    config: ClientConfig,
    metadata: RwLock<Arc<MetadataSnapshot>>,
    refresher: refresh::Refresher,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<BrokerSlot>>>>,
}

impl Cluster {
    /// Connects to the first seed that answers and loads the metadata of every topic.
    pub async fn bootstrap(
        name: &str,
        seeds: &[String],
        config: ClientConfig,
    ) -> Result<Arc<Self>, ClusterError> {
        let cluster = Arc::new(Self {
            name: name.to_owned(),
            seeds: seeds.to_vec(),
            config,
            metadata: RwLock::new(Arc::new(MetadataSnapshot::default())),
            refresher: refresh::Refresher::default(),
            slots: Mutex::new(HashMap::new()),
        });
        let _ = cluster.refresh_metadata().await?;
        Ok(cluster)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn metadata(&self) -> Arc<MetadataSnapshot> {
        self.metadata.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn connection_error(&self, source: ConnectionError) -> ClusterError {
        ClusterError::Connection {
            cluster: self.name.clone(),
            source,
        }
    }

    /// A usable connection to `addr`, reusing the open one or dialling a new one. After a
    /// failure, the next attempt waits out a jittered, growing backoff.
    pub async fn connection(&self, addr: &str) -> Result<Connection, ClusterError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots
                .entry(addr.to_owned())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Mutex::new(BrokerSlot {
                        conn: None,
                        backoff: Backoff::new(
                            self.config.reconnect_backoff,
                            self.config.reconnect_backoff_max,
                        ),
                        retry_at: None,
                    }))
                })
                .clone()
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.conn.as_ref().filter(|c| c.is_usable()) {
            return Ok(conn.clone());
        }
        if let Some(old) = slot.conn.take() {
            metrics::connection_closed(&self.name);
            if old.session_ending() {
                // KIP-368: a fresh connection authenticates anew; the old one finishes the
                // requests it carries in the background.
                tracing::debug!(cluster = %self.name, broker = addr, "SASL session ends soon: opening a new connection");
                old.retire();
            } else {
                let kind = old.failure().map_or("closed", |e| e.kind());
                metrics::connection_error(&self.name, addr, kind);
            }
        }
        if let Some(at) = slot.retry_at {
            tokio::time::sleep_until(at).await;
        }
        match Connection::connect_for(&self.name, addr, &self.config).await {
            Ok(conn) => {
                slot.backoff.reset();
                slot.retry_at = None;
                slot.conn = Some(conn.clone());
                metrics::connection_opened(&self.name, addr);
                tracing::debug!(cluster = %self.name, broker = addr, "connected");
                Ok(conn)
            }
            Err(e) => {
                let delay = slot.backoff.next_delay(&mut rand::rng());
                slot.retry_at = Some(Instant::now() + delay);
                metrics::connection_error(&self.name, addr, e.kind());
                tracing::debug!(cluster = %self.name, broker = addr, error = %e, retry_in = ?delay, "connect failed");
                Err(self.connection_error(e))
            }
        }
    }

    /// Addresses to ask for metadata: known brokers first, then the seeds.
    fn metadata_candidates(&self) -> Vec<String> {
        let snapshot = self.metadata();
        let mut addrs: Vec<String> = snapshot.brokers.values().map(BrokerMetadata::addr).collect();
        for s in &self.seeds {
            if !addrs.contains(s) {
                addrs.push(s.clone());
            }
        }
        addrs
    }

    /// Reloads the metadata of every topic.
    pub async fn refresh_metadata(&self) -> Result<Arc<MetadataSnapshot>, ClusterError> {
        self.load_metadata(None).await
    }

    /// Reloads the metadata of the given topics and keeps the rest.
    pub async fn refresh_topics(&self, topics: &[String]) -> Result<Arc<MetadataSnapshot>, ClusterError> {
        self.load_metadata(Some(topics)).await
    }

    /// Refreshes through the [`refresh::Refresher`]: concurrent callers share one request, and
    /// refreshes are paced and back off after failures.
    async fn load_metadata(&self, topics: Option<&[String]>) -> Result<Arc<MetadataSnapshot>, ClusterError> {
        match self.refresher.turn(topics).await {
            refresh::Turn::Done(result) => result.map(|()| self.metadata()),
            refresh::Turn::Lead(lead) => {
                let result = self.fetch_metadata(lead.wanted.as_deref()).await;
                lead.finish(result.as_ref().map(|_| ()).map_err(Clone::clone));
                result
            }
        }
    }

    /// One Metadata request, to the first broker that answers.
    async fn fetch_metadata(&self, topics: Option<&[String]>) -> Result<Arc<MetadataSnapshot>, ClusterError> {
        let request = build_metadata_request(topics);
        let candidates = self.metadata_candidates();
        let mut last = None;
        for addr in &candidates {
            let conn = match self.connection(addr).await {
                Ok(c) => c,
                Err(ClusterError::Connection { source, .. }) => {
                    keep_final(&mut last, source, ConnectionError::is_retriable);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match conn.request(&request).await {
                Ok(response) => {
                    let snapshot = {
                        let mut guard = self.metadata.write().unwrap_or_else(|p| p.into_inner());
                        let fresh = process_metadata_response(&response, guard.generation + 1);
                        let next = if topics.is_some() {
                            guard.merged(fresh)
                        } else {
                            fresh
                        };
                        *guard = Arc::new(next);
                        guard.clone()
                    };
                    metrics::metadata_refreshed(&self.name, true);
                    return Ok(snapshot);
                }
                Err(e) => keep_final(&mut last, e, ConnectionError::is_retriable),
            }
        }
        metrics::metadata_refreshed(&self.name, false);
        Err(ClusterError::Bootstrap {
            cluster: self.name.clone(),
            tried: candidates.join(", "),
            last: last.unwrap_or_else(|| ConnectionError::Closed {
                addr: "(no address)".to_owned(),
            }),
        })
    }

    /// The connection to the current leader of a partition.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<Connection, ClusterError> {
        let addr = self
            .metadata()
            .leader(topic, partition)
            .map(BrokerMetadata::addr)
            .map_err(|source| ClusterError::Routing {
                cluster: self.name.clone(),
                source,
            })?;
        self.connection(&addr).await
    }

    /// Closes every broker connection, letting requests in flight finish.
    pub async fn close(&self) {
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Some(conn) = slot.lock().await.conn.take() {
                conn.close().await;
                metrics::connection_closed(&self.name);
            }
        }
    }
}

/// Keeps `e` as the error to report unless a final one (wrong password, untrusted
/// certificate) is already kept: one broker refusing connections must not turn a failure
/// that retrying cannot fix into one that is retried forever.
fn keep_final<E>(last: &mut Option<E>, e: E, retriable: fn(&E) -> bool) {
    if last.as_ref().is_none_or(retriable) {
        *last = Some(e);
    }
}
