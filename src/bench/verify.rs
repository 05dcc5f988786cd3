//! The end-to-end verifier: what the source was sent against what the target holds.
//!
//! Every record the e2e harness produces has a key `k<N>` and a value
//! `<sequence>:<send time in µs since the epoch>:<padding>`, sequences counting from 0 per key.
//! Records of one key go to one partition, so on the target they must appear exactly once
//! each and in sequence order. A run passes only with no record lost, none duplicated, none
//! out of order and nothing unexpected, whatever its throughput.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::latency::Histogram;

/// The key of record stream `n`.
pub fn key(n: u64) -> String {
    format!("k{n}")
}

/// The value of sequence `seq` sent at `sent_micros`, padded to at least `size` bytes.
pub fn value(seq: u64, sent_micros: i64, size: usize) -> Vec<u8> {
    let mut v = format!("{seq}:{sent_micros}:").into_bytes();
    v.resize(v.len().max(size), b'x');
    v
}

/// Sequence and send time of a value written by [`value`].
pub fn parse_value(value: &[u8]) -> Option<(u64, i64)> {
    let mut parts = value.splitn(3, |b| *b == b':');
    let seq = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let sent = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    parts.next()?;
    Some((seq, sent))
}

/// One record read from the target, in the order of its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// When it was read, µs since the epoch.
    pub received_micros: i64,
}

/// What the verifier found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Records that came after a later sequence of the same key.
    pub reordered: u64,
    /// Records with a key or sequence the harness never sent, or an unreadable value.
    pub unexpected: u64,
    /// Read time minus send time, per record.
    pub latency: Histogram,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.reordered == 0 && self.unexpected == 0
    }
}

#[derive(Debug, Default)]
struct KeyState {
    seen: Vec<bool>,
    highest: Option<u64>,
}

/// Checks the records read from the target. `sent` is the number of records sent per key
/// (index = key number); `partitions` holds each target partition's records in offset order.
pub fn verify(sent: &[u64], partitions: &[Vec<Received>]) -> Verdict {
    let mut keys: BTreeMap<u64, KeyState> = BTreeMap::new();
    let mut v = Verdict {
        sent: sent.iter().sum(),
        ..Verdict::default()
    };
    for record in partitions.iter().flatten() {
        v.received += 1;
        let parsed = (|| {
            let key = std::str::from_utf8(record.key.as_deref()?).ok()?;
            let n: u64 = key.strip_prefix('k')?.parse().ok()?;
            let (seq, sent_at) = parse_value(record.value.as_deref()?)?;
            let total = *sent.get(usize::try_from(n).ok()?)?;
            (seq < total).then_some((n, seq, total, sent_at))
        })();
        let Some((n, seq, total, sent_at)) = parsed else {
            v.unexpected += 1;
            continue;
        };
        let state = keys.entry(n).or_default();
        if state.seen.is_empty() {
            state.seen = vec![false; usize::try_from(total).unwrap_or(0)];
        }
        let slot = &mut state.seen[seq as usize];
        if *slot {
            v.duplicates += 1;
            continue;
        }
        *slot = true;
        if state.highest.is_some_and(|h| seq < h) {
            v.reordered += 1;
        }
        state.highest = state.highest.max(Some(seq));
        v.latency.record(Duration::from_micros(
            u64::try_from(record.received_micros.saturating_sub(sent_at)).unwrap_or(0),
        ));
    }
    let distinct: u64 = keys
        .values()
        .map(|k| k.seen.iter().filter(|s| **s).count() as u64)
        .sum();
    v.lost = v.sent - distinct.min(v.sent);
    v
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |q: f64| {
            self.latency
                .quantile(q)
                .map_or_else(|| "-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        };
        writeln!(
            f,
            "  records            {} sent, {} read back from the target",
            self.sent, self.received
        )?;
        writeln!(
            f,
            "  end-to-end latency p50 {} p90 {} p99 {} max {}",
            ms(0.5),
            ms(0.9),
            ms(0.99),
            self.latency
                .max()
                .map_or_else(|| "-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
        )?;
        writeln!(
            f,
            "  lost {}, duplicated {}, out of order {}, unexpected {}",
            self.lost, self.duplicates, self.reordered, self.unexpected
        )?;
        write!(
            f,
            "  result             {}",
            if self.passed() { "PASSED" } else { "FAILED" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: u64, seq: u64) -> Received {
        Received {
            key: Some(super::key(key).into_bytes()),
            value: Some(value(seq, 1_000, 16)),
            received_micros: 3_000,
        }
    }

    /// Two keys on two partitions, three records each, delivered perfectly.
    fn perfect() -> Vec<Vec<Received>> {
        vec![
            (0..3).map(|s| rec(0, s)).collect(),
            (0..3).map(|s| rec(1, s)).collect(),
        ]
    }

    #[test]
    fn a_perfect_run_passes_with_latencies() {
        let v = verify(&[3, 3], &perfect());
        assert!(v.passed(), "{v}");
        assert_eq!((v.sent, v.received), (6, 6));
        assert_eq!(v.latency.count(), 6);
        assert_eq!(v.latency.quantile(0.5), Some(Duration::from_micros(1_984)));
    }

    #[test]
    fn detects_an_injected_loss() {
        let mut p = perfect();
        let _ = p[1].remove(1);
        let v = verify(&[3, 3], &p);
        assert!(!v.passed());
        assert_eq!((v.lost, v.duplicates, v.reordered, v.unexpected), (1, 0, 0, 0));
    }

    #[test]
    fn detects_an_injected_duplicate() {
        let mut p = perfect();
        p[0].insert(2, rec(0, 1));
        let v = verify(&[3, 3], &p);
        assert!(!v.passed());
        assert_eq!((v.lost, v.duplicates, v.reordered, v.unexpected), (0, 1, 0, 0));
    }

    #[test]
    fn detects_an_injected_reorder() {
        let mut p = perfect();
        p[0].swap(0, 2);
        let v = verify(&[3, 3], &p);
        assert!(!v.passed());
        // 2, 1, 0: both 1 and 0 come after a later sequence.
        assert_eq!((v.lost, v.duplicates, v.reordered, v.unexpected), (0, 0, 2, 0));
    }

    #[test]
    fn detects_strangers_and_tolerates_garbage() {
        let mut p = perfect();
        p[0].push(rec(7, 0));
        p[0].push(rec(0, 3));
        p[1].push(Received {
            key: None,
            value: Some(b"\xff:1".to_vec()),
            received_micros: 0,
        });
        let v = verify(&[3, 3], &p);
        assert!(!v.passed());
        assert_eq!(v.unexpected, 3);
        assert_eq!(v.lost, 0);
    }

    #[test]
    fn values_round_trip() {
        let v = value(42, 1_700_000_000_123_456, 64);
        assert_eq!(v.len(), 64);
        assert_eq!(parse_value(&v), Some((42, 1_700_000_000_123_456)));
        assert_eq!(parse_value(b"1:2"), None);
        assert_eq!(parse_value(b"x:2:"), None);
    }
}
