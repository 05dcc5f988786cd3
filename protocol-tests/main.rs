#![allow(unreachable_pub, reason = "helpers are pub inside the private test modules")]

//! kmirror's protocol tests: one integration-test binary.
//!
//! - `client`, `codecs`, `rewrite`: kmirror's client against Apache Kafka (nodes started by
//!   `support::kafka`) and against librdkafka's own batches, results checked with
//!   confluent-kafka (librdkafka 2.16).
//! - `replication`, `mm2_topics`, `bench`, `observe`, `kafka_security`, `security_e2e`:
//!   `kmirror run`, `bench` and the metrics endpoint between Apache Kafka brokers.
//! - `fake_broker`: faults a real broker cannot produce on demand (silence, garbage,
//!   disconnects, error codes) and the produce validation rules.
//! - `fuzz_corpus`: replays the fuzz seeds and regressions on stable Rust.

mod bench;
mod client;
mod codecs;
mod fake_broker;
mod fuzz_corpus;
mod groups;
mod kafka_security;
mod memory_budget;
mod mm2_internal;
mod mm2_topics;
mod observe;
mod replication;
mod replication_faults;
mod rewrite;
mod security;
mod security_e2e;
mod support;
