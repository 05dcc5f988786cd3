//! One broker connection: the transport (TCP or TLS, [`transport::open`]), the ApiVersions
//! handshake, SASL authentication, and a pipelined request/response multiplexer.
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
pub mod http;
pub mod oauth;
mod pipeline;
mod sasl;
pub mod scram;
mod throttle;
mod tls;
pub mod transport;

pub use connection::{Connection, PendingResponse};
pub use error::ConnectionError;
