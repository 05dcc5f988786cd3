//! The bytes of the offsets log: encoding frames and decoding a whole log, without I/O (the
//! format is described in the module docs of [`crate::offsets`]).

use std::collections::{BTreeMap, VecDeque};

use bytes::{Buf, BufMut};

use super::{Entry, Mapping, OffsetsError, PartitionKey, PartitionState, ProducerMark};

pub(super) const MAGIC: [u8; 8] = *b"KMOFFLOG";
/// The version written. Version 1 (before producer marks) is read too.
pub(super) const VERSION: u32 = 2;
const OLDEST_VERSION: u32 = 1;
pub(super) const HEADER_LEN: usize = MAGIC.len() + 4;
/// Length and CRC in front of every payload.
const FRAME_OVERHEAD: usize = 8;

const TAG_BASELINE: u8 = 1;
const TAG_FORWARDED: u8 = 2;
const TAG_SKIPPED: u8 = 3;
const TAG_STATE_V1: u8 = 4;
const TAG_PRODUCER: u8 = 5;
const TAG_STATE: u8 = 6;

/// Bytes of one mapping in a state record.
const MAPPING_LEN: usize = 32;
/// Bytes of a producer mark.
const PRODUCER_LEN: usize = 22;

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
    /// The format version of the header (0 when the log holds no complete header).
    pub version: u32,
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
        Entry::Producer(mark) => {
            put_key(buf, TAG_PRODUCER, key);
            put_mark(buf, &mark);
        }
    })
}

fn put_mark(buf: &mut Vec<u8>, mark: &ProducerMark) {
    buf.put_i64(mark.producer_id);
    buf.put_i16(mark.producer_epoch);
    buf.put_i32(mark.first_sequence);
    buf.put_i64(mark.first_target_offset);
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
        match &state.producer {
            None => buf.put_u8(0),
            Some(mark) => {
                buf.put_u8(1);
                put_mark(buf, mark);
            }
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

fn get_mark(buf: &mut &[u8]) -> ProducerMark {
    ProducerMark {
        producer_id: buf.get_i64(),
        producer_epoch: buf.get_i16(),
        first_sequence: buf.get_i32(),
        first_target_offset: buf.get_i64(),
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
        TAG_PRODUCER => {
            need(buf, PRODUCER_LEN, "producer mark")?;
            Payload::Entry(key, Entry::Producer(get_mark(buf)))
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
            let producer = if tag == TAG_STATE_V1 {
                None
            } else {
                need(buf, 1, "state's producer flag")?;
                match buf.get_u8() {
                    0 => None,
                    1 => {
                        need(buf, PRODUCER_LEN, "state's producer mark")?;
                        Some(get_mark(buf))
                    }
                    flag => return Err(format!("a state's producer flag is {flag}, not 0 or 1")),
                }
            };
            let state = PartitionState {
                resume_offset,
                target_next,
                history,
                producer,
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
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
        return Err(corrupt(
            MAGIC.len(),
            format!(
                "log format version {version}; this kmirror reads versions {OLDEST_VERSION} to {VERSION}"
            ),
        ));
    }
    log.version = version;
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
mod tests;
