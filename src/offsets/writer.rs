//! The offsets writer: one thread that owns the [`OffsetStore`], appends entries as partition
//! tasks log them and makes them durable every flush interval and on request.
//!
//! Entries are only ever logged for acknowledged data, in source order per partition, so
//! whatever the store holds after a crash is a consistent prefix; reconciliation against the
//! target covers the rest.

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Entry, OffsetStore, OffsetsError, PartitionKey, TranslationView};

/// How long the writer gathers entries after the first of a stream before appending them.
const GATHER: Duration = Duration::from_millis(1);

/// The most entries appended between two looks at the clock.
const DRAIN_MAX: usize = 4096;

enum Msg {
    Log(PartitionKey, Entry),
    Flush(oneshot::Sender<Result<(), OffsetsError>>),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct OffsetsWriter {
    tx: mpsc::Sender<Msg>,
    failure: Arc<Mutex<Option<String>>>,
    /// The writer thread, woken by a flush request while it gathers entries.
    thread: std::thread::Thread,
}

/// Answers the flush requests of one sync: the first gets the result, the others its words.
fn answer(flushes: Vec<oneshot::Sender<Result<(), OffsetsError>>>, r: Result<(), OffsetsError>) {
    let words = r.as_ref().err().map(ToString::to_string);
    let mut first = Some(r);
    for reply in flushes {
        let r = first.take().unwrap_or_else(|| match &words {
            None => Ok(()),
            Some(message) => Err(OffsetsError::WriterFailed {
                message: message.clone(),
            }),
        });
        let _ = reply.send(r);
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Log(k, e) => write!(f, "Log({k:?}, {e:?})"),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl OffsetsWriter {
    /// Starts the writer thread. It stops (after a final sync) when every handle is dropped.
    /// Every entry the store accepts is also folded into `view`, the live map that group
    /// checkpoints translate through.
    pub fn spawn(
        mut store: Box<dyn OffsetStore>,
        interval: Duration,
        view: TranslationView,
    ) -> (Self, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Msg>();
        let failure = Arc::new(Mutex::new(None));
        let failed = failure.clone();
        let thread = std::thread::Builder::new()
            .name("kmirror-offsets".to_owned())
            .spawn(move || {
                let mut next_sync = Instant::now() + interval;
                // When the oldest entry not yet durable was appended.
                let mut dirty_since: Option<Instant> = None;
                let record = |e: &OffsetsError| {
                    tracing::error!(error = %e, "offset store failed");
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                };
                loop {
                    let wait = next_sync.saturating_duration_since(Instant::now());
                    let mut flushes = Vec::new();
                    let mut stopping = false;
                    let mut handle = |msg: Msg, flushes: &mut Vec<_>| match msg {
                        Msg::Log(key, entry) => match store.append(&key, &entry) {
                            Ok(()) => {
                                view.apply(&key, &entry);
                                let _ = dirty_since.get_or_insert_with(Instant::now);
                            }
                            Err(e) => record(&e),
                        },
                        Msg::Flush(reply) => flushes.push(reply),
                    };
                    match rx.recv_timeout(wait) {
                        Ok(msg) => {
                            let logged = matches!(msg, Msg::Log(..));
                            handle(msg, &mut flushes);
                            // Entries come in streams, one per acknowledged batch: gather them
                            // for a moment rather than be woken (a futex call on both sides and
                            // a context switch) for each. A flush request cuts this short.
                            if logged && flushes.is_empty() {
                                std::thread::park_timeout(GATHER);
                            }
                            // Bounded, so that a stream faster than the store still
                            // reaches the sync below once per interval.
                            for _ in 0..DRAIN_MAX {
                                match rx.try_recv() {
                                    Ok(msg) => handle(msg, &mut flushes),
                                    Err(TryRecvError::Empty) => break,
                                    Err(TryRecvError::Disconnected) => {
                                        stopping = true;
                                        break;
                                    }
                                }
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => stopping = true,
                    }
                    if stopping {
                        let r = store.sync();
                        if let Err(e) = &r {
                            record(e);
                        }
                        answer(flushes, r);
                        return;
                    }
                    // Sync on request, and once per interval even while entries keep coming
                    // (a steady stream never lets `recv_timeout` time out).
                    let now = Instant::now();
                    if flushes.is_empty() && now < next_sync {
                        continue;
                    }
                    let age = dirty_since.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
                    crate::metrics::offset_store_age(age);
                    if dirty_since.is_some() || !flushes.is_empty() {
                        let r = store.sync();
                        match &r {
                            Ok(()) => dirty_since = None,
                            Err(e) => record(e),
                        }
                        answer(flushes, r);
                    }
                    if now >= next_sync {
                        next_sync = now + interval;
                    }
                }
            })
            .expect("spawning the offsets thread");
        let handle = thread.thread().clone();
        (
            Self {
                tx,
                failure,
                thread: handle,
            },
            thread,
        )
    }

    fn failed(&self) -> Option<OffsetsError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .map(|message| OffsetsError::WriterFailed { message })
    }

    /// Queues an entry; it is durable after the next sync.
    pub fn log(&self, key: &PartitionKey, entry: Entry) -> Result<(), OffsetsError> {
        if let Some(e) = self.failed() {
            return Err(e);
        }
        self.tx
            .send(Msg::Log(key.clone(), entry))
            .map_err(|_| OffsetsError::WriterFailed {
                message: "the offsets writer stopped".to_owned(),
            })
    }

    /// Makes everything logged so far durable.
    pub async fn flush(&self) -> Result<(), OffsetsError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || OffsetsError::WriterFailed {
            message: "the offsets writer stopped".to_owned(),
        };
        self.tx.send(Msg::Flush(reply)).map_err(|_| stopped())?;
        self.thread.unpark();
        rx.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::offsets::PartitionState;

    /// Counts appends and syncs.
    #[derive(Debug, Default)]
    struct Counting(Arc<(AtomicUsize, AtomicUsize)>);

    impl OffsetStore for Counting {
        fn load(&mut self) -> Result<BTreeMap<PartitionKey, PartitionState>, OffsetsError> {
            Ok(BTreeMap::new())
        }
        fn append(&mut self, _: &PartitionKey, _: &Entry) -> Result<(), OffsetsError> {
            let _ = self.0.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn sync(&mut self) -> Result<(), OffsetsError> {
            let _ = self.0.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// A steady stream of entries, never a pause as long as the interval: the writer still
    /// syncs every interval instead of waiting for a gap.
    #[test]
    fn syncs_every_interval_under_a_steady_stream() {
        let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (writer, thread) = OffsetsWriter::spawn(
            Box::new(Counting(counts.clone())),
            Duration::from_millis(20),
            TranslationView::new(&BTreeMap::new(), 100),
        );
        let key = PartitionKey {
            flow: "a->b".to_owned(),
            topic: "t".to_owned(),
            partition: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut n = 0;
        while counts.1.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            writer.log(&key, Entry::Skipped { source_next: n }).unwrap();
            n += 1;
        }
        assert!(counts.1.load(Ordering::SeqCst) > 0, "no sync during {n} entries");
        drop(writer);
        thread.join().unwrap();
    }
}
