//! The offset store: the trait the engine writes to, and the embedded file store.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::log::{self, decode_log, encode_states};
use super::state::{DEFAULT_MAX_HISTORY, MAX_HISTORY_LIMIT};
use super::{Entry, OffsetsError, PartitionKey, PartitionState};

/// The log inside a state directory.
pub const LOG_FILE: &str = "offsets.log";
/// The file a running kmirror holds an exclusive lock on; it names the holder's pid.
pub const LOCK_FILE: &str = "LOCK";
const TMP_FILE: &str = "offsets.log.tmp";

/// Compaction is due once the log is past this size and past `COMPACT_RATIO` times the size
/// the last compaction wrote.
const COMPACT_MIN_BYTES: u64 = 1 << 20;
const COMPACT_RATIO: u64 = 4;

/// Where the engine keeps offsets. Entries go in per partition in source order, and only for
/// data the target acknowledged.
pub trait OffsetStore: Send + std::fmt::Debug {
    /// The state of every partition the store knows.
    fn load(&mut self) -> Result<BTreeMap<PartitionKey, PartitionState>, OffsetsError>;
    /// Buffers one entry. An entry that does not apply to the partition's state (see
    /// [`PartitionState::apply`]) is refused and not stored.
    fn append(&mut self, key: &PartitionKey, entry: &Entry) -> Result<(), OffsetsError>;
    /// Makes everything appended so far durable (written and fsynced) before it returns;
    /// compacts when due.
    fn sync(&mut self) -> Result<(), OffsetsError>;
}

/// The embedded store: an append-only, CRC-framed log in a state directory, compacted when
/// it grows well past the live state. One kmirror process per directory (an exclusive lock on
/// `LOCK`). Entries appended but not yet synced are lost when the store is dropped, as in a
/// crash; restart reconciliation covers both.
pub struct FileStore {
    dir: PathBuf,
    path: PathBuf,
    /// Held, never read: closing it releases the lock.
    _lock: File,
    max_history: usize,
    compact_min_bytes: u64,
    compact_ratio: u64,
    /// Read on first use, so that `with_max_history` applies to what is read.
    log: Option<OpenLog>,
    /// Set when the file may no longer match what the store believes is durable.
    failed: Option<String>,
}

struct OpenLog {
    file: File,
    states: BTreeMap<PartitionKey, PartitionState>,
    /// Frames appended since the last sync.
    pending: Vec<u8>,
    /// Bytes of the file that hold synced frames; pending frames are written from here.
    len: u64,
    compacted_len: u64,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("FileStore");
        d.field("path", &self.path)
            .field("max_history", &self.max_history);
        if let Some(log) = &self.log {
            d.field("partitions", &log.states.len())
                .field("len", &log.len)
                .field("pending", &log.pending.len());
        }
        d.field("failed", &self.failed).finish_non_exhaustive()
    }
}

/// What failed during a compaction, and whether the log file had been replaced by then.
struct CompactionError {
    replaced: bool,
    error: OffsetsError,
}

impl FileStore {
    /// Creates the state directory if needed and locks it. The log is read on the first
    /// `load`, `append` or `sync`.
    pub fn open(state_dir: &Path) -> Result<Self, OffsetsError> {
        fs::create_dir_all(state_dir)
            .map_err(|e| OffsetsError::io(state_dir, "creating the state directory", e))?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| OffsetsError::io(&lock_path, "opening the lock file", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OffsetsError::Locked {
                    path: state_dir.to_owned(),
                    holder: holder(&lock),
                });
            }
            Err(TryLockError::Error(e)) => return Err(OffsetsError::io(&lock_path, "locking", e)),
        }
        // Only for the message a second process prints.
        let pid = format!("pid {}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| (&lock).write_all(pid.as_bytes()))
            .map_err(|e| OffsetsError::io(&lock_path, "writing the lock file", e))?;
        Ok(Self {
            dir: state_dir.to_owned(),
            path: state_dir.join(LOG_FILE),
            _lock: lock,
            max_history: DEFAULT_MAX_HISTORY,
            compact_min_bytes: COMPACT_MIN_BYTES,
            compact_ratio: COMPACT_RATIO,
            log: None,
            failed: None,
        })
    }

    /// Bounds each partition's history (default [`DEFAULT_MAX_HISTORY`], clamped to
    /// `1..=MAX_HISTORY_LIMIT`).
    pub fn with_max_history(mut self, n: usize) -> Self {
        self.max_history = n.clamp(1, MAX_HISTORY_LIMIT);
        if let Some(log) = &mut self.log {
            for state in log.states.values_mut() {
                state.trim(self.max_history);
            }
        }
        self
    }

    /// Compacts once the log is past `min_bytes` and past `ratio` times the size the last
    /// compaction wrote (defaults: 1 MiB and 4).
    pub fn with_compaction(mut self, min_bytes: u64, ratio: u64) -> Self {
        self.compact_min_bytes = min_bytes;
        self.compact_ratio = ratio.max(1);
        self
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs, then rewrites the log as one state record per partition, whether or not it is
    /// due (a shutdown may want a small log).
    pub fn compact(&mut self) -> Result<(), OffsetsError> {
        self.sync_pending()?;
        self.compact_now().map_err(|e| e.error)
    }

    fn check_usable(&self) -> Result<(), OffsetsError> {
        match &self.failed {
            Some(reason) => Err(OffsetsError::Unusable {
                path: self.path.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&mut self, error: OffsetsError) -> OffsetsError {
        self.failed = Some(error.to_string());
        error
    }

    fn open_log(&mut self) -> Result<&mut OpenLog, OffsetsError> {
        if self.log.is_none() {
            let log = self.read_log()?;
            self.log = Some(log);
        }
        // Set just above.
        self.log.as_mut().ok_or_else(|| OffsetsError::Unusable {
            path: self.path.clone(),
            reason: "the log is not open".to_owned(),
        })
    }

    fn read_log(&self) -> Result<OpenLog, OffsetsError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.replace_log(&log::header()).map_err(|e| e.error)?;
                log::header().to_vec()
            }
            Err(e) => return Err(OffsetsError::io(&self.path, "reading", e)),
        };
        let decoded = decode_log(&bytes, self.max_history).map_err(|e| e.in_file(&self.path))?;
        let mut len = decoded.valid_len as u64;
        if decoded.version != 0 && decoded.version < log::VERSION {
            // Frames of the current version must not be appended under an older header: the
            // states are rewritten in the current format first (a torn tail goes with it).
            let current = encode_states(&decoded.states)?;
            self.replace_log(&current).map_err(|e| e.error)?;
            tracing::info!(
                path = %self.path.display(),
                from = decoded.version,
                to = log::VERSION,
                "offsets log: rewritten in the current format"
            );
            len = current.len() as u64;
        } else if let Some(torn) = &decoded.torn {
            tracing::warn!(
                path = %self.path.display(),
                position = torn.position,
                bytes = torn.len,
                reason = %torn.reason,
                "offsets log: truncating the torn tail an interrupted write left"
            );
            if decoded.valid_len == 0 {
                self.replace_log(&log::header()).map_err(|e| e.error)?;
                len = log::HEADER_LEN as u64;
            } else {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| OffsetsError::io(&self.path, "opening", e))?;
                file.set_len(len)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| OffsetsError::io(&self.path, "truncating the torn tail", e))?;
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| OffsetsError::io(&self.path, "opening", e))?;
        let compacted_len = encode_states(&decoded.states)?.len() as u64;
        Ok(OpenLog {
            file,
            states: decoded.states,
            pending: Vec::new(),
            len,
            compacted_len,
        })
    }

    /// Writes `bytes` as the new log: a temporary file, fsynced, renamed over the log, and
    /// the directory fsynced. A crash at any point leaves the old log or the new one.
    fn replace_log(&self, bytes: &[u8]) -> Result<File, CompactionError> {
        let tmp = self.dir.join(TMP_FILE);
        let before = |action, e| CompactionError {
            replaced: false,
            error: OffsetsError::io(&tmp, action, e),
        };
        let mut file = File::create(&tmp).map_err(|e| before("creating", e))?;
        if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
            let _ = fs::remove_file(&tmp);
            return Err(before("writing", e));
        }
        drop(file);
        if let Err(e) = fs::rename(&tmp, &self.path) {
            let _ = fs::remove_file(&tmp);
            return Err(before("renaming over the log", e));
        }
        let after = |path: &Path, action, e| CompactionError {
            replaced: true,
            error: OffsetsError::io(path, action, e),
        };
        sync_dir(&self.dir).map_err(|e| after(&self.dir, "syncing the directory", e))?;
        OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| after(&self.path, "opening", e))
    }

    /// Writes and fsyncs the pending frames.
    fn sync_pending(&mut self) -> Result<(), OffsetsError> {
        self.check_usable()?;
        let path = self.path.clone();
        let log = self.open_log()?;
        if log.pending.is_empty() {
            return Ok(());
        }
        // Written at the end of the synced frames, not appended: after a failed write the
        // next attempt overwrites whatever part of it reached the file.
        log.file
            .seek(SeekFrom::Start(log.len))
            .and_then(|_| log.file.write_all(&log.pending))
            .map_err(|e| OffsetsError::io(&path, "writing", e))?;
        if let Err(e) = log.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages and a retry
            // could report success for data that is gone.
            let error = OffsetsError::io(&path, "syncing", e);
            return Err(self.fail(error));
        }
        log.len += log.pending.len() as u64;
        log.pending.clear();
        Ok(())
    }

    fn compact_now(&mut self) -> Result<(), CompactionError> {
        let Some(log) = &self.log else { return Ok(()) };
        let bytes = encode_states(&log.states).map_err(|error| CompactionError {
            replaced: false,
            error,
        })?;
        match self.replace_log(&bytes) {
            Ok(file) => {
                if let Some(log) = &mut self.log {
                    // The states include every appended entry: nothing is left to write.
                    log.pending.clear();
                    log.file = file;
                    log.len = bytes.len() as u64;
                    log.compacted_len = bytes.len() as u64;
                }
                tracing::debug!(path = %self.path.display(), bytes = bytes.len(), "offsets log compacted");
                Ok(())
            }
            Err(e) if e.replaced => {
                // The open file is no longer the log: appending to it would lose entries.
                let error = self.fail(e.error);
                Err(CompactionError {
                    replaced: true,
                    error,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn compaction_due(&self) -> bool {
        self.log.as_ref().is_some_and(|log| {
            log.len > self.compact_min_bytes && log.len > log.compacted_len.saturating_mul(self.compact_ratio)
        })
    }
}

impl OffsetStore for FileStore {
    fn load(&mut self) -> Result<BTreeMap<PartitionKey, PartitionState>, OffsetsError> {
        self.check_usable()?;
        Ok(self.open_log()?.states.clone())
    }

    fn append(&mut self, key: &PartitionKey, entry: &Entry) -> Result<(), OffsetsError> {
        self.check_usable()?;
        let max_history = self.max_history;
        let log = self.open_log()?;
        let mark = log.pending.len();
        log::put_entry(&mut log.pending, key, entry)?;
        let applied = match log.states.get_mut(key) {
            Some(state) => state.apply(entry, max_history),
            None => {
                let mut state = PartitionState::default();
                let applied = state.apply(entry, max_history);
                if applied.is_ok() {
                    log.states.insert(key.clone(), state);
                }
                applied
            }
        };
        applied.map_err(|e| {
            log.pending.truncate(mark);
            e.with_key(key)
        })
    }

    fn sync(&mut self) -> Result<(), OffsetsError> {
        self.sync_pending()?;
        if self.compaction_due() {
            match self.compact_now() {
                Ok(()) => {}
                Err(e) if e.replaced => return Err(e.error),
                Err(e) => {
                    // Everything is durable in the current log, which stays in use; try again
                    // after it has grown as much once more.
                    tracing::warn!(path = %self.path.display(), error = %e.error, "offsets log compaction failed");
                    if let Some(log) = &mut self.log {
                        log.compacted_len = log.len;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Who holds the lock, as its lock file says (best effort, for the error message).
fn holder(lock: &File) -> Option<String> {
    let mut text = String::new();
    let _ = lock.take(64).read_to_string(&mut text).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Other platforms cannot open a directory as a file; their renames are durable with
        // the file's own metadata.
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
