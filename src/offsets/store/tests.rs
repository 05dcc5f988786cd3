use super::*;
use crate::offsets::Mapping;

fn key(partition: i32) -> PartitionKey {
    PartitionKey::new("A->B", "orders", partition)
}

fn forwarded(source_base: i64, source_next: i64, target_base: i64, record_count: i32) -> Entry {
    Entry::Forwarded {
        source_base,
        source_next,
        target_base,
        record_count,
    }
}

/// Entries for two partitions, and the states they give.
fn sample() -> (Vec<(PartitionKey, Entry)>, BTreeMap<PartitionKey, PartitionState>) {
    let entries = vec![
        (
            key(0),
            Entry::Baseline {
                source_offset: 100,
                target_end: 7,
            },
        ),
        (
            key(1),
            Entry::Baseline {
                source_offset: 0,
                target_end: 0,
            },
        ),
        (key(0), forwarded(100, 110, 7, 10)),
        (key(1), forwarded(0, 9, 0, 4)),
        (key(0), Entry::Skipped { source_next: 111 }),
        (key(1), forwarded(9, 12, 4, 3)),
        (key(0), forwarded(111, 115, 17, 4)),
    ];
    let mut states = BTreeMap::<PartitionKey, PartitionState>::new();
    for (k, e) in &entries {
        states
            .entry(k.clone())
            .or_default()
            .apply(e, DEFAULT_MAX_HISTORY)
            .unwrap();
    }
    (entries, states)
}

fn write_sample(dir: &Path) -> BTreeMap<PartitionKey, PartitionState> {
    let (entries, states) = sample();
    let mut store = FileStore::open(dir).unwrap();
    assert!(store.load().unwrap().is_empty());
    for (k, e) in &entries {
        store.append(k, e).unwrap();
    }
    store.sync().unwrap();
    states
}

#[test]
fn states_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let states = write_sample(dir.path());
    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), states);
    assert_eq!(store.load().unwrap()[&key(0)].translate(112), Some(18));
}

#[test]
fn appends_not_synced_are_gone_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let states = write_sample(dir.path());
    let mut store = FileStore::open(dir.path()).unwrap();
    store.append(&key(0), &forwarded(115, 120, 21, 5)).unwrap();
    assert_eq!(store.load().unwrap()[&key(0)].resume_offset, 120);
    drop(store);
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), states);
}

#[test]
fn an_entry_that_does_not_apply_is_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let states = write_sample(dir.path());
    let mut store = FileStore::open(dir.path()).unwrap();
    let err = store.append(&key(0), &forwarded(105, 120, 21, 5)).unwrap_err();
    assert!(err.to_string().starts_with("A->B orders-0: "), "{err}");
    // A refused first entry does not create the partition either.
    let err = store
        .append(
            &key(9),
            &Entry::Baseline {
                source_offset: -3,
                target_end: 0,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, OffsetsError::InvalidEntry { key: Some(_), .. }),
        "{err}"
    );
    store.append(&key(0), &forwarded(115, 120, 21, 5)).unwrap();
    store.sync().unwrap();
    drop(store);
    let mut expected = states;
    expected
        .get_mut(&key(0))
        .unwrap()
        .apply(&forwarded(115, 120, 21, 5), DEFAULT_MAX_HISTORY)
        .unwrap();
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), expected);
}

#[test]
fn a_torn_tail_is_truncated_and_the_log_stays_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let states = write_sample(dir.path());
    let path = dir.path().join(LOG_FILE);
    let good_len = fs::metadata(&path).unwrap().len();
    // What a crash in the middle of writing one more frame leaves.
    let mut frame = Vec::new();
    log::put_entry(&mut frame, &key(0), &forwarded(115, 118, 21, 3)).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&frame[..frame.len() - 5]).unwrap();
    drop(file);

    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), states);
    assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
    store.append(&key(0), &forwarded(115, 118, 21, 3)).unwrap();
    store.sync().unwrap();
    drop(store);
    let loaded = FileStore::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded[&key(0)].resume_offset, 118);
}

#[test]
fn corruption_in_the_middle_is_refused_naming_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    write_sample(dir.path());
    let path = dir.path().join(LOG_FILE);
    let mut bytes = fs::read(&path).unwrap();
    let at = log::HEADER_LEN + 30;
    bytes[at] ^= 0x01;
    fs::write(&path, &bytes).unwrap();

    let err = FileStore::open(dir.path()).unwrap().load().unwrap_err();
    let OffsetsError::Corrupt {
        path: Some(p),
        position,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(p, &path);
    assert_eq!(*position, log::HEADER_LEN as u64);
    let text = err.to_string();
    assert!(
        text.contains("offsets.log") && text.contains(&format!("byte {}", log::HEADER_LEN)),
        "{text}"
    );
    // Nothing was truncated.
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_file_that_is_not_an_offsets_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(LOG_FILE), b"resume=42\n").unwrap();
    let err = FileStore::open(dir.path()).unwrap().load().unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
}

#[test]
fn an_empty_log_file_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(LOG_FILE), b"").unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    assert!(store.load().unwrap().is_empty());
    store.append(&key(0), &Entry::Skipped { source_next: 3 }).unwrap();
    store.sync().unwrap();
    drop(store);
    assert_eq!(
        FileStore::open(dir.path()).unwrap().load().unwrap()[&key(0)].resume_offset,
        3
    );
}

#[test]
fn compaction_keeps_the_states_and_shrinks_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE);
    let mut store = FileStore::open(dir.path()).unwrap();
    // Gapped batches do not merge; partition 1 merges into one mapping.
    for i in 0..200 {
        store
            .append(&key(0), &forwarded(i * 3, i * 3 + 3, i * 2, 2))
            .unwrap();
        store
            .append(&key(1), &forwarded(i * 2, i * 2 + 2, i * 2, 2))
            .unwrap();
    }
    store.sync().unwrap();
    let before = store.load().unwrap();
    let len_before = fs::metadata(&path).unwrap().len();
    store.compact().unwrap();
    assert!(fs::metadata(&path).unwrap().len() < len_before);
    assert!(!dir.path().join(TMP_FILE).exists());
    assert_eq!(store.load().unwrap(), before);
    // The store keeps appending to the new file.
    store.append(&key(1), &forwarded(400, 401, 400, 1)).unwrap();
    store.sync().unwrap();
    let after = store.load().unwrap();
    drop(store);
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), after);
    assert_eq!(after[&key(1)].history.len(), 1);
    assert_eq!(after[&key(0)].history.len(), 200);
}

#[test]
fn sync_compacts_when_the_log_outgrows_the_live_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOG_FILE);
    let mut store = FileStore::open(dir.path()).unwrap().with_compaction(2048, 4);
    let mut largest = 0;
    for i in 0..1000 {
        store.append(&key(0), &forwarded(i, i + 1, i, 1)).unwrap();
        store.sync().unwrap();
        largest = largest.max(fs::metadata(&path).unwrap().len());
    }
    // One merged mapping: the live state is one small record.
    assert!(largest < 4096, "the log reached {largest} bytes");
    let states = store.load().unwrap();
    assert_eq!(
        Vec::from(states[&key(0)].history.clone()),
        vec![Mapping {
            source_base: 0,
            source_next: 1000,
            target_base: 0,
            record_count: 1000
        }]
    );
    drop(store);
    assert_eq!(FileStore::open(dir.path()).unwrap().load().unwrap(), states);
}

#[test]
fn the_history_bound_applies_to_what_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path()).unwrap();
    for i in 0..20 {
        store.append(&key(0), &forwarded(i * 3, i * 3 + 3, i, 1)).unwrap();
    }
    store.compact().unwrap();
    for i in 20..30 {
        store.append(&key(0), &forwarded(i * 3, i * 3 + 3, i, 1)).unwrap();
    }
    store.sync().unwrap();
    drop(store);
    let mut store = FileStore::open(dir.path()).unwrap().with_max_history(5);
    let state = &store.load().unwrap()[&key(0)];
    assert_eq!(state.history.len(), 5);
    assert_eq!(state.history[0].source_base, 75);
    assert_eq!(state.resume_offset, 90);
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path()).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(&err, OffsetsError::Locked { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("another kmirror process") && text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    drop(first);
    FileStore::open(dir.path()).unwrap();
}

#[test]
fn open_creates_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("state/offsets");
    let mut store = FileStore::open(&nested).unwrap();
    store.sync().unwrap();
    assert!(nested.join(LOG_FILE).is_file());
    assert_eq!(fs::read(nested.join(LOG_FILE)).unwrap(), log::header());
}

/// A log of the previous format is rewritten in the current one when the store opens it, so
/// that frames of the current format never follow an older header; its states are kept.
#[test]
fn a_version_1_log_is_rewritten_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let states = write_sample(dir.path());
    let path = dir.path().join(LOG_FILE);
    let mut bytes = fs::read(&path).unwrap();
    // The sample holds only tags 1 to 3, the same in both versions.
    bytes[11] = 1;
    fs::write(&path, &bytes).unwrap();

    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.load().unwrap(), states);
    let mark = crate::offsets::ProducerMark {
        producer_id: 12,
        producer_epoch: 0,
        first_sequence: 0,
        first_target_offset: 40,
    };
    store.append(&key(1), &Entry::Producer(mark)).unwrap();
    store.sync().unwrap();
    drop(store);

    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes[11], 2, "the header says version 2");
    let mut store = FileStore::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded[&key(1)].producer, Some(mark));
    assert_eq!(loaded[&key(0)], states[&key(0)]);
}
