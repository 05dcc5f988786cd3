//! Replication: flows, topic discovery, the fetch and produce loops, and the per-batch
//! decisions between them.
//!
//! ```text
//!  source broker ─► Fetcher (one per source broker, one multi-partition Fetch in flight)
//!                      │ raw batches, slices of the response
//!                      ▼
//!  PartitionTask (one per source partition): classify ─► renumber/trim ─► rewrite
//!                      │ up to 5 batches in flight, byte budget shared by the process
//!                      ▼
//!  Producer (one per target broker, one batch per partition per request, several requests
//!            in flight) ─► target broker
//!                      │ acks, in order
//!                      ▼
//!  offsets writer: exact (source, target) entries, durable every flush interval
//! ```

mod budget;
pub mod classify;
mod context;
pub mod engine;
mod error;
mod failure;
mod fetcher;
mod partition;
mod positions;
mod produce_queue;
mod producer;
mod progress;
mod recovery;
pub mod sync;
pub mod topic_configs;
mod topic_identity;
pub mod topics;

pub use error::ReplicationError;
