//! Metadata refreshes, coalesced and paced.
//!
//! Many callers ask for a refresh at once when a broker restarts or leaders move: every
//! partition of that broker fails with NOT_LEADER or UNKNOWN_TOPIC and its task refreshes the
//! topic's metadata before retrying. Sent one by one, that is a burst of Metadata requests to
//! a cluster that is already busy electing leaders. Kafka's clients keep one metadata update
//! in flight, asked for by flag, no sooner than `retry.backoff.ms` after the previous one, and
//! back off exponentially (up to `retry.backoff.max.ms`) while updates fail; the periodic
//! refresh (`metadata.max.age.ms`) is the only other source of requests (apache/kafka:
//! `Metadata.timeToNextUpdate`, KIP-580).
//!
//! kmirror does the same with batches: a caller adds the topics it wants to the batch being
//! gathered and queues for the one refresh that may run at a time. The refresh that starts next
//! takes the whole batch (one Metadata request for the union of the topics, or for every topic
//! if anyone asked for all), and every caller of that batch gets its result, success or error,
//! without sending anything. A refresh starts no sooner than [`PACE`] after the previous one,
//! and after a failure no sooner than a jittered delay that doubles up to [`BACKOFF_MAX`] and
//! returns to [`PACE`] after a success. So however many partitions fail together, the cluster
//! sees at most one Metadata request per pace interval from this client.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::{Backoff, ClusterError};

/// The least time between two refreshes (Kafka's `retry.backoff.ms` default).
pub(super) const PACE: Duration = Duration::from_millis(100);
/// The longest wait before a refresh after failed ones (Kafka's `retry.backoff.max.ms`).
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// What the next refresh must load.
#[derive(Debug, Default)]
struct Batch {
    /// The number of the batch being gathered; the first is 1.
    number: u64,
    all: bool,
    topics: BTreeSet<String>,
}

/// The topics a refresh loads: `None` for every topic.
pub(super) type Wanted = Option<Vec<String>>;

/// The state of the one refresh that may run, guarded by an async lock.
#[derive(Debug)]
pub(super) struct Runner {
    /// The last batch refreshed, and how it went.
    done: u64,
    result: Result<(), ClusterError>,
    backoff: Backoff,
    not_before: Option<Instant>,
}

/// Coalesces and paces one cluster's metadata refreshes.
#[derive(Debug)]
pub(super) struct Refresher {
    batch: Mutex<Batch>,
    runner: tokio::sync::Mutex<Runner>,
}

/// What a caller of [`Refresher::turn`] must do.
pub(super) enum Turn<'a> {
    /// A refresh that started after the caller asked covered its topics: its outcome.
    Done(Result<(), ClusterError>),
    /// The caller runs the refresh of `wanted` and reports with [`Lead::finish`].
    Lead(Lead<'a>),
}

/// The right, and duty, to run one refresh.
pub(super) struct Lead<'a> {
    runner: tokio::sync::MutexGuard<'a, Runner>,
    batch: u64,
    pub(super) wanted: Wanted,
}

impl Default for Refresher {
    fn default() -> Self {
        Self {
            batch: Mutex::new(Batch {
                number: 1,
                ..Batch::default()
            }),
            runner: tokio::sync::Mutex::new(Runner {
                done: 0,
                result: Ok(()),
                backoff: Backoff::new(PACE, BACKOFF_MAX),
                not_before: None,
            }),
        }
    }
}

impl Refresher {
    /// Asks for `topics` (`None`: all) and waits for a refresh that covers them: either one
    /// another caller ran meanwhile, or one this caller must run.
    pub(super) async fn turn(&self, topics: Option<&[String]>) -> Turn<'_> {
        let mine = {
            let mut b = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            match topics {
                None => b.all = true,
                Some(t) => b.topics.extend(t.iter().cloned()),
            }
            b.number
        };
        let runner = self.runner.lock().await;
        if runner.done >= mine {
            return Turn::Done(runner.result.clone());
        }
        if let Some(at) = runner.not_before {
            tokio::time::sleep_until(at).await;
        }
        // Whoever asked while this caller waited rides along.
        let (batch, wanted) = {
            let mut b = self.batch.lock().unwrap_or_else(|p| p.into_inner());
            let taken = std::mem::take(&mut *b);
            b.number = taken.number + 1;
            let wanted = (!taken.all).then(|| taken.topics.into_iter().collect());
            (taken.number, wanted)
        };
        Turn::Lead(Lead {
            runner,
            batch,
            wanted,
        })
    }
}

impl Lead<'_> {
    /// Records the outcome for the callers of this batch and paces the next refresh.
    pub(super) fn finish(mut self, result: Result<(), ClusterError>) {
        let r = &mut *self.runner;
        let wait = if result.is_ok() {
            r.backoff.reset();
            PACE
        } else {
            r.backoff.next_delay(&mut rand::rng())
        };
        r.not_before = Some(Instant::now() + wait);
        r.done = self.batch;
        r.result = result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::net::ConnectionError;

    /// A stand-in for the Metadata request: counts calls, takes a while, fails while `fail`.
    async fn refresh(
        r: &Refresher,
        topics: Option<&[String]>,
        sent: &AtomicUsize,
        fail: bool,
    ) -> Result<(), ClusterError> {
        match r.turn(topics).await {
            Turn::Done(result) => result,
            Turn::Lead(lead) => {
                let _ = sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                let result = if fail {
                    Err(ClusterError::Connection {
                        cluster: "c".to_owned(),
                        source: ConnectionError::Closed {
                            addr: "b:9092".to_owned(),
                        },
                    })
                } else {
                    Ok(())
                };
                lead.finish(result.clone());
                result
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_that_ask_together_share_one_request() {
        let r = Arc::new(Refresher::default());
        let sent = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (r, sent) = (r.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                let topic = vec![format!("t{}", i % 7)];
                refresh(&r, Some(&topic), &sent, false).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // The first caller's refresh, then one for everyone who asked while it ran.
        assert!(
            sent.load(Ordering::SeqCst) <= 2,
            "{}",
            sent.load(Ordering::SeqCst)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_the_union_of_the_topics_asked_for() {
        let r = Refresher::default();
        {
            let mut b = r.batch.lock().unwrap();
            let _ = b.topics.insert("a".to_owned());
        }
        let Turn::Lead(lead) = r.turn(Some(&["b".to_owned()])).await else {
            panic!("the first caller leads")
        };
        assert_eq!(lead.wanted, Some(vec!["a".to_owned(), "b".to_owned()]));
        lead.finish(Ok(()));
        let _ = r.batch.lock().unwrap().topics.insert("c".to_owned());
        let Turn::Lead(lead) = r.turn(None).await else {
            panic!("a new batch")
        };
        assert_eq!(lead.wanted, None, "someone asked for every topic");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_with_growing_delays_and_a_success_resets_them() {
        let r = Refresher::default();
        let sent = AtomicUsize::new(0);
        let mut starts = Vec::new();
        for _ in 0..6 {
            let before = Instant::now();
            let _ = refresh(&r, None, &sent, true).await;
            starts.push(Instant::now() - before);
        }
        // Each failed call waits the delay the previous failure drew: equal jitter under a
        // ceiling that doubles from the pace up to the cap.
        let ms = |d: Duration| d.as_millis();
        let waits: Vec<u128> = starts[1..].iter().map(|d| ms(*d) - 30).collect();
        for (wait, ceiling) in waits.iter().zip([100, 200, 400, 800, 1000]) {
            assert!(*wait >= ceiling / 2 && *wait <= ceiling, "{waits:?}");
        }
        let _ = refresh(&r, None, &sent, false).await;
        let before = Instant::now();
        let _ = refresh(&r, None, &sent, false).await;
        assert_eq!(
            Instant::now() - before,
            PACE + Duration::from_millis(30),
            "paced, not backed off"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn callers_of_a_failed_batch_get_its_error() {
        let r = Arc::new(Refresher::default());
        let sent = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (r, sent) = (r.clone(), sent.clone());
            tasks.push(tokio::spawn(async move { refresh(&r, None, &sent, true).await }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_err());
        }
        assert!(sent.load(Ordering::SeqCst) <= 2);
    }
}
