//! Test kit (feature `testkit`): an in-process fake broker for what a real broker cannot
//! produce on demand (error codes, disconnects, slow or missing responses, transactional
//! and compacted data), and helpers to build batches.

pub mod batches;
pub mod certs;
pub mod fake_broker;
pub mod fuzz;
pub mod fuzz_groups;
pub mod fuzz_keystore;
pub mod fuzz_oauth;
pub mod fuzz_security;
pub mod fuzz_timestamps;
pub mod keytool;
pub mod sasl_gate;
pub mod scram_server;
pub mod tls_relay;

pub use fake_broker::{FakeBroker, Fault};
