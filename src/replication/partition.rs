//! The task that replicates one source partition to its target partition.
//!
//! ```text
//!  fetch (source broker's Fetcher) ─► classify ─► renumber / trim if needed ─► rewrite
//!        ─► produce (target broker's Producer), up to 5 in flight ─► acks in order ─► offsets
//! ```
//!
//! Offsets move only after the ack and strictly in source order: a skipped batch (marker,
//! aborted, empty) is logged only when every batch before it was acknowledged.
//!
//! Every produce failure that retrying can fix is recovered the same way, and so is a restart
//! after a crash: wait for the batches in flight, then start a new session from the
//! acknowledged frontier. The session reads the target's end offset (the high watermark) and
//! skips on replay the records below it that reached the target without their entries
//! becoming durable (`offsets::reconcile`); what follows is produced again as the same
//! batches under the same producer id, epoch and sequences, so that the broker's duplicate
//! detection settles the batches whose outcome was unknown (`super::recovery`). A new
//! producer identity is taken, and logged before its first produce, only on the first start
//! or when the broker no longer knows the old one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use super::budget::{BatchBudget, ResponseHold};
use super::classify::{AbortedFilter, Action, classify};
use super::context::{FlowContext, MAX_UNCOMPRESSED_BATCH_BYTES};
use super::error::ReplicationError;
use super::fetcher::Fetcher;
use super::producer::AckResult;
use super::producer::Producer;
use super::recovery::Recovery;
use super::topic_identity::TopicIdentity;
use crate::cluster::{Backoff, ClusterError, OffsetSpec};
use crate::error::Side;
use crate::metrics;
use crate::offsets::mm2::{AckedBatch, RecordOffsets, SyncOutbox};
use crate::offsets::{Entry, PartitionKey, PartitionState, ProducerMark, ReplaySkip, reconcile};
use crate::protocol::batch::{BatchIter, RecordBatch};
use crate::protocol::errors::{self, ErrorCode};
use crate::protocol::records::decode_records_bounded;
use crate::protocol::renumber::{self, RenumberError};
use crate::protocol::rewrite::{ProducerIdentity, RewriteOptions, RewrittenBatch, rewrite};
use crate::protocol::timestamps::Timestamps;
use crate::protocol::trim;

/// Kafka brokers remember the last five batches per producer and partition; more in flight
/// would defeat their ordering checks.
const MAX_IN_FLIGHT_PER_PARTITION: usize = 5;

/// Delays between a partition's attempts after failures: doubling from the first to the
/// longest, as Kafka's clients do (`retry.backoff.ms`, `retry.backoff.max.ms`: 100 ms and 1 s,
/// KIP-580). The longest delay bounds how late a partition notices that a failure is over.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The acknowledged frontier: what the offset store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frontier {
    resume_offset: i64,
    target_next: i64,
    /// The identity the partition's records are written with, once one was taken.
    producer: Option<ProducerMark>,
}

struct Sent {
    /// Newest record timestamp of a CreateTime batch, for the replication latency.
    max_timestamp: Option<i64>,
    /// Timestamp of the batch's oldest record as the header tells it (first timestamp, or the
    /// append time), for the lag in seconds.
    oldest_timestamp: Option<i64>,
    source_base: i64,
    source_next: i64,
    record_count: i32,
    /// The source offsets of the records sent, for offset syncs.
    records: RecordOffsets,
    ack: oneshot::Receiver<AckResult>,
}

enum Item {
    Sent(Sent),
    /// Settled without a produce; a replayed batch's records are on the target already.
    Done(Entry, Option<RecordOffsets>),
}

/// Why a session ended.
enum End {
    Shutdown,
    /// Start a new session from the acknowledged frontier.
    Recover(Recovery),
}

#[derive(Debug)]
pub(crate) struct PartitionTask {
    ctx: Arc<FlowContext>,
    source_topic: Arc<str>,
    target_topic: Arc<str>,
    partition: i32,
    key: PartitionKey,
    /// The source topic's id when the task began: a different one later means the topic was
    /// deleted and created again, and its offsets no longer mean what the target holds.
    source_topic_id: TopicIdentity,
    meters: metrics::PartitionMeters,
}

impl PartitionTask {
    pub(crate) fn new(ctx: Arc<FlowContext>, source_topic: &str, target_topic: &str, partition: i32) -> Self {
        let key = PartitionKey {
            flow: ctx.name.clone(),
            topic: source_topic.to_owned(),
            partition,
        };
        let source_topic_id = TopicIdentity::noted(&ctx.source, source_topic);
        let meters = metrics::PartitionMeters::new(&ctx.name, source_topic);
        Self {
            ctx,
            source_topic: source_topic.into(),
            target_topic: target_topic.into(),
            partition,
            key,
            source_topic_id,
            meters,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {}-{} -> {}-{}",
            self.ctx.name, self.source_topic, self.partition, self.target_topic, self.partition
        )
    }

    /// Runs until shutdown or a fatal error.
    pub(crate) async fn run(
        self,
        stored: Option<PartitionState>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ReplicationError> {
        let mut frontier = match stored {
            Some(s) => Frontier {
                resume_offset: s.resume_offset,
                target_next: s.target_next,
                producer: s.producer,
            },
            None => self.baseline().await?,
        };
        let mut backoff = Backoff::new(RETRY_BACKOFF, RETRY_BACKOFF_MAX);
        let mut new_identity = false;
        loop {
            let before = frontier.resume_offset;
            let end = self.session(&mut frontier, new_identity, &mut shutdown).await?;
            if frontier.resume_offset != before {
                // The session got batches acknowledged: a new failure is a new episode, not
                // one more attempt of the last (else every recovery of a long-running
                // process would end up waiting the longest delay).
                backoff.reset();
            }
            match end {
                End::Shutdown => return Ok(()),
                End::Recover(Recovery {
                    cause,
                    new_identity: renew,
                }) => {
                    new_identity = renew;
                    if renew {
                        tracing::warn!(partition = %self.describe(), error = %cause, "produce failed: the target no longer knows kmirror's producer; resuming from the acknowledged position with a new one");
                    } else {
                        tracing::warn!(partition = %self.describe(), error = %cause, "produce failed; resuming from the acknowledged position, sending the unacknowledged batches again as they were");
                    }
                    metrics::partition_recovered(&self.ctx.name, &self.source_topic);
                    let delay = backoff.next_delay(&mut rand::rng());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ok(()),
                    }
                }
            }
        }
    }

    /// First start of a partition: fetch from the earliest source offset; note the target's
    /// end offset, which may already hold data that is not ours.
    async fn baseline(&self) -> Result<Frontier, ReplicationError> {
        let source_offset = self
            .retry(Side::Source, || {
                self.ctx
                    .source
                    .list_offset(&self.source_topic, self.partition, OffsetSpec::Earliest)
            })
            .await?;
        let target_end = self.target_end().await?;
        tracing::debug!(partition = %self.describe(), source_offset, target_end, "first start");
        // Durable before the first produce: without it, a crash would leave records on the
        // target that a restart could not tell from data that was there before.
        self.log_durably(Entry::Baseline {
            source_offset,
            target_end,
        })
        .await?;
        Ok(Frontier {
            resume_offset: source_offset,
            target_next: target_end,
            producer: None,
        })
    }

    async fn target_end(&self) -> Result<i64, ReplicationError> {
        self.retry(Side::Target, || {
            self.ctx
                .target
                .list_offset(&self.target_topic, self.partition, OffsetSpec::Latest)
        })
        .await
    }

    /// Retries a cluster call while its error is retriable.
    async fn retry<T, F, Fut>(&self, side: Side, mut f: F) -> Result<T, ReplicationError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClusterError>>,
    {
        let mut backoff = Backoff::new(RETRY_BACKOFF, RETRY_BACKOFF_MAX);
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                // Stopping: a retriable failure is not an error, the task just ends.
                Err(e) if e.is_retriable() && self.ctx.is_shutting_down() => {
                    return Err(ReplicationError::Interrupted);
                }
                Err(e) if e.is_retriable() => {
                    tracing::debug!(partition = %self.describe(), error = %e, "retrying");
                    let delay = backoff.next_delay(&mut rand::rng());
                    tokio::time::sleep(delay).await;
                }
                Err(source) => return Err(ReplicationError::Cluster { side, source }),
            }
        }
    }

    /// The identity to produce with from target offset `target_end` on: the logged one at the
    /// sequence of that offset, or a new one (on the first start, when `renew`, or when the
    /// logged one cannot reach that offset), logged and made durable before it is used.
    async fn identity(
        &self,
        frontier: &mut Frontier,
        target_end: i64,
        renew: bool,
    ) -> Result<ProducerIdentity, ReplicationError> {
        if !renew
            && let Some(mark) = frontier.producer
            && let Some(base_sequence) = mark.sequence_at(target_end)
        {
            return Ok(ProducerIdentity {
                producer_id: mark.producer_id,
                producer_epoch: mark.producer_epoch,
                base_sequence,
            });
        }
        let (producer_id, producer_epoch) = self
            .retry(Side::Target, || self.ctx.target.init_producer_id())
            .await?;
        let mark = ProducerMark {
            producer_id,
            producer_epoch,
            first_sequence: 0,
            first_target_offset: target_end,
        };
        // Durable before the first produce: after a crash, batches of this identity whose
        // outcome is unknown can only be resent as the same batches if the log knows it.
        self.log_durably(Entry::Producer(mark)).await?;
        tracing::debug!(partition = %self.describe(), %mark, "new producer identity");
        frontier.producer = Some(mark);
        Ok(ProducerIdentity {
            producer_id,
            producer_epoch,
            base_sequence: 0,
        })
    }

    async fn session(
        &self,
        frontier: &mut Frontier,
        new_identity: bool,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<End, ReplicationError> {
        let target_end = self.target_end().await?;
        let state = PartitionState {
            resume_offset: frontier.resume_offset,
            target_next: frontier.target_next,
            ..PartitionState::default()
        };
        let mut replay = reconcile(&state, target_end).map_err(|source| self.offsets_error(source))?;
        if replay.remaining() > 0 {
            tracing::info!(partition = %self.describe(), records = replay.remaining(),
                "records on the target beyond the logged position will be skipped, not written again");
        }
        let identity = self.identity(frontier, target_end, new_identity).await?;
        let mut session = Session {
            task: self,
            identity,
            queue: VecDeque::new(),
            fetch_offset: frontier.resume_offset,
            fetcher: None,
            producer: None,
            lag_seconds: 0.0,
            outbox: self.ctx.offset_syncs.as_ref().map(|s| s.outbox()),
        };
        let end = session.pump(frontier, &mut replay, shutdown).await;
        // Settle what is in flight before the next session reads the target's end offset:
        // after a clean stop every ack is logged; after a failure nothing behind it may be
        // logged (order), so the rest is only waited for.
        let failed = !matches!(end, Ok(End::Shutdown));
        session.drain(frontier, failed).await?;
        end
    }

    /// Logs `entry` and waits until the log is durable.
    async fn log_durably(&self, entry: Entry) -> Result<(), ReplicationError> {
        self.ctx
            .offsets
            .log(&self.key, entry)
            .map_err(|source| self.offsets_error(source))?;
        self.ctx
            .offsets
            .flush()
            .await
            .map_err(|source| self.offsets_error(source))
    }

    fn offsets_error(&self, source: crate::offsets::OffsetsError) -> ReplicationError {
        ReplicationError::Offsets {
            partition: self.describe(),
            source: Box::new(source.with_key(&self.key)),
        }
    }
}

struct Session<'a> {
    task: &'a PartitionTask,
    identity: ProducerIdentity,
    queue: VecDeque<Item>,
    fetch_offset: i64,
    /// The loops of the partitions' leaders, looked up once and kept while they serve: a
    /// fetch error drops the fetcher, a produce error ends the session.
    fetcher: Option<Fetcher>,
    producer: Option<Producer>,
    /// The last lag in seconds reported, kept while records are behind but none is in flight.
    lag_seconds: f64,
    /// Where acknowledged batches go for offset syncs (`None` when they are disabled).
    outbox: Option<SyncOutbox>,
}

impl Session<'_> {
    fn in_flight(&self) -> usize {
        self.queue.iter().filter(|i| matches!(i, Item::Sent(_))).count()
    }

    /// Age of the oldest record in flight; with none in flight, 0 when nothing visible is
    /// left to fetch, else the last value (records behind that were not fetched yet).
    fn lag_seconds(&mut self, records_behind: i64) -> f64 {
        let oldest = self.queue.iter().find_map(|i| match i {
            Item::Sent(s) => Some(s.oldest_timestamp),
            Item::Done(..) => None,
        });
        self.lag_seconds = match oldest {
            Some(Some(ts)) => (now_ms() - ts).max(0) as f64 / 1000.0,
            Some(None) => self.lag_seconds,
            None if records_behind <= 0 => 0.0,
            None => self.lag_seconds,
        };
        self.lag_seconds
    }

    async fn pump(
        &mut self,
        frontier: &mut Frontier,
        replay: &mut ReplaySkip,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<End, ReplicationError> {
        let t = self.task;
        let ctx = &t.ctx;
        loop {
            if *shutdown.borrow() {
                return Ok(End::Shutdown);
            }
            // Before every fetch: metadata is refreshed after each failed one (a deleted
            // topic's fetches fail), and a topic missing from it is not fetched until it shows
            // an id again, so a topic created again is seen before its offsets are read as the
            // old topic's.
            let checked =
                t.source_topic_id
                    .check(&ctx.source, &t.source_topic, || t.describe(), self.fetch_offset);
            if !checked? {
                let _ = ctx.source.refresh_topics(&[t.source_topic.to_string()]).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(cause) = self.settle(frontier, false).await? {
                return Ok(End::Recover(cause));
            }
            while self.in_flight() >= MAX_IN_FLIGHT_PER_PARTITION {
                if let Some(cause) = self.settle(frontier, true).await? {
                    return Ok(End::Recover(cause));
                }
            }
            let fetcher = match &self.fetcher {
                Some(f) => Ok(f.clone()),
                None => ctx.fetcher_for(&t.source_topic, t.partition).await,
            };
            self.fetcher = fetcher.as_ref().ok().cloned();
            // Room for what the fetch may return, reserved before asking: fetched data waiting
            // to be forwarded counts against the budget too, so memory does not grow with the
            // number of partitions. The fetcher turns it into the response's hold (`budget`).
            // Acks return budget without this task, so waiting here cannot starve the batches
            // this task has in flight.
            let room = usize::try_from(ctx.fetch_options.partition_max_bytes).unwrap_or(1);
            let room = tokio::select! {
                p = ctx.reserve(room) => p,
                _ = shutdown.wait_for(|s| *s) => return Ok(End::Shutdown),
            };
            let fetched = tokio::select! {
                r = async {
                    match fetcher {
                        Ok(f) => f.fetch(&ctx.source, &t.source_topic, t.partition, self.fetch_offset, room).await,
                        Err(e) => Err(e),
                    }
                } => r,
                _ = shutdown.wait_for(|s| *s) => return Ok(End::Shutdown),
            };
            let (fetched, hold) = match fetched {
                Ok(f) => f,
                Err(e) if e.error_code() == Some(ErrorCode(errors::OFFSET_OUT_OF_RANGE)) => {
                    // A topic created again is usually shorter than the old one: tell that
                    // apart from retention by its id.
                    let _ = ctx.source.refresh_topics(&[t.source_topic.to_string()]).await;
                    let describe = || t.describe();
                    if !t
                        .source_topic_id
                        .check(&ctx.source, &t.source_topic, describe, self.fetch_offset)?
                    {
                        continue; // Not seen again yet: decided at the next check.
                    }
                    return Err(ReplicationError::SourceDataLost {
                        partition: t.describe(),
                        offset: self.fetch_offset,
                    });
                }
                Err(e) if e.is_retriable() => {
                    tracing::debug!(partition = %t.describe(), error = %e, "fetch failed, retrying");
                    self.fetcher = None;
                    if e.needs_metadata_refresh() {
                        let _ = ctx.source.refresh_topics(&[t.source_topic.to_string()]).await;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(source) => {
                    return Err(ReplicationError::Cluster {
                        side: Side::Source,
                        source,
                    });
                }
            };
            let visible_end = if fetched.last_stable_offset >= 0 {
                fetched.last_stable_offset
            } else {
                fetched.high_watermark
            };
            let mut aborted = AbortedFilter::new(&fetched.aborted_transactions);
            for item in BatchIter::new(fetched.records) {
                let batch = item.map_err(|source| ReplicationError::Batch {
                    partition: t.describe(),
                    offset: self.fetch_offset,
                    source,
                })?;
                let action = classify(&batch, self.fetch_offset, &mut aborted);
                t.meters.batch_seen(action.label());
                match action {
                    Action::Skip(super::classify::SkipReason::BeforeFetchOffset) => continue,
                    Action::Skip(_) => self.queue.push_back(Item::Done(
                        Entry::Skipped {
                            source_next: batch.next_offset(),
                        },
                        None,
                    )),
                    Action::Forward | Action::Renumber => self.forward(&batch, action, &hold, replay).await?,
                }
                self.fetch_offset = self.fetch_offset.max(batch.next_offset());
            }
            let behind = visible_end - self.fetch_offset;
            let seconds = self.lag_seconds(behind);
            ctx.lag.record(&t.source_topic, t.partition, behind, seconds);
        }
    }

    /// Sends (or, on replay, accounts for) one batch.
    async fn forward(
        &mut self,
        batch: &RecordBatch,
        action: Action,
        hold: &ResponseHold,
        replay: &mut ReplaySkip,
    ) -> Result<(), ReplicationError> {
        let t = self.task;
        let ctx = &t.ctx;
        let limit = MAX_UNCOMPRESSED_BATCH_BYTES;
        let decode_err = |source| ReplicationError::Renumber {
            partition: t.describe(),
            offset: batch.base_offset(),
            source,
        };
        let source_next = batch.next_offset();
        // Records before the fetch offset were handled already (a batch can start before it).
        let mut start = self.fetch_offset.max(batch.base_offset());

        // Replay after a restart: the first records from here may be on the target already.
        if replay.remaining() > 0 {
            let offsets: Vec<i64> = if start == batch.base_offset() && action == Action::Forward {
                (0..i64::from(batch.record_count())).map(|d| start + d).collect()
            } else {
                decode_records_bounded(batch, limit)
                    .map_err(|source| {
                        decode_err(RenumberError::Undecodable {
                            base_offset: batch.base_offset(),
                            source,
                        })
                    })?
                    .iter()
                    .map(|r| batch.base_offset() + i64::from(r.offset_delta))
                    .filter(|o| *o >= start)
                    .collect()
            };
            let written = replay.remaining().min(offsets.len() as i64) as usize;
            if written > 0
                && let Some(target_base) = replay
                    .already_written(written as i32)
                    .map_err(|source| t.offsets_error(source))?
            {
                // A source broker may group records into other batches than before the
                // restart; then only the first part of this one is on the target.
                let end = offsets.get(written).copied().unwrap_or(source_next);
                self.queue.push_back(Item::Done(
                    Entry::Forwarded {
                        source_base: start,
                        source_next: end,
                        target_base,
                        record_count: written as i32,
                    },
                    Some(RecordOffsets::Listed(offsets[..written].into())),
                ));
                if written == offsets.len() {
                    return Ok(());
                }
                start = end;
            }
        }

        // A LogAppendTime batch whose records get its append time (`log.append.time.timestamps
        // = append-time`) is re-encoded; otherwise its records go as they are.
        let timestamps = if batch.is_log_append_time() {
            ctx.log_append_time
        } else {
            Timestamps::Keep
        };
        // Cut what is before `start`, give a gapped batch consecutive offsets, or give a
        // LogAppendTime batch's records its append time; each decodes and tells the source
        // offsets of the records kept.
        let reshaped: Option<(Bytes, Vec<i64>)> = if start > batch.base_offset() {
            metrics::batch_reshaped(&ctx.name, &t.source_topic, "trimmed");
            trim::drop_records_before(batch, start, limit, timestamps).map_err(decode_err)?
        } else if action == Action::Renumber {
            if ctx.fail_on_gapped {
                return Err(ReplicationError::GappedBatch {
                    partition: t.describe(),
                    offset: batch.base_offset(),
                });
            }
            metrics::batch_reshaped(&ctx.name, &t.source_topic, "renumbered");
            Some(renumber::renumber_with_offsets(batch, limit, timestamps).map_err(decode_err)?)
        } else if timestamps == Timestamps::AppendTime {
            Some(renumber::renumber_with_offsets(batch, limit, timestamps).map_err(decode_err)?)
        } else {
            None
        };
        if timestamps == Timestamps::AppendTime && reshaped.is_some() {
            metrics::batch_reshaped(&ctx.name, &t.source_topic, "append_time");
        }
        let (reshaped, records) = match reshaped {
            Some((bytes, offsets)) => {
                let reshaped =
                    RecordBatch::try_from_bytes(bytes).map_err(|source| ReplicationError::Batch {
                        partition: t.describe(),
                        offset: batch.base_offset(),
                        source,
                    })?;
                (Some(reshaped), RecordOffsets::Listed(offsets.into()))
            }
            None if start > batch.base_offset() => {
                // Nothing at or after the fetch offset: only the position moves.
                self.queue
                    .push_back(Item::Done(Entry::Skipped { source_next }, None));
                return Ok(());
            }
            // A batch without gaps, forwarded whole: record i is at base + i.
            None => (
                None,
                RecordOffsets::Contiguous {
                    first: batch.base_offset(),
                    count: batch.record_count(),
                },
            ),
        };
        let out = reshaped.as_ref().unwrap_or(batch);
        let record_count = out.record_count();
        let rewritten: RewrittenBatch =
            // The LogAppendTime bit never reaches the target: a LogAppendTime topic refuses it.
            rewrite(out, self.identity, RewriteOptions {
                clear_log_append_time: true,
            })
            .map_err(|source| {
                ReplicationError::Batch {
                    partition: t.describe(),
                    offset: batch.base_offset(),
                    source,
                }
            })?;
        // Kafka sequences wrap to 0 after i32::MAX (`DefaultRecordBatch.incrementSequence`).
        self.identity.base_sequence = match self.identity.base_sequence.checked_add(record_count) {
            Some(s) => s,
            None => record_count - (i32::MAX - self.identity.base_sequence) - 1,
        };
        let budget = match &reshaped {
            // A slice of the response, which the hold already counts.
            None => BatchBudget::slice(hold),
            // A copy: waiting for budget here, while this task keeps its response alive, could
            // wait forever if every response's partitions did the same; a copy made while the
            // budget is spent goes over it by its size until the target answers it.
            Some(_) => BatchBudget::copy(ctx.try_reserve(rewritten.len())),
        };
        let producer = match &self.producer {
            Some(p) => Ok(p.clone()),
            None => ctx.producer_for(&t.target_topic, t.partition).await,
        };
        self.producer = producer.as_ref().ok().cloned();
        let ack = match producer {
            Ok(p) => p.produce(&t.target_topic, t.partition, rewritten, budget).await,
            Err(e) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Err(e));
                rx
            }
        };
        t.meters.batch_sent(out.len(), record_count);
        ctx.lag.add_sent(record_count);
        t.meters.in_flight(
            ctx.budget_bytes - ctx.budget.available_permits(),
            ctx.budget_bytes,
        );
        self.queue.push_back(Item::Sent(Sent {
            max_timestamp: (!out.is_log_append_time()).then(|| out.max_timestamp()),
            oldest_timestamp: Some(if out.is_log_append_time() {
                out.max_timestamp()
            } else {
                out.base_timestamp()
            })
            .filter(|ts| *ts >= 0),
            source_base: start,
            source_next,
            record_count,
            records,
            ack,
        }));
        Ok(())
    }

    /// Logs every settled item at the front of the queue, in order. With `block`, waits for
    /// the first unsettled one. Returns the failure that ends the session, if any.
    async fn settle(
        &mut self,
        frontier: &mut Frontier,
        block: bool,
    ) -> Result<Option<Recovery>, ReplicationError> {
        let t = self.task;
        if let Some(outbox) = &mut self.outbox {
            outbox.retry();
        }
        loop {
            let (entry, records) = match self.queue.front_mut() {
                None => return Ok(None),
                Some(Item::Done(entry, records)) => (*entry, records.take()),
                Some(Item::Sent(sent)) => {
                    let stopped = || ClusterError::Request {
                        cluster: t.ctx.target.name().to_owned(),
                        what: "producing".to_owned(),
                        error: ErrorCode(errors::REQUEST_TIMED_OUT),
                        message: Some("the produce loop stopped before answering".to_owned()),
                    };
                    let result = if block {
                        (&mut sent.ack).await.unwrap_or_else(|_| Err(stopped()))
                    } else {
                        match sent.ack.try_recv() {
                            Ok(r) => r,
                            Err(oneshot::error::TryRecvError::Empty) => return Ok(None),
                            Err(oneshot::error::TryRecvError::Closed) => Err(stopped()),
                        }
                    };
                    match result {
                        Ok(ack) => {
                            if let Some(ts) = sent.max_timestamp {
                                t.meters
                                    .replication_latency((now_ms() - ts).max(0) as f64 / 1000.0);
                            }
                            let entry = Entry::Forwarded {
                                source_base: sent.source_base,
                                source_next: sent.source_next,
                                target_base: ack.base_offset,
                                record_count: sent.record_count,
                            };
                            (entry, Some(sent.records.clone()))
                        }
                        Err(e) => {
                            // Its outcome is consumed; whether it reached the target is
                            // settled by reconciliation in the next session.
                            let _ = self.queue.pop_front();
                            return self.failed(e);
                        }
                    }
                }
            };
            let _ = self.queue.pop_front();
            t.ctx
                .offsets
                .log(&t.key, entry)
                .map_err(|source| t.offsets_error(source))?;
            // Offset syncs only for what the target acknowledged, in order, after the log.
            if let (Some(outbox), Some(records), Entry::Forwarded { target_base, .. }) =
                (&mut self.outbox, records, entry)
            {
                outbox.offer(AckedBatch {
                    topic: t.source_topic.clone(),
                    partition: t.partition,
                    records,
                    target_base,
                });
            }
            match entry {
                Entry::Forwarded {
                    source_next,
                    target_base,
                    record_count,
                    ..
                } => {
                    frontier.resume_offset = source_next;
                    frontier.target_next = target_base + i64::from(record_count);
                }
                Entry::Skipped { source_next } => frontier.resume_offset = source_next,
                Entry::Baseline { .. } | Entry::Producer(_) => {}
            }
        }
    }

    fn failed(&self, e: ClusterError) -> Result<Option<Recovery>, ReplicationError> {
        Recovery::of(e)
            .map(Some)
            .map_err(|source| ReplicationError::Cluster {
                side: Side::Target,
                source,
            })
    }

    /// Waits for every batch in flight. Unless a failure already ended the session, the
    /// acknowledged prefix is logged; from the first failure on, acks are only waited for (the
    /// next session reconciles them from the target's end offset).
    async fn drain(&mut self, frontier: &mut Frontier, mut failed: bool) -> Result<(), ReplicationError> {
        let deadline = tokio::time::Instant::now() + self.task.ctx.produce_timeout();
        while !failed && !self.queue.is_empty() {
            match tokio::time::timeout_at(deadline, self.settle(frontier, true)).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(_))) | Err(_) => failed = true,
                Ok(Err(e)) => return Err(e),
            }
        }
        for item in self.queue.drain(..) {
            if let Item::Sent(sent) = item {
                let _ = tokio::time::timeout_at(deadline, sent.ack).await;
            }
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
