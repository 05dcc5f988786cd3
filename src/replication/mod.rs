//! Replication: flows, topic discovery, the fetch and produce loops, and the per-batch
//! decisions between them.

pub mod classify;
