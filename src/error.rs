//! The error a kmirror operation reports at the top: which side failed and why. Module
//! errors (`ConnectionError`, `ClusterError`, `BatchError`, ...) carry the detail; this type
//! adds the side so that an operator knows which cluster to look at.

use thiserror::Error;

use crate::cluster::ClusterError;
use crate::protocol::batch::BatchError;

/// Which end of a replication flow an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
    Local,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Target => "target",
            Self::Local => "local",
        })
    }
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{side}: {source}")]
    Cluster {
        side: Side,
        #[source]
        source: ClusterError,
    },
    #[error("{side}: {topic}-{partition}: {source}")]
    Batch {
        side: Side,
        topic: String,
        partition: i32,
        #[source]
        source: BatchError,
    },
}

impl Error {
    pub fn side(&self) -> Side {
        match self {
            Self::Cluster { side, .. } | Self::Batch { side, .. } => *side,
        }
    }
}
