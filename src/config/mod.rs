//! Configuration: the client settings every layer shares, and (with the replication engine)
//! the validated model of clusters and flows read from native TOML or an MM2 properties file.

mod client;

pub use client::ClientConfig;
