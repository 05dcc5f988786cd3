//! Hot-path microbenchmarks: framing a fetched records blob (batches per second), rewriting
//! batch headers with CRC-32C over untouched records, and raw CRC-32C for reference (bytes of
//! batch data per second).
//!
//! `cargo bench --features testkit --bench batch`

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kmirror::protocol::batch::{BatchIter, Compression, RecordBatch};
use kmirror::protocol::rewrite::{ProducerIdentity, RewriteOptions, rewrite};
use kmirror::testkit::batches::{blob, data_batch};

const RECORD: usize = 1024;
const BLOB_TARGET: usize = 8 << 20;

/// About 8 MiB of batches whose uncompressed size is `batch_bytes`, as one fetch blob.
fn fixture(batch_bytes: usize, codec: Compression) -> (Bytes, Vec<RecordBatch>) {
    let per_batch = (batch_bytes / RECORD).max(1);
    let mut batches = Vec::new();
    let mut offset = 0;
    let mut total = 0;
    while total < BLOB_TARGET {
        let b = data_batch(offset, per_batch, RECORD, codec);
        offset = b.next_offset();
        total += b.len();
        batches.push(b);
    }
    (blob(&batches), batches)
}

fn sizes() -> [(usize, &'static str); 4] {
    [
        (16 << 10, "16KiB"),
        (64 << 10, "64KiB"),
        (256 << 10, "256KiB"),
        (1 << 20, "1MiB"),
    ]
}

fn iterate(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch_iter");
    for codec in [Compression::None, Compression::Lz4] {
        for (size, label) in sizes() {
            let (blob, batches) = fixture(size, codec);
            // Framing reads a few header bytes per batch: its cost is per batch, not per byte.
            let _ = g.throughput(Throughput::Elements(batches.len() as u64));
            let _ = g.bench_with_input(
                BenchmarkId::new(format!("{codec:?}").to_lowercase(), label),
                &blob,
                |b, blob| {
                    b.iter(|| {
                        let mut records = 0i64;
                        for batch in BatchIter::new(blob.clone()) {
                            let batch = batch.expect("valid");
                            records += i64::from(batch.record_count());
                            std::hint::black_box(batch.kind());
                        }
                        records
                    });
                },
            );
        }
    }
    g.finish();
}

fn rewrite_headers(c: &mut Criterion) {
    let mut g = c.benchmark_group("rewrite");
    let identity = ProducerIdentity {
        producer_id: 4000,
        producer_epoch: 0,
        base_sequence: 0,
    };
    for codec in [Compression::None, Compression::Lz4] {
        for (size, label) in sizes() {
            let (blob, batches) = fixture(size, codec);
            let _ = g.throughput(Throughput::Bytes(blob.len() as u64));
            let _ = g.bench_with_input(
                BenchmarkId::new(format!("{codec:?}").to_lowercase(), label),
                &batches,
                |b, batches| {
                    b.iter(|| {
                        for batch in batches {
                            let out = rewrite(batch, identity, RewriteOptions::default()).expect("valid");
                            std::hint::black_box(out.header());
                        }
                    });
                },
            );
        }
    }
    g.finish();
}

fn crc_reference(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc32c_raw");
    for (size, label) in sizes() {
        let data = vec![0x5au8; size];
        let _ = g.throughput(Throughput::Bytes(size as u64));
        let _ = g.bench_with_input(BenchmarkId::from_parameter(label), &data, |b, d| {
            b.iter(|| crc32c::crc32c(d))
        });
    }
    g.finish();
}

criterion_group!(benches, iterate, rewrite_headers, crc_reference);
criterion_main!(benches);
