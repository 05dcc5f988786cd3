//! Reading what the takeover compares: decoded records of a partition range, and MM2's
//! offsets topic.

use std::collections::BTreeMap;
use std::time::Duration;

use super::connect_offsets::{self, SourcePartition};
use super::error::TakeoverError;
use super::matching::Rec;
use crate::cluster::{Cluster, ClusterError, FetchOptions, FetchedPartition, IsolationLevel, OffsetSpec};
use crate::protocol::batch::BatchIter;
use crate::protocol::records::decode_records_bounded;

/// A records section larger than this once decompressed is refused (Kafka's own limit for a
/// batch is far below).
const MAX_UNCOMPRESSED: usize = 256 << 20;

fn cluster_error(cluster: &Cluster, source: ClusterError) -> TakeoverError {
    TakeoverError::Cluster {
        cluster: cluster.name().to_owned(),
        source: Box::new(source),
    }
}

/// Retries a cluster call a few times while its error is retriable.
async fn retried<T, F, Fut>(cluster: &Cluster, mut f: F) -> Result<T, TakeoverError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClusterError>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => return Err(cluster_error(cluster, e)),
        }
    }
}

pub(super) async fn offset(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    spec: OffsetSpec,
) -> Result<i64, TakeoverError> {
    retried(cluster, || cluster.list_offset(topic, partition, spec)).await
}

async fn fetch(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    at: i64,
) -> Result<FetchedPartition, TakeoverError> {
    let options = FetchOptions {
        max_wait: Duration::from_millis(100),
        // What MM2's consumer saw: its default isolation is read_uncommitted.
        isolation: IsolationLevel::ReadUncommitted,
        ..FetchOptions::default()
    };
    retried(cluster, || cluster.fetch(topic, partition, at, &options)).await
}

/// Calls `f` with every data record of `topic`-`partition` at offsets `[from, to)`, in order
/// (control batches skipped). The timestamp is `None` in LogAppendTime batches.
pub(super) async fn for_each_record(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    from: i64,
    to: i64,
    mut f: impl FnMut(Rec),
) -> Result<(), TakeoverError> {
    let mut next = from;
    while next < to {
        let fetched = fetch(cluster, topic, partition, next).await?;
        let before = next;
        for item in BatchIter::new(fetched.records) {
            let batch = item.map_err(|e| TakeoverError::records(topic, partition, next, e))?;
            if batch.next_offset() <= next {
                continue;
            }
            if !batch.is_control() {
                let records = decode_records_bounded(&batch, MAX_UNCOMPRESSED)
                    .map_err(|e| TakeoverError::records(topic, partition, batch.base_offset(), e))?;
                let log_append = batch.is_log_append_time();
                for r in records {
                    let offset = batch.base_offset() + i64::from(r.offset_delta);
                    if offset < next || offset >= to {
                        continue;
                    }
                    f(Rec {
                        offset,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        timestamp: (!log_append).then(|| batch.base_timestamp() + r.timestamp_delta),
                    });
                }
            }
            next = batch.next_offset();
        }
        if next == before {
            if fetched.high_watermark <= next {
                break;
            }
            return Err(TakeoverError::records(
                topic,
                partition,
                next,
                "the broker returned no complete batch",
            ));
        }
    }
    Ok(())
}

/// The current value of every `MirrorSourceConnector` offset for source cluster
/// `source_alias` in the offsets topic `topic` (all its partitions, start to end).
pub(super) async fn mm2_committed(
    target: &Cluster,
    topic: &str,
    source_alias: &str,
    flow: &str,
) -> Result<BTreeMap<SourcePartition, i64>, TakeoverError> {
    let meta = retried(target, || target.refresh_metadata()).await?;
    let partitions = match meta.topic(topic) {
        Ok(t) => t.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        Err(_) => {
            return Err(TakeoverError::NoOffsetsTopic {
                cluster: target.name().to_owned(),
                topic: topic.to_owned(),
                flow: flow.to_owned(),
            });
        }
    };
    let mut decoded = Vec::new();
    for p in partitions {
        let start = offset(target, topic, p, OffsetSpec::Earliest).await?;
        let end = offset(target, topic, p, OffsetSpec::Latest).await?;
        let mut failure = None;
        for_each_record(target, topic, p, start, end, |r| {
            if failure.is_some() {
                return;
            }
            let Some(key) = r.key.as_deref() else { return };
            match connect_offsets::decode(key, r.value.as_deref(), source_alias) {
                Ok(Some(record)) => decoded.push(record),
                Ok(None) => {}
                Err(source) => {
                    failure = Some(TakeoverError::OffsetRecord {
                        topic: topic.to_owned(),
                        partition: p,
                        offset: r.offset,
                        source,
                    });
                }
            }
        })
        .await?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(connect_offsets::fold(decoded))
}
