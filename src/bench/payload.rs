//! Realistic record batches for the synthetic source: JSON-like events of a chosen size (keys
//! `user-NNNNN`, a few repeated field names and words, random ids), so that codecs compress
//! them about as much as real application events (lz4 roughly 2-3x), not 100x like zeros.

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::protocol::batch::{Compression, RecordBatch};
use crate::protocol::records::{BatchSpec, Record, RecordsError, encode_batch};

const EVENTS: &[&str] = &["page_view", "click", "add_to_cart", "checkout", "login", "search"];
const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
    "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
];

/// One JSON-like event of exactly `size` bytes (at least the fixed fields' length).
fn event(rng: &mut StdRng, id: u64, size: usize, timestamp: i64) -> Vec<u8> {
    let mut s = format!(
        r#"{{"id":{id},"user":"user-{:05}","event":"{}","ts":{timestamp},"session":"{:016x}","tags":["#,
        rng.random_range(0..100_000u32),
        EVENTS[rng.random_range(0..EVENTS.len())],
        rng.random::<u64>(),
    );
    let tail = "]}";
    while s.len() + tail.len() < size {
        let word = if rng.random_bool(0.3) {
            format!("\"{:x}\",", rng.random::<u32>())
        } else {
            format!("\"{}\",", WORDS[rng.random_range(0..WORDS.len())])
        };
        s.push_str(&word);
    }
    let mut bytes = s.into_bytes();
    bytes.truncate(size.saturating_sub(tail.len()));
    bytes.extend_from_slice(tail.as_bytes());
    bytes
}

/// A batch of `records` events of `record_size` bytes, base offset 0, CreateTime timestamps
/// one millisecond apart from `base_timestamp`, no producer id (as a non-idempotent source
/// producer writes it).
pub(crate) fn batch(
    record_size: usize,
    records: usize,
    compression: Compression,
    base_timestamp: i64,
    seed: u64,
) -> Result<RecordBatch, RecordsError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let records: Vec<Record> = (0..records)
        .map(|i| {
            let value = event(
                &mut rng,
                seed.wrapping_add(i as u64),
                record_size,
                base_timestamp + i as i64,
            );
            Record {
                timestamp_delta: i as i64,
                offset_delta: i as i32,
                key: Some(Bytes::from(value[..value.len().min(24)].to_vec())),
                value: Some(Bytes::from(value)),
                ..Record::default()
            }
        })
        .collect();
    let spec = BatchSpec {
        compression,
        base_timestamp,
        max_timestamp: base_timestamp + records.len().saturating_sub(1) as i64,
        ..BatchSpec::default()
    };
    let bytes = encode_batch(&spec, &records)?;
    RecordBatch::try_from_bytes(bytes).map_err(|e| RecordsError::Codec {
        action: "framing",
        codec: compression,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_asked_size_and_compress_moderately() {
        let mut rng = StdRng::seed_from_u64(1);
        for size in [64, 1024, 4096] {
            assert_eq!(event(&mut rng, 7, size, 0).len(), size);
        }
        let plain = batch(1024, 32, Compression::None, 1_700_000_000_000, 1).unwrap();
        let lz4 = batch(1024, 32, Compression::Lz4, 1_700_000_000_000, 1).unwrap();
        assert_eq!(lz4.record_count(), 32);
        assert!(lz4.verify_crc().is_ok());
        let ratio = plain.len() as f64 / lz4.len() as f64;
        assert!((1.3..10.0).contains(&ratio), "lz4 ratio {ratio}");
    }
}
