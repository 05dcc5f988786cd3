use super::*;
use crate::protocol::records::{BatchSpec, Record, encode_batch};
use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

fn records(n: i32, gap: i32) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset_delta: i * (1 + gap),
            value: Some(Bytes::from(format!("v{i}"))),
            ..Record::default()
        })
        .collect()
}

fn batch_at(base_offset: i64, n: i32) -> Bytes {
    let spec = BatchSpec {
        base_offset,
        ..BatchSpec::default()
    };
    encode_batch(&spec, &records(n, 0)).unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut b = BytesMut::new();
    for p in parts {
        b.put_slice(p);
    }
    b.freeze()
}

fn legacy_entry(offset: i64, magic: u8) -> Bytes {
    // offset, size, crc, magic, attributes, (timestamp for v1), key -1, value -1
    let mut body = BytesMut::new();
    body.put_u32(0);
    body.put_u8(magic);
    body.put_u8(0);
    if magic == 1 {
        body.put_i64(0);
    }
    body.put_i32(-1);
    body.put_i32(-1);
    let mut b = BytesMut::new();
    b.put_i64(offset);
    b.put_i32(body.len() as i32);
    b.put_slice(&body);
    b.freeze()
}

#[test]
fn iterates_consecutive_batches_and_stops_at_a_partial_tail() {
    let blob = concat(&[batch_at(0, 3), batch_at(3, 2), batch_at(5, 4)]);
    let cut = blob.slice(..blob.len() - 7);
    let mut it = BatchIter::new(cut);
    let got: Vec<_> = it.by_ref().map(|b| b.unwrap().base_offset()).collect();
    assert_eq!(got, vec![0, 3]);
    assert!(it.remaining() > 0);
    assert_eq!(it.next(), None);
}

#[test]
fn an_empty_blob_or_a_short_prefix_yields_nothing() {
    assert_eq!(BatchIter::new(Bytes::new()).count(), 0);
    assert_eq!(BatchIter::new(Bytes::from_static(&[0; 11])).count(), 0);
}

#[test]
fn classifies_data_control_empty_and_gapped() {
    let data = RecordBatch::try_from_bytes(batch_at(0, 3)).unwrap();
    assert_eq!(data.kind(), BatchKind::Data);

    let control_spec = BatchSpec {
        attributes: CONTROL_BIT | TRANSACTIONAL_BIT,
        producer_id: 5,
        ..BatchSpec::default()
    };
    let control = RecordBatch::try_from_bytes(encode_batch(&control_spec, &records(1, 0)).unwrap()).unwrap();
    assert_eq!(control.kind(), BatchKind::Control);
    assert!(control.is_transactional());

    let empty_spec = BatchSpec {
        last_offset_delta: Some(4),
        ..BatchSpec::default()
    };
    let empty = RecordBatch::try_from_bytes(encode_batch(&empty_spec, &[]).unwrap()).unwrap();
    assert_eq!(empty.kind(), BatchKind::Empty);
    assert_eq!(empty.next_offset(), 5);

    let gapped =
        RecordBatch::try_from_bytes(encode_batch(&BatchSpec::default(), &records(3, 1)).unwrap()).unwrap();
    assert_eq!(gapped.kind(), BatchKind::Gapped);
    assert_eq!((gapped.record_count(), gapped.last_offset()), (3, 4));
}

#[test]
fn reports_position_against_the_fetch_offset() {
    let b = RecordBatch::try_from_bytes(batch_at(10, 5)).unwrap();
    assert_eq!(b.position(20), FetchPosition::Before);
    assert_eq!(b.position(15), FetchPosition::Before);
    assert_eq!(b.position(14), FetchPosition::Straddles);
    assert_eq!(b.position(11), FetchPosition::Straddles);
    assert_eq!(b.position(10), FetchPosition::AtOrAfter);
    assert_eq!(b.position(0), FetchPosition::AtOrAfter);
}

#[test]
fn legacy_entries_are_reported_and_skipped() {
    let blob = concat(&[legacy_entry(0, 0), legacy_entry(1, 1), batch_at(2, 1)]);
    let items: Vec<_> = BatchIter::new(blob).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0],
        Err(BatchError::LegacyMagic {
            base_offset: 0,
            magic: 0
        })
    );
    assert_eq!(
        items[1],
        Err(BatchError::LegacyMagic {
            base_offset: 1,
            magic: 1
        })
    );
    assert_eq!(items[2].as_ref().unwrap().base_offset(), 2);
}

#[test]
fn garbage_is_a_typed_error_and_ends_iteration() {
    let mut bad = BytesMut::from(&batch_at(7, 1)[..]);
    bad[16] = 9; // magic
    let blob = concat(&[bad.freeze(), batch_at(8, 1)]);
    let items: Vec<_> = BatchIter::new(blob).collect();
    assert_eq!(
        items,
        vec![Err(BatchError::UnknownMagic {
            base_offset: 7,
            position: 0,
            magic: 9
        })]
    );

    let mut short = BytesMut::new();
    short.put_i64(3);
    short.put_i32(2);
    short.put_slice(&[0; 20]);
    assert!(matches!(
        BatchIter::new(short.freeze()).next(),
        Some(Err(BatchError::LengthTooSmall { length: 2, .. }))
    ));

    let mut neg = BytesMut::from(&batch_at(0, 2)[..]);
    neg[57..61].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(matches!(
        BatchIter::new(neg.freeze()).next(),
        Some(Err(BatchError::InvalidHeader { .. }))
    ));
}

#[test]
fn crc_verification_detects_a_flipped_payload_bit() {
    let good = RecordBatch::try_from_bytes(batch_at(0, 2)).unwrap();
    good.verify_crc().unwrap();
    let mut bytes = BytesMut::from(&good.as_bytes()[..]);
    bytes[HEADER_LEN + 3] ^= 0x40;
    let bad = RecordBatch::try_from_bytes(bytes.freeze()).unwrap();
    assert!(matches!(bad.verify_crc(), Err(BatchError::CrcMismatch { .. })));
}

proptest! {
    /// Whatever the sizes and wherever the response is cut, the framer yields exactly the
    /// batches that are complete, in order, as slices of the input.
    #[test]
    fn framer_yields_exactly_the_complete_batches(
        counts in proptest::collection::vec(1..20i32, 1..10),
        cut_back in 0usize..200,
    ) {
        let mut parts = Vec::new();
        let mut offset = 0i64;
        for n in &counts {
            parts.push(batch_at(offset, *n));
            offset += i64::from(*n);
        }
        let blob = concat(&parts);
        let cut = blob.len().saturating_sub(cut_back);
        let complete: Vec<&Bytes> = {
            let mut end = 0;
            parts.iter().filter(|p| { end += p.len(); end <= cut }).collect()
        };
        let got: Vec<RecordBatch> = BatchIter::new(blob.slice(..cut)).map(|b| b.unwrap()).collect();
        prop_assert_eq!(got.len(), complete.len());
        for (g, want) in got.iter().zip(complete) {
            prop_assert_eq!(g.as_bytes(), want);
        }
    }

    /// Arbitrary bytes never panic the framer and every yielded batch is within bounds.
    #[test]
    fn framer_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for b in BatchIter::new(Bytes::from(bytes)).flatten() {
            let _ = (b.kind(), b.records(), b.next_offset(), b.verify_crc());
        }
    }
}
