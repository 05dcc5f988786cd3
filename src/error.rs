//! What errors at the top have in common: which side of a flow they concern, so that an
//! operator knows which cluster to look at. Module errors (`ConnectionError`, `ClusterError`,
//! `ReplicationError`, ...) carry the detail.

/// Which end of a replication flow an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Target => "target",
        })
    }
}
