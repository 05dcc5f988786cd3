//! The bytes of the offsets log: encoding frames and decoding a whole log, without I/O (the
//! format is described in the module docs of [`crate::offsets`]).

use std::collections::{BTreeMap, VecDeque};

use bytes::{Buf, BufMut};

use super::{Entry, Mapping, OffsetsError, PartitionKey, PartitionState};

pub(super) const MAGIC: [u8; 8] = *b"KMOFFLOG";
pub(super) const VERSION: u32 = 1;
pub(super) const HEADER_LEN: usize = MAGIC.len() + 4;
/// Length and CRC in front of every payload.
const FRAME_OVERHEAD: usize = 8;

const TAG_BASELINE: u8 = 1;
const TAG_FORWARDED: u8 = 2;
const TAG_SKIPPED: u8 = 3;
const TAG_STATE: u8 = 4;

/// Bytes of one mapping in a state record.
const MAPPING_LEN: usize = 32;

/// A log read back: the state of every partition it mentions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedLog {
    pub states: BTreeMap<PartitionKey, PartitionState>,
    /// Bytes of the header and the valid frames; a torn tail starts here.
    pub valid_len: usize,
    /// Frames read, entries and state records alike.
    pub frames: usize,
    /// What a crash during a write left at the end, to be truncated.
    pub torn: Option<TornTail>,
}

/// The end of a log that holds no complete, valid frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub position: usize,
    pub len: usize,
    pub reason: String,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Payload {
    Entry(PartitionKey, Entry),
    State(PartitionKey, PartitionState),
}

// === encoding ===

pub(super) fn header() -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..MAGIC.len()].copy_from_slice(&MAGIC);
    h[MAGIC.len()..].copy_from_slice(&VERSION.to_be_bytes());
    h
}

fn put_name(buf: &mut Vec<u8>, name: &str) {
    // Checked by `check_key`.
    buf.put_u16(name.len() as u16);
    buf.put_slice(name.as_bytes());
}

fn check_key(key: &PartitionKey) -> Result<(), OffsetsError> {
    let len = key.flow.len().max(key.topic.len());
    let max = usize::from(u16::MAX);
    if len > max {
        return Err(OffsetsError::NameTooLong {
            key: Some(key.clone()),
            len,
            max,
        });
    }
    Ok(())
}

/// Appends one frame, its payload written by `payload`.
fn put_frame(
    out: &mut Vec<u8>,
    key: &PartitionKey,
    payload: impl FnOnce(&mut Vec<u8>),
) -> Result<(), OffsetsError> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_OVERHEAD]);
    payload(out);
    let body = &out[start + FRAME_OVERHEAD..];
    let Ok(len) = u32::try_from(body.len()) else {
        let len = body.len();
        out.truncate(start);
        return Err(OffsetsError::RecordTooLarge {
            key: Some(key.clone()),
            len,
        });
    };
    let crc = crc32c::crc32c(body);
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn put_key(buf: &mut Vec<u8>, tag: u8, key: &PartitionKey) {
    buf.put_u8(tag);
    put_name(buf, &key.flow);
    put_name(buf, &key.topic);
    buf.put_i32(key.partition);
}

/// Appends the frame of one entry.
pub(super) fn put_entry(out: &mut Vec<u8>, key: &PartitionKey, entry: &Entry) -> Result<(), OffsetsError> {
    check_key(key)?;
    put_frame(out, key, |buf| match *entry {
        Entry::Baseline {
            source_offset,
            target_end,
        } => {
            put_key(buf, TAG_BASELINE, key);
            buf.put_i64(source_offset);
            buf.put_i64(target_end);
        }
        Entry::Forwarded {
            source_base,
            source_next,
            target_base,
            record_count,
        } => {
            put_key(buf, TAG_FORWARDED, key);
            buf.put_i64(source_base);
            buf.put_i64(source_next);
            buf.put_i64(target_base);
            buf.put_i32(record_count);
        }
        Entry::Skipped { source_next } => {
            put_key(buf, TAG_SKIPPED, key);
            buf.put_i64(source_next);
        }
    })
}

/// Appends the state record of one partition.
pub(super) fn put_state(
    out: &mut Vec<u8>,
    key: &PartitionKey,
    state: &PartitionState,
) -> Result<(), OffsetsError> {
    check_key(key)?;
    put_frame(out, key, |buf| {
        put_key(buf, TAG_STATE, key);
        buf.put_i64(state.resume_offset);
        buf.put_i64(state.target_next);
        // A history of u32::MAX mappings or more would not fit in the frame either, which
        // `put_frame` refuses.
        buf.put_u32(u32::try_from(state.history.len()).unwrap_or(u32::MAX));
        for m in &state.history {
            buf.put_i64(m.source_base);
            buf.put_i64(m.source_next);
            buf.put_i64(m.target_base);
            buf.put_i64(m.record_count);
        }
    })
}

/// A complete log holding one state record per partition: what compaction writes.
pub fn encode_states(states: &BTreeMap<PartitionKey, PartitionState>) -> Result<Vec<u8>, OffsetsError> {
    let mut out = header().to_vec();
    for (key, state) in states {
        put_state(&mut out, key, state)?;
    }
    Ok(out)
}

// === decoding ===

/// Why a frame at some position is not a valid frame.
fn frame_at(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), String> {
    let rest = &bytes[pos..];
    let Some((mut head, body)) = rest.split_at_checked(FRAME_OVERHEAD) else {
        return Err(format!(
            "a frame header cut short ({} of {FRAME_OVERHEAD} bytes)",
            rest.len()
        ));
    };
    let len = head.get_u32() as usize;
    let stored = head.get_u32();
    if len == 0 {
        return Err("a frame of length 0".to_owned());
    }
    let Some(payload) = body.get(..len) else {
        return Err(format!(
            "a frame of {len} bytes cut short ({} bytes left)",
            body.len()
        ));
    };
    let computed = crc32c::crc32c(payload);
    if computed != stored {
        return Err(format!(
            "a frame of {len} bytes fails its CRC-32C check (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Ok((payload, pos + FRAME_OVERHEAD + len))
}

/// The first position after `from` where a valid frame starts, if any: what tells a torn
/// tail from a damaged frame in the middle of the log.
fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(FRAME_OVERHEAD)).find(|&p| {
        // The tag check keeps the CRC pass off most positions.
        let tag = bytes.get(p + FRAME_OVERHEAD).copied();
        matches!(tag, Some(TAG_BASELINE..=TAG_STATE)) && frame_at(bytes, p).is_ok()
    })
}

fn get_name(buf: &mut &[u8], what: &str) -> Result<String, String> {
    if buf.remaining() < 2 {
        return Err(format!("the record ends inside the {what} name length"));
    }
    let len = usize::from(buf.get_u16());
    let Some((name, rest)) = buf.split_at_checked(len) else {
        return Err(format!("the {what} name ({len} bytes) runs past the record"));
    };
    let name = std::str::from_utf8(name).map_err(|e| format!("the {what} name is not UTF-8: {e}"))?;
    *buf = rest;
    Ok(name.to_owned())
}

fn need(buf: &[u8], n: usize, what: &str) -> Result<(), String> {
    if buf.len() < n {
        Err(format!("the record ends inside the {what}"))
    } else {
        Ok(())
    }
}

fn decode_payload(mut buf: &[u8]) -> Result<Payload, String> {
    let buf = &mut buf;
    let tag = buf.get_u8();
    if !(TAG_BASELINE..=TAG_STATE).contains(&tag) {
        return Err(format!("unknown record type {tag}"));
    }
    let flow = get_name(buf, "flow")?;
    let topic = get_name(buf, "topic")?;
    need(buf, 4, "partition")?;
    let key = PartitionKey {
        flow,
        topic,
        partition: buf.get_i32(),
    };
    let payload = match tag {
        TAG_BASELINE => {
            need(buf, 16, "baseline")?;
            Payload::Entry(
                key,
                Entry::Baseline {
                    source_offset: buf.get_i64(),
                    target_end: buf.get_i64(),
                },
            )
        }
        TAG_FORWARDED => {
            need(buf, 28, "forwarded batch")?;
            Payload::Entry(
                key,
                Entry::Forwarded {
                    source_base: buf.get_i64(),
                    source_next: buf.get_i64(),
                    target_base: buf.get_i64(),
                    record_count: buf.get_i32(),
                },
            )
        }
        TAG_SKIPPED => {
            need(buf, 8, "skip")?;
            Payload::Entry(
                key,
                Entry::Skipped {
                    source_next: buf.get_i64(),
                },
            )
        }
        _ => {
            need(buf, 20, "state")?;
            let resume_offset = buf.get_i64();
            let target_next = buf.get_i64();
            let count = buf.get_u32() as usize;
            if buf.len() / MAPPING_LEN < count {
                return Err(format!("a state of {count} mappings runs past the record"));
            }
            let history = (0..count)
                .map(|_| Mapping {
                    source_base: buf.get_i64(),
                    source_next: buf.get_i64(),
                    target_base: buf.get_i64(),
                    record_count: buf.get_i64(),
                })
                .collect::<VecDeque<_>>();
            let state = PartitionState {
                resume_offset,
                target_next,
                history,
            };
            state.check().map_err(|e| format!("state record: {e}"))?;
            Payload::State(key, state)
        }
    };
    if !buf.is_empty() {
        return Err(format!("{} bytes left after the record", buf.len()));
    }
    Ok(payload)
}

/// Decodes a whole log and replays it. `max_history` bounds each partition's history as in
/// [`PartitionState::apply`].
///
/// A torn tail (a last frame cut short or failing its CRC, with no valid frame after it) is
/// reported in [`DecodedLog::torn`], not as an error; so is a header cut short, which leaves
/// an empty log. Everything else that does not decode or apply is [`OffsetsError::Corrupt`],
/// with the byte position of the first bad frame.
pub fn decode_log(bytes: &[u8], max_history: usize) -> Result<DecodedLog, OffsetsError> {
    let corrupt = |position: usize, reason: String| OffsetsError::Corrupt {
        path: None,
        position: position as u64,
        reason,
    };
    let header = header();
    let mut log = DecodedLog::default();
    if bytes.len() < HEADER_LEN {
        if header.starts_with(bytes) {
            log.torn = Some(TornTail {
                position: 0,
                len: bytes.len(),
                reason: format!("the header is cut short ({} of {HEADER_LEN} bytes)", bytes.len()),
            });
            return Ok(log);
        }
        return Err(corrupt(0, "not a kmirror offsets log (bad magic)".to_owned()));
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt(0, "not a kmirror offsets log (bad magic)".to_owned()));
    }
    let version = (&bytes[MAGIC.len()..HEADER_LEN]).get_u32();
    if version != VERSION {
        return Err(corrupt(
            MAGIC.len(),
            format!("log format version {version}; this kmirror reads version {VERSION}"),
        ));
    }
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let (payload, end) = match frame_at(bytes, pos) {
            Ok(frame) => frame,
            Err(reason) => {
                if let Some(next) = next_valid_frame(bytes, pos + 1) {
                    return Err(corrupt(
                        pos,
                        format!("{reason}, and a valid frame follows at byte {next}"),
                    ));
                }
                log.torn = Some(TornTail {
                    position: pos,
                    len: bytes.len() - pos,
                    reason,
                });
                break;
            }
        };
        match decode_payload(payload).map_err(|reason| corrupt(pos, reason))? {
            Payload::Entry(key, entry) => {
                let state = log.states.entry(key.clone()).or_default();
                state
                    .apply(&entry, max_history)
                    .map_err(|e| corrupt(pos, e.with_key(&key).to_string()))?;
            }
            Payload::State(key, mut state) => {
                state.trim(max_history);
                let _ = log.states.insert(key, state);
            }
        }
        log.frames += 1;
        pos = end;
    }
    log.valid_len = pos;
    Ok(log)
}

#[cfg(test)]
mod tests {
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
        let mut bytes = header().to_vec();
        bytes[11] = 2;
        let err = decode_log(&bytes, 10).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
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
}
