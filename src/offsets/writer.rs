//! The offsets writer: one thread that owns the [`OffsetStore`], appends entries as partition
//! tasks log them and makes them durable every flush interval and on request.
//!
//! Entries are only ever logged for acknowledged data, in source order per partition, so
//! whatever the store holds after a crash is a consistent prefix; reconciliation against the
//! target covers the rest.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Entry, OffsetStore, OffsetsError, PartitionKey, TranslationView};

enum Msg {
    Log(PartitionKey, Entry),
    Flush(oneshot::Sender<Result<(), OffsetsError>>),
}

/// A handle to the writer thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct OffsetsWriter {
    tx: mpsc::Sender<Msg>,
    failure: Arc<Mutex<Option<String>>>,
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
                let mut dirty = false;
                let mut next_sync = Instant::now() + interval;
                let record = |e: &OffsetsError| {
                    tracing::error!(error = %e, "offset store failed");
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                };
                loop {
                    let wait = next_sync.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(wait) {
                        Ok(Msg::Log(key, entry)) => match store.append(&key, &entry) {
                            Ok(()) => {
                                view.apply(&key, &entry);
                                dirty = true;
                            }
                            Err(e) => record(&e),
                        },
                        Ok(Msg::Flush(reply)) => {
                            let r = store.sync();
                            if let Err(e) = &r {
                                record(e);
                            }
                            dirty = false;
                            let _ = reply.send(r);
                        }
                        Err(RecvTimeoutError::Timeout) => {
                            if dirty {
                                if let Err(e) = store.sync() {
                                    record(&e);
                                }
                                dirty = false;
                            }
                            next_sync = Instant::now() + interval;
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            if let Err(e) = store.sync() {
                                record(&e);
                            }
                            return;
                        }
                    }
                }
            })
            .expect("spawning the offsets thread");
        (Self { tx, failure }, thread)
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
        rx.await.map_err(|_| stopped())?
    }
}
