//! One produce loop per target broker. Partition tasks hand it batches (already carrying
//! kmirror's producer id, epoch and sequence); it packs at most one batch per partition into
//! each Produce request (a broker rule from v3 on), keeps up to `max_in_flight` requests on
//! the wire, and answers each batch with its acknowledgement or error.
//!
//! Requests are written in the order they are built and a broker handles one connection's
//! requests in order, so batches of one partition are appended in the order they were handed
//! in. The record bytes go into the request as slices of the fetch response (see
//! `protocol::produce`): nothing is copied.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ProduceRequest};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::budget::BatchBudget;
use super::produce_queue::PartitionQueues;
use super::topic_configs::oversized_batch_hint;
use crate::cluster::partition::{ResponseIssue, process_produce_response};
use crate::cluster::{Cluster, ClusterError, ProduceAck};
use crate::net::PendingResponse;
use crate::protocol::codec;
use crate::protocol::errors::ErrorCode;
use crate::protocol::produce::{ProducePartition, ProduceTopic, encode_produce_request};
use crate::protocol::rewrite::RewrittenBatch;

pub(crate) type AckResult = Result<ProduceAck, ClusterError>;

#[derive(Debug)]
struct Ask {
    topic: Arc<str>,
    partition: i32,
    batch: RewrittenBatch,
    reply: oneshot::Sender<AckResult>,
    /// The batch's share of the memory budget, returned when the batch is answered (acked
    /// or failed), whether or not its partition task has looked at the answer yet.
    _budget: BatchBudget,
}

/// A handle to the produce loop of one target broker.
#[derive(Debug, Clone)]
pub(crate) struct Producer {
    tx: mpsc::Sender<Ask>,
}

impl Producer {
    pub(crate) fn spawn(
        cluster: Arc<Cluster>,
        addr: String,
        max_in_flight: usize,
        timeout: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        drop(tokio::spawn(run(
            cluster,
            addr,
            max_in_flight.max(1),
            timeout,
            rx,
        )));
        Self { tx }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queues a batch; the receiver yields its acknowledgement.
    pub(crate) async fn produce(
        &self,
        topic: &Arc<str>,
        partition: i32,
        batch: RewrittenBatch,
        budget: BatchBudget,
    ) -> oneshot::Receiver<AckResult> {
        let (reply, rx) = oneshot::channel();
        let ask = Ask {
            topic: topic.clone(),
            partition,
            batch,
            reply,
            _budget: budget,
        };
        // If the loop is gone the reply sender is dropped with the ask and the caller sees
        // a closed receiver, which it treats as a retriable failure.
        let _ = self.tx.send(ask).await;
        rx
    }
}

/// Batch bytes one Produce request carries at most (a single larger batch goes alone). A
/// broker closes the connection on a request over its `socket.request.max.bytes` (100 MiB by
/// default), and with batches of several MiB from many partitions one request per broker
/// could otherwise pass that.
const MAX_REQUEST_BATCH_BYTES: usize = 32 << 20;

type Pending = PartitionQueues<(Arc<str>, i32), Ask>;

/// The first waiting batch of every partition, up to [`MAX_REQUEST_BATCH_BYTES`].
fn next_request(pending: &mut Pending) -> Vec<Ask> {
    pending.take_request(|a| a.batch.len(), MAX_REQUEST_BATCH_BYTES)
}

fn push(pending: &mut Pending, ask: Ask) {
    pending.push((ask.topic.clone(), ask.partition), ask);
}

async fn run(
    cluster: Arc<Cluster>,
    addr: String,
    max_in_flight: usize,
    timeout: Duration,
    mut rx: mpsc::Receiver<Ask>,
) {
    let mut pending = Pending::default();
    let latency = crate::metrics::produce_latency(cluster.name());
    let mut in_flight = JoinSet::new();
    let mut open = true;
    loop {
        if !open && pending.is_empty() && in_flight.is_empty() {
            return;
        }
        tokio::select! {
            ask = rx.recv(), if open => match ask {
                Some(ask) => push(&mut pending, ask),
                None => open = false,
            },
            _ = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
        while let Ok(ask) = rx.try_recv() {
            push(&mut pending, ask);
        }
        while in_flight.len() < max_in_flight && !pending.is_empty() {
            let asks = next_request(&mut pending);
            // Sending happens here, in order; only the wait for the response is spawned.
            match send(&cluster, &addr, timeout, &asks).await {
                Ok((version, sent)) => {
                    let started = tokio::time::Instant::now();
                    let answer = complete(cluster.clone(), version, sent, asks, started, latency.clone());
                    drop(in_flight.spawn(answer));
                }
                Err(e) => {
                    // The broker cannot be reached: the batches waiting for it would each
                    // wait out a reconnect delay only to fail the same way, and their
                    // partitions wait for all of them before they can start again.
                    let unreachable = matches!(e, ClusterError::Connection { .. });
                    let waiting = if unreachable {
                        pending.take_all()
                    } else {
                        Vec::new()
                    };
                    for ask in asks.into_iter().chain(waiting) {
                        let _ = ask.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

async fn send(
    cluster: &Cluster,
    addr: &str,
    timeout: Duration,
    asks: &[Ask],
) -> Result<(i16, PendingResponse), ClusterError> {
    let wrap = |source| ClusterError::Connection {
        cluster: cluster.name().to_owned(),
        source,
    };
    let conn = cluster.connection(addr).await?;
    let version = conn.version(ApiKey::Produce).map_err(wrap)?;
    let mut topics: Vec<ProduceTopic> = Vec::new();
    for ask in asks {
        let partition = ProducePartition {
            partition: ask.partition,
            batch: ask.batch.clone(),
        };
        match topics.iter_mut().find(|t| t.name == *ask.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(ProduceTopic {
                name: ask.topic.to_string(),
                partitions: vec![partition],
            }),
        }
    }
    let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let client_id = conn.client_id().to_owned();
    let pending = conn
        .send_raw(ApiKey::Produce, |id| {
            encode_produce_request(version, id, &client_id, -1, timeout_ms, &topics)
        })
        .await
        .map_err(wrap)?;
    Ok((version, pending))
}

async fn complete(
    cluster: Arc<Cluster>,
    version: i16,
    sent: PendingResponse,
    asks: Vec<Ask>,
    started: tokio::time::Instant,
    latency: metrics::Histogram,
) {
    let wrap = |source| ClusterError::Connection {
        cluster: cluster.name().to_owned(),
        source,
    };
    let answer = sent.response().await;
    latency.record(started.elapsed().as_secs_f64());
    let response = match answer {
        Ok((id, frame)) => codec::decode_response::<ProduceRequest>(frame, version, id).map_err(|source| {
            wrap(crate::net::ConnectionError::Codec {
                addr: "(produce response)".to_owned(),
                source,
            })
        }),
        Err(e) => Err(wrap(e)),
    };
    for ask in asks {
        let result = match &response {
            Err(e) => Err(e.clone()),
            Ok(r) => process_produce_response(r, &ask.topic, ask.partition).map_err(|issue| {
                let (error, message) = match issue {
                    ResponseIssue::Error { code, message } => {
                        // A batch the target refuses for its size: say what to change.
                        let hint = oversized_batch_hint(code, &ask.topic, ask.batch.len());
                        let message = match (message, hint) {
                            (Some(m), Some(h)) => Some(format!("{m}; {h}")),
                            (m, h) => m.or(h),
                        };
                        (code, message)
                    }
                    ResponseIssue::Missing => (
                        ErrorCode(-1),
                        Some("partition missing from the response".to_owned()),
                    ),
                };
                ClusterError::Partition {
                    cluster: cluster.name().to_owned(),
                    api: "Produce",
                    topic: ask.topic.to_string(),
                    partition: ask.partition,
                    offset: None,
                    error,
                    message,
                }
            }),
        };
        let _ = ask.reply.send(result);
    }
}
