#![allow(unreachable_pub, reason = "helpers are pub inside the private test modules")]

//! kmirror's protocol tests: one integration-test binary.
//!
//! - `client`, `codecs`, `rewrite`: kmirror's client against Apache Kafka (nodes started by
//!   `support::kafka`) and against librdkafka's own batches, results checked with
//!   confluent-kafka (librdkafka 2.16).
//! - `replication`, `replicated_target`, `groups`, `mm2_topics`, `bench`, `observe`,
//!   `timestamps`, `kafka_*`, `security_e2e`, `topic_acl_sync`: `kmirror run`, `bench` and the metrics endpoint
//!   between Apache Kafka brokers (single nodes, a three-node cluster, 3.9 and 4.3).
//! - `fake_broker`, `replication_faults`, `security`, `memory_budget`, `mm2_internal`: faults a
//!   real broker cannot produce on demand (silence, garbage, disconnects, exact error codes,
//!   forged SCRAM signatures) and the produce validation rules.
//! - `fuzz_corpus`: replays the fuzz seeds and regressions on stable Rust.

mod bench;
mod client;
mod codecs;
mod fake_broker;
mod faults;
mod fuzz_corpus;
mod groups;
mod kafka_compaction;
mod kafka_compat;
mod kafka_large_batches;
mod kafka_limits;
mod kafka_security;
mod kafka_transactions;
mod keystores_e2e;
mod memory_budget;
mod mm2_internal;
mod mm2_side_by_side;
mod mm2_topics;
mod oauth_e2e;
mod observe;
mod replicated_target;
mod replication;
mod replication_faults;
mod rewrite;
mod security;
mod security_e2e;
mod support;
mod timestamps;
mod topic_acl_sync;
