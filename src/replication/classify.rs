//! The per-batch decision: what the fetch loop does with each batch of a fetch response.
//!
//! Pure: a batch header (and, for transaction markers, the 4-byte key of their one record), the
//! offset the fetch asked for, and the read_committed filter of the partition in; an
//! [`Action`] out. The rules, in order:
//!
//! 1. every batch with a producer id goes through the [`AbortedFilter`] first, whatever else
//!    happens to it, so that the set of aborted producers stays right;
//! 2. a batch whose last offset is below the fetch offset is skipped;
//! 3. a control batch (transaction marker) is never forwarded;
//! 4. a transactional data batch of an aborted producer is dropped;
//! 5. an empty batch (kept by the log cleaner for producer state) is dropped: brokers refuse
//!    empty batches;
//! 6. a batch with offset gaps (compaction) goes through the renumber path;
//! 7. anything else is forwarded as it is. A batch that straddles the fetch offset is forwarded
//!    whole; the caller counts the records it repeats.
//!
//! Every skipped batch still advances the next fetch offset to its `next_offset()`.

use std::cmp::Reverse;
use std::collections::HashSet;

use crate::cluster::partition::AbortedTransaction;
use crate::protocol::batch::{BatchKind, Compression, FetchPosition, HEADER_LEN, RecordBatch};

/// What to do with one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forward the batch as it is (after the producer-identity rewrite).
    Forward,
    /// Forward the batch after renumbering its offsets (`protocol::renumber`).
    Renumber,
    /// Do not forward; advance past it.
    Skip(SkipReason),
}

impl Action {
    /// The metric label (`kmirror_batches_total{action}`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Forward => "forwarded",
            Self::Renumber => "renumbered",
            Self::Skip(reason) => reason.label(),
        }
    }
}

/// Why a batch is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Every record is below the offset the fetch asked for.
    BeforeFetchOffset,
    /// A transaction marker.
    Control,
    /// Data of an aborted transaction (read_committed).
    Aborted,
    /// No records left.
    Empty,
}

impl SkipReason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::BeforeFetchOffset => "before_fetch_offset",
            Self::Control => "control",
            Self::Aborted => "aborted",
            Self::Empty => "empty",
        }
    }
}

/// Control record type of an ABORT marker. The key of a control record is a version (i16) and
/// a type (i16), 0 for ABORT and 1 for COMMIT
/// (`apache/kafka: clients/src/main/java/org/apache/kafka/common/record/ControlRecordType.java`).
const CONTROL_TYPE_ABORT: i16 = 0;

/// The read_committed filter for one partition of one fetch response.
///
/// This is the algorithm of Kafka's Java consumer
/// (`apache/kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/CompletedFetch.java`,
/// `nextFetchedRecord`), which librdkafka follows too. Only batches with a producer id take
/// part. For each such batch, in log order:
///
/// 1. every aborted transaction whose first offset is at or below the batch's last offset
///    moves its producer into the set of aborted producers;
/// 2. an ABORT marker (a control batch whose first record's key has type 0) removes its
///    producer from the set: that transaction is over;
/// 3. a transactional data batch whose producer is in the set is aborted.
#[derive(Debug, Clone)]
pub struct AbortedFilter {
    /// Aborted transactions not reached yet, by first offset, the lowest last.
    pending: Vec<AbortedTransaction>,
    /// Producers inside an aborted transaction whose marker has not been seen.
    producers: HashSet<i64>,
}

impl AbortedFilter {
    /// A filter over the aborted transactions a fetch response lists for one partition (in any
    /// order; an empty list for read_uncommitted fetches, which then aborts nothing).
    pub fn new(aborted: &[AbortedTransaction]) -> Self {
        let mut pending = aborted.to_vec();
        pending.sort_by_key(|t| Reverse(t.first_offset));
        Self {
            pending,
            producers: HashSet::new(),
        }
    }

    /// Feeds one batch through the filter; true when it is aborted transactional data.
    fn observe(&mut self, batch: &RecordBatch) -> bool {
        let producer_id = batch.producer_id();
        if producer_id < 0 {
            return false;
        }
        let last_offset = batch.last_offset();
        while let Some(t) = self.pending.pop_if(|t| t.first_offset <= last_offset) {
            self.producers.insert(t.producer_id);
        }
        if batch.is_control() {
            if control_type(batch) == Some(CONTROL_TYPE_ABORT) {
                self.producers.remove(&producer_id);
            }
            false
        } else {
            batch.is_transactional() && self.producers.contains(&producer_id)
        }
    }
}

/// Decides what happens to one batch of a fetch response. Call it on every batch of the
/// response, in order, with the same filter.
pub fn classify(batch: &RecordBatch, fetch_offset: i64, aborted: &mut AbortedFilter) -> Action {
    let is_aborted = aborted.observe(batch);
    if batch.position(fetch_offset) == FetchPosition::Before {
        return Action::Skip(SkipReason::BeforeFetchOffset);
    }
    match batch.kind() {
        BatchKind::Control => Action::Skip(SkipReason::Control),
        _ if is_aborted => Action::Skip(SkipReason::Aborted),
        BatchKind::Empty => Action::Skip(SkipReason::Empty),
        BatchKind::Gapped => Action::Renumber,
        BatchKind::Data => Action::Forward,
    }
}

/// Bounds-checked reads over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    /// A zig-zag varint of at most 10 bytes.
    fn varint(&mut self) -> Option<i64> {
        let mut z: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self.take(1)?.first()?;
            if shift == 63 && b > 1 {
                return None;
            }
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        None
    }
}

/// The type in the key of the first record of a control batch, when it can be read without
/// decompressing: brokers write transaction markers uncompressed
/// (`apache/kafka: clients/src/main/java/org/apache/kafka/common/record/MemoryRecords.java`,
/// `withEndTransactionMarker`). `None` for a compressed batch, no record, a key shorter than
/// 4 bytes or a negative key version (which Kafka's consumer treats as corruption).
fn control_type(batch: &RecordBatch) -> Option<i16> {
    if batch.compression() != Compression::None || batch.record_count() < 1 {
        return None;
    }
    let mut records = Reader(batch.as_bytes().get(HEADER_LEN..)?);
    let length = usize::try_from(records.varint()?).ok()?;
    let mut record = Reader(records.take(length)?);
    record.take(1)?; // attributes
    record.varint()?; // timestampDelta
    record.varint()?; // offsetDelta
    let key_length = usize::try_from(record.varint()?).ok()?;
    let key = record.take(key_length)?;
    let [v0, v1, t0, t1, ..] = *key else {
        return None;
    };
    (i16::from_be_bytes([v0, v1]) >= 0).then(|| i16::from_be_bytes([t0, t1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::batch::{CONTROL_BIT, TRANSACTIONAL_BIT};
    use crate::protocol::records::{BatchSpec, Record, encode_batch};
    use bytes::Bytes;
    use proptest::prelude::*;

    const ABORT: i16 = 0;
    const COMMIT: i16 = 1;

    /// A batch as a test describes it.
    #[derive(Debug, Clone, Copy)]
    struct Desc {
        base: i64,
        count: i32,
        /// Added to `count - 1` for the last offset delta: > 0 makes a gapped batch.
        gap: i32,
        producer_id: i64,
        transactional: bool,
        /// A control batch whose record key has this type.
        marker: Option<i16>,
        compression: Compression,
    }

    impl Desc {
        fn last(&self) -> i64 {
            self.base + i64::from((self.count - 1).max(0) + self.gap)
        }
        fn next(&self) -> i64 {
            self.last() + 1
        }
    }

    fn data(base: i64, count: i32) -> Desc {
        Desc {
            base,
            count,
            gap: 0,
            producer_id: -1,
            transactional: false,
            marker: None,
            compression: Compression::None,
        }
    }

    fn txn(base: i64, count: i32, producer_id: i64) -> Desc {
        Desc {
            producer_id,
            transactional: true,
            ..data(base, count)
        }
    }

    fn marker(base: i64, producer_id: i64, kind: i16) -> Desc {
        Desc {
            marker: Some(kind),
            ..txn(base, 1, producer_id)
        }
    }

    fn build_with_key(d: &Desc, key: Option<Bytes>) -> RecordBatch {
        let mut attributes = 0;
        if d.transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        let records: Vec<Record> = if d.marker.is_some() {
            vec![Record {
                key,
                // EndTransactionMarker value: version i16, coordinator epoch i32.
                value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 5])),
                ..Record::default()
            }]
        } else {
            (0..d.count)
                .map(|i| Record {
                    offset_delta: if i == d.count - 1 { i + d.gap } else { i },
                    value: Some(Bytes::from(format!("v{i}"))),
                    ..Record::default()
                })
                .collect()
        };
        if d.marker.is_some() {
            attributes |= CONTROL_BIT;
        }
        let spec = BatchSpec {
            base_offset: d.base,
            attributes,
            compression: d.compression,
            producer_id: d.producer_id,
            producer_epoch: if d.producer_id >= 0 { 0 } else { -1 },
            base_sequence: if d.producer_id >= 0 { 0 } else { -1 },
            last_offset_delta: Some((d.count - 1).max(0) + d.gap),
            ..BatchSpec::default()
        };
        RecordBatch::try_from_bytes(encode_batch(&spec, &records).unwrap()).unwrap()
    }

    fn build(d: &Desc) -> RecordBatch {
        let key = d.marker.map(|kind| {
            let mut k = 0i16.to_be_bytes().to_vec();
            k.extend_from_slice(&kind.to_be_bytes());
            Bytes::from(k)
        });
        build_with_key(d, key)
    }

    fn aborted(list: &[(i64, i64)]) -> Vec<AbortedTransaction> {
        list.iter()
            .map(|&(producer_id, first_offset)| AbortedTransaction {
                producer_id,
                first_offset,
            })
            .collect()
    }

    fn run(batches: &[RecordBatch], fetch_offset: i64, list: &[(i64, i64)]) -> Vec<Action> {
        let mut filter = AbortedFilter::new(&aborted(list));
        batches
            .iter()
            .map(|b| classify(b, fetch_offset, &mut filter))
            .collect()
    }

    use Action::{Forward, Renumber, Skip};
    use SkipReason::{Aborted, BeforeFetchOffset, Control, Empty};

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            fetch_offset: i64,
            aborted: &'static [(i64, i64)],
            batches: Vec<Desc>,
            expected: Vec<Action>,
        }
        let gapped = |base, count, gap| Desc {
            gap,
            ..data(base, count)
        };
        let empty = |base, gap| Desc { gap, ..data(base, 0) };
        let cases = [
            Case {
                name: "before, straddling and after the fetch offset",
                fetch_offset: 10,
                aborted: &[],
                batches: vec![data(0, 5), data(5, 10), data(15, 3)],
                expected: vec![Skip(BeforeFetchOffset), Forward, Forward],
            },
            Case {
                name: "a batch ending just below the fetch offset is before it",
                fetch_offset: 10,
                aborted: &[],
                batches: vec![data(5, 5), data(10, 1)],
                expected: vec![Skip(BeforeFetchOffset), Forward],
            },
            Case {
                name: "gapped batches are renumbered unless before the fetch offset",
                fetch_offset: 10,
                aborted: &[],
                batches: vec![gapped(0, 3, 4), gapped(7, 3, 4), gapped(20, 2, 1)],
                expected: vec![Skip(BeforeFetchOffset), Renumber, Renumber],
            },
            Case {
                name: "empty batches are skipped",
                fetch_offset: 10,
                aborted: &[],
                batches: vec![empty(0, 3), empty(10, 0), empty(11, 5)],
                expected: vec![Skip(BeforeFetchOffset), Skip(Empty), Skip(Empty)],
            },
            Case {
                name: "an abort marker ends the aborted transaction of its producer only",
                fetch_offset: 0,
                aborted: &[(7, 20)],
                batches: vec![txn(20, 3, 7), txn(23, 2, 8), marker(25, 7, ABORT), txn(26, 2, 7)],
                expected: vec![Skip(Aborted), Forward, Skip(Control), Forward],
            },
            Case {
                name: "a commit marker does not end an aborted transaction",
                fetch_offset: 0,
                aborted: &[(7, 0)],
                batches: vec![txn(0, 2, 7), marker(2, 7, COMMIT), txn(3, 1, 7)],
                expected: vec![Skip(Aborted), Skip(Control), Skip(Aborted)],
            },
            Case {
                name: "an aborted transaction starting later does not abort earlier batches",
                fetch_offset: 0,
                aborted: &[(7, 50)],
                batches: vec![txn(10, 2, 7), marker(12, 7, COMMIT), txn(50, 2, 7)],
                expected: vec![Forward, Skip(Control), Skip(Aborted)],
            },
            Case {
                name: "a transaction beginning inside a batch is reached by that batch",
                fetch_offset: 0,
                aborted: &[(7, 12)],
                batches: vec![txn(10, 5, 7)],
                expected: vec![Skip(Aborted)],
            },
            Case {
                name: "idempotent, non-transactional batches are never aborted",
                fetch_offset: 0,
                aborted: &[(7, 0)],
                batches: vec![
                    Desc {
                        transactional: false,
                        ..txn(0, 2, 7)
                    },
                    txn(2, 2, 7),
                ],
                expected: vec![Forward, Skip(Aborted)],
            },
            Case {
                name: "batches before the fetch offset still feed the filter (marker seen)",
                fetch_offset: 10,
                aborted: &[(7, 0)],
                batches: vec![txn(0, 5, 7), marker(5, 7, ABORT), txn(10, 2, 7)],
                expected: vec![Skip(BeforeFetchOffset), Skip(BeforeFetchOffset), Forward],
            },
            Case {
                name: "batches before the fetch offset still feed the filter (transaction reached)",
                fetch_offset: 10,
                aborted: &[(7, 3)],
                batches: vec![txn(0, 5, 7), txn(10, 2, 7)],
                expected: vec![Skip(BeforeFetchOffset), Skip(Aborted)],
            },
            Case {
                name: "aborted lists arrive in any order",
                fetch_offset: 0,
                aborted: &[(9, 30), (7, 0), (8, 10)],
                batches: vec![
                    txn(0, 1, 7),
                    txn(5, 1, 8),
                    txn(10, 1, 8),
                    txn(20, 1, 9),
                    txn(30, 1, 9),
                ],
                expected: vec![Skip(Aborted), Forward, Skip(Aborted), Forward, Skip(Aborted)],
            },
            Case {
                name: "aborted data is dropped before its emptiness or gaps matter",
                fetch_offset: 0,
                aborted: &[(7, 0)],
                batches: vec![
                    Desc {
                        count: 0,
                        ..txn(0, 1, 7)
                    },
                    Desc {
                        gap: 3,
                        ..txn(1, 2, 7)
                    },
                ],
                expected: vec![Skip(Aborted), Skip(Aborted)],
            },
            Case {
                name: "a compressed marker is not read: it is skipped but ends nothing",
                fetch_offset: 0,
                aborted: &[(7, 0)],
                batches: vec![
                    txn(0, 1, 7),
                    Desc {
                        compression: Compression::Gzip,
                        ..marker(1, 7, ABORT)
                    },
                    txn(2, 1, 7),
                ],
                expected: vec![Skip(Aborted), Skip(Control), Skip(Aborted)],
            },
        ];
        for case in cases {
            let batches: Vec<RecordBatch> = case.batches.iter().map(build).collect();
            assert_eq!(
                run(&batches, case.fetch_offset, case.aborted),
                case.expected,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn malformed_marker_keys_are_not_abort_markers() {
        let mut short = 0i16.to_be_bytes().to_vec();
        short.push(0);
        let keys = [
            None,
            Some(Bytes::new()),
            Some(Bytes::from(short)),
            // Negative version: Kafka's consumer calls it corrupt.
            Some(Bytes::from_static(&[0xff, 0xff, 0, 0])),
        ];
        for key in keys {
            let m = build_with_key(&marker(1, 7, ABORT), key.clone());
            assert_eq!(control_type(&m), None, "{key:?}");
            let batches = [build(&txn(0, 1, 7)), m, build(&txn(2, 1, 7))];
            assert_eq!(
                run(&batches, 0, &[(7, 0)]),
                vec![Skip(Aborted), Skip(Control), Skip(Aborted)],
                "{key:?}"
            );
        }
        // A longer key with a future version still names its type.
        let m = build_with_key(
            &marker(1, 7, ABORT),
            Some(Bytes::from_static(&[0, 3, 0, 0, 9, 9])),
        );
        assert_eq!(control_type(&m), Some(ABORT));
    }

    #[test]
    fn control_type_survives_garbage() {
        let m = build(&marker(1, 7, ABORT));
        let bytes = m.as_bytes().clone();
        // Every truncation and every single-byte value of the records section.
        for cut in HEADER_LEN..bytes.len() {
            let mut b = bytes::BytesMut::from(&bytes[..cut]);
            let len = (cut - 12) as i32;
            b[8..12].copy_from_slice(&len.to_be_bytes());
            if let Ok(batch) = RecordBatch::try_from_bytes(b.freeze()) {
                let _ = control_type(&batch);
            }
        }
        for at in HEADER_LEN..bytes.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut b = bytes::BytesMut::from(&bytes[..]);
                b[at] = v;
                let batch = RecordBatch::try_from_bytes(b.freeze()).unwrap();
                let _ = control_type(&batch);
            }
        }
    }

    #[test]
    fn labels() {
        let all = [BeforeFetchOffset, Control, Aborted, Empty];
        let labels: Vec<_> = all.iter().map(|r| r.label()).collect();
        assert_eq!(labels, ["before_fetch_offset", "control", "aborted", "empty"]);
    }

    /// The reference: the same rules written over batch descriptions, with the aborted list
    /// scanned whole (no ordering, no parsing).
    fn model(batches: &[Desc], list: &[(i64, i64)], fetch_offset: i64) -> Vec<(Action, HashSet<i64>)> {
        let mut reached = vec![false; list.len()];
        let mut set = HashSet::new();
        let mut out = Vec::new();
        for d in batches {
            let mut is_aborted = false;
            if d.producer_id >= 0 {
                for (i, &(producer_id, first_offset)) in list.iter().enumerate() {
                    if !reached[i] && first_offset <= d.last() {
                        reached[i] = true;
                        set.insert(producer_id);
                    }
                }
                match d.marker {
                    Some(ABORT) if d.compression == Compression::None => {
                        set.remove(&d.producer_id);
                    }
                    Some(_) => {}
                    None => is_aborted = d.transactional && set.contains(&d.producer_id),
                }
            }
            let action = if d.last() < fetch_offset {
                Skip(BeforeFetchOffset)
            } else if d.marker.is_some() {
                Skip(Control)
            } else if is_aborted {
                Skip(Aborted)
            } else if d.count == 0 {
                Skip(Empty)
            } else if d.gap > 0 {
                Renumber
            } else {
                Forward
            };
            out.push((action, set.clone()));
        }
        out
    }

    fn arb_desc() -> impl Strategy<Value = (i64, Desc)> {
        (
            0..3i64,
            0..4i32,
            prop_oneof![3 => Just(0), 1 => 1..3i32],
            prop_oneof![Just(-1i64), Just(1), Just(2), Just(3)],
            any::<bool>(),
            prop_oneof![4 => Just(None), 2 => Just(Some(ABORT)), 1 => Just(Some(COMMIT)), 1 => Just(Some(5))],
            prop_oneof![5 => Just(Compression::None), 1 => Just(Compression::Lz4)],
        )
            .prop_map(
                |(skip, count, gap, producer_id, transactional, marker, compression)| {
                    let d = Desc {
                        base: 0,
                        count: if marker.is_some() { 1 } else { count },
                        gap: if marker.is_some() { 0 } else { gap },
                        producer_id,
                        transactional: transactional || marker.is_some(),
                        marker,
                        compression,
                    };
                    (skip, d)
                },
            )
    }

    proptest! {
        #[test]
        fn the_filter_agrees_with_the_reference(
            steps in proptest::collection::vec(arb_desc(), 0..25),
            list in proptest::collection::vec((1..4i64, 0..80i64), 0..6),
            fetch_offset in 0..60i64,
        ) {
            let mut next = 0;
            let descs: Vec<Desc> = steps
                .into_iter()
                .map(|(skip, d)| {
                    let d = Desc { base: next + skip, ..d };
                    next = d.next();
                    d
                })
                .collect();
            let expected = model(&descs, &list, fetch_offset);
            let mut filter = AbortedFilter::new(&aborted(&list));
            for (d, (action, set)) in descs.iter().zip(expected) {
                let batch = build(d);
                prop_assert_eq!(classify(&batch, fetch_offset, &mut filter), action, "{:?}", d);
                prop_assert_eq!(&filter.producers, &set, "{:?}", d);
            }
        }
    }
}
