//! The multiplexer under a [`Connection`](super::Connection): a writer task, a reader task
//! and a map from correlation id to the waiting caller.
//!
//! Invariants:
//! - A request is in the pending map before its bytes reach the writer, so a response can
//!   never arrive for an id nobody waits on (except ids whose caller gave up, which are
//!   dropped).
//! - Once the connection fails (I/O error, bad frame, request timeout), the state becomes
//!   `Failed(e)` for good: every pending request and every later one gets the same `e`.
//! - A caller that drops its request future (or its [`Pending`]) removes its own map entry,
//!   so cancellation leaks nothing.
//! - A request on the wire keeps the connection open: the socket closes when the last
//!   [`Pipeline`] handle and the last [`Pending`] are gone, so dropping a connection (a retired
//!   SASL session) never fails the requests still waiting on it.
//! - After a response that asks the client to wait (a quota's `throttle_time_ms`, KIP-219),
//!   nothing is written until the wait is over, and no request's timeout runs during it.

use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::ConnectionError;
use super::throttle::client_throttle_ms;
use super::transport::BoxedStream;
use crate::protocol::codec::{self, CodecError};
use crate::protocol::frame::{self, FrameStatus};

type Reply = oneshot::Sender<Result<Bytes, ConnectionError>>;

/// A caller waiting for a response, and what it asked (to read the response's throttle time).
struct Waiter {
    reply: Reply,
    api: ApiKey,
    version: i16,
}

enum State {
    Open {
        pending: HashMap<i32, Waiter>,
        closing: bool,
    },
    Failed(ConnectionError),
}

struct Shared {
    addr: String,
    /// The cluster this connection belongs to, for metrics ("" outside a cluster).
    cluster: Arc<str>,
    /// No request is written before this instant: the broker throttles the connection.
    throttled_until: Mutex<Option<Instant>>,
    state: Mutex<State>,
    /// Signalled when the pending map becomes empty (for a clean close).
    drained: Notify,
    /// Flipped once on failure or close; the writer stops on it.
    stop: watch::Sender<bool>,
    in_flight: Arc<Semaphore>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent (every update
        // is a single insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the connection to `Failed(err)` and fails everything pending with `err`.
    /// The first failure wins: later calls return the error already recorded.
    fn fail(&self, err: ConnectionError) -> ConnectionError {
        let pending = {
            let mut state = self.lock();
            match &mut *state {
                State::Failed(first) => return first.clone(),
                State::Open { pending, .. } => {
                    let pending = std::mem::take(pending);
                    *state = State::Failed(err.clone());
                    pending
                }
            }
        };
        if !matches!(err, ConnectionError::Closed { .. }) {
            tracing::warn!(broker = %self.addr, error = %err, pending = pending.len(), "broker connection failed");
        }
        for (_, waiter) in pending {
            let _ = waiter.reply.send(Err(err.clone()));
        }
        self.in_flight.close();
        self.stop.send_replace(true);
        self.drained.notify_waiters();
        err
    }

    fn failure(&self) -> Option<ConnectionError> {
        match &*self.lock() {
            State::Failed(e) => Some(e.clone()),
            State::Open { .. } => None,
        }
    }

    fn deliver(&self, correlation_id: i32, frame: Bytes) {
        let waiter = {
            let mut state = self.lock();
            let State::Open { pending, .. } = &mut *state else {
                return;
            };
            let waiter = pending.remove(&correlation_id);
            if pending.is_empty() {
                self.drained.notify_waiters();
            }
            waiter
        };
        let Some(waiter) = waiter else {
            tracing::debug!(broker = %self.addr, correlation_id, "response for an abandoned request");
            return;
        };
        // Before the caller sees the response, so that its next request already waits.
        if let Some(ms) = client_throttle_ms(waiter.api, waiter.version, &frame) {
            self.throttle(waiter.api, ms);
        }
        let _ = waiter.reply.send(Ok(frame));
    }

    /// The broker muted the connection for `ms` after answering an `api` request.
    fn throttle(&self, api: ApiKey, ms: i32) {
        let wait = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        let until = Instant::now() + wait;
        {
            let mut t = self.throttled_until.lock().unwrap_or_else(|p| p.into_inner());
            *t = Some(t.map_or(until, |t| t.max(until)));
        }
        tracing::debug!(broker = %self.addr, ?api, throttle_ms = ms, "broker throttles the connection (quota)");
        crate::metrics::throttled(&self.cluster, &format!("{api:?}"), wait.as_secs_f64());
    }

    /// When the current throttle ends, if one was ever set.
    fn throttled_until(&self) -> Option<Instant> {
        *self.throttled_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, correlation_id: i32) {
        if let State::Open { pending, .. } = &mut *self.lock() {
            pending.remove(&correlation_id);
            if pending.is_empty() {
                self.drained.notify_waiters();
            }
        }
    }
}

/// A frame to write: one or more slices sent back to back (a produce request can carry
/// record batches as slices of the fetch response they came from).
#[derive(Debug)]
pub(crate) struct OutFrame {
    chunks: VecDeque<Bytes>,
}

impl OutFrame {
    pub(crate) fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
        }
    }
}

impl OutFrame {
    /// The API version in the request header (bytes 6 and 7 after the length prefix); -1 if
    /// the frame is too short to hold one.
    fn request_version(&self) -> i16 {
        let mut header = [0u8; 8];
        let mut n = 0;
        for chunk in &self.chunks {
            let take = (header.len() - n).min(chunk.len());
            header[n..n + take].copy_from_slice(&chunk[..take]);
            n += take;
            if n == header.len() {
                return i16::from_be_bytes([header[6], header[7]]);
            }
        }
        -1
    }
}

impl Buf for OutFrame {
    fn remaining(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }
    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |c| c.as_ref())
    }
    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            let n = cnt.min(front.len());
            front.advance(n);
            cnt -= n;
            if front.is_empty() {
                let _ = self.chunks.pop_front();
            }
        }
    }
    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }
}

pub(crate) struct Pipeline {
    shared: Arc<Shared>,
    writer: mpsc::Sender<OutFrame>,
    next_correlation_id: AtomicI32,
    request_timeout: Duration,
    tasks: Arc<Tasks>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// The reader and writer tasks, shared by the pipeline and every request on the wire: when
/// the last of them is gone, the connection is closed and the tasks stop.
struct Tasks {
    shared: Arc<Shared>,
    handles: [AbortHandle; 2],
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let _ = self.shared.fail(ConnectionError::Closed {
            addr: self.shared.addr.clone(),
        });
        for t in &self.handles {
            t.abort();
        }
    }
}

/// A request on the wire, waiting for its response. Dropping it abandons the request: its
/// map entry is removed and a late response is discarded.
pub(crate) struct Pending {
    shared: Arc<Shared>,
    _tasks: Arc<Tasks>,
    correlation_id: i32,
    api: ApiKey,
    request_timeout: Duration,
    /// When the request was handed to the writer.
    sent_at: Instant,
    response: Option<oneshot::Receiver<Result<Bytes, ConnectionError>>>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("broker", &self.shared.addr)
            .field("api", &self.api)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.response.is_some() {
            self.shared.forget(self.correlation_id);
        }
    }
}

/// A request times out `timeout` after it was sent, or after the end of a throttle that began
/// since: a muted connection delays every request queued on it, and a broker that enforces a
/// quota is not a dead broker.
fn deadline(shared: &Shared, sent_at: Instant, timeout: Duration) -> Instant {
    shared.throttled_until().map_or(sent_at, |t| t.max(sent_at)) + timeout
}

impl Pending {
    /// Waits for the response frame (header included) and its correlation id.
    pub(crate) async fn wait(mut self) -> Result<(i32, Bytes), ConnectionError> {
        let shared = self.shared.clone();
        let closed = || {
            shared.failure().unwrap_or_else(|| ConnectionError::Closed {
                addr: shared.addr.clone(),
            })
        };
        let (sent_at, timeout) = (self.sent_at, self.request_timeout);
        let mut deadline = deadline(&shared, sent_at, timeout);
        let Some(response) = self.response.as_mut() else {
            return Err(closed());
        };
        let result = loop {
            match tokio::time::timeout_at(deadline, &mut *response).await {
                Ok(Ok(result)) => break result,
                Ok(Err(_)) => break Err(closed()),
                Err(_) => {}
            }
            let later = self::deadline(&shared, sent_at, timeout);
            if later > deadline {
                deadline = later;
                continue;
            }
            // A broker that does not answer in time is treated as gone (as the Java client
            // does): close the connection so nothing else waits on it either.
            break Err(shared.fail(ConnectionError::Timeout {
                addr: shared.addr.clone(),
                api: self.api,
                after: self.request_timeout,
            }));
        };
        self.response = None;
        result.map(|frame| (self.correlation_id, frame))
    }
}

impl Pipeline {
    pub(crate) fn start(
        stream: BoxedStream,
        addr: &str,
        cluster: &str,
        max_frame_bytes: usize,
        max_in_flight: usize,
        request_timeout: Duration,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            addr: addr.to_owned(),
            cluster: cluster.into(),
            throttled_until: Mutex::new(None),
            state: Mutex::new(State::Open {
                pending: HashMap::new(),
                closing: false,
            }),
            drained: Notify::new(),
            stop,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        });
        let (read_half, write_half) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(max_in_flight.max(1));
        let reader = tokio::spawn(read_loop(shared.clone(), read_half, max_frame_bytes));
        let writer = tokio::spawn(write_loop(shared.clone(), write_half, rx, stop_rx));
        Self {
            tasks: Arc::new(Tasks {
                shared: shared.clone(),
                handles: [reader.abort_handle(), writer.abort_handle()],
            }),
            shared,
            writer: tx,
            next_correlation_id: AtomicI32::new(0),
            request_timeout,
        }
    }

    pub(crate) fn addr(&self) -> &str {
        &self.shared.addr
    }

    pub(crate) fn failure(&self) -> Option<ConnectionError> {
        self.shared.failure()
    }

    pub(crate) fn is_usable(&self) -> bool {
        matches!(&*self.shared.lock(), State::Open { closing: false, .. })
    }

    fn codec_error(&self, source: CodecError) -> ConnectionError {
        ConnectionError::Codec {
            addr: self.shared.addr.clone(),
            source,
        }
    }

    /// Sends one request and waits for its response frame (header included).
    ///
    /// `encode` writes the whole frame for the given correlation id. Several calls may run
    /// at once; up to `max_in_flight` are on the wire together.
    pub(crate) async fn round_trip(
        &self,
        api: ApiKey,
        encode: impl FnOnce(i32) -> Result<OutFrame, CodecError>,
    ) -> Result<(i32, Bytes), ConnectionError> {
        self.send(api, encode).await?.wait().await
    }

    /// Puts one request on the wire and returns without waiting for the response. Requests
    /// sent by successive calls from one task reach the broker in that order.
    pub(crate) async fn send(
        &self,
        api: ApiKey,
        encode: impl FnOnce(i32) -> Result<OutFrame, CodecError>,
    ) -> Result<Pending, ConnectionError> {
        let shared = &self.shared;
        let closed = || {
            shared.failure().unwrap_or_else(|| ConnectionError::Closed {
                addr: shared.addr.clone(),
            })
        };
        let permit = shared
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let out = encode(correlation_id).map_err(|e| self.codec_error(e))?;
        let version = out.request_version();

        let (reply, response) = oneshot::channel();
        match &mut *shared.lock() {
            State::Failed(e) => return Err(e.clone()),
            State::Open { closing: true, .. } => {
                return Err(ConnectionError::Closed {
                    addr: shared.addr.clone(),
                });
            }
            State::Open { pending, .. } => {
                let _ = pending.insert(correlation_id, Waiter { reply, api, version });
            }
        }
        let mut pending = Pending {
            shared: shared.clone(),
            _tasks: self.tasks.clone(),
            correlation_id,
            api,
            request_timeout: self.request_timeout,
            sent_at: Instant::now(),
            response: Some(response),
            _permit: permit,
        };
        if self.writer.send(out).await.is_err() {
            return Err(closed());
        }
        pending.sent_at = Instant::now();
        Ok(pending)
    }

    /// Stops taking requests, waits (up to the request timeout) for those in flight, then
    /// closes the socket.
    pub(crate) async fn close(&self) {
        let shared = &*self.shared;
        let started = Instant::now();
        let mut until = deadline(shared, started, self.request_timeout);
        loop {
            let drained = shared.drained.notified();
            {
                let mut state = shared.lock();
                match &mut *state {
                    State::Failed(_) => return,
                    State::Open { pending, closing } => {
                        *closing = true;
                        if pending.is_empty() {
                            break;
                        }
                    }
                }
            }
            if tokio::time::timeout_at(until, drained).await.is_err() {
                // A throttle that began meanwhile delays the answers: wait for it too.
                let later = deadline(shared, started, self.request_timeout);
                if later <= until {
                    break;
                }
                until = later;
            }
        }
        let _ = shared.fail(ConnectionError::Closed {
            addr: shared.addr.clone(),
        });
    }
}

async fn read_loop(shared: Arc<Shared>, mut read: ReadHalf<BoxedStream>, max_frame_bytes: usize) {
    let addr = shared.addr.clone();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            match frame::split(&mut buf, max_frame_bytes) {
                Ok(Some(frame)) => match codec::peek_correlation_id(&frame) {
                    Ok(id) => shared.deliver(id, frame),
                    Err(source) => {
                        let _ = shared.fail(ConnectionError::Codec { addr, source });
                        return;
                    }
                },
                Ok(None) => {
                    // Reserve the whole frame at once: a large Fetch response then lands in
                    // one allocation and is never moved.
                    if let Ok(FrameStatus::Incomplete { total }) = frame::check(&buf, max_frame_bytes) {
                        buf.reserve(total.saturating_sub(buf.len()).max(16 * 1024));
                    }
                    break;
                }
                Err(source) => {
                    let _ = shared.fail(ConnectionError::Frame { addr, source });
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = shared.fail(ConnectionError::ClosedByPeer { addr });
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = shared.fail(ConnectionError::Io {
                    addr,
                    source: Arc::new(e),
                });
                return;
            }
        }
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut write: WriteHalf<BoxedStream>,
    mut frames: mpsc::Receiver<OutFrame>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let mut out = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            f = frames.recv() => match f { Some(f) => f, None => break },
        };
        // The broker reads nothing from a throttled connection: hold the request back until
        // the throttle ends (it may be extended meanwhile by later responses).
        while let Some(until) = shared.throttled_until().filter(|t| *t > Instant::now()) {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep_until(until) => {}
            }
        }
        // A flush after each frame: over TLS, tokio-rustls may keep the tail of a frame in
        // its buffer when the socket is full, and without a later write or flush it would
        // never be sent (the broker would wait for the rest of the request).
        let written = match write.write_all_buf(&mut out).await {
            Ok(()) => write.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            let _ = shared.fail(ConnectionError::Io {
                addr: shared.addr.clone(),
                source: Arc::new(e),
            });
            return;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests;
