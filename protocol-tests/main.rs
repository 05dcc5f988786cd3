#![allow(unreachable_pub, reason = "helpers are pub inside the private test modules")]

//! kmirror's protocol tests: one integration-test binary.
//!
//! - `tansu_client`, `codecs`, `rewrite`: kmirror's client against a real Kafka-compatible
//!   broker (tansu 0.6.0 on sqlite storage) and against librdkafka's own batches, results
//!   checked with confluent-kafka (librdkafka 2.16).
//! - `fake_broker`: faults a real broker cannot produce on demand (silence, garbage,
//!   disconnects, error codes) and the produce validation rules.
//! - `fuzz_corpus`: replays the fuzz seeds and regressions on stable Rust.

mod bench;
mod codecs;
mod fake_broker;
mod fuzz_corpus;
mod groups;
mod kafka_compaction;
mod kafka_compat;
mod kafka_large_batches;
mod kafka_limits;
mod kafka_security;
mod kafka_transactions;
mod memory_budget;
mod mm2_internal;
mod mm2_topics;
mod observe;
mod replicated_target;
mod replication;
mod replication_faults;
mod rewrite;
mod security;
mod security_e2e;
mod support;
mod tansu_client;
mod timestamps;
