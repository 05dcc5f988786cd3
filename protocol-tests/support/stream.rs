//! The fault suite's continuous stream: `fault_stream.py` (librdkafka) produces keyed,
//! sequence-numbered records to the source for as long as a scenario runs and reads the
//! target meanwhile, noting when each record arrived; kmirror's own e2e verifier
//! (`kmirror::bench::verify`) judges what arrived. Either process runs inside the network
//! namespace of its cluster when that cluster is in one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kmirror::bench::verify::{self, Received, Verdict};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// What to produce.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub partitions: i32,
    /// Distinct keys, each an ordered stream of sequences; key n goes to partition n mod
    /// partitions.
    pub keys: u64,
    /// Records per second.
    pub rate: u64,
    pub value_size: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            partitions: 4,
            keys: 64,
            rate: 1000,
            value_size: 100,
        }
    }
}

/// The records of each key the source had acknowledged at a moment.
#[derive(Debug, Clone)]
pub struct Mark {
    /// µs since the epoch.
    pub at_micros: i64,
    pub acked: Vec<u64>,
}

/// One of the two Python processes.
#[derive(Debug)]
struct Script {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    what: &'static str,
}

impl Script {
    async fn start(what: &'static str, bootstrap: &str, request: &Value) -> Self {
        let python = super::tools_dir().join("venv/bin/python");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/support/fault_stream.py");
        let ns = super::netns::namespace_of(bootstrap);
        let mut command = Command::from(super::netns::command(ns.as_deref(), python));
        let mut child = command
            .arg(script)
            .arg(what)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start fault_stream.py {what}: {e}"));
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        stdin
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("fault_stream.py {what}: {e}"));
        Self {
            child,
            stdin,
            stdout,
            what,
        }
    }

    async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("fault_stream.py {}: {e}", self.what));
        self.stdin.flush().await.expect("flush");
    }

    /// The next JSON line it prints, within `timeout`.
    async fn answer(&mut self, timeout: Duration) -> Value {
        let line = tokio::time::timeout(timeout, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("fault_stream.py {} did not answer within {timeout:?}", self.what))
            .expect("read");
        let line = line.unwrap_or_else(|| panic!("fault_stream.py {} exited without answering", self.what));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("fault_stream.py {}: {e}: {line}", self.what))
    }
}

/// The producer on the source and the consumer on the target, running.
#[derive(Debug)]
pub struct Stream {
    producer: Script,
    consumer: Script,
    out: PathBuf,
    keys: u64,
}

impl Stream {
    /// Starts producing `spec` to `topic` on `source` and reading `target_topic` on `target`
    /// (the consumer waits for the topic to appear). Arrivals go to a file in `dir`.
    pub async fn start(
        source: &str,
        topic: &str,
        target: &str,
        target_topic: &str,
        spec: Spec,
        dir: &Path,
    ) -> Self {
        let out = dir.join(format!("arrivals-{target_topic}.jsonl"));
        let producer = Script::start(
            "produce",
            source,
            &json!({"bootstrap": source, "topic": topic, "partitions": spec.partitions,
                    "keys": spec.keys, "rate": spec.rate, "value_size": spec.value_size}),
        )
        .await;
        let consumer = Script::start(
            "consume",
            target,
            &json!({"bootstrap": target, "topic": target_topic, "partitions": spec.partitions,
                    "out": out}),
        )
        .await;
        Self {
            producer,
            consumer,
            out,
            keys: spec.keys,
        }
    }

    /// What the source has acknowledged now.
    pub async fn mark(&mut self) -> Mark {
        self.producer.send("mark").await;
        let v = self.producer.answer(Duration::from_secs(30)).await;
        Mark {
            at_micros: v["mark"].as_i64().expect("mark time"),
            acked: serde_json::from_value(v["acked"].clone()).expect("acked"),
        }
    }

    /// Stops producing, waits until the target shows every acknowledged record (or nothing new
    /// came for `idle`) and judges what it holds.
    pub async fn finish(mut self, idle: Duration) -> Outcome {
        self.producer.send("stop").await;
        let end = self.producer.answer(Duration::from_secs(180)).await;
        let acked: Vec<u64> = serde_json::from_value(end["acked"].clone()).expect("acked");
        assert_eq!(acked.len() as u64, self.keys);
        let status = self.producer.child.wait().await.expect("producer exit");
        assert!(
            status.success(),
            "the source did not take every record (not kmirror's doing): {end}"
        );
        self.consumer
            .send(&json!({"expect": acked, "idle_s": idle.as_secs()}).to_string())
            .await;
        let _ = self.consumer.answer(idle + Duration::from_secs(120)).await;
        let status = self.consumer.child.wait().await.expect("consumer exit");
        assert!(status.success(), "the target reader failed");
        Outcome::read(&self.out, acked)
    }
}

/// What the target held at the end, judged.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub acked: Vec<u64>,
    /// When each (key, sequence) first arrived, µs.
    arrivals: HashMap<(u64, u64), i64>,
}

impl Outcome {
    fn read(path: &Path, acked: Vec<u64>) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        // A reader that reconnects may be served an offset twice: that is one record on the
        // target, kept with its first arrival.
        let mut partitions: BTreeMap<i64, BTreeMap<i64, Received>> = BTreeMap::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("an arrival line");
            let (p, offset, at) = (
                v[0].as_i64().unwrap(),
                v[1].as_i64().unwrap(),
                v[4].as_i64().unwrap(),
            );
            let bytes = |x: &Value| x.as_str().map(|s| s.as_bytes().to_vec());
            let _ = partitions
                .entry(p)
                .or_default()
                .entry(offset)
                .or_insert(Received {
                    key: bytes(&v[2]),
                    value: bytes(&v[3]),
                    received_micros: at,
                });
        }
        let by_partition: Vec<Vec<Received>> = partitions
            .into_values()
            .map(|m| m.into_values().collect())
            .collect();
        let mut arrivals = HashMap::new();
        for r in by_partition.iter().flatten() {
            let key = r.key.as_deref().and_then(|k| {
                std::str::from_utf8(k)
                    .ok()?
                    .strip_prefix('k')?
                    .parse::<u64>()
                    .ok()
            });
            let seq = r.value.as_deref().and_then(verify::parse_value).map(|(s, _)| s);
            if let (Some(k), Some(s)) = (key, seq) {
                let _ = arrivals.entry((k, s)).or_insert(r.received_micros);
            }
        }
        Self {
            verdict: verify::verify(&acked, &by_partition),
            acked,
            arrivals,
        }
    }

    /// From `mark` until the target held every record the source had acknowledged at it:
    /// zero if it already did, `None` if one of them never arrived.
    pub fn caught_up_after(&self, mark: &Mark) -> Option<Duration> {
        let mut last = mark.at_micros;
        for (k, &n) in mark.acked.iter().enumerate() {
            if n > 0 {
                last = last.max(*self.arrivals.get(&(k as u64, n - 1))?);
            }
        }
        Some(Duration::from_micros((last - mark.at_micros) as u64))
    }

    /// Records produced (and acknowledged by the source).
    pub fn produced(&self) -> u64 {
        self.acked.iter().sum()
    }
}
