//! The memory budget with many partitions and fetch responses that hold many times what one
//! partition may return: every fetch response keeps its budget until its last batch is
//! answered, so with a budget of a few responses the engine must still move everything,
//! exactly once, without waiting on itself (a deadlock stops the test at its deadline).

use std::time::Duration;

use bytes::Bytes;
use kmirror::protocol::batch::{Compression, RecordBatch};
use kmirror::protocol::records::{BatchSpec, Record, encode_batch};
use kmirror::testkit::FakeBroker;
use kmirror::testkit::batches::data_batch;

use crate::replication_faults::{partition_values, start_with, values};
use crate::support::eventually;

const PARTITIONS: i32 = 40;

/// A batch of 4 records at offset deltas 0, 2, 5, 6 (a compacted log's), which kmirror must
/// renumber: a copy, not a slice of the response.
fn gapped(base_offset: i64) -> RecordBatch {
    let records: Vec<Record> = [0, 2, 5, 6]
        .into_iter()
        .map(|d| Record {
            offset_delta: d,
            key: Some(Bytes::from(format!("k{d}"))),
            value: Some(Bytes::from(vec![d as u8; 3000])),
            ..Record::default()
        })
        .collect();
    let spec = BatchSpec {
        base_offset,
        base_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000,
        ..BatchSpec::default()
    };
    RecordBatch::try_from_bytes(encode_batch(&spec, &records).unwrap()).unwrap()
}

#[tokio::test]
async fn many_partitions_and_large_responses_fit_the_budget_without_deadlock() {
    let (source, target) = (FakeBroker::start().await, FakeBroker::start().await);
    source.create_topic("wide", PARTITIONS);
    let mut want = Vec::new();
    for p in 0..PARTITIONS {
        // About 7 KiB batches, 12 per partition (84 KiB, more than a fetch returns for one
        // partition), a gapped one in every third partition and, in every fifth, a first
        // batch larger than the per-partition fetch limit (brokers return it anyway).
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut next = 0;
        if p % 5 == 0 {
            batches.push(data_batch(next, 20, 2000, Compression::None));
            next += 20;
        }
        for i in 0..12 {
            let b = if p % 3 == 0 && i == 4 {
                gapped(next)
            } else {
                data_batch(next, 7, 1000, Compression::None)
            };
            next = b.next_offset();
            batches.push(b);
        }
        for b in &batches {
            source.append_raw("wide", p, b.as_bytes().clone());
        }
        want.push(batches.iter().flat_map(values).collect::<Vec<_>>());
    }
    // Room for about two partitions' fetches at a time: 3.4 MiB of data through 64 KiB.
    let run = start_with(
        &source,
        &target,
        "memory.budget.bytes = 65536\n\
         fetch.max.bytes = 65536\n\
         max.partition.fetch.bytes = 32768\n",
    );
    eventually("every partition replicated", Duration::from_secs(120), || async {
        (0..PARTITIONS)
            .all(|p| partition_values(&target, "source.wide", p).len() == want[p as usize].len())
            .then_some(())
    })
    .await;
    run.stop().await.unwrap();
    for p in 0..PARTITIONS {
        assert_eq!(
            partition_values(&target, "source.wide", p),
            want[p as usize],
            "partition {p} exactly once and in order"
        );
    }
}
