//! One fetch loop per source broker. Partition tasks ask for "topic-partition from offset";
//! the loop gathers every ask that is waiting into one multi-partition Fetch request
//! (read_committed), sends it to the broker and hands each partition its slice of the
//! response. The records stay slices of the response frame: nothing is copied or decoded.
//!
//! Every ask brings the budget its partition reserved for what it may receive: the rooms of
//! one request cap its `max_bytes`, and what the response holds stays counted until its last
//! batch is answered (`budget`).
//!
//! One request is in flight per broker (a broker reads a connection's next request only after
//! answering the previous one); asks that arrive meanwhile ride on the next one. A fetch
//! returns as soon as any partition in it has data (min_bytes 1), but a fetch of idle
//! partitions alone waits the whole `max_wait` for data that may not come, and busy partitions
//! that ask meanwhile would wait behind it: one idle partition (a `heartbeats` topic) on a
//! broker cut a catch-up to a quarter of its rate. So a request of idle partitions only is held
//! back while partitions that just received data are expected to ask again (see [`Expected`]),
//! at most `max_wait`: it then leaves with them, and returns as soon as they have data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::budget::{ResponseHold, hold_response};
use crate::cluster::partition::{ResponseIssue, process_fetch_partition};
use crate::cluster::{Cluster, ClusterError, FetchOptions, FetchedPartition};

/// A partition's slice of a fetch response and the budget the response holds.
pub(crate) type Fetched = (FetchedPartition, ResponseHold);

type Reply = oneshot::Sender<Result<Fetched, ClusterError>>;

#[derive(Debug)]
struct Ask {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    /// The budget reserved for what this partition may receive, until the response is in.
    room: Option<OwnedSemaphorePermit>,
    reply: Reply,
}

/// A handle to the fetch loop of one source broker.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    tx: mpsc::Sender<Ask>,
}

impl Fetcher {
    pub(crate) fn spawn(
        cluster: Arc<Cluster>,
        addr: String,
        options: FetchOptions,
        budget: Arc<Semaphore>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        drop(tokio::spawn(run(cluster, addr, options, budget, rx)));
        Self { tx }
    }

    /// Whether the loop is still running (it ends when every handle is dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Fetches from `offset`, at most `room`'s bytes (but a first batch larger than that, as
    /// brokers do); the room becomes part of the response's hold.
    pub(crate) async fn fetch(
        &self,
        cluster: &Cluster,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        room: OwnedSemaphorePermit,
    ) -> Result<Fetched, ClusterError> {
        let (reply, rx) = oneshot::channel();
        let ask = Ask {
            topic: topic.clone(),
            partition,
            offset,
            room: Some(room),
            reply,
        };
        let gone = || ClusterError::Connection {
            cluster: cluster.name().to_owned(),
            source: crate::net::ConnectionError::Closed {
                addr: "(fetch loop stopped)".to_owned(),
            },
        };
        self.tx.send(ask).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Never more than the partitions reserved: many partitions cannot all hold full responses.
fn build_request(asks: &[Ask], options: &FetchOptions) -> FetchRequest {
    let cap = |n: usize| i32::try_from(n).unwrap_or(i32::MAX).max(1);
    let room = |a: &Ask| a.room.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
    let rooms: usize = asks.iter().map(room).sum();
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ask in asks {
        let partition = FetchPartition::default()
            .with_partition(ask.partition)
            .with_fetch_offset(ask.offset)
            .with_partition_max_bytes(options.partition_max_bytes.min(cap(room(ask))));
        match topics.iter_mut().find(|t| t.topic.0.as_str() == &*ask.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(ask.topic.to_string())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchRequest::default()
        .with_max_wait_ms(options.max_wait.as_millis().min(i32::MAX as u128) as i32)
        .with_min_bytes(options.min_bytes)
        .with_max_bytes(options.max_bytes.min(cap(rooms)))
        .with_isolation_level(options.isolation as i8)
        .with_topics(topics)
}

type Key = (Arc<str>, i32);

fn key(ask: &Ask) -> Key {
    (ask.topic.clone(), ask.partition)
}

/// The partitions that received records in their last fetch and have not asked again: a busy
/// partition asks again as soon as it has handed its batches to the produce loop. Each is
/// expected for `max_wait` after its answer, no longer (its task may be waiting for acks or
/// budget, or gone).
#[derive(Debug, Default)]
struct Expected {
    hot: HashMap<Key, Instant>,
    /// Partitions whose last answer carried no records and showed none waiting: only a request
    /// of these alone is held.
    /// A partition that had records and asks again late (it waited for acks or for budget)
    /// is busy, not idle: holding it back stalled 1,000 partitions sharing a small budget, where
    /// most asks come from such partitions, to a few percent of their rate.
    idle: HashSet<Key>,
}

impl Expected {
    /// How long to hold back a request of `asking`: until one of the expected partitions asks,
    /// or the last of them stops being expected. `None` to send at once (a busy partition is
    /// asking, or none is expected).
    fn hold_until(
        &mut self,
        asking: impl IntoIterator<Item = Key>,
        now: Instant,
        max_wait: Duration,
    ) -> Option<Instant> {
        self.hot.retain(|_, answered| *answered + max_wait > now);
        let mut any_hot = false;
        let mut all_idle = true;
        for k in asking {
            all_idle &= self.idle.contains(&k);
            any_hot |= self.hot.remove(&k).is_some();
        }
        if any_hot || !all_idle {
            return None;
        }
        self.hot.values().map(|answered| *answered + max_wait).max()
    }

    /// Whether `k` is expected: its ask ends a hold.
    fn is_expected(&mut self, k: &Key) -> bool {
        self.hot.remove(k).is_some()
    }

    /// A partition's answer: expected again if it carried records.
    fn answered(&mut self, k: Key, had_records: bool, now: Instant) {
        if had_records {
            let _ = self.idle.remove(&k);
            let _ = self.hot.insert(k, now);
        } else {
            let _ = self.hot.remove(&k);
            let _ = self.idle.insert(k);
        }
    }
}

async fn run(
    cluster: Arc<Cluster>,
    addr: String,
    options: FetchOptions,
    budget: Arc<Semaphore>,
    mut rx: mpsc::Receiver<Ask>,
) {
    let mut expected = Expected::default();
    while let Some(first) = rx.recv().await {
        let mut asks = vec![first];
        while let Ok(more) = rx.try_recv() {
            asks.push(more);
        }
        let asking = asks.iter().map(key).collect::<Vec<_>>();
        if let Some(until) = expected.hold_until(asking, Instant::now(), options.max_wait) {
            // Idle partitions only: wait for a busy one, so that the long poll does not hold
            // it back.
            while let Ok(Some(ask)) = tokio::time::timeout_at(until, rx.recv()).await {
                let busy = expected.is_expected(&key(&ask));
                asks.push(ask);
                if busy {
                    break;
                }
            }
            while let Ok(more) = rx.try_recv() {
                asks.push(more);
            }
        }
        // A partition appears once per request; a second ask for it waits for the next round.
        let mut seen = HashSet::new();
        let mut later = Vec::new();
        let mut now = Vec::with_capacity(asks.len());
        for ask in asks {
            if !seen.insert((ask.topic.clone(), ask.partition)) {
                later.push(ask);
            } else {
                now.push(ask);
            }
        }
        for (k, had_records) in serve(&cluster, &addr, &options, &budget, now).await {
            expected.answered(k, had_records, Instant::now());
        }
        if !later.is_empty() {
            for (k, had_records) in serve(&cluster, &addr, &options, &budget, later).await {
                expected.answered(k, had_records, Instant::now());
            }
        }
    }
}

/// Sends one Fetch for `asks` and answers each; returns, per partition answered, whether its
/// answer carried records.
async fn serve(
    cluster: &Cluster,
    addr: &str,
    options: &FetchOptions,
    budget: &Arc<Semaphore>,
    mut asks: Vec<Ask>,
) -> Vec<(Key, bool)> {
    let request = build_request(&asks, options);
    let response = match cluster.connection(addr).await {
        Ok(conn) => {
            let started = tokio::time::Instant::now();
            let r = conn
                .request(&request)
                .await
                .map_err(|source| ClusterError::Connection {
                    cluster: cluster.name().to_owned(),
                    source,
                });
            crate::metrics::fetch_latency(cluster.name(), started.elapsed().as_secs_f64());
            r
        }
        Err(e) => Err(e),
    };
    let mut response = match response {
        Ok(r) if r.error_code != 0 => {
            let error = crate::protocol::errors::ErrorCode(r.error_code);
            for ask in asks {
                let e = partition_error(cluster, &ask, error, None);
                let _ = ask.reply.send(Err(e));
            }
            return Vec::new();
        }
        Ok(r) => r,
        Err(e) => {
            for ask in asks {
                let _ = ask.reply.send(Err(e.clone()));
            }
            return Vec::new();
        }
    };
    // The records are slices of one frame, which lives as long as any of them.
    let size: usize = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    let mut rooms: Option<OwnedSemaphorePermit> = None;
    for room in asks.iter_mut().filter_map(|a| a.room.take()) {
        match &mut rooms {
            Some(r) => r.merge(room),
            None => rooms = Some(room),
        }
    }
    let hold = hold_response(budget, rooms, size);
    let mut by_partition = HashMap::new();
    for topic in std::mem::take(&mut response.responses) {
        let name: Arc<str> = Arc::from(topic.topic.0.as_str());
        for p in topic.partitions {
            let _ = by_partition.insert((name.clone(), p.partition_index), p);
        }
    }
    let mut answered = Vec::with_capacity(asks.len());
    for ask in asks {
        let data = by_partition.remove(&(ask.topic.clone(), ask.partition));
        // Busy: records came, or more are visible than it asked from. A response is filled up to
        // its max_bytes in request order, so with many partitions the last ones often come back
        // empty with data waiting: they are not idle.
        let had_records = data.as_ref().is_some_and(|p| {
            let visible_end = if p.last_stable_offset >= 0 {
                p.last_stable_offset
            } else {
                p.high_watermark
            };
            p.records.as_ref().is_some_and(|r| !r.is_empty()) || visible_end > ask.offset
        });
        answered.push((key(&ask), had_records));
        let result =
            match data {
                None => Err(ClusterError::MissingPartition {
                    cluster: cluster.name().to_owned(),
                    broker: addr.to_owned(),
                    api: "Fetch",
                    topic: ask.topic.to_string(),
                    partition: ask.partition,
                }),
                Some(data) => process_fetch_partition(data)
                    .map(|f| (f, hold.clone()))
                    .map_err(|issue| match issue {
                        ResponseIssue::Error { code, message } => {
                            partition_error(cluster, &ask, code, message)
                        }
                        ResponseIssue::Missing => {
                            partition_error(cluster, &ask, crate::protocol::errors::ErrorCode(-1), None)
                        }
                    }),
            };
        let _ = ask.reply.send(result);
    }
    answered
}

fn partition_error(
    cluster: &Cluster,
    ask: &Ask,
    error: crate::protocol::errors::ErrorCode,
    message: Option<String>,
) -> ClusterError {
    ClusterError::Partition {
        cluster: cluster.name().to_owned(),
        api: "Fetch",
        topic: ask.topic.to_string(),
        partition: ask.partition,
        offset: Some(ask.offset),
        error,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(budget: &Arc<Semaphore>, partition: i32, room: u32) -> Ask {
        Ask {
            topic: Arc::from("t"),
            partition,
            offset: 0,
            room: Some(
                budget
                    .clone()
                    .try_acquire_many_owned(room)
                    .expect("budget available"),
            ),
            reply: oneshot::channel().0,
        }
    }

    fn k(partition: i32) -> Key {
        (Arc::from("t"), partition)
    }

    #[test]
    fn idle_partitions_wait_for_busy_ones_at_most_max_wait() {
        let wait = Duration::from_millis(500);
        let t0 = Instant::now();
        let mut e = Expected::default();
        // Nothing expected: send at once.
        assert_eq!(e.hold_until([k(9)], t0, wait), None);
        // Partitions 0 and 1 got records; 9 (idle) asks alone: held until 1's expectation ends.
        e.answered(k(0), true, t0);
        e.answered(k(1), true, t0 + Duration::from_millis(100));
        e.answered(k(9), false, t0);
        let now = t0 + Duration::from_millis(150);
        assert_eq!(
            e.hold_until([k(9)], now, wait),
            Some(t0 + Duration::from_millis(600))
        );
        // A busy partition's ask ends the hold.
        assert!(e.is_expected(&k(0)));
        assert!(!e.is_expected(&k(0)), "asked once");
        // A request with a busy partition leaves at once.
        assert_eq!(e.hold_until([k(9), k(1)], now, wait), None);
        // Expectations end max_wait after the answer: a partition stuck on acks, or gone.
        e.answered(k(2), true, t0);
        assert_eq!(e.hold_until([k(9)], t0 + wait, wait), None);
        // An empty answer is no reason to wait for a partition.
        e.answered(k(3), true, t0);
        e.answered(k(3), false, t0);
        assert_eq!(e.hold_until([k(9)], t0, wait), None);
    }

    #[test]
    fn only_idle_partitions_are_held() {
        let wait = Duration::from_millis(500);
        let t0 = Instant::now();
        let mut e = Expected::default();
        e.answered(k(0), true, t0);
        e.answered(k(1), true, t0);
        // Never answered: not known to be idle, so it goes at once.
        assert_eq!(e.hold_until([k(7)], t0, wait), None);
        // Partition 1 had records, and asks again after its expectation ended (it waited for
        // budget or acks) while 0 is expected: it is busy, not idle, and goes at once.
        e.answered(k(2), true, t0 + wait);
        assert_eq!(
            e.hold_until([k(1)], t0 + wait + Duration::from_millis(1), wait),
            None
        );
        // An idle one alone is held for the expected partition 2.
        e.answered(k(9), false, t0);
        assert!(
            e.hold_until([k(9)], t0 + wait + Duration::from_millis(1), wait)
                .is_some()
        );
    }

    #[test]
    fn a_request_asks_for_no_more_than_its_partitions_reserved() {
        let budget = Arc::new(Semaphore::new(1 << 20));
        let options = FetchOptions {
            max_bytes: 8 << 20,
            partition_max_bytes: 1 << 20,
            ..FetchOptions::default()
        };
        let asks: Vec<Ask> = (0..3).map(|p| ask(&budget, p, 100 + p as u32)).collect();
        let request = build_request(&asks, &options);
        assert_eq!(request.max_bytes, 303);
        let limits: Vec<i32> = request.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_max_bytes)
            .collect();
        assert_eq!(limits, [100, 101, 102]);

        // Rooms larger than the configured limits leave the limits as they are.
        let wide = [ask(&budget, 0, 600 << 10), ask(&budget, 1, 300 << 10)];
        let small = FetchOptions {
            max_bytes: 512 << 10,
            partition_max_bytes: 400 << 10,
            ..FetchOptions::default()
        };
        let request = build_request(&wide, &small);
        assert_eq!(request.max_bytes, 512 << 10);
        let limits: Vec<i32> = request.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_max_bytes)
            .collect();
        assert_eq!(limits, [400 << 10, 300 << 10]);
    }
}
