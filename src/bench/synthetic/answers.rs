//! What the synthetic brokers answer: metadata and offsets of their one topic, Fetch
//! responses of copies of the pre-built batch (paced when asked), and Produce answers after
//! checking every batch (see [`super::broker`] for the checks).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse,
};
use tokio::time::Instant;

use super::broker::{Role, Served, Shared, SinkPartition};
use crate::protocol::answer;
use crate::protocol::errors;
use crate::protocol::produce_check::validate_produce;

/// Fetches remembered per partition for the latency of their batches.
const SERVED_MEMORY: usize = 4096;

pub(super) fn metadata(
    shared: &Shared,
    role: Role,
    addr: SocketAddr,
    req: &MetadataRequest,
) -> MetadataResponse {
    let ours = shared.topic(role);
    let names = answer::requested_topics(req).unwrap_or_else(|| vec![ours.to_owned()]);
    let topics = names.into_iter().map(|name| {
        let partitions = (name == ours).then_some(shared.partitions);
        (name, partitions)
    });
    answer::metadata("synthetic", addr, topics, errors::NONE)
}

pub(super) fn list_offsets(shared: &Shared, role: Role, req: &ListOffsetsRequest) -> ListOffsetsResponse {
    let sink = shared.sink.lock().unwrap_or_else(|p| p.into_inner());
    answer::list_offsets(req, |topic, partition, timestamp| {
        let i = shared
            .partition(partition)
            .filter(|_| topic == shared.topic(role))
            .ok_or(errors::UNKNOWN_TOPIC_OR_PARTITION)?;
        // The source starts at 0 and never ends; the sink ends where its last batch did.
        Ok(match role {
            Role::Sink if timestamp != -2 => sink[i].next_offset,
            _ => 0,
        })
    })
}

/// A Fetch response of copies of the template batch, and the bytes of batches in it.
pub(super) fn fetch(shared: &Shared, req: &FetchRequest, due: Instant) -> (FetchResponse, usize) {
    let template = shared.batch.as_bytes();
    let count = i64::from(shared.batch.record_count());
    let mut budget = usize::try_from(req.max_bytes).unwrap_or(0);
    let mut paced = shared.paced.lock().unwrap_or_else(|p| p.into_inner());
    if shared.rate > 0 {
        let allowed = (paced.0.elapsed().as_secs_f64() * shared.rate as f64) as u64;
        budget = budget.min(usize::try_from(allowed.saturating_sub(paced.1)).unwrap_or(usize::MAX));
    }
    // Like a broker, the first partition gets at least one batch whatever the limits (unless
    // the pace allows none).
    let mut first = shared.rate == 0 || budget >= template.len();
    let mut served = 0;
    let response = answer::fetch(req, |topic, p, r| {
        let i = shared
            .partition(p.partition)
            .filter(|_| topic == shared.source_topic)
            .ok_or(errors::UNKNOWN_TOPIC_OR_PARTITION)?;
        let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).min(budget);
        let n = (limit / template.len()).max(usize::from(first));
        first &= n == 0;
        budget = budget.saturating_sub(n * template.len());
        served += n * template.len();
        let mut records = BytesMut::with_capacity(n * template.len());
        for k in 0..n as i64 {
            let at = records.len();
            records.extend_from_slice(template);
            records[at..at + 8].copy_from_slice(&(p.fetch_offset + k * count).to_be_bytes());
        }
        let end = p.fetch_offset + n as i64 * count;
        if n > 0 {
            let mut served = shared.served[i].lock().unwrap_or_else(|p| p.into_inner());
            if served.len() >= SERVED_MEMORY {
                let _ = served.pop_front();
            }
            served.push_back(Served {
                start: p.fetch_offset,
                end,
                at: due,
            });
        }
        // The log is endless: unless the pace is what stopped this partition, more records
        // are waiting than the limits let into this response, and the high watermark says so,
        // as a broker's does for a partition its response had no room for.
        let paced_out = shared.rate > 0 && budget < template.len();
        let high_watermark = if paced_out { end } else { end + count };
        Ok(r.with_high_watermark(high_watermark)
            .with_last_stable_offset(high_watermark)
            .with_log_start_offset(0)
            .with_records(Some(records.freeze())))
    });
    paced.1 += served as u64;
    (response, served)
}

pub(super) fn produce(shared: &Shared, req: &ProduceRequest) -> ProduceResponse {
    let now = Instant::now();
    answer::produce(req, |topic, partition, records| {
        accept_batch(shared, topic, partition, records, now)
    })
}

/// Checks one produced batch and appends it; its base offset, or the broker's error code.
fn accept_batch(
    shared: &Shared,
    topic: &str,
    partition: i32,
    records: Option<&Bytes>,
    now: Instant,
) -> Result<i64, i16> {
    let at = format!("{topic}-{partition}");
    let Some(i) = shared
        .partition(partition)
        .filter(|_| topic == shared.target_topic)
    else {
        return Err(shared.reject(format!("{at}: not the target topic")));
    };
    let batch = validate_produce(records)
        .map_err(|code| shared.reject(format!("{at}: refused with error {code}")))?;
    let template = shared.batch.as_bytes();
    let header = crate::protocol::batch::HEADER_LEN;
    if batch.as_bytes().get(header..) != template.get(header..) {
        return Err(shared.reject(format!("{at}: the records section differs from the source's")));
    }
    let mut sink = shared.sink.lock().unwrap_or_else(|p| p.into_inner());
    let state = &mut sink[i];
    let expected = if batch.producer_id() == state.producer_id {
        state.next_sequence
    } else {
        0
    };
    if batch.base_sequence() != expected {
        drop(sink);
        let why = format!(
            "{at}: sequence {} where {expected} was expected",
            batch.base_sequence()
        );
        let _ = shared.reject(why);
        return Err(errors::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }
    let base = state.next_offset;
    let count = batch.record_count();
    *state = SinkPartition {
        next_offset: base + i64::from(count),
        producer_id: batch.producer_id(),
        next_sequence: expected.wrapping_add(count),
    };
    drop(sink);
    // Target offsets equal source offsets: both start at 0 and batches map one to one.
    let served = {
        let mut served = shared.served[i].lock().unwrap_or_else(|p| p.into_inner());
        while served.front().is_some_and(|s| s.end <= base) {
            let _ = served.pop_front();
        }
        served.front().filter(|s| s.start <= base).map(|s| s.at)
    };
    let stats = &shared.stats;
    if let Some(at) = served {
        stats
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now.saturating_duration_since(at));
    }
    let _ = stats.batches.fetch_add(1, Ordering::Relaxed);
    let _ = stats
        .records
        .fetch_add(u64::try_from(count).unwrap_or(0), Ordering::Relaxed);
    let _ = stats.bytes.fetch_add(batch.len() as u64, Ordering::Relaxed);
    Ok(base)
}
