//! The synthetic source and sink: two Kafka brokers in memory, each on its own thread (named
//! [`SYNTH_THREAD`](crate::bench::cpu::SYNTH_THREAD) so its CPU time can be told apart) with a
//! single-threaded runtime.
//!
//! - The source serves one topic of `partitions` partitions that never ends: a Fetch at
//!   offset `o` gets copies of one pre-built batch with base offsets `o`, `o + n`, ... up to
//!   the partition's byte limit, and a high watermark just after them.
//! - The sink knows the target topic, hands out producer ids, and checks every produced batch
//!   as a broker does (`validate_produce`: framing, one batch, CRC), plus: the records
//!   section is byte for byte the one the source served, and sequences follow on per
//!   partition. A batch failing a check is answered with the broker's error and counted.
//!
//! With a TLS server configuration both brokers accept only TLS (tokio-rustls), on the same
//! threads, so the handshake and decryption are not counted as kmirror's CPU time.
//!
//! Every response can be held back by an injected round-trip time (a WAN link); requests on a
//! connection stay pipelined, answered in order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, FetchRequest, InitProducerIdResponse,
    ListOffsetsRequest, MetadataRequest, ProduceRequest, ProducerId,
};
use kafka_protocol::protocol::{Decodable, decode_request_header_from_buffer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::super::cpu::SYNTH_THREAD;
use super::super::latency::Histogram;
use super::answers::{fetch, list_offsets, metadata, produce};
use crate::protocol::answer;
use crate::protocol::batch::RecordBatch;
use crate::protocol::codec::encode_response;
use crate::protocol::errors;
use crate::protocol::frame;

const MAX_REQUEST_BYTES: usize = 256 * 1024 * 1024;

/// Counters of what the sink accepted and refused.
#[derive(Debug, Default)]
pub(crate) struct SinkStats {
    pub(crate) batches: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) first_rejection: Mutex<Option<String>>,
    pub(crate) latency: Mutex<Histogram>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct SinkPartition {
    pub(super) next_offset: i64,
    pub(super) producer_id: i64,
    pub(super) next_sequence: i32,
}

/// A range of source offsets served by one Fetch, and when its response left.
#[derive(Debug, Clone, Copy)]
pub(super) struct Served {
    pub(super) start: i64,
    pub(super) end: i64,
    pub(super) at: Instant,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) source_topic: String,
    pub(super) target_topic: String,
    pub(super) partitions: i32,
    pub(super) batch: RecordBatch,
    pub(super) rtt: Duration,
    /// Bytes per second the source serves at most (0: as fast as asked), and what it served.
    pub(super) rate: u64,
    pub(super) paced: Mutex<(Instant, u64)>,
    pub(super) served: Vec<Mutex<VecDeque<Served>>>,
    pub(super) sink: Mutex<Vec<SinkPartition>>,
    pub(super) next_producer_id: AtomicI64,
    pub(crate) stats: SinkStats,
    /// The TLS version and cipher suite of the last connection accepted over TLS.
    pub(crate) tls_session: Mutex<Option<String>>,
}

/// The two brokers; dropping this stops them.
#[derive(Debug)]
pub(crate) struct Brokers {
    pub(crate) source: SocketAddr,
    pub(crate) sink: SocketAddr,
    pub(crate) shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Brokers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Role {
    Source,
    Sink,
}

/// Starts the source (serving `batch` on `source_topic`) and the sink (accepting
/// `target_topic`), over TLS with `tls`.
pub(crate) fn start(
    source_topic: &str,
    target_topic: &str,
    partitions: i32,
    batch: RecordBatch,
    rtt: Duration,
    bytes_per_second: u64,
    tls: Option<Arc<ServerConfig>>,
) -> std::io::Result<Brokers> {
    let shared = Arc::new(Shared {
        source_topic: source_topic.to_owned(),
        target_topic: target_topic.to_owned(),
        partitions,
        batch,
        rtt,
        rate: bytes_per_second,
        paced: Mutex::new((Instant::now(), 0)),
        served: (0..partitions).map(|_| Mutex::new(VecDeque::new())).collect(),
        sink: Mutex::new(vec![
            SinkPartition {
                producer_id: -1,
                ..SinkPartition::default()
            };
            partitions.max(0) as usize
        ]),
        next_producer_id: AtomicI64::new(1000),
        stats: SinkStats::default(),
        tls_session: Mutex::new(None),
    });
    let (stop, stopped) = watch::channel(false);
    let mut threads = Vec::new();
    let mut addrs = Vec::new();
    for role in [Role::Source, Role::Sink] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        addrs.push(listener.local_addr()?);
        let (shared, stopped) = (shared.clone(), stopped.clone());
        let acceptor = tls.clone().map(TlsAcceptor::from);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        threads.push(
            std::thread::Builder::new()
                .name(SYNTH_THREAD.to_owned())
                .spawn(move || runtime.block_on(accept(listener, acceptor, role, shared, stopped)))?,
        );
    }
    Ok(Brokers {
        source: addrs[0],
        sink: addrs[1],
        shared,
        stop,
        threads,
    })
}

async fn accept(
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    role: Role,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let addr = listener.local_addr().ok();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                let shared = shared.clone();
                drop(match &tls {
                    None => tokio::spawn(connection(socket, role, shared, addr)),
                    Some(acceptor) => {
                        let handshake = acceptor.accept(socket);
                        tokio::spawn(async move {
                            // A failed handshake closes the connection; kmirror reports it.
                            if let Ok(stream) = handshake.await {
                                let session = stream.get_ref().1;
                                if let (Some(v), Some(c)) = (session.protocol_version(), session.negotiated_cipher_suite()) {
                                    let mut s = shared.tls_session.lock().unwrap_or_else(|p| p.into_inner());
                                    *s = Some(format!("{v:?}, {:?}", c.suite()));
                                }
                                connection(stream, role, shared, addr).await;
                            }
                        })
                    }
                });
            }
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

async fn connection<S>(socket: S, role: Role, shared: Arc<Shared>, addr: Option<SocketAddr>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut read, mut write) = tokio::io::split(socket);
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Bytes)>();
    let writer = tokio::spawn(async move {
        while let Some((at, response)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            // TLS may keep part of a record buffered until a flush.
            if write.write_all(&response).await.is_err() || write.flush().await.is_err() {
                return;
            }
        }
    });
    let mut buf = BytesMut::with_capacity(1 << 20);
    loop {
        match frame::split(&mut buf, MAX_REQUEST_BYTES) {
            Ok(Some(request)) => {
                let due = Instant::now() + shared.rtt;
                let Some((response, later)) = handle(&shared, role, addr, request, due) else {
                    break;
                };
                let due = later.map_or(due, |l| l.max(due));
                if tx.send((due, response)).is_err() {
                    break;
                }
            }
            Ok(None) => {
                if buf.capacity() - buf.len() < 256 * 1024 {
                    buf.reserve(1 << 20);
                }
                match read.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            Err(_) => break,
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Answers one request frame; `None` closes the connection (as a broker does on garbage).
fn handle(
    shared: &Shared,
    role: Role,
    addr: Option<SocketAddr>,
    mut frame: Bytes,
    due: Instant,
) -> Option<(Bytes, Option<Instant>)> {
    let header = decode_request_header_from_buffer(&mut frame).ok()?;
    let api = ApiKey::try_from(header.request_api_key).ok()?;
    let (v, cid) = (header.request_api_version, header.correlation_id);
    let response = match (api, role) {
        (ApiKey::ApiVersions, _) => encode_response(cid, v, &answer::api_versions(0)).ok(),
        (ApiKey::Metadata, _) => {
            let req = MetadataRequest::decode(&mut frame, v).ok()?;
            encode_response(cid, v, &metadata(shared, role, addr?, &req)).ok()
        }
        (ApiKey::ListOffsets, _) => {
            let req = ListOffsetsRequest::decode(&mut frame, v).ok()?;
            encode_response(cid, v, &list_offsets(shared, role, &req)).ok()
        }
        (ApiKey::Fetch, Role::Source) => {
            let req = FetchRequest::decode(&mut frame, v).ok()?;
            let (response, served) = fetch(shared, &req, due);
            let response = encode_response(cid, v, &response).ok()?;
            if served == 0 {
                // Nothing to serve at the paced rate yet: long-poll a little, as a broker
                // holds a fetch for min_bytes.
                let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0).min(10));
                return Some((response, Some(Instant::now() + wait)));
            }
            return Some((response, None));
        }
        (ApiKey::DescribeConfigs, _) => {
            // No topic overrides: both topics take the brokers' defaults (kmirror compares the
            // batch size limits of source and target topics at start).
            let req = DescribeConfigsRequest::decode(&mut frame, v).ok()?;
            let results = req
                .resources
                .iter()
                .map(|r| {
                    DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name.clone())
                })
                .collect();
            encode_response(cid, v, &DescribeConfigsResponse::default().with_results(results)).ok()
        }
        (ApiKey::InitProducerId, Role::Sink) => {
            let id = shared.next_producer_id.fetch_add(1, Ordering::Relaxed);
            let body = InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0);
            encode_response(cid, v, &body).ok()
        }
        (ApiKey::Produce, Role::Sink) => {
            let req = ProduceRequest::decode(&mut frame, v).ok()?;
            encode_response(cid, v, &produce(shared, &req)).ok()
        }
        _ => None,
    }?;
    Some((response, None))
}

impl Shared {
    pub(super) fn topic(&self, role: Role) -> &str {
        match role {
            Role::Source => &self.source_topic,
            Role::Sink => &self.target_topic,
        }
    }

    pub(super) fn partition(&self, partition: i32) -> Option<usize> {
        (0..self.partitions)
            .contains(&partition)
            .then_some(partition as usize)
    }

    pub(super) fn reject(&self, why: String) -> i16 {
        let _ = self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .stats
            .first_rejection
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(why);
        errors::INVALID_RECORD
    }
}
