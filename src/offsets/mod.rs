//! Offsets: the exact source-to-target map of acknowledged batches, the resume position of
//! every partition, and the store that keeps them across restarts.
//!
//! One source batch becomes one target batch, so every acknowledged produce gives an exact
//! pair: source offsets `[source_base, source_next)` hold the `record_count` records that
//! now sit at target offsets `[target_base, target_base + record_count)`. The engine logs
//! one [`Entry`] per acknowledged batch, in source order per partition; [`PartitionState`]
//! folds them into a resume position and a bounded history that [`PartitionState::translate`]
//! reads. Nothing is logged for data the target has not acknowledged.
//!
//! ```text
//! ack ─► Entry ─► OffsetStore::append (buffered) ─► OffsetStore::sync (write + fsync, 1/s)
//!                          │
//! restart: OffsetStore::load ─► PartitionState ─► reconcile(state, target end) ─► ReplaySkip
//! ```
//!
//! After a crash the target may hold batches whose entries never became durable. The flow is
//! the only writer of its target partitions, so the target end offset minus the logged one is
//! exactly the number of records to skip when the source batches after the resume position
//! are read again ([`reconcile`]): nothing is written twice, nothing is lost.
//!
//! # The file store format
//!
//! [`FileStore`] keeps `offsets.log` in its state directory (and `LOCK`, held with an
//! exclusive file lock while a kmirror process uses the directory). Big-endian throughout:
//!
//! ```text
//! header   magic "KMOFFLOG" (8 bytes), version u32 = 2
//! frame    length u32 (of the payload, > 0), crc u32 (CRC-32C of the payload), payload
//! payload  tag u8, key, fields
//! key      flow (u16 length + UTF-8), source topic (u16 length + UTF-8), partition i32
//!
//! tag 1 Baseline    source_offset i64, target_end i64
//! tag 2 Forwarded   source_base i64, source_next i64, target_base i64, record_count i32
//! tag 3 Skipped     source_next i64
//! tag 4 State       resume_offset i64, target_next i64, mapping count u32, then per mapping
//!                   source_base i64, source_next i64, target_base i64, record_count i64
//! tag 5 Producer    producer_id i64, producer_epoch i16, first_sequence i32,
//!                   first_target_offset i64
//! tag 6 State       as tag 4, then a producer flag u8 (0 or 1) and, with 1, the fields of
//!                   tag 5
//! ```
//!
//! Version 2 added tags 5 and 6; a version 1 log (tags 1 to 4) is read and rewritten as
//! version 2 when the store opens it. Compaction writes tag 6.
//!
//! Loading replays the frames in order: entries go through [`PartitionState::apply`], a
//! `State` frame replaces the partition's state (compaction writes one per partition).
//!
//! - A frame cut short or with a wrong CRC at the end of the file is what a crash during a
//!   write leaves: it is truncated with a warning.
//! - A bad frame followed by a valid one is corruption, and so is a valid frame whose payload
//!   does not decode or does not apply: loading fails naming the file and the byte position,
//!   since dropping it would drop acknowledged offsets.
//! - Compaction writes every state to `offsets.log.tmp`, fsyncs it, renames it over
//!   `offsets.log` and fsyncs the directory, so a crash leaves one complete log or the other.

mod error;
pub mod groups;
mod log;
pub mod mm2;
mod producer;
mod reconcile;
mod state;
mod store;
mod translate;
mod writer;

use std::fmt;

pub use error::OffsetsError;
pub use log::{DecodedLog, TornTail, decode_log, encode_states};
pub use producer::ProducerMark;
pub use reconcile::{ReplaySkip, reconcile};
pub use state::{DEFAULT_MAX_HISTORY, MAX_HISTORY_LIMIT, Mapping, PartitionState};
pub use store::{FileStore, LOCK_FILE, LOG_FILE, OffsetStore};
pub use translate::{Translation, TranslationView, translate_committed};
pub use writer::OffsetsWriter;

/// One replicated partition: the flow (`"A->B"`), the source topic and the partition number
/// (the same on both sides).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub flow: String,
    pub topic: String,
    pub partition: i32,
}

impl PartitionKey {
    pub fn new(flow: impl Into<String>, topic: impl Into<String>, partition: i32) -> Self {
        Self {
            flow: flow.into(),
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.flow, self.topic, self.partition)
    }
}

/// What the engine logs for a partition, in source order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Before the first produce to a partition: where fetching starts on the source and the
    /// target partition's end offset at that moment (it may already hold data).
    Baseline { source_offset: i64, target_end: i64 },
    /// One source batch, acknowledged by the target.
    Forwarded {
        source_base: i64,
        source_next: i64,
        target_base: i64,
        record_count: i32,
    },
    /// Source offsets up to `source_next` produced nothing on the target (transaction
    /// markers, aborted data, empty batches).
    Skipped { source_next: i64 },
    /// Before the first produce with a new producer identity: which identity writes the
    /// partition's records from which target offset on (see [`ProducerMark`]).
    Producer(ProducerMark),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Baseline {
                source_offset,
                target_end,
            } => write!(
                f,
                "baseline at source offset {source_offset}, target end {target_end}"
            ),
            Self::Forwarded {
                source_base,
                source_next,
                target_base,
                record_count,
            } => write!(
                f,
                "batch of source offsets [{source_base}, {source_next}) with {record_count} records at target offset {target_base}"
            ),
            Self::Skipped { source_next } => write!(f, "skip to source offset {source_next}"),
            Self::Producer(mark) => write!(f, "{mark}"),
        }
    }
}
