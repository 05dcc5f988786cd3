//! `kmirror status`: reads a running kmirror's `/metrics` twice and prints, per flow, the
//! topics and partitions being replicated, how many of them are stopped for good, the lag in
//! records of the others, the rate, and the time to lag 0 at that rate (a catch-up's ETA);
//! then every stopped partition with the source offset it resumes from after a restart.
//!
//! The Prometheus text comes from the network, so the parser is total: lines it does not
//! understand are skipped, never trusted.

use std::collections::{BTreeMap, BTreeSet};

use crate::metrics::{PARTITION_LAG_RECORDS, PARTITION_STOPPED, PARTITION_STOPPED_OFFSET, RECORDS_SENT};

/// One sample line: `name{label="value",...} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a Prometheus text exposition; comments and malformed lines are skipped.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y"`; values may contain escaped quotes and commas.
fn parse_labels(mut s: &str) -> Option<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    while !s.is_empty() {
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => value.push(chars.next()?.1),
                (_, c) => value.push(c),
            }
        };
        let _ = labels.insert(key.trim().to_owned(), value);
        s = rest[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

/// One flow as `status` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowStatus {
    pub flow: String,
    pub topics: usize,
    pub partitions: usize,
    /// Partitions stopped for good (counted in `partitions`, not in the lag).
    pub stopped: usize,
    /// Lag of the partitions still replicating.
    pub lag_records: f64,
    /// Records sent per second between the two scrapes.
    pub records_per_second: f64,
    /// Seconds to lag 0 at that rate; `None` when nothing moved.
    pub eta_seconds: Option<f64>,
}

fn label<'a>(s: &'a Sample, key: &str) -> &'a str {
    s.labels.get(key).map_or("", String::as_str)
}

/// A partition stopped for good, as the metrics tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoppedStatus {
    pub flow: String,
    pub topic: String,
    /// As labelled.
    pub partition: String,
    pub reason: String,
    /// The source offset it resumes from after a restart; `None` when unknown.
    pub offset: Option<i64>,
    /// Its lag in records when it last fetched.
    pub lag_records: Option<f64>,
}

type PartitionId = (String, String, String);

fn partition_id(s: &Sample) -> PartitionId {
    (
        label(s, "flow").to_owned(),
        label(s, "topic").to_owned(),
        label(s, "partition").to_owned(),
    )
}

/// The partitions stopped for good in a scrape, sorted by flow, topic and partition.
pub fn stopped_partitions(samples: &[Sample]) -> Vec<StoppedStatus> {
    let value = |name: &str, id: &PartitionId| {
        samples
            .iter()
            .find(|s| s.name == name && partition_id(s) == *id)
            .map(|s| s.value)
    };
    let mut out: BTreeMap<PartitionId, StoppedStatus> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name == PARTITION_STOPPED && s.value > 0.0)
    {
        let id = partition_id(s);
        let offset = value(PARTITION_STOPPED_OFFSET, &id)
            .filter(|o| o.is_finite() && *o >= 0.0 && *o <= i64::MAX as f64)
            .map(|o| o as i64);
        let lag_records = value(PARTITION_LAG_RECORDS, &id).map(|l| l.max(0.0));
        let status = StoppedStatus {
            flow: id.0.clone(),
            topic: id.1.clone(),
            partition: id.2.clone(),
            reason: label(s, "reason").to_owned(),
            offset,
            lag_records,
        };
        let _ = out.insert(id, status);
    }
    out.into_values().collect()
}

/// Per-flow status from two scrapes `seconds` apart.
pub fn summarize(before: &[Sample], after: &[Sample], seconds: f64) -> Vec<FlowStatus> {
    let sent = |samples: &[Sample]| -> BTreeMap<String, f64> {
        let mut by_flow = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == RECORDS_SENT) {
            *by_flow.entry(label(s, "flow").to_owned()).or_insert(0.0) += s.value;
        }
        by_flow
    };
    let (sent_before, sent_after) = (sent(before), sent(after));
    let stopped: BTreeSet<PartitionId> = stopped_partitions(after)
        .into_iter()
        .map(|s| (s.flow, s.topic, s.partition))
        .collect();
    // Per flow: topics, partitions (running or stopped), stopped partitions, running lag.
    let mut flows: BTreeMap<String, (BTreeSet<String>, BTreeSet<PartitionId>, usize, f64)> = BTreeMap::new();
    for id in &stopped {
        let entry = flows.entry(id.0.clone()).or_default();
        let _ = entry.0.insert(id.1.clone());
        if entry.1.insert(id.clone()) {
            entry.2 += 1;
        }
    }
    for s in after.iter().filter(|s| s.name == PARTITION_LAG_RECORDS) {
        let id = partition_id(s);
        let entry = flows.entry(id.0.clone()).or_default();
        let _ = entry.0.insert(id.1.clone());
        if !stopped.contains(&id) && entry.1.insert(id) {
            entry.3 += s.value.max(0.0);
        }
    }
    flows
        .into_iter()
        .map(|(flow, (topics, partitions, stopped, lag))| {
            let moved = sent_after.get(&flow).copied().unwrap_or(0.0)
                - sent_before.get(&flow).copied().unwrap_or(0.0);
            let rate = if seconds > 0.0 {
                (moved / seconds).max(0.0)
            } else {
                0.0
            };
            let eta_seconds = if lag == 0.0 {
                Some(0.0)
            } else if rate > 0.0 {
                Some(lag / rate)
            } else {
                None
            };
            FlowStatus {
                flow,
                topics: topics.len(),
                partitions: partitions.len(),
                stopped,
                lag_records: lag,
                records_per_second: rate,
                eta_seconds,
            }
        })
        .collect()
}

/// The table `kmirror status` prints, and the stopped partitions under it.
pub fn render(flows: &[FlowStatus], stopped: &[StoppedStatus]) -> String {
    let mut out = format!(
        "{:<24} {:>6} {:>10} {:>8} {:>12} {:>12} {:>10}\n",
        "flow", "topics", "partitions", "stopped", "lag", "records/s", "eta"
    );
    for f in flows {
        let eta = match f.eta_seconds {
            Some(0.0) => "caught up".to_owned(),
            Some(s) => format!("{:.0} s", s.ceil()),
            None => "-".to_owned(),
        };
        out.push_str(&format!(
            "{:<24} {:>6} {:>10} {:>8} {:>12} {:>12.0} {:>10}\n",
            f.flow, f.topics, f.partitions, f.stopped, f.lag_records, f.records_per_second, eta
        ));
    }
    if flows.is_empty() {
        out.push_str("(no partition is being replicated yet)\n");
    }
    if !stopped.is_empty() {
        out.push_str(
            "\nstopped partitions (fix the cause and restart kmirror: each resumes from the offset shown):\n",
        );
        for s in stopped {
            let offset = s.offset.map_or_else(|| "unknown".to_owned(), |o| o.to_string());
            let lag = s
                .lag_records
                .map_or_else(String::new, |l| format!(", lag {l:.0} when it stopped"));
            out.push_str(&format!(
                "  {} {}-{} at source offset {offset}: {}{lag}\n",
                s.flow, s.topic, s.partition, s.reason
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# TYPE kmirror_partition_lag_records gauge
kmirror_partition_lag_records{flow="a->b",topic="t",partition="0"} 100
kmirror_partition_lag_records{flow="a->b",topic="t",partition="1"} 50
kmirror_partition_lag_records{flow="a->b",topic="u",partition="0"} 0
kmirror_records_sent_total{flow="a->b",topic="t"} 1000
kmirror_memory_budget_bytes 268435456
garbage line
odd{a="x\"y,z",b="2"} 1
"#;

    #[test]
    fn parses_samples_and_skips_the_rest() {
        let samples = parse_samples(SCRAPE);
        assert_eq!(samples.len(), 6);
        assert_eq!(samples[4].name, "kmirror_memory_budget_bytes");
        assert_eq!(samples[5].labels["a"], "x\"y,z");
        assert_eq!(samples[5].labels["b"], "2");
        for bad in [
            "x{a=\"1\" 2",
            "x{a=1} 2",
            "{a=\"1\"} 2",
            "x 1 2 y",
            "x{a=\"1\"} nan-ish",
        ] {
            assert!(parse_samples(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn summarizes_lag_rate_and_eta_per_flow() {
        let before = parse_samples(SCRAPE);
        let after = parse_samples(&SCRAPE.replace("} 1000", "} 1300"));
        let status = summarize(&before, &after, 2.0);
        assert_eq!(
            status,
            vec![FlowStatus {
                flow: "a->b".into(),
                topics: 2,
                partitions: 3,
                stopped: 0,
                lag_records: 150.0,
                records_per_second: 150.0,
                eta_seconds: Some(1.0),
            }]
        );
        assert_eq!(summarize(&before, &before, 2.0)[0].eta_seconds, None);
    }

    #[test]
    fn stopped_partitions_are_counted_apart_and_listed() {
        let stopped = r#"kmirror_partition_stopped{flow="a->b",topic="t",partition="1",reason="target_refused"} 1
kmirror_partition_stopped_offset{flow="a->b",topic="t",partition="1"} 4200
kmirror_partition_stopped{flow="c->d",topic="x",partition="0",reason="corrupt_batch"} 1
"#;
        let before = parse_samples(SCRAPE);
        let after = parse_samples(&format!("{}{stopped}", SCRAPE.replace("} 1000", "} 1300")));
        let list = stopped_partitions(&after);
        assert_eq!(
            list,
            vec![
                StoppedStatus {
                    flow: "a->b".into(),
                    topic: "t".into(),
                    partition: "1".into(),
                    reason: "target_refused".into(),
                    offset: Some(4200),
                    lag_records: Some(50.0),
                },
                StoppedStatus {
                    flow: "c->d".into(),
                    topic: "x".into(),
                    partition: "0".into(),
                    reason: "corrupt_batch".into(),
                    offset: None,
                    lag_records: None,
                },
            ]
        );
        let status = summarize(&before, &after, 2.0);
        assert_eq!(status.len(), 2);
        let ab = &status[0];
        assert_eq!(
            (ab.topics, ab.partitions, ab.stopped, ab.lag_records),
            (2, 3, 1, 100.0),
            "the stopped partition's lag is not in the flow's"
        );
        assert_eq!(ab.eta_seconds, Some(100.0 / 150.0));
        let cd = &status[1];
        assert_eq!((cd.flow.as_str(), cd.partitions, cd.stopped), ("c->d", 1, 1));

        let text = render(&status, &list);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("flow") && lines[0].contains("stopped"),
            "{text}"
        );
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(&cells[..5], ["a->b", "2", "3", "1", "100"], "{text}");
        assert!(text.contains("  a->b t-1 at source offset 4200: target_refused, lag 50 when it stopped"));
        assert!(
            text.contains("  c->d x-0 at source offset unknown: corrupt_batch\n"),
            "{text}"
        );
    }
}
