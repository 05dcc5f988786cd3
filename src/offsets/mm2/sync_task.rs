//! The async shell around [`SyncRules`]: partition tasks hand acknowledged batches over
//! through a [`SyncOutbox`] (a `try_send`, never a wait), one task per flow applies the rules
//! and queues the syncs on the offset-syncs topic's [`InternalTopicWriter`].
//!
//! ```text
//! partition task ─ack─► SyncOutbox ──bounded channel──► sync task ─► SyncRules ─► writer
//!                       (holds the newest batch            │ every promote interval:
//!                        while the channel is full)        └─ delayed syncs promoted
//! ```
//!
//! When the writer's queue is full, syncs wait in a map that keeps the newest per partition
//! (MM2's pending map), so a slow cluster costs sync density, never memory or latency on the
//! replication path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{AckedBatch, InternalTopicError, InternalTopicWriter, SyncRules, ensure_internal_topic};
use crate::cluster::{Backoff, Cluster};
use crate::protocol::mm2::OffsetSync;

/// Acknowledged batches queued for a flow's sync task before outboxes start holding back.
pub const SYNC_QUEUE_BATCHES: usize = 4096;

/// The flow-wide handle partition tasks take their outbox from; cheap to clone.
#[derive(Debug, Clone)]
pub struct OffsetSyncSender {
    tx: mpsc::Sender<AckedBatch>,
}

impl OffsetSyncSender {
    pub fn outbox(&self) -> SyncOutbox {
        SyncOutbox {
            tx: self.tx.clone(),
            held: None,
        }
    }
}

/// One partition's way to the sync task. It never waits: when the channel is full it keeps
/// only the newest batch and offers it again with the next one (or [`SyncOutbox::retry`]).
#[derive(Debug)]
pub struct SyncOutbox {
    tx: mpsc::Sender<AckedBatch>,
    held: Option<AckedBatch>,
}

impl SyncOutbox {
    pub fn offer(&mut self, batch: AckedBatch) {
        self.retry();
        if self.held.is_some() {
            // Order per partition: nothing overtakes a held batch; the newest replaces it.
            self.held = Some(batch);
        } else {
            self.send(batch);
        }
    }

    /// Sends a held batch if there is room now.
    pub fn retry(&mut self) {
        if let Some(batch) = self.held.take() {
            self.send(batch);
        }
    }

    fn send(&mut self, batch: AckedBatch) {
        if let Err(mpsc::error::TrySendError::Full(batch)) = self.tx.try_send(batch) {
            self.held = Some(batch);
        }
    }
}

/// Where a flow's offset syncs go and how they are paced.
#[derive(Debug, Clone)]
pub struct SyncTopic {
    /// The cluster holding the topic (the flow's source or target).
    pub cluster: Arc<Cluster>,
    pub topic: String,
    pub replication_factor: Option<i16>,
    /// `offset.lag.max`.
    pub lag_max: i64,
    /// How often delayed syncs are promoted.
    pub promote_every: Duration,
}

/// Starts the sync task of one flow and the writer of its topic (created when missing). Both
/// end once every sender is dropped, after writing what they hold.
pub fn spawn_offset_syncs(
    topic: SyncTopic,
    written: metrics::Counter,
    stop: watch::Receiver<bool>,
) -> (OffsetSyncSender, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(SYNC_QUEUE_BATCHES);
    let task = tokio::spawn(async move {
        prepare(&topic, stop.clone()).await;
        let (writer, writer_task) =
            InternalTopicWriter::spawn(topic.cluster.clone(), topic.topic.clone(), written, stop);
        run(rx, &writer, SyncRules::new(topic.lag_max), topic.promote_every).await;
        drop(writer);
        let _ = writer_task.await;
    });
    (OffsetSyncSender { tx }, task)
}

/// Creates the topic, retrying until it exists or kmirror stops. The writer would retry a
/// missing topic too, but creating it first gives it the right shape.
async fn prepare(topic: &SyncTopic, stop: watch::Receiver<bool>) {
    let config = topic.cluster.config();
    let mut backoff = Backoff::new(config.reconnect_backoff, config.reconnect_backoff_max);
    while !*stop.borrow() {
        match ensure_internal_topic(&topic.cluster, &topic.topic, topic.replication_factor).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(cluster = topic.cluster.name(), error = %e, "cannot prepare the offset-syncs topic; retrying");
                // The thread-local RNG must not live across the await (it is not Send).
                let delay = backoff.next_delay(&mut rand::rng());
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Syncs waiting for room in the writer's queue, newest per partition.
#[derive(Debug, Default)]
struct Pending(BTreeMap<(String, i32), OffsetSync>);

impl Pending {
    /// Queues `syncs` after whatever is pending, without waiting. Once the writer is full,
    /// the rest waits here, the newest per partition.
    fn fire(&mut self, writer: &InternalTopicWriter, syncs: impl IntoIterator<Item = OffsetSync>) {
        let waiting = std::mem::take(&mut self.0);
        let mut full = false;
        for sync in waiting.into_values().chain(syncs) {
            if full || !try_queue(writer, &sync) {
                full = true;
                let _ = self.0.insert((sync.topic.clone(), sync.partition), sync);
            }
        }
    }

    /// Queues everything pending, waiting for room.
    async fn drain(&mut self, writer: &InternalTopicWriter) {
        for sync in std::mem::take(&mut self.0).into_values() {
            if let Ok(record) = writer.encode(&sync, now_ms()) {
                let _ = writer.send(record).await;
            }
        }
    }
}

/// Offers one sync to the writer; `false` if its queue is full.
fn try_queue(writer: &InternalTopicWriter, sync: &OffsetSync) -> bool {
    let result = writer
        .encode(sync, now_ms())
        .and_then(|record| writer.try_send(record));
    match result {
        Err(InternalTopicError::QueueFull { .. }) => false,
        Err(e) => {
            tracing::warn!(error = %e, "offset sync not written");
            true
        }
        Ok(()) => true,
    }
}

async fn run(
    mut rx: mpsc::Receiver<AckedBatch>,
    writer: &InternalTopicWriter,
    mut rules: SyncRules,
    promote_every: Duration,
) {
    let mut pending = Pending::default();
    let mut tick = tokio::time::interval(promote_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => rules.on_batch(&batch, &mut out),
                None => break,
            },
            _ = tick.tick() => rules.promote_delayed(&mut out),
        }
        pending.fire(writer, out.drain(..));
    }
    rules.promote_delayed(&mut out);
    pending.fire(writer, out.drain(..));
    pending.drain(writer).await;
    let _ = writer.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::mm2::RecordOffsets;

    fn batch(first: i64) -> AckedBatch {
        AckedBatch {
            topic: "orders".into(),
            partition: 0,
            records: RecordOffsets::Contiguous { first, count: 1 },
            target_base: first,
        }
    }

    #[test]
    fn a_full_channel_holds_the_newest_batch_and_keeps_order() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut outbox = OffsetSyncSender { tx }.outbox();
        outbox.offer(batch(1));
        outbox.offer(batch(2));
        outbox.offer(batch(3));
        assert_eq!(rx.try_recv().unwrap(), batch(1));
        assert!(rx.try_recv().is_err(), "2 and 3 wait: the channel was full");
        outbox.retry();
        assert_eq!(
            rx.try_recv().unwrap(),
            batch(3),
            "the newest replaced the held one"
        );
        outbox.retry();
        outbox.offer(batch(4));
        assert_eq!(rx.try_recv().unwrap(), batch(4));
        drop(rx);
        outbox.offer(batch(5));
        outbox.retry();
    }
}
