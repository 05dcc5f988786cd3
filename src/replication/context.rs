//! What the partition tasks of one flow share: both clusters, the fetch and produce loops per
//! broker, the memory budget and the offsets writer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::fetcher::Fetcher;
use super::producer::Producer;
use super::progress::FlowLag;
use crate::cluster::{BrokerMetadata, Cluster, ClusterError, FetchOptions};
use crate::offsets::OffsetsWriter;
use crate::offsets::mm2::OffsetSyncSender;
use crate::protocol::timestamps::Timestamps;

/// A batch never exceeds the broker's message.max.bytes (1 MiB by default, rarely above
/// 100 MiB); one that decompresses to more than this is refused as a bomb.
pub(crate) const MAX_UNCOMPRESSED_BATCH_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct FlowContext {
    pub(crate) name: String,
    pub(crate) source: Arc<Cluster>,
    pub(crate) target: Arc<Cluster>,
    pub(crate) offsets: OffsetsWriter,
    /// Offset syncs of acknowledged batches; `None` with `emit.offset-syncs.enabled=false`.
    pub(crate) offset_syncs: Option<OffsetSyncSender>,
    pub(crate) fetch_options: FetchOptions,
    pub(crate) max_in_flight: usize,
    pub(crate) fail_on_gapped: bool,
    /// What the records of a LogAppendTime batch carry on the target: `AppendTime` re-encodes
    /// them with the append time, `Keep` forwards them with only the bit cleared.
    pub(crate) log_append_time: Timestamps,
    pub(crate) budget: Arc<Semaphore>,
    pub(crate) budget_bytes: usize,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Lag of every partition and records sent, for the lag metrics and the progress log.
    pub(crate) lag: FlowLag,
    /// The fetch loop per source broker and produce loop per target broker, by address.
    pub(crate) fetchers: Mutex<HashMap<String, Fetcher>>,
    pub(crate) producers: Mutex<HashMap<String, Producer>>,
}

impl FlowContext {
    /// How long a produce may take, and so how long a stopping partition waits for acks.
    pub(crate) fn produce_timeout(&self) -> Duration {
        self.target.config().request_timeout
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Reserves room for `bytes` of fetched or rebuilt batch data (the whole process shares
    /// one budget); waits while the budget is spent. More than the whole budget takes all of
    /// it. Batches carry their share to the produce loop, which returns it when the target
    /// answers them: were it returned only when the partition task settles its acks, every
    /// task could wait here for budget held by acks none of them can settle.
    pub(crate) async fn reserve(&self, bytes: usize) -> OwnedSemaphorePermit {
        let n = bytes.clamp(1, self.budget_bytes) as u32;
        self.budget
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the budget semaphore is never closed")
    }

    /// [`Self::reserve`] without waiting: `None` while the budget is spent.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = bytes.clamp(1, self.budget_bytes) as u32;
        self.budget.clone().try_acquire_many_owned(n).ok()
    }

    async fn leader_addr(cluster: &Cluster, topic: &str, partition: i32) -> Result<String, ClusterError> {
        let routed = cluster
            .metadata()
            .leader(topic, partition)
            .map(BrokerMetadata::addr);
        match routed {
            Ok(addr) => Ok(addr),
            Err(_) => {
                let snapshot = cluster.refresh_topics(&[topic.to_owned()]).await?;
                snapshot
                    .leader(topic, partition)
                    .map(BrokerMetadata::addr)
                    .map_err(|source| ClusterError::Routing {
                        cluster: cluster.name().to_owned(),
                        source,
                    })
            }
        }
    }

    /// The fetch loop of the source partition's leader.
    pub(crate) async fn fetcher_for(&self, topic: &str, partition: i32) -> Result<Fetcher, ClusterError> {
        let addr = Self::leader_addr(&self.source, topic, partition).await?;
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        let spawn = || {
            Fetcher::spawn(
                self.source.clone(),
                addr.clone(),
                self.fetch_options.clone(),
                self.budget.clone(),
            )
        };
        let fetcher = fetchers
            .entry(addr.clone())
            .and_modify(|f| {
                if f.is_closed() {
                    *f = spawn();
                }
            })
            .or_insert_with(spawn);
        Ok(fetcher.clone())
    }

    /// The produce loop of the target partition's leader.
    pub(crate) async fn producer_for(&self, topic: &str, partition: i32) -> Result<Producer, ClusterError> {
        let addr = Self::leader_addr(&self.target, topic, partition).await?;
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        let spawn = || {
            Producer::spawn(
                self.target.clone(),
                addr.clone(),
                self.max_in_flight,
                self.produce_timeout(),
            )
        };
        let producer = producers
            .entry(addr.clone())
            .and_modify(|p| {
                if p.is_closed() {
                    *p = spawn();
                }
            })
            .or_insert_with(spawn);
        Ok(producer.clone())
    }
}
