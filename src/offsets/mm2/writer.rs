//! A small async writer of keyed records to partition 0 of one internal topic.
//!
//! Callers queue records ([`InternalTopicWriter::try_send`] never waits, so the replication
//! hot path is never blocked; [`InternalTopicWriter::send`] waits for room). The writer task
//! takes everything queued (up to [`MAX_BATCH_RECORDS`]) as one uncompressed v2 batch without
//! a producer id and produces it with `acks=all`. Retriable failures are retried with a
//! jittered backoff after a metadata refresh, for as long as kmirror runs; a batch the broker
//! refuses for good is dropped with an error in the log. Duplicates from a retry are harmless:
//! these topics are compacted and every record restates the newest value of its key.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::InternalTopicError;
use crate::cluster::{Backoff, Cluster};
use crate::protocol::mm2::{Mm2Error, Mm2Record};
use crate::protocol::records::{BatchSpec, Record, RecordsError, encode_batch};

/// Records a writer queues before [`InternalTopicWriter::try_send`] reports it full.
pub const WRITER_QUEUE_RECORDS: usize = 4096;
/// Records per produced batch at most.
const MAX_BATCH_RECORDS: usize = 500;

/// One record for an internal topic: encoded key and value and the record timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRecord {
    pub key: Bytes,
    pub value: Bytes,
    /// Epoch milliseconds (CreateTime).
    pub timestamp_ms: i64,
}

impl KeyedRecord {
    pub fn encode<R: Mm2Record>(record: &R, timestamp_ms: i64) -> Result<Self, Mm2Error> {
        Ok(Self {
            key: record.encode_key()?,
            value: record.encode_value()?,
            timestamp_ms,
        })
    }
}

#[derive(Debug)]
enum Msg {
    Record(KeyedRecord),
    Flush(oneshot::Sender<()>),
}

/// A handle to the writer task of one internal topic; cheap to clone. The task ends once
/// every handle is dropped and the queue is written.
#[derive(Debug, Clone)]
pub struct InternalTopicWriter {
    topic: Arc<str>,
    tx: mpsc::Sender<Msg>,
}

impl InternalTopicWriter {
    /// Starts the writer task for `topic` on `cluster`. `written` counts acknowledged
    /// records. Once `stop` is set, a failing batch is dropped instead of retried, so that
    /// shutdown is not held up by an unreachable cluster.
    pub fn spawn(
        cluster: Arc<Cluster>,
        topic: impl Into<String>,
        written: metrics::Counter,
        stop: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let topic: Arc<str> = topic.into().into();
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_RECORDS);
        let task = tokio::spawn(run(cluster, topic.clone(), rx, written, stop));
        (Self { topic, tx }, task)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Encodes an MM2 record for this topic.
    pub fn encode<R: Mm2Record>(
        &self,
        record: &R,
        timestamp_ms: i64,
    ) -> Result<KeyedRecord, InternalTopicError> {
        KeyedRecord::encode(record, timestamp_ms).map_err(|source| InternalTopicError::Encode {
            topic: self.topic.to_string(),
            source,
        })
    }

    /// Queues a record without waiting.
    pub fn try_send(&self, record: KeyedRecord) -> Result<(), InternalTopicError> {
        self.tx.try_send(Msg::Record(record)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => InternalTopicError::QueueFull {
                topic: self.topic.to_string(),
                capacity: WRITER_QUEUE_RECORDS,
            },
            mpsc::error::TrySendError::Closed(_) => self.closed(),
        })
    }

    /// Queues a record, waiting for room.
    pub async fn send(&self, record: KeyedRecord) -> Result<(), InternalTopicError> {
        self.tx.send(Msg::Record(record)).await.map_err(|_| self.closed())
    }

    /// Waits until every record queued before this call has been written (or dropped after
    /// a permanent failure, which is logged).
    pub async fn flush(&self) -> Result<(), InternalTopicError> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Msg::Flush(done)).await.map_err(|_| self.closed())?;
        wait.await.map_err(|_| self.closed())
    }

    fn closed(&self) -> InternalTopicError {
        InternalTopicError::Closed {
            topic: self.topic.to_string(),
        }
    }
}

/// The batch of `records`, timestamps relative to the earliest one.
fn build_batch(records: &[KeyedRecord]) -> Result<Bytes, RecordsError> {
    let base_timestamp = records.iter().map(|r| r.timestamp_ms).min().unwrap_or(0);
    let max_timestamp = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
    let records: Vec<Record> = records
        .iter()
        .zip(0..)
        .map(|(r, delta)| Record {
            timestamp_delta: r.timestamp_ms - base_timestamp,
            offset_delta: delta,
            key: Some(r.key.clone()),
            value: Some(r.value.clone()),
            ..Record::default()
        })
        .collect();
    let spec = BatchSpec {
        base_timestamp,
        max_timestamp,
        ..BatchSpec::default()
    };
    encode_batch(&spec, &records)
}

async fn run(
    cluster: Arc<Cluster>,
    topic: Arc<str>,
    mut rx: mpsc::Receiver<Msg>,
    written: metrics::Counter,
    stop: watch::Receiver<bool>,
) {
    let mut records = Vec::new();
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(r) => records.push(r),
                Msg::Flush(w) => waiters.push(w),
            }
            if records.len() < MAX_BATCH_RECORDS {
                next = rx.try_recv().ok();
            }
        }
        if !records.is_empty() {
            if write(&cluster, &topic, &records, &stop).await {
                written.increment(records.len() as u64);
            }
            records.clear();
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Produces `records` as one batch, retrying retriable failures. Returns whether they were
/// acknowledged.
async fn write(
    cluster: &Cluster,
    topic: &str,
    records: &[KeyedRecord],
    stop: &watch::Receiver<bool>,
) -> bool {
    let batch = match build_batch(records) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(cluster = cluster.name(), topic, records = records.len(), error = %e, "dropping records for an internal topic");
            return false;
        }
    };
    let config = cluster.config();
    let mut backoff = Backoff::new(
        config.reconnect_backoff,
        config.reconnect_backoff_max.max(Duration::from_millis(1)),
    );
    loop {
        let err = match cluster.produce(topic, 0, batch.clone()).await {
            Ok(_) => return true,
            Err(e) => e,
        };
        if !err.is_retriable() || *stop.borrow() {
            tracing::error!(cluster = cluster.name(), topic, records = records.len(), error = %err, "dropping records for an internal topic");
            return false;
        }
        tracing::debug!(cluster = cluster.name(), topic, error = %err, "retrying an internal topic write");
        let delay = backoff.next_delay(&mut rand::rng());
        tokio::time::sleep(delay).await;
        let _ = cluster.refresh_topics(&[topic.to_owned()]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::RecordBatch;
    use crate::protocol::mm2::Heartbeat;
    use crate::protocol::records::decode_records;

    #[test]
    fn batches_keep_order_keys_values_and_timestamps() {
        let hb = |t| {
            KeyedRecord::encode(
                &Heartbeat {
                    source_alias: "A".to_owned(),
                    target_alias: "B".to_owned(),
                    timestamp: t,
                },
                t,
            )
            .unwrap()
        };
        let input = [
            hb(1_700_000_000_500),
            hb(1_700_000_000_000),
            hb(1_700_000_001_000),
        ];
        let batch = RecordBatch::try_from_bytes(build_batch(&input).unwrap()).unwrap();
        assert_eq!(batch.producer_id(), -1);
        assert_eq!(batch.record_count(), 3);
        assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
        assert_eq!(batch.max_timestamp(), 1_700_000_001_000);
        let records = decode_records(&batch).unwrap();
        for ((r, want), delta) in records.iter().zip(&input).zip(0..) {
            assert_eq!(r.offset_delta, delta);
            assert_eq!(r.key.as_ref(), Some(&want.key));
            assert_eq!(r.value.as_ref(), Some(&want.value));
            assert_eq!(batch.base_timestamp() + r.timestamp_delta, want.timestamp_ms);
        }
    }
}
