//! Single-partition operations routed to the partition leader: list offsets, fetch raw
//! batches, produce one batch; and the producer id a replicator needs at start-up (topic
//! administration is in `admin.rs`).
//!
//! Each operation is a pure `build_*` / `process_*` pair around one request; the async
//! wrappers route, send, and retry retriable failures after refreshing the topic's
//! metadata.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, InitProducerIdRequest, ListOffsetsRequest, ListOffsetsResponse,
    ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{Backoff, Cluster, ClusterError};
use crate::net::Connection;
use crate::protocol::errors::{self, ErrorCode};

/// Which offset ListOffsets should return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this (epoch ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::Timestamp(t) => t,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    ReadUncommitted,
    /// Only data up to the last stable offset; aborted transactions are listed.
    #[default]
    ReadCommitted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub isolation: IsolationLevel,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            isolation: IsolationLevel::ReadCommitted,
        }
    }
}

/// A transaction the broker reports as aborted (read_committed fetches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

/// One partition of a Fetch response, records left as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// A slice of the response frame: zero or more batches, possibly cut at the end.
    pub records: Bytes,
}

/// What the leader said about a produced batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceAck {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// A response that does not give the partition a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseIssue {
    Error {
        code: ErrorCode,
        message: Option<String>,
    },
    Missing,
}

pub(super) fn check(code: i16, message: Option<&StrBytes>) -> Result<(), ResponseIssue> {
    if code == errors::NONE {
        Ok(())
    } else {
        Err(ResponseIssue::Error {
            code: ErrorCode(code),
            message: message.map(|m| m.to_string()),
        })
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

// === ListOffsets ===

pub fn build_list_offsets_request(
    topic: &str,
    partition: i32,
    spec: OffsetSpec,
    isolation: IsolationLevel,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation as i8)
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(spec.wire()),
                ]),
        ])
}

pub fn process_list_offsets_response(
    r: &ListOffsetsResponse,
    topic: &str,
    partition: i32,
) -> Result<i64, ResponseIssue> {
    let p = r
        .topics
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or(ResponseIssue::Missing)?;
    check(p.error_code, None)?;
    Ok(p.offset)
}

// === Fetch ===

pub fn build_fetch_request(topic: &str, partition: i32, offset: i64, o: &FetchOptions) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(o.max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(o.min_bytes)
        .with_max_bytes(o.max_bytes)
        .with_isolation_level(o.isolation as i8)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(o.partition_max_bytes),
                ]),
        ])
}

pub fn process_fetch_response(
    r: FetchResponse,
    topic: &str,
    partition: i32,
) -> Result<FetchedPartition, ResponseIssue> {
    check(r.error_code, None)?;
    let p = r
        .responses
        .into_iter()
        .filter(|t| t.topic.0.as_str() == topic)
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or(ResponseIssue::Missing)?;
    process_fetch_partition(p)
}

/// One partition of a Fetch response; the records stay a slice of the response frame.
pub fn process_fetch_partition(p: PartitionData) -> Result<FetchedPartition, ResponseIssue> {
    check(p.error_code, None)?;
    let mut aborted: Vec<AbortedTransaction> = p
        .aborted_transactions
        .unwrap_or_default()
        .into_iter()
        .map(|a| AbortedTransaction {
            producer_id: a.producer_id.0,
            first_offset: a.first_offset,
        })
        .collect();
    aborted.sort_by_key(|a| a.first_offset);
    Ok(FetchedPartition {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        log_start_offset: p.log_start_offset,
        aborted_transactions: aborted,
        records: p.records.unwrap_or_default(),
    })
}

// === Produce ===

pub fn build_produce_request(
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
    timeout: Duration,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout.as_millis().min(i32::MAX as u128) as i32)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ])
}

pub fn process_produce_response(
    r: &ProduceResponse,
    topic: &str,
    partition: i32,
) -> Result<ProduceAck, ResponseIssue> {
    let p = r
        .responses
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == partition)
        .ok_or(ResponseIssue::Missing)?;
    if p.error_code != errors::NONE {
        let mut message: Vec<String> = p.error_message.iter().map(|m| m.to_string()).collect();
        message.extend(p.record_errors.iter().map(|e| {
            let text = e.batch_index_error_message.as_ref().map_or("", |m| m.as_str());
            format!("record {}: {text}", e.batch_index)
        }));
        return Err(ResponseIssue::Error {
            code: ErrorCode(p.error_code),
            message: (!message.is_empty()).then(|| message.join("; ")),
        });
    }
    Ok(ProduceAck {
        base_offset: p.base_offset,
        log_append_time_ms: p.log_append_time_ms,
        log_start_offset: p.log_start_offset,
    })
}

// === async wrappers ===

impl Cluster {
    fn partition_error(
        &self,
        api: &'static str,
        topic: &str,
        partition: i32,
        offset: Option<i64>,
        conn: &Connection,
        issue: ResponseIssue,
    ) -> ClusterError {
        match issue {
            ResponseIssue::Error { code, message } => ClusterError::Partition {
                cluster: self.name.clone(),
                api,
                topic: topic.to_owned(),
                partition,
                offset,
                error: code,
                message,
            },
            ResponseIssue::Missing => ClusterError::MissingPartition {
                cluster: self.name.clone(),
                broker: conn.addr().to_owned(),
                api,
                topic: topic.to_owned(),
                partition,
            },
        }
    }

    /// Runs `op` against the partition leader; retries retriable failures (after a metadata
    /// refresh where the metadata is the likely cause) up to `request_retries` times.
    /// Connection failures are retried only when `retry_connection_errors`: a request lost
    /// with its connection may or may not have been applied.
    async fn on_leader<T, F, Fut>(
        &self,
        topic: &str,
        partition: i32,
        retry_connection_errors: bool,
        op: F,
    ) -> Result<T, ClusterError>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<T, ClusterError>>,
    {
        self.retrying(
            || self.leader(topic, partition),
            Some(topic),
            retry_connection_errors,
            op,
        )
        .await
    }

    /// Runs `op` on the connection `route` gives, retrying retriable failures up to
    /// `request_retries` times with a jittered backoff; refreshes `topic`'s metadata first
    /// when it is the likely cause. A lost connection after the request was sent is retried
    /// only when `retry_connection_errors`.
    pub(super) async fn retrying<T, R, RFut, F, Fut>(
        &self,
        mut route: R,
        topic: Option<&str>,
        retry_connection_errors: bool,
        mut op: F,
    ) -> Result<T, ClusterError>
    where
        R: FnMut() -> RFut,
        RFut: Future<Output = Result<Connection, ClusterError>>,
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<T, ClusterError>>,
    {
        let mut backoff = Backoff::new(self.config.reconnect_backoff, self.config.reconnect_backoff_max);
        loop {
            let (result, sent) = match route().await {
                Ok(conn) => (op(conn).await, true),
                Err(e) => (Err(e), false),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let ambiguous = sent && matches!(err, ClusterError::Connection { .. });
            let retry = err.is_retriable()
                && backoff.attempts() < self.config.request_retries
                && (retry_connection_errors || !ambiguous);
            if !retry {
                return Err(err);
            }
            tracing::debug!(cluster = %self.name, topic, error = %err, "retrying");
            if let Some(topic) = topic
                && err.needs_metadata_refresh()
            {
                let _ = self.refresh_topics(&[topic.to_owned()]).await;
            }
            // The thread-local RNG must not live across the await (it is not Send).
            let delay = backoff.next_delay(&mut rand::rng());
            tokio::time::sleep(delay).await;
        }
    }

    /// The offset ListOffsets gives for a partition.
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<i64, ClusterError> {
        let request = build_list_offsets_request(topic, partition, spec, IsolationLevel::ReadCommitted);
        self.on_leader(topic, partition, true, |conn| {
            let request = &request;
            async move {
                let r = conn
                    .request(request)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                process_list_offsets_response(&r, topic, partition)
                    .map_err(|i| self.partition_error("ListOffsets", topic, partition, None, &conn, i))
            }
        })
        .await
    }

    /// Fetches raw batches of one partition from `offset`.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        options: &FetchOptions,
    ) -> Result<FetchedPartition, ClusterError> {
        let request = build_fetch_request(topic, partition, offset, options);
        self.on_leader(topic, partition, true, |conn| {
            let request = &request;
            async move {
                let r = conn
                    .request(request)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                process_fetch_response(r, topic, partition)
                    .map_err(|i| self.partition_error("Fetch", topic, partition, Some(offset), &conn, i))
            }
        })
        .await
    }

    /// Produces one batch (`acks=all`). A batch without a producer id is not resent after a
    /// lost connection, since the broker could not tell a resend from new data.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<ProduceAck, ClusterError> {
        let idempotent = crate::protocol::batch::RecordBatch::try_from_bytes(batch.clone())
            .is_ok_and(|b| b.producer_id() >= 0);
        let request = build_produce_request(topic, partition, batch, -1, self.config.request_timeout);
        self.on_leader(topic, partition, idempotent, |conn| {
            let request = &request;
            async move {
                let r = conn
                    .request(request)
                    .await
                    .map_err(|e| self.connection_error(e))?;
                process_produce_response(&r, topic, partition)
                    .map_err(|i| self.partition_error("Produce", topic, partition, None, &conn, i))
            }
        })
        .await
    }

    /// A connection to any live broker, for cluster-wide requests.
    pub async fn any_broker(&self) -> Result<Connection, ClusterError> {
        let mut last = None;
        for addr in self.metadata_candidates() {
            match self.connection(&addr).await {
                Ok(c) => return Ok(c),
                Err(e) => super::keep_final(&mut last, e, ClusterError::is_retriable),
            }
        }
        Err(last.unwrap_or_else(|| ClusterError::Bootstrap {
            cluster: self.name.clone(),
            tried: String::new(),
            last: crate::net::ConnectionError::Closed {
                addr: "(no address)".to_owned(),
            },
        }))
    }

    /// A producer id and epoch for an idempotent (non-transactional) producer.
    pub async fn init_producer_id(&self) -> Result<(i64, i16), ClusterError> {
        let conn = self.any_broker().await?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let r = conn
            .request(&request)
            .await
            .map_err(|e| self.connection_error(e))?;
        if r.error_code != errors::NONE {
            return Err(ClusterError::Request {
                cluster: self.name.clone(),
                what: "InitProducerId".to_owned(),
                error: ErrorCode(r.error_code),
                message: None,
            });
        }
        Ok((r.producer_id.0, r.producer_epoch))
    }
}
