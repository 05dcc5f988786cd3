//! Where each partition resumes: the offset store as the engine hands it to the offsets
//! writer, remembering the resume position of every entry the store accepts.
//!
//! When a partition stops for good, the operator needs the source offset it stopped at, which
//! is where it resumes once the cause is fixed and kmirror restarted. A produce refusal names
//! no source offset (the target knows only its own), but the entries logged before it end
//! exactly at the refused batch: the position after them is that offset.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::offsets::{Entry, OffsetStore, OffsetsError, PartitionKey, PartitionState};

/// The resume position of every partition, as the store last accepted it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Positions(Arc<Mutex<HashMap<PartitionKey, i64>>>);

impl Positions {
    /// The first source offset of `key` not replicated yet, if the store knows the partition.
    pub(crate) fn resume_offset(&self, key: &PartitionKey) -> Option<i64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }

    fn set(&self, key: &PartitionKey, offset: i64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(key) {
            Some(o) => *o = offset,
            None => {
                let _ = map.insert(key.clone(), offset);
            }
        }
    }
}

/// The position after an entry; `None` for an entry that does not move it.
fn resume_after(entry: &Entry) -> Option<i64> {
    match *entry {
        Entry::Baseline { source_offset, .. } => Some(source_offset),
        Entry::Forwarded { source_next, .. } | Entry::Skipped { source_next } => Some(source_next),
        Entry::Producer(_) => None,
    }
}

/// An offset store that also keeps [`Positions`] up to date.
#[derive(Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    positions: Positions,
}

impl<S: OffsetStore> Tracked<S> {
    pub(crate) fn new(inner: S) -> (Self, Positions) {
        let positions = Positions::default();
        (
            Self {
                inner,
                positions: positions.clone(),
            },
            positions,
        )
    }
}

impl<S: OffsetStore> OffsetStore for Tracked<S> {
    fn load(&mut self) -> Result<BTreeMap<PartitionKey, PartitionState>, OffsetsError> {
        let states = self.inner.load()?;
        for (key, state) in &states {
            self.positions.set(key, state.resume_offset);
        }
        Ok(states)
    }

    fn append(&mut self, key: &PartitionKey, entry: &Entry) -> Result<(), OffsetsError> {
        self.inner.append(key, entry)?;
        if let Some(offset) = resume_after(entry) {
            self.positions.set(key, offset);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), OffsetsError> {
        self.inner.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::FileStore;

    #[test]
    fn positions_follow_what_the_store_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let key = PartitionKey::new("a->b", "t", 0);
        {
            let (mut store, positions) = Tracked::new(FileStore::open(dir.path()).unwrap());
            assert!(store.load().unwrap().is_empty());
            assert_eq!(positions.resume_offset(&key), None);
            let baseline = Entry::Baseline {
                source_offset: 5,
                target_end: 0,
            };
            store.append(&key, &baseline).unwrap();
            assert_eq!(positions.resume_offset(&key), Some(5));
            let batch = Entry::Forwarded {
                source_base: 5,
                source_next: 9,
                target_base: 0,
                record_count: 4,
            };
            store.append(&key, &batch).unwrap();
            store.append(&key, &Entry::Skipped { source_next: 12 }).unwrap();
            assert_eq!(positions.resume_offset(&key), Some(12));
            // Refused (it moves backwards): the position stays.
            assert!(store.append(&key, &batch).is_err());
            assert_eq!(positions.resume_offset(&key), Some(12));
            store.sync().unwrap();
        }
        let (mut store, positions) = Tracked::new(FileStore::open(dir.path()).unwrap());
        let _ = store.load().unwrap();
        assert_eq!(positions.resume_offset(&key), Some(12), "seeded from the log");
    }
}
