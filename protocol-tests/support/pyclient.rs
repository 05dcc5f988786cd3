//! Runs `kafka_client.py` (confluent-kafka, librdkafka 2.16) from the project's venv: the
//! independent client that produces test data and reads results back.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A record as the Python client sees it; bytes as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PyRecord {
    #[serde(default)]
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    #[serde(default)]
    pub timestamp_type: i32,
    pub timestamp: Option<i64>,
}

impl PyRecord {
    /// How the Python client shows a record decoded by kmirror (`base_timestamp` is its
    /// batch's).
    pub fn from_record(r: &kmirror::protocol::records::Record, base_timestamp: i64) -> Self {
        let hex = super::hex;
        Self {
            key: r.key.as_deref().map(hex),
            value: r.value.as_deref().map(hex),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v.as_deref().map(hex)))
                .collect(),
            timestamp: Some(base_timestamp + r.timestamp_delta),
            ..Self::default()
        }
    }
}

fn run(command: &str, request: Value) -> Value {
    run_script("kafka_client.py", &[command], request)
}

/// Runs a Python script of `protocol-tests/support/` with a JSON request on stdin and returns
/// its JSON answer.
pub(super) fn run_script(name: &str, args: &[&str], request: Value) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("protocol-tests/support")
        .join(name);
    let mut all = vec![script.into_os_string()];
    all.extend(args.iter().map(std::ffi::OsString::from));
    python(&all, &request, &format!("{name} {}", args.join(" ")))
}

/// Runs the venv's Python with `args`, `request` as JSON on stdin, and parses its stdout as
/// JSON; fails the test with its stderr if it fails.
fn python(args: &[std::ffi::OsString], request: &Value, what: &str) -> Value {
    match python_once(args, request) {
        Ok(v) => v,
        Err(e) => panic!("{what} failed {e}"),
    }
}

/// One run of [`python`]; the error names the exit status and the script's stderr.
fn python_once(args: &[std::ffi::OsString], request: &Value) -> Result<Value, String> {
    let python = super::tools_dir().join("venv").join("bin").join("python");
    assert!(
        python.exists(),
        "{} missing: run scripts/install-test-deps.sh",
        python.display()
    );
    // A cluster in a network namespace of the fault suite is reached from inside it.
    let ns = request["bootstrap"].as_str().and_then(super::netns::namespace_of);
    let mut child = super::netns::command(ns.as_deref(), python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("python output");
    if !out.status.success() {
        return Err(format!(
            "({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(serde_json::from_slice(&out.stdout).expect("json answer"))
}

async fn run_async(command: &'static str, request: Value) -> Value {
    tokio::task::spawn_blocking(move || run(command, request))
        .await
        .expect("python task")
}

pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    create_topic_with(bootstrap, topic, partitions, json!({})).await;
}

/// [`create_topic`] with topic configs (`{"cleanup.policy": "compact"}`); the replication
/// factor is the cluster's default.
pub async fn create_topic_with(bootstrap: &str, topic: &str, partitions: i32, config: Value) {
    let _ = run_async(
        "create-topic",
        json!({"bootstrap": bootstrap, "topic": topic, "partitions": partitions, "config": config}),
    )
    .await;
}

/// Creates `topic` with the given replicas for each partition (the first one its preferred
/// leader).
pub async fn create_topic_on(bootstrap: &str, topic: &str, replicas: &[Vec<i32>]) {
    let _ = run_async(
        "create-topic",
        json!({"bootstrap": bootstrap, "topic": topic, "partitions": replicas.len(), "replicas": replicas}),
    )
    .await;
}

/// Produces `records` to one partition with the given librdkafka producer settings and
/// returns their offsets.
pub async fn produce(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    config: Value,
    records: &[PyRecord],
) -> Vec<i64> {
    produce_with(bootstrap, topic, partition, config, records, false).await
}

/// As [`produce`]; with `wait_for_metadata` the first record is produced only once
/// librdkafka knows the partition's leader, so that none waits in its unassigned queue
/// (which it leaves in batches cut by timing): with a long `linger.ms`, the batches then
/// depend on the settings only.
pub async fn produce_with(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    config: Value,
    records: &[PyRecord],
    wait_for_metadata: bool,
) -> Vec<i64> {
    let answer = run_async(
        "produce",
        json!({"bootstrap": bootstrap, "topic": topic, "partition": partition, "config": config,
               "records": records, "wait_for_metadata": wait_for_metadata}),
    )
    .await;
    serde_json::from_value(answer["offsets"].clone()).expect("offsets")
}

/// Consumes `count` records from `offset` (or fewer if `timeout_s` passes first).
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    count: usize,
    timeout_s: u64,
) -> Vec<PyRecord> {
    let answer = run_async(
        "consume",
        json!({"bootstrap": bootstrap, "topic": topic, "partition": partition, "offset": offset,
               "count": count, "timeout_s": timeout_s}),
    )
    .await;
    serde_json::from_value(answer["records"].clone()).expect("records")
}

/// Consumes `count` records as group `group` from its committed offset (the consumer does
/// not join the group and commits nothing).
pub async fn consume_group(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partition: i32,
    count: usize,
    timeout_s: u64,
) -> Vec<PyRecord> {
    let answer = run_async(
        "consume",
        json!({"bootstrap": bootstrap, "group": group, "topic": topic, "partition": partition,
               "offset": null, "count": count, "timeout_s": timeout_s}),
    )
    .await;
    serde_json::from_value(answer["records"].clone()).expect("records")
}

/// Commits `(topic, partition, offset)` for `group`.
pub async fn commit(bootstrap: &str, group: &str, offsets: &[(&str, i32, i64)]) {
    let _ = run_async(
        "commit",
        json!({"bootstrap": bootstrap, "group": group, "offsets": offsets}),
    )
    .await;
}

/// Leader, replicas and in-sync replicas of one partition, as the cluster describes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartitionReplicas {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Describes every partition of `topic`.
pub async fn describe_topic(bootstrap: &str, topic: &str) -> Vec<PartitionReplicas> {
    let answer = run_async("describe", json!({"bootstrap": bootstrap, "topic": topic})).await;
    serde_json::from_value(answer["partitions"].clone()).expect("partitions")
}

/// Deletes `topic` and returns once the cluster no longer lists it.
pub async fn delete_topic(bootstrap: &str, topic: &str) {
    let _ = run_async("delete-topic", json!({"bootstrap": bootstrap, "topic": topic})).await;
}

/// The number of brokers the cluster's metadata lists.
pub async fn broker_count(bootstrap: &str) -> usize {
    let answer = run_async("brokers", json!({"bootstrap": bootstrap})).await;
    answer["brokers"].as_u64().unwrap_or(0) as usize
}

/// The committed offsets of `group`, sorted.
///
/// A read, so it is tried again if the Python process dies of a signal: librdkafka's admin
/// client has been seen to crash (SIGSEGV) under load while a group rebalances.
pub async fn committed(bootstrap: &str, group: &str) -> Vec<(String, i32, i64)> {
    let request = json!({"bootstrap": bootstrap, "group": group});
    let answer = tokio::task::spawn_blocking(move || {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/support/kafka_client.py");
        let args = [script.into_os_string(), "committed".into()];
        let mut tries = 0;
        loop {
            match python_once(&args, &request) {
                Ok(v) => return v,
                Err(e) if e.contains("signal") && tries < 3 => tries += 1,
                Err(e) => panic!("kafka_client.py committed failed {e}"),
            }
        }
    })
    .await
    .expect("python task");
    serde_json::from_value(answer["offsets"].clone()).expect("offsets")
}

/// Runs a Python program with the venv's interpreter (confluent-kafka importable): `request`
/// on its stdin as JSON, its stdout parsed as JSON.
pub async fn run_inline(script: &'static str, request: Value) -> Value {
    tokio::task::spawn_blocking(move || python(&["-c".into(), script.into()], &request, "python script"))
        .await
        .expect("python task")
}

/// Writes `count` records `<prefix>-<i>` (keys `<i>`) round robin over `partitions`
/// partitions, spread over `seconds`.
pub async fn produce_seq(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    prefix: &str,
    start: usize,
    count: usize,
    seconds: f64,
) {
    let _ = run_async(
        "produce-seq",
        json!({"bootstrap": bootstrap, "topic": topic, "partitions": partitions, "prefix": prefix,
               "start": start, "count": count, "seconds": seconds}),
    )
    .await;
}

/// Runs `command` with librdkafka security settings (`security.protocol`, `ssl.*`,
/// `sasl.*`) added to every client the script creates.
pub async fn secured(command: &'static str, mut request: Value, security: Value) -> Value {
    request["security"] = security;
    run_async(command, request).await
}

/// Reads partition 0 of an MM2 internal topic from the beginning and decodes it with the
/// test's own decoder (`mm2_decode.py`, written from the format description): `kind` is
/// `offset-sync`, `checkpoint` or `heartbeat`. Waits up to `timeout_s` for `min_records`.
pub async fn read_mm2(
    bootstrap: &str,
    topic: &str,
    kind: &str,
    min_records: usize,
    timeout_s: u64,
) -> Vec<Value> {
    let request = json!({"bootstrap": bootstrap, "topic": topic, "kind": kind,
                         "min_records": min_records, "timeout_s": timeout_s});
    let answer = tokio::task::spawn_blocking(move || run_script("mm2_decode.py", &[], request))
        .await
        .expect("python task");
    serde_json::from_value(answer["records"].clone()).expect("records")
}

/// A librdkafka consumer joined to a group (`protocol` `classic`, or `consumer` for KIP-848),
/// committing nothing, until [`Member::leave`] (or drop, which kills it).
pub struct Member {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Member {
    /// Starts the consumer and waits until the group gave it partitions of `topic`.
    pub async fn join(bootstrap: &str, group: &str, topic: &str, protocol: &str) -> Self {
        use std::io::BufRead;
        let request = json!({"bootstrap": bootstrap, "group": group, "topic": topic, "protocol": protocol});
        tokio::task::spawn_blocking(move || {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("protocol-tests/support/kafka_client.py");
            let mut child = Command::new(super::tools_dir().join("venv").join("bin").join("python"))
                .arg(script)
                .arg("member")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a group member");
            let stdin = child.stdin.as_mut().expect("stdin");
            writeln!(stdin, "{request}").expect("write the request");
            let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            let _ = stdout.read_line(&mut line).expect("read the member's answer");
            assert_eq!(line.trim(), "joined", "the member did not join {request}");
            Self { child, stdout }
        })
        .await
        .expect("member task")
    }

    /// Leaves the group (the consumer closes) and waits until it has.
    pub async fn leave(mut self) {
        use std::io::BufRead;
        tokio::task::spawn_blocking(move || {
            drop(self.child.stdin.take());
            let mut line = String::new();
            let _ = self
                .stdout
                .read_line(&mut line)
                .expect("read the member's answer");
            assert_eq!(line.trim(), "left");
            let _ = self.child.wait();
        })
        .await
        .expect("member task");
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === kafka_scenarios.py: transactions, reading to the end, altering a topic ===

async fn scenario(command: &'static str, request: Value) -> Value {
    tokio::task::spawn_blocking(move || run_script("kafka_scenarios.py", &[command], request))
        .await
        .expect("python task")
}

/// Runs transactional and plain writes to `topic` in the order of `steps` (see
/// `kafka_scenarios.py`); returns (producer, partition, offset) of every record sent.
pub async fn transactions(
    bootstrap: &str,
    topic: &str,
    transactional_id: &str,
    steps: Value,
    tx_config: Value,
    plain_config: Value,
) -> Vec<(String, i32, i64)> {
    let answer = scenario(
        "transactions",
        json!({"bootstrap": bootstrap, "topic": topic, "transactional_id": transactional_id,
               "steps": steps, "tx_config": tx_config, "plain_config": plain_config}),
    )
    .await;
    serde_json::from_value(answer["sent"].clone()).expect("sent")
}

/// Every record of a partition from offset 0 to its end (the last stable offset with
/// `read_committed`, the high watermark with `read_uncommitted`), as librdkafka reads it.
pub async fn read_all(bootstrap: &str, topic: &str, partition: i32, isolation: &str) -> Vec<PyRecord> {
    let answer = scenario(
        "read-all",
        json!({"bootstrap": bootstrap, "topic": topic, "partition": partition,
               "isolation": isolation, "timeout_s": 60}),
    )
    .await;
    serde_json::from_value(answer["records"].clone()).expect("records")
}

/// Sets topic configs (IncrementalAlterConfigs).
pub async fn alter_topic_config(bootstrap: &str, topic: &str, set: Value) {
    let _ = scenario(
        "alter-config",
        json!({"bootstrap": bootstrap, "topic": topic, "set": set}),
    )
    .await;
}

/// A transaction left open by a librdkafka producer until [`OpenTransaction::finish`].
#[derive(Debug)]
pub struct OpenTransaction {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl OpenTransaction {
    /// Begins a transaction, writes `records` to `partition` and returns once they are on the
    /// broker, the transaction still open.
    pub async fn begin(
        bootstrap: &str,
        topic: &str,
        transactional_id: &str,
        partition: i32,
        records: &[PyRecord],
    ) -> Self {
        let request = json!({"bootstrap": bootstrap, "topic": topic, "transactional_id": transactional_id,
                             "partition": partition, "records": records})
        .to_string();
        tokio::task::spawn_blocking(move || {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("protocol-tests/support/kafka_scenarios.py");
            let mut child = Command::new(super::tools_dir().join("venv").join("bin").join("python"))
                .arg(script)
                .args(["open-transaction", &request])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start python");
            let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut stdout, &mut line).expect("read");
            assert_eq!(line.trim(), "open", "the transaction did not open");
            Self { child, stdout }
        })
        .await
        .expect("python task")
    }

    /// `commit` or `abort`, and waits until it is done.
    pub async fn finish(mut self, how: &'static str) {
        tokio::task::spawn_blocking(move || {
            let stdin = self.child.stdin.as_mut().expect("stdin");
            writeln!(stdin, "{how}").expect("write");
            stdin.flush().expect("flush");
            let mut line = String::new();
            let _ = std::io::BufRead::read_line(&mut self.stdout, &mut line).expect("read");
            assert_eq!(line.trim(), "done", "{how} failed");
            assert!(self.child.wait().expect("wait").success());
        })
        .await
        .expect("python task");
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 120 s) until partition 0 of `topic` holds `count` records, read with
/// confluent-kafka over `security`, and returns them.
pub async fn consume_secured(addr: &str, topic: &str, security: Value, count: usize) -> Vec<PyRecord> {
    crate::support::eventually(
        "the records on the target",
        std::time::Duration::from_secs(120),
        || {
            let request = serde_json::json!({"bootstrap": addr, "topic": topic, "partition": 0,
                                         "offset": 0, "count": count, "timeout_s": 5});
            let security = security.clone();
            async move {
                let answer = secured("consume", request, security).await;
                let got: Vec<PyRecord> = serde_json::from_value(answer["records"].clone()).ok()?;
                (got.len() == count).then_some(got)
            }
        },
    )
    .await
}
