use std::path::PathBuf;

use thiserror::Error;

use super::{Entry, PartitionKey};

/// Why an offsets operation failed. Entry and reconciliation errors name the partition once
/// a caller that knows it has attached it ([`OffsetsError::with_key`]); the store does so
/// itself.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OffsetsError {
    #[error("offsets store {}: {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("offsets log{}: corrupt at byte {position}: {reason}", in_file(path.as_ref()))]
    Corrupt {
        /// `None` when the bytes did not come from a file ([`super::decode_log`]).
        path: Option<PathBuf>,
        position: u64,
        reason: String,
    },
    #[error("offsets store {} is in use by another kmirror process{holder}; one process per state directory",
        path.display(),
        holder = holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Locked { path: PathBuf, holder: Option<String> },
    #[error("offsets store {}: refusing to write after an earlier failure ({reason}); restart to recover from the log",
        path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error("{}{entry} moves backwards: the log is at source offset {resume_offset} and target offset {target_next}",
        prefix(key.as_ref()))]
    Backwards {
        key: Option<PartitionKey>,
        entry: Entry,
        resume_offset: i64,
        target_next: i64,
    },
    #[error("{}invalid {entry}: {reason}", prefix(key.as_ref()))]
    InvalidEntry {
        key: Option<PartitionKey>,
        entry: Entry,
        reason: &'static str,
    },
    #[error("{}the flow or topic name is {len} bytes long; the offsets log allows at most {max}",
        prefix(key.as_ref()))]
    NameTooLong {
        key: Option<PartitionKey>,
        len: usize,
        max: usize,
    },
    #[error("{}a record of {len} bytes does not fit in an offsets log frame", prefix(key.as_ref()))]
    RecordTooLarge { key: Option<PartitionKey>, len: usize },
    #[error("{}the target partition ends at offset {actual}, before offset {logged} where the offsets log says kmirror's last batch ended: \
        the target partition lost data or was recreated; refusing to resend (move or delete the state of this partition to start over)",
        prefix(key.as_ref()))]
    TargetBehind {
        key: Option<PartitionKey>,
        logged: i64,
        actual: i64,
    },
    #[error("{}replaying after a restart: a batch of {record_count} records at target offset {target_base} only partly fits in the \
        {remaining} records the target holds beyond the offsets log; the target holds data this flow did not write",
        prefix(key.as_ref()))]
    PartialBatch {
        key: Option<PartitionKey>,
        target_base: i64,
        record_count: i32,
        remaining: i64,
    },
    #[error("{}replaying after a restart: a forwardable batch must hold at least one record, got {record_count}",
        prefix(key.as_ref()))]
    EmptyReplayBatch {
        key: Option<PartitionKey>,
        record_count: i32,
    },
    #[error("offsets writer: {message}")]
    WriterFailed { message: String },
}

fn prefix(key: Option<&PartitionKey>) -> String {
    key.map(|k| format!("{k}: ")).unwrap_or_default()
}

fn in_file(path: Option<&PathBuf>) -> String {
    path.map(|p| format!(" {}", p.display())).unwrap_or_default()
}

impl OffsetsError {
    /// Names the partition in an entry or reconciliation error that does not name one yet.
    pub fn with_key(mut self, partition: &PartitionKey) -> Self {
        match &mut self {
            Self::Backwards { key, .. }
            | Self::InvalidEntry { key, .. }
            | Self::NameTooLong { key, .. }
            | Self::RecordTooLarge { key, .. }
            | Self::TargetBehind { key, .. }
            | Self::PartialBatch { key, .. }
            | Self::EmptyReplayBatch { key, .. } => {
                if key.is_none() {
                    *key = Some(partition.clone());
                }
            }
            Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::Locked { .. }
            | Self::Unusable { .. }
            | Self::WriterFailed { .. } => {}
        }
        self
    }

    /// Names the file in a corruption error from bytes decoded without one.
    pub fn in_file(mut self, file: &std::path::Path) -> Self {
        if let Self::Corrupt {
            path: path @ None, ..
        } = &mut self
        {
            *path = Some(file.to_owned());
        }
        self
    }

    pub(super) fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
