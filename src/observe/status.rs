//! `kmirror status`: reads a running kmirror's `/metrics` twice and prints, per flow, the
//! topics and partitions being replicated, the lag in records, the rate, and the time to lag 0
//! at that rate (a catch-up's ETA).
//!
//! The Prometheus text comes from the network, so the parser is total: lines it does not
//! understand are skipped, never trusted.

use std::collections::{BTreeMap, BTreeSet};

use crate::metrics::{PARTITION_LAG_RECORDS, RECORDS_SENT};

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
    pub lag_records: f64,
    /// Records sent per second between the two scrapes.
    pub records_per_second: f64,
    /// Seconds to lag 0 at that rate; `None` when nothing moved.
    pub eta_seconds: Option<f64>,
}

fn label<'a>(s: &'a Sample, key: &str) -> &'a str {
    s.labels.get(key).map_or("", String::as_str)
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
    let mut flows: BTreeMap<String, (BTreeSet<String>, usize, f64)> = BTreeMap::new();
    for s in after.iter().filter(|s| s.name == PARTITION_LAG_RECORDS) {
        let entry = flows.entry(label(s, "flow").to_owned()).or_default();
        let _ = entry.0.insert(label(s, "topic").to_owned());
        entry.1 += 1;
        entry.2 += s.value.max(0.0);
    }
    flows
        .into_iter()
        .map(|(flow, (topics, partitions, lag))| {
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
                partitions,
                lag_records: lag,
                records_per_second: rate,
                eta_seconds,
            }
        })
        .collect()
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
                lag_records: 150.0,
                records_per_second: 150.0,
                eta_seconds: Some(1.0),
            }]
        );
        assert_eq!(summarize(&before, &before, 2.0)[0].eta_seconds, None);
    }
}
