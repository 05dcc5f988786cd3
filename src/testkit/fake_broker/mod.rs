//! An in-process Kafka broker on `127.0.0.1:0` that serves ApiVersions, Metadata,
//! ListOffsets, Fetch, Produce, InitProducerId and CreateTopics from in-memory logs, a group
//! coordinator (FindCoordinator, ListGroups, DescribeGroups, OffsetFetch, OffsetCommit), applies
//! the produce validation a real broker applies, and injects scripted faults.
//!
//! Like a real broker it handles one request at a time per connection and answers in
//! order; it reads ahead, so a pipelining client has several requests outstanding (counted
//! in [`FakeBroker::max_outstanding`]).

mod groups;
mod handlers;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use groups::FakeGroup;
use state::State;
pub use state::{StoredBatch, validate_produce};

use crate::protocol::frame;

/// A scripted misbehaviour, consumed when a matching request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer the next `times` requests of `api` with `code` (per partition where the API
    /// has partitions, at the top level otherwise).
    Error { api: ApiKey, code: i16, times: usize },
    /// Wait before answering the next `times` requests of `api`.
    Delay {
        api: ApiKey,
        delay: Duration,
        times: usize,
    },
    /// Stop answering on the connection that receives the next request of `api`, as a hung
    /// broker does; the socket stays open until the broker is dropped or kicked.
    Silence { api: ApiKey },
    /// Write only the first `bytes` of the next response of `api`, then close the connection.
    DisconnectAfterBytes { api: ApiKey, bytes: usize },
    /// Answer the next request of `api` with a frame whose length prefix is negative.
    Garbage { api: ApiKey },
}

impl Fault {
    fn api(&self) -> ApiKey {
        match self {
            Self::Error { api, .. }
            | Self::Delay { api, .. }
            | Self::Silence { api }
            | Self::DisconnectAfterBytes { api, .. }
            | Self::Garbage { api } => *api,
        }
    }
}

/// What the connection handler does with one request after consulting the faults.
enum Action {
    Answer {
        error: Option<i16>,
        delay: Option<Duration>,
    },
    Silence,
    Cut(usize),
    Garbage,
}

struct Shared {
    state: Mutex<State>,
    faults: Mutex<Vec<Fault>>,
    requests: Mutex<Vec<(ApiKey, i16)>>,
    outstanding: AtomicUsize,
    max_outstanding: AtomicUsize,
    connections: AtomicUsize,
    /// Bumped to drop every open connection.
    kick: watch::Sender<u64>,
}

impl Shared {
    fn take_action(&self, api: ApiKey) -> Action {
        let mut faults = self.faults.lock().unwrap();
        let Some(i) = faults.iter().position(|f| f.api() == api) else {
            return Action::Answer {
                error: None,
                delay: None,
            };
        };
        let (action, spent) = match &mut faults[i] {
            Fault::Error { code, times, .. } => {
                *times -= 1;
                (
                    Action::Answer {
                        error: Some(*code),
                        delay: None,
                    },
                    *times == 0,
                )
            }
            Fault::Delay { delay, times, .. } => {
                *times -= 1;
                (
                    Action::Answer {
                        error: None,
                        delay: Some(*delay),
                    },
                    *times == 0,
                )
            }
            Fault::Silence { .. } => (Action::Silence, true),
            Fault::DisconnectAfterBytes { bytes, .. } => (Action::Cut(*bytes), true),
            Fault::Garbage { .. } => (Action::Garbage, true),
        };
        if spent {
            let _ = faults.remove(i);
        }
        action
    }
}

/// A running fake broker. Dropping it stops the listener and every connection.
#[derive(Debug)]
pub struct FakeBroker {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.accept.abort();
        self.kick_connections();
    }
}

impl FakeBroker {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (kick, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(addr)),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            outstanding: AtomicUsize::new(0),
            max_outstanding: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            kick,
        });
        let accept_shared = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let _ = accept_shared.connections.fetch_add(1, Ordering::SeqCst);
                drop(tokio::spawn(serve(accept_shared.clone(), socket)));
            }
        });
        Self { addr, shared, accept }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.shared.state.lock().unwrap().create_topic(name, partitions);
    }

    /// Sets a configuration override on a topic (reported by DescribeConfigs).
    pub fn set_topic_config(&self, topic: &str, key: &str, value: &str) {
        self.shared.state.lock().unwrap().set_config(topic, key, value);
    }

    /// The configuration overrides of a topic (including those given at creation).
    pub fn topic_configs(&self, topic: &str) -> std::collections::BTreeMap<String, String> {
        self.shared.state.lock().unwrap().configs(topic)
    }

    /// Appends raw bytes to a partition log as they are (no validation, base offsets kept):
    /// the way to serve control batches, compacted gaps or garbage.
    pub fn append_raw(&self, topic: &str, partition: i32, bytes: Bytes) {
        self.shared
            .state
            .lock()
            .unwrap()
            .append_raw(topic, partition, bytes);
    }

    /// Reports these transactions as aborted in Fetch responses for the partition.
    pub fn set_aborted_transactions(&self, topic: &str, partition: i32, aborted: Vec<(i64, i64)>) {
        self.shared
            .state
            .lock()
            .unwrap()
            .set_aborted(topic, partition, aborted);
    }

    /// The batches stored in a partition, in order.
    pub fn log(&self, topic: &str, partition: i32) -> Vec<StoredBatch> {
        self.shared.state.lock().unwrap().log(topic, partition)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().unwrap().push(fault);
    }

    /// Every request received so far, as `(api, version)`.
    /// Sets a group's state and member count, keeping its offsets (creates the group).
    pub fn set_group(&self, group: &str, state: &str, members: usize) {
        let mut s = self.shared.state.lock().unwrap();
        let g = s.groups.entry(group.to_owned()).or_default();
        g.state = state.to_owned();
        g.members = members;
    }

    /// Commits an offset for a group as its consumers would (creates the group, `Empty`).
    pub fn commit_group_offset(&self, group: &str, topic: &str, partition: i32, offset: i64) {
        let mut s = self.shared.state.lock().unwrap();
        let g = s.groups.entry(group.to_owned()).or_insert_with(|| FakeGroup {
            state: "Empty".to_owned(),
            ..FakeGroup::default()
        });
        let _ = g
            .offsets
            .insert((topic.to_owned(), partition), (offset, String::new()));
    }

    /// A group as the broker holds it.
    pub fn group(&self, group: &str) -> Option<FakeGroup> {
        self.shared.state.lock().unwrap().groups.get(group).cloned()
    }

    pub fn requests(&self) -> Vec<(ApiKey, i16)> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self, api: ApiKey) -> usize {
        self.requests().iter().filter(|(a, _)| *a == api).count()
    }

    /// The most requests one connection had received but not yet answered.
    pub fn max_outstanding(&self) -> usize {
        self.shared.max_outstanding.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Closes every open connection (the listener keeps accepting).
    pub fn kick_connections(&self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }
}

async fn serve(shared: Arc<Shared>, socket: TcpStream) {
    let (mut read, mut write) = socket.into_split();
    let mut kicked = shared.kick.subscribe();
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    let reader_shared = shared.clone();
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            match frame::split(&mut buf, 256 * 1024 * 1024) {
                Ok(Some(request)) => {
                    let now = reader_shared.outstanding.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = reader_shared.max_outstanding.fetch_max(now, Ordering::SeqCst);
                    if tx.send(request).is_err() {
                        return;
                    }
                }
                Ok(None) => match read.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                Err(_) => return,
            }
        }
    });
    loop {
        let request = tokio::select! {
            _ = kicked.changed() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        let answer = handlers::handle(&shared, request).await;
        let _ = shared.outstanding.fetch_sub(1, Ordering::SeqCst);
        let Some((action, response)) = answer else { break };
        let written = match action {
            Action::Silence => {
                let _ = kicked.changed().await;
                break;
            }
            Action::Answer { .. } => write.write_all(&response).await,
            Action::Cut(n) => {
                let _ = write.write_all(&response[..n.min(response.len())]).await;
                break;
            }
            Action::Garbage => write.write_all(&(-5i32).to_be_bytes()).await,
        };
        if written.is_err() {
            break;
        }
    }
    reader.abort();
    let _ = write.shutdown().await;
}
