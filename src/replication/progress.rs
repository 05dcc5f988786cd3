//! Lag per flow and catch-up progress.
//!
//! Partition tasks report their lag here after every fetch ([`FlowLag::record`]); it becomes
//! the per-partition gauges, or per-topic aggregates when `partition_metrics = false`, and the
//! flow total that the progress log reads. [`step`] is the pure part of the progress log: from
//! the lag measured when a catch-up began, the current lag and the records sent, it decides
//! what to log (percent done, rate, ETA), and stays quiet once the flow is caught up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics;

#[derive(Debug, Default)]
struct TopicLag {
    /// Records and seconds of lag per partition.
    partitions: BTreeMap<i32, (i64, f64)>,
    records: i64,
    /// Partitions stopped for good: their last lag stays in the metrics, not in the flow's
    /// total that the progress log reads (it would never fall).
    stopped: BTreeSet<i32>,
}

impl TopicLag {
    fn running_records(&self) -> i64 {
        let stopped: i64 = self
            .stopped
            .iter()
            .filter_map(|p| self.partitions.get(p))
            .map(|(r, _)| r)
            .sum();
        self.records - stopped
    }
}

/// The lag of every partition of one flow, and the records the flow has sent.
#[derive(Debug)]
pub(crate) struct FlowLag {
    flow: String,
    per_partition: bool,
    topics: Mutex<BTreeMap<String, TopicLag>>,
    sent: AtomicU64,
}

impl FlowLag {
    pub(crate) fn new(flow: &str, per_partition: bool) -> Self {
        Self {
            flow: flow.to_owned(),
            per_partition,
            topics: Mutex::new(BTreeMap::new()),
            sent: AtomicU64::new(0),
        }
    }

    /// A partition's lag after a fetch: records not replicated yet, and the age in seconds of
    /// the oldest record not acknowledged.
    pub(crate) fn record(&self, topic: &str, partition: i32, records: i64, seconds: f64) {
        let records = records.max(0);
        if self.per_partition {
            metrics::partition_lag(&self.flow, topic, partition, records, seconds);
        }
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        let t = match topics.get_mut(topic) {
            Some(t) => t,
            None => topics.entry(topic.to_owned()).or_default(),
        };
        let old = t
            .partitions
            .insert(partition, (records, seconds))
            .map_or(0, |(r, _)| r);
        t.records += records - old;
        if !self.per_partition {
            let oldest = t.partitions.values().map(|(_, s)| *s).fold(0.0, f64::max);
            metrics::topic_lag(&self.flow, topic, t.records, oldest);
        }
    }

    pub(crate) fn add_sent(&self, records: i32) {
        let _ = self
            .sent
            .fetch_add(u64::try_from(records).unwrap_or(0), Ordering::Relaxed);
    }

    /// A partition stopped for good: its lag leaves the flow's total.
    pub(crate) fn stop(&self, topic: &str, partition: i32) {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        let _ = topics
            .entry(topic.to_owned())
            .or_default()
            .stopped
            .insert(partition);
    }

    /// Lag in records over every partition still replicating, records sent since start, and
    /// the number of partitions stopped for good.
    pub(crate) fn totals(&self) -> (i64, u64, usize) {
        let topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        (
            topics.values().map(TopicLag::running_records).sum(),
            self.sent.load(Ordering::Relaxed),
            topics.values().map(|t| t.stopped.len()).sum(),
        )
    }
}

/// Where a flow's catch-up stands between two progress ticks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatchUp {
    /// The largest lag seen since the catch-up began; 0 when caught up.
    start_lag: i64,
    last_lag: i64,
    last_sent: u64,
}

/// What one progress tick logs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Report {
    /// Caught up, and it was said already (or there never was a lag).
    Quiet,
    CatchingUp {
        percent: f64,
        lag: i64,
        records_per_second: f64,
        /// Seconds to lag 0 at the rate the lag fell since the last tick; `None` while it did
        /// not fall (new records arrive as fast as they are sent).
        eta_seconds: Option<f64>,
    },
    /// The lag reached 0 since the last tick.
    CaughtUp,
}

/// One progress tick, `seconds` after the previous one: the flow's lag now and the records it
/// has sent since start.
pub(crate) fn step(state: CatchUp, lag: i64, sent: u64, seconds: f64) -> (CatchUp, Report) {
    let lag = lag.max(0);
    let next = CatchUp {
        start_lag: if lag == 0 { 0 } else { state.start_lag.max(lag) },
        last_lag: lag,
        last_sent: sent,
    };
    if lag == 0 {
        let report = if state.start_lag > 0 {
            Report::CaughtUp
        } else {
            Report::Quiet
        };
        return (next, report);
    }
    let seconds = seconds.max(f64::EPSILON);
    let percent = (next.start_lag - lag) as f64 * 100.0 / next.start_lag as f64;
    let records_per_second = sent.saturating_sub(state.last_sent) as f64 / seconds;
    let fell = state.last_lag - lag;
    let eta_seconds = (state.start_lag > 0 && fell > 0).then(|| lag as f64 / (fell as f64 / seconds));
    (
        next,
        Report::CatchingUp {
            percent,
            lag,
            records_per_second,
            eta_seconds,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catch_up_reports_percent_rate_and_eta_then_goes_quiet() {
        let s = CatchUp::default();
        // First tick: 1000 behind, nothing known about the speed yet.
        let (s, r) = step(s, 1000, 0, 10.0);
        assert_eq!(
            r,
            Report::CatchingUp {
                percent: 0.0,
                lag: 1000,
                records_per_second: 0.0,
                eta_seconds: None
            }
        );
        // 600 sent in 10 s while 100 new ones arrived: lag fell by 500.
        let (s, r) = step(s, 500, 600, 10.0);
        assert_eq!(
            r,
            Report::CatchingUp {
                percent: 50.0,
                lag: 500,
                records_per_second: 60.0,
                eta_seconds: Some(10.0)
            }
        );
        let (s, r) = step(s, 0, 1200, 10.0);
        assert_eq!(r, Report::CaughtUp);
        let (s, r) = step(s, 0, 1200, 10.0);
        assert_eq!(r, Report::Quiet);
        // A new backlog starts a new catch-up measured from its own start.
        let (_, r) = step(s, 40, 1200, 10.0);
        assert!(matches!(r, Report::CatchingUp { percent, lag: 40, .. } if percent == 0.0));
    }

    #[test]
    fn a_growing_lag_raises_the_start_and_has_no_eta() {
        let (s, _) = step(CatchUp::default(), 100, 0, 1.0);
        let (s, r) = step(s, 300, 50, 1.0);
        assert_eq!(
            r,
            Report::CatchingUp {
                percent: 0.0,
                lag: 300,
                records_per_second: 50.0,
                eta_seconds: None
            }
        );
        let (_, r) = step(s, 150, 250, 1.0);
        assert!(
            matches!(r, Report::CatchingUp { percent, eta_seconds: Some(e), .. } if percent == 50.0 && e == 1.0)
        );
    }

    #[test]
    fn never_behind_is_quiet() {
        let (s, r) = step(CatchUp::default(), 0, 0, 10.0);
        assert_eq!(r, Report::Quiet);
        assert_eq!(step(s, -5, 10, 0.0).1, Report::Quiet);
    }

    #[test]
    fn flow_lag_sums_partitions_and_replaces_old_values() {
        let lag = FlowLag::new("a->b", false);
        lag.record("t", 0, 10, 1.0);
        lag.record("t", 1, 5, 0.5);
        lag.record("u", 0, 7, 0.0);
        lag.record("t", 0, 2, 0.1);
        lag.add_sent(30);
        assert_eq!(lag.totals(), (14, 30, 0));
        lag.record("t", 1, -3, 0.0);
        assert_eq!(lag.totals(), (9, 30, 0));
    }

    #[test]
    fn a_stopped_partition_leaves_the_flow_total() {
        let lag = FlowLag::new("a->b", true);
        lag.record("t", 0, 10, 1.0);
        lag.record("t", 1, 5, 0.5);
        lag.stop("t", 1);
        assert_eq!(lag.totals(), (10, 0, 1));
        lag.record("t", 0, 0, 0.0);
        assert_eq!(lag.totals(), (0, 0, 1), "caught up but for the stopped partition");
    }
}
