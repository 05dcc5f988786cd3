//! The fake broker's logs and the produce validation rules of a real broker.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};

use crate::protocol::batch::BatchIter;
use crate::protocol::errors;
pub use crate::protocol::produce_check::validate_produce;

/// A batch as stored: its assigned base offset and its bytes (base offset field rewritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub base_offset: i64,
    pub bytes: Bytes,
}

/// Sequence state of one producer on one partition; the last five batches are remembered
/// for deduplication, as a Kafka broker does.
#[derive(Debug, Default)]
struct ProducerState {
    epoch: i16,
    next_sequence: i32,
    recent: VecDeque<(i32, i64)>,
}

#[derive(Debug, Default)]
struct PartitionLog {
    batches: Vec<StoredBatch>,
    next_offset: i64,
    log_start: i64,
    aborted: Vec<(i64, i64)>,
    producers: HashMap<i64, ProducerState>,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) addr: SocketAddr,
    topics: BTreeMap<String, Vec<PartitionLog>>,
    /// Configuration overrides set on each topic (at creation or by the test).
    configs: BTreeMap<String, BTreeMap<String, String>>,
    next_producer_id: i64,
    pub(super) groups: BTreeMap<String, super::groups::FakeGroup>,
}

fn with_base_offset(bytes: &Bytes, base_offset: i64) -> Bytes {
    let mut b = BytesMut::from(&bytes[..]);
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b.freeze()
}

impl State {
    pub(super) fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            topics: BTreeMap::new(),
            configs: BTreeMap::new(),
            next_producer_id: 1000,
            groups: BTreeMap::new(),
        }
    }

    pub(super) fn set_config(&mut self, topic: &str, key: &str, value: &str) {
        let _ = self
            .configs
            .entry(topic.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }

    pub(super) fn configs(&self, topic: &str) -> BTreeMap<String, String> {
        self.configs.get(topic).cloned().unwrap_or_default()
    }

    pub(super) fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    pub(super) fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(Vec::len)
    }

    pub(super) fn create_topic(&mut self, name: &str, partitions: i32) -> bool {
        if self.topics.contains_key(name) {
            return false;
        }
        let logs = (0..partitions.max(0)).map(|_| PartitionLog::default()).collect();
        let _ = self.topics.insert(name.to_owned(), logs);
        true
    }

    fn partition(&mut self, topic: &str, partition: i32) -> Result<&mut PartitionLog, i16> {
        self.topics
            .get_mut(topic)
            .and_then(|ps| ps.get_mut(usize::try_from(partition).ok()?))
            .ok_or(errors::UNKNOWN_TOPIC_OR_PARTITION)
    }

    pub(super) fn append_raw(&mut self, topic: &str, partition: i32, bytes: Bytes) {
        let log = self
            .partition(topic, partition)
            .expect("append_raw to an existing partition");
        let base_offset = bytes
            .get(..8)
            .map_or(log.next_offset, |b| i64::from_be_bytes(b.try_into().unwrap()));
        let next = BatchIter::new(bytes.clone())
            .filter_map(Result::ok)
            .map(|b| b.next_offset())
            .max()
            .unwrap_or(base_offset + 1);
        log.next_offset = log.next_offset.max(next);
        log.batches.push(StoredBatch { base_offset, bytes });
    }

    pub(super) fn set_aborted(&mut self, topic: &str, partition: i32, aborted: Vec<(i64, i64)>) {
        self.partition(topic, partition)
            .expect("existing partition")
            .aborted = aborted;
    }

    pub(super) fn log(&mut self, topic: &str, partition: i32) -> Vec<StoredBatch> {
        self.partition(topic, partition)
            .map(|l| l.batches.clone())
            .unwrap_or_default()
    }

    pub(super) fn new_producer_id(&mut self) -> i64 {
        self.next_producer_id += 1;
        self.next_producer_id
    }

    /// Appends a validated batch, applying idempotent-producer sequence checks.
    pub(super) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        records: Option<&Bytes>,
    ) -> Result<i64, i16> {
        let log = self.partition(topic, partition)?;
        let batch = validate_produce(records)?;
        let count = batch.record_count();
        if batch.producer_id() >= 0 {
            let p = log.producers.entry(batch.producer_id()).or_default();
            if batch.producer_epoch() < p.epoch {
                return Err(errors::INVALID_PRODUCER_EPOCH);
            }
            if batch.producer_epoch() > p.epoch {
                *p = ProducerState {
                    epoch: batch.producer_epoch(),
                    ..ProducerState::default()
                };
            }
            if let Some((_, offset)) = p.recent.iter().find(|(seq, _)| *seq == batch.base_sequence()) {
                // A retry of a batch already appended: answer with its offset, append nothing.
                return Ok(*offset);
            }
            if batch.base_sequence() != p.next_sequence {
                return Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER);
            }
            p.next_sequence = batch.base_sequence().wrapping_add(count);
            p.recent.push_back((batch.base_sequence(), log.next_offset));
            if p.recent.len() > 5 {
                let _ = p.recent.pop_front();
            }
        }
        let base_offset = log.next_offset;
        log.batches.push(StoredBatch {
            base_offset,
            bytes: with_base_offset(batch.as_bytes(), base_offset),
        });
        log.next_offset += i64::from(count);
        Ok(base_offset)
    }

    /// Batches from the one holding `offset`, up to `max_bytes` (at least one batch), with
    /// the high watermark, log start offset and aborted transactions.
    pub(super) fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Fetched, i16> {
        let log = self.partition(topic, partition)?;
        if offset < log.log_start || offset > log.next_offset {
            return Err(errors::OFFSET_OUT_OF_RANGE);
        }
        let mut out = BytesMut::new();
        for b in &log.batches {
            let last = BatchIter::new(b.bytes.clone())
                .filter_map(Result::ok)
                .map(|x| x.last_offset())
                .max()
                .unwrap_or(b.base_offset);
            if last < offset {
                continue;
            }
            if !out.is_empty() && out.len() + b.bytes.len() > max_bytes {
                // Cut mid-batch as real brokers do at the byte limit.
                let room = max_bytes.saturating_sub(out.len());
                out.extend_from_slice(&b.bytes[..room.min(b.bytes.len())]);
                break;
            }
            out.extend_from_slice(&b.bytes);
        }
        Ok(Fetched {
            records: out.freeze(),
            high_watermark: log.next_offset,
            log_start: log.log_start,
            aborted: log.aborted.clone(),
        })
    }

    pub(super) fn offsets(&mut self, topic: &str, partition: i32) -> Result<(i64, i64), i16> {
        let log = self.partition(topic, partition)?;
        Ok((log.log_start, log.next_offset))
    }
}

pub(super) struct Fetched {
    pub(super) records: Bytes,
    pub(super) high_watermark: i64,
    pub(super) log_start: i64,
    pub(super) aborted: Vec<(i64, i64)>,
}
