use super::*;
use crate::offsets::DEFAULT_MAX_HISTORY;
use proptest::prelude::*;

fn key(partition: i32) -> PartitionKey {
    PartitionKey::new("A->B", "orders", partition)
}

fn sample_log() -> (Vec<u8>, Vec<usize>) {
    let mut out = header().to_vec();
    let mut starts = Vec::new();
    let entries = [
        (
            0,
            Entry::Baseline {
                source_offset: 0,
                target_end: 0,
            },
        ),
        (
            0,
            Entry::Forwarded {
                source_base: 0,
                source_next: 5,
                target_base: 0,
                record_count: 5,
            },
        ),
        (1, Entry::Skipped { source_next: 9 }),
        (
            0,
            Entry::Forwarded {
                source_base: 5,
                source_next: 12,
                target_base: 5,
                record_count: 3,
            },
        ),
    ];
    for (p, e) in entries {
        starts.push(out.len());
        put_entry(&mut out, &key(p), &e).unwrap();
    }
    (out, starts)
}

#[test]
fn entries_replay_into_states() {
    let (bytes, _) = sample_log();
    let log = decode_log(&bytes, DEFAULT_MAX_HISTORY).unwrap();
    assert_eq!(log.frames, 4);
    assert_eq!(log.valid_len, bytes.len());
    assert_eq!(log.torn, None);
    let p0 = &log.states[&key(0)];
    assert_eq!((p0.resume_offset, p0.target_next, p0.history.len()), (12, 8, 2));
    assert_eq!(log.states[&key(1)].resume_offset, 9);
}

#[test]
fn an_empty_or_cut_header_is_a_torn_empty_log() {
    for len in 0..HEADER_LEN {
        let log = decode_log(&header()[..len], 10).unwrap();
        assert!(log.states.is_empty());
        assert_eq!(log.valid_len, 0);
        assert_eq!(log.torn.map(|t| t.len), Some(len));
    }
    let log = decode_log(&header(), 10).unwrap();
    assert_eq!((log.valid_len, log.torn), (HEADER_LEN, None));
}

#[test]
fn a_foreign_file_or_version_is_refused() {
    let err = decode_log(b"{\"offsets\": []}", 10).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
    for version in [0u8, 3] {
        let mut bytes = header().to_vec();
        bytes[11] = version;
        let err = decode_log(&bytes, 10).unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "log format version {version}; this kmirror reads versions 1 to 2"
            )),
            "{err}"
        );
    }
}

fn mark(first_target_offset: i64) -> ProducerMark {
    ProducerMark {
        producer_id: 9001,
        producer_epoch: 3,
        first_sequence: 250,
        first_target_offset,
    }
}

#[test]
fn producer_marks_are_logged_and_survive_compaction() {
    let mut out = header().to_vec();
    let entries = [
        Entry::Baseline {
            source_offset: 0,
            target_end: 10,
        },
        Entry::Producer(mark(10)),
        Entry::Forwarded {
            source_base: 0,
            source_next: 5,
            target_base: 10,
            record_count: 5,
        },
        // A new identity taken where the target ended, with records to replay below it.
        Entry::Producer(mark(20)),
    ];
    for e in &entries {
        put_entry(&mut out, &key(0), e).unwrap();
    }
    let log = decode_log(&out, DEFAULT_MAX_HISTORY).unwrap();
    let state = &log.states[&key(0)];
    assert_eq!(state.producer, Some(mark(20)));
    assert_eq!(log.version, VERSION);
    // Compaction keeps the mark in the state record.
    let compacted = encode_states(&log.states).unwrap();
    let again = decode_log(&compacted, DEFAULT_MAX_HISTORY).unwrap();
    assert_eq!(again.states, log.states);
    // A mark behind the logged target end moves backwards.
    let mut bad = out.clone();
    put_entry(&mut bad, &key(0), &Entry::Producer(mark(12))).unwrap();
    let err = decode_log(&bad, DEFAULT_MAX_HISTORY).unwrap_err();
    assert!(err.to_string().contains("moves backwards"), "{err}");
    // A negative id is refused.
    let mut bad = out;
    let negative = ProducerMark {
        producer_id: -1,
        ..mark(30)
    };
    put_entry(&mut bad, &key(0), &Entry::Producer(negative)).unwrap();
    let err = decode_log(&bad, DEFAULT_MAX_HISTORY).unwrap_err();
    assert!(err.to_string().contains("producer id"), "{err}");
}

/// A log written by a version 1 kmirror: state records of tag 4 and entries, no marks.
#[test]
fn version_1_logs_are_read() {
    let mut out = header().to_vec();
    out[11] = 1;
    let state = PartitionState {
        resume_offset: 7,
        target_next: 3,
        history: [Mapping {
            source_base: 4,
            source_next: 7,
            target_base: 0,
            record_count: 3,
        }]
        .into(),
        producer: None,
    };
    put_frame(&mut out, &key(1), |buf| {
        put_key(buf, TAG_STATE_V1, &key(1));
        buf.put_i64(state.resume_offset);
        buf.put_i64(state.target_next);
        buf.put_u32(1);
        for v in [4, 7, 0, 3] {
            buf.put_i64(v);
        }
    })
    .unwrap();
    put_entry(&mut out, &key(1), &Entry::Skipped { source_next: 9 }).unwrap();
    let log = decode_log(&out, DEFAULT_MAX_HISTORY).unwrap();
    assert_eq!(log.version, 1);
    let expected = PartitionState {
        resume_offset: 9,
        ..state
    };
    assert_eq!(log.states[&key(1)], expected);
}

#[test]
fn a_state_with_a_bad_producer_flag_is_corrupt() {
    let mut states = BTreeMap::new();
    let _ = states.insert(
        key(0),
        PartitionState {
            producer: Some(mark(0)),
            ..PartitionState::default()
        },
    );
    let mut bytes = encode_states(&states).unwrap();
    // The flag sits before the 22 bytes of the mark at the end of the only frame; the CRC is
    // fixed up so that the decoder reaches it.
    let flag = bytes.len() - PRODUCER_LEN - 1;
    bytes[flag] = 2;
    let crc = crc32c::crc32c(&bytes[HEADER_LEN + FRAME_OVERHEAD..]);
    bytes[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&crc.to_be_bytes());
    let err = decode_log(&bytes, 10).unwrap_err();
    assert!(err.to_string().contains("producer flag is 2"), "{err}");
}

#[test]
fn every_cut_of_the_last_frame_is_a_torn_tail() {
    let (bytes, starts) = sample_log();
    let last = *starts.last().unwrap();
    let full = decode_log(&bytes[..last], 10).unwrap();
    for cut in last + 1..bytes.len() {
        let log = decode_log(&bytes[..cut], 10).unwrap();
        assert_eq!(log.valid_len, last);
        assert_eq!(
            log.torn.as_ref().map(|t| (t.position, t.len)),
            Some((last, cut - last))
        );
        assert_eq!(log.states, full.states);
    }
    // A wrong CRC in the last frame, and zeros after the log, are torn too.
    let mut bad = bytes.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(decode_log(&bad, 10).unwrap().valid_len, last);
    let mut zeros = bytes.clone();
    zeros.extend_from_slice(&[0; 4096]);
    let log = decode_log(&zeros, 10).unwrap();
    assert_eq!(log.valid_len, bytes.len());
    assert_eq!(log.frames, 4);
}

#[test]
fn a_bad_frame_before_a_good_one_is_corruption() {
    let (bytes, starts) = sample_log();
    // Damage the payload of the second frame, then its length.
    let mut bad = bytes.clone();
    bad[starts[1] + FRAME_OVERHEAD + 3] ^= 0x40;
    let err = decode_log(&bad, 10).unwrap_err();
    let OffsetsError::Corrupt { position, reason, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*position, starts[1] as u64);
    assert!(
        reason.contains(&format!("valid frame follows at byte {}", starts[2])),
        "{reason}"
    );

    let mut bad = bytes.clone();
    bad[starts[1]] = 0x7f;
    let err = decode_log(&bad, 10).unwrap_err();
    assert!(
        matches!(err, OffsetsError::Corrupt { position, .. } if position == starts[1] as u64),
        "{err}"
    );
}

#[test]
fn a_valid_frame_that_does_not_decode_or_apply_is_corruption() {
    let mut bytes = header().to_vec();
    put_frame(&mut bytes, &key(0), |b| b.extend_from_slice(&[9, 0, 0])).unwrap();
    let err = decode_log(&bytes, 10).unwrap_err();
    assert!(err.to_string().contains("unknown record type 9"), "{err}");

    let mut bytes = header().to_vec();
    put_entry(&mut bytes, &key(0), &Entry::Skipped { source_next: 10 }).unwrap();
    let second = bytes.len();
    put_entry(&mut bytes, &key(0), &Entry::Skipped { source_next: 4 }).unwrap();
    let err = decode_log(&bytes, 10).unwrap_err();
    assert!(
        matches!(&err, OffsetsError::Corrupt { position, reason, .. }
            if *position == second as u64 && reason.starts_with("A->B orders-0: skip to source offset 4 moves backwards")),
        "{err}"
    );
}

#[test]
fn names_longer_than_a_u16_length_are_refused() {
    let long = PartitionKey::new("A->B", "t".repeat(70_000), 0);
    let err = put_entry(&mut Vec::new(), &long, &Entry::Skipped { source_next: 1 }).unwrap_err();
    assert!(
        matches!(err, OffsetsError::NameTooLong { len: 70_000, .. }),
        "{err}"
    );
}

fn arb_state() -> impl Strategy<Value = PartitionState> {
    // Built through apply, so that it is a state a log can hold.
    proptest::collection::vec((0i64..4, 1i64..5, 0i64..3, 0i64..2), 0..12).prop_map(|steps| {
        let mut state = PartitionState::default();
        let (mut s, mut t) = (0i64, 0i64);
        for (skip, n, gap, target_gap) in steps {
            s += skip;
            t += target_gap;
            let entry = Entry::Forwarded {
                source_base: s,
                source_next: s + n + gap,
                target_base: t,
                record_count: n as i32,
            };
            state.apply(&entry, 8).unwrap();
            s += n + gap;
            t += n;
        }
        state
    })
}

proptest! {
    #[test]
    fn states_round_trip(
        states in proptest::collection::btree_map(
            ("[A-Z]->[A-Z]", "[a-z.é]{0,12}", -1i32..50).prop_map(|(f, t, p)| PartitionKey::new(f, t, p)),
            arb_state(),
            0..6,
        ),
    ) {
        let bytes = encode_states(&states).unwrap();
        let log = decode_log(&bytes, 8).unwrap();
        prop_assert_eq!(log.states, states.clone());
        prop_assert_eq!(log.valid_len, bytes.len());
        prop_assert_eq!(log.frames, states.len());
    }

    /// Byte flips in a real log, with every frame's CRC fixed up afterwards so that the
    /// flips reach the record decoder and the replay: the log decodes to states that
    /// round-trip, or fails with a position inside it.
    #[test]
    fn damaged_records_decode_or_fail_cleanly(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let (mut bytes, _) = sample_log();
        let mut with_state = header().to_vec();
        put_state(&mut with_state, &key(0), &decode_log(&bytes, 8).unwrap().states[&key(0)]).unwrap();
        bytes.extend_from_slice(&with_state[HEADER_LEN..]);
        for (at, xor) in flips {
            let i = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
            bytes[i] ^= xor;
        }
        let mut pos = HEADER_LEN;
        while let Some(head) = bytes.get(pos..pos + FRAME_OVERHEAD) {
            let len = (&head[..4]).get_u32() as usize;
            let Some(end) = (pos + FRAME_OVERHEAD).checked_add(len).filter(|e| *e <= bytes.len()) else {
                break;
            };
            let crc = crc32c::crc32c(&bytes[pos + FRAME_OVERHEAD..end]);
            bytes[pos + 4..pos + FRAME_OVERHEAD].copy_from_slice(&crc.to_be_bytes());
            pos = end;
        }
        match decode_log(&bytes, 8) {
            Ok(log) => {
                let again = decode_log(&encode_states(&log.states).unwrap(), 8).unwrap();
                prop_assert_eq!(again.states, log.states);
            }
            Err(OffsetsError::Corrupt { position, .. }) => prop_assert!(position < bytes.len() as u64),
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut bytes = header().to_vec();
        bytes.extend_from_slice(&tail);
        if let Ok(log) = decode_log(&bytes, 4) {
            prop_assert!(log.valid_len <= bytes.len());
        }
    }
}
