//! kmirror: a Kafka replicator that forwards record batches byte for byte.
//!
//! Layers (each uses only those to its right; `config`, `metrics`, `error`, `secret` and
//! `security` are leaves; `config` builds the `security` settings that `net` acts on):
//!
//! ```text
//! cli ─► replication ─► cluster ─► net ─► protocol
//! ```
//!
//! - [`protocol`]: sans-IO framing, codecs, version negotiation, the record-batch view.
//! - [`net`]: one broker connection: transport, handshake, pipelined requests.
//! - [`cluster`]: bootstrap, metadata, connections per broker, leader routing, retries.
//!
//! See `docs/internals.md` for what "byte for byte" means and what is rewritten.

pub mod bench;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod metrics;
pub mod net;
pub mod observe;
pub mod offsets;
pub mod protocol;
pub mod replication;
pub mod secret;
pub mod security;
pub mod takeover;
#[cfg(feature = "testkit")]
pub mod testkit;
