//! One broker connection: the transport (TCP now; TLS and SASL slot in at
//! [`transport::open`] and before the handshake), the ApiVersions handshake, and a pipelined
//! request/response multiplexer.
//!
//! ```text
//!  request() ──encode──► writer task ──► socket ──► reader task ──frame──► oneshot ──decode──► caller
//!              correlation id ──────── pending map ─────────────────┘
//! ```
//!
//! Decoding happens in the caller's task, not the reader's, so one connection's reader only
//! splits frames and routes them by correlation id.

mod connection;
mod error;
mod pipeline;
pub mod transport;

pub use connection::{Connection, PendingResponse};
pub use error::ConnectionError;
