//! What every fault scenario shares: the flow's configuration, kmirror as a separate process
//! (in a network namespace when the scenario has them), the continuous stream, and the
//! report line with the verifier's verdict and the recovery time.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use kmirror::cluster::{Cluster, OffsetSpec};

use crate::support::kafka::Kafka;
use crate::support::kmirror::Kmirror;
use crate::support::stream::{Mark, Outcome, Spec, Stream};
use crate::support::{mm2_properties, pyclient, topic};

/// `KMIRROR_FAULTS=full` (scripts/faults.sh): the long forms (minutes-long outages, 50 kills)
/// instead of the short ones CI runs.
pub fn full() -> bool {
    std::env::var("KMIRROR_FAULTS").is_ok_and(|v| v == "full")
}

/// `short` in CI, `long` with [`full`].
pub fn scaled<T>(short: T, long: T) -> T {
    if full() { long } else { short }
}

/// One fault scenario at a time: each runs up to seven JVMs and measures how long recovery
/// takes, which a second one on the same two cores would distort.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

/// A scenario's clusters and kmirror.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub source: String,
    pub target: String,
    /// kmirror's network namespace, if the scenario has them.
    pub kmirror_ns: Option<String>,
    /// Lines added to the flow's configuration.
    pub extra: String,
    /// Heartbeats both ways; off when the source is the kit's shared broker, whose other
    /// tests would otherwise find a `heartbeats` topic to replicate.
    pub heartbeats: bool,
    /// The target topic is created before kmirror starts, with these replicas per partition.
    pub target_replicas: Option<Vec<Vec<i32>>>,
    /// Bootstrap addresses one by one, for the test's own offset checks (clusters in a
    /// network namespace are out of the test process's reach: none then).
    pub seeds: Option<(Vec<String>, Vec<String>)>,
}

impl Setup {
    pub fn new(source: &Kafka, target: &Kafka) -> Self {
        let reachable = crate::support::netns::namespace_of(&source.addr()).is_none()
            && crate::support::netns::namespace_of(&target.addr()).is_none();
        Self {
            source: source.addr(),
            target: target.addr(),
            seeds: reachable.then(|| (source.seeds(), target.seeds())),
            ..Self::default()
        }
    }

    pub fn extra(mut self, lines: &str) -> Self {
        self.extra.push_str(lines);
        self.extra.push('\n');
        self
    }
}

/// A scenario running: the stream flows and kmirror replicates it.
#[derive(Debug)]
pub struct Run {
    pub name: &'static str,
    pub dir: tempfile::TempDir,
    pub source_topic: String,
    pub target_topic: String,
    pub stream: Stream,
    pub kmirror: Option<Kmirror>,
    config: PathBuf,
    kmirror_ns: Option<String>,
    seeds: Option<(Vec<String>, Vec<String>)>,
    partitions: i32,
    started: Instant,
}

impl Run {
    /// Creates the source topic, starts kmirror and the stream, and lets it run `warm_up`.
    pub async fn start(name: &'static str, setup: Setup, spec: Spec, warm_up: Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let prefix = topic(&format!("fault-{slug}"));
        let source_topic = format!("{prefix}.stream");
        let target_topic = format!("source.{source_topic}");
        pyclient::create_topic(&setup.source, &source_topic, spec.partitions).await;
        if let Some(replicas) = &setup.target_replicas {
            pyclient::create_topic_on(&setup.target, &target_topic, replicas).await;
        }
        let heartbeats = if setup.heartbeats {
            ""
        } else {
            "emit.heartbeats.enabled = false\nheartbeats.replication.enabled = false\n"
        };
        let config = mm2_properties(
            dir.path(),
            &setup.source,
            &setup.target,
            &format!("source->target.topics = {prefix}.*\n{heartbeats}{}", setup.extra),
        );
        let kmirror_ns = setup.kmirror_ns.clone();
        let partitions = spec.partitions;
        let kmirror = spawn(kmirror_ns.as_deref(), &config, dir.path());
        let stream = Stream::start(
            &setup.source,
            &source_topic,
            &setup.target,
            &target_topic,
            spec,
            dir.path(),
        )
        .await;
        let mut run = Self {
            name,
            dir,
            source_topic,
            target_topic,
            stream,
            kmirror: Some(kmirror),
            config,
            kmirror_ns,
            seeds: setup.seeds,
            partitions,
            started: Instant::now(),
        };
        run.sleep(warm_up).await;
        run
    }

    /// Waits `d`, failing at once if kmirror exits meanwhile.
    pub async fn sleep(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < until {
            if let Some(k) = self.kmirror.as_mut()
                && let Some(status) = k.has_exited()
            {
                panic!("{}: kmirror exited ({status}):\n{}", self.name, k.log());
            }
            tokio::time::sleep(Duration::from_millis(100).min(until - tokio::time::Instant::now())).await;
        }
    }

    /// SIGKILL.
    pub fn kill_kmirror(&mut self) {
        if let Some(k) = self.kmirror.take() {
            k.kill9();
        }
    }

    /// A new kmirror process on the same configuration and state directory.
    pub fn start_kmirror(&mut self) {
        assert!(self.kmirror.is_none(), "kmirror is running");
        self.kmirror = Some(spawn(self.kmirror_ns.as_deref(), &self.config, self.dir.path()));
    }

    /// Every kmirror log of the run, in start order.
    pub fn logs(&self) -> String {
        logs_in(self.dir.path())
    }

    /// Lets the stream run `after` more, stops it, waits for the target, stops kmirror
    /// cleanly and judges: the verdict must pass. Returns the outcome and the report row.
    pub async fn finish(mut self, fault: Fault, after: Duration) -> (Outcome, Row) {
        self.sleep(after).await;
        let Self {
            name,
            dir,
            stream,
            target_topic,
            mut kmirror,
            started,
            ..
        } = self;
        let outcome = stream.finish(Duration::from_secs(30)).await;
        if let Some(k) = kmirror.take() {
            k.stop_cleanly().await;
        }
        let logs = logs_in(dir.path());
        if let Ok(keep) = std::env::var("KMIRROR_FAULTS_LOGS") {
            let slug: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let path = Path::new(&keep).join(format!("{slug}.log"));
            std::fs::write(&path, &logs).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let arrivals = dir.path().join(format!("arrivals-{target_topic}.jsonl"));
            let _ = std::fs::copy(arrivals, Path::new(&keep).join(format!("{slug}.arrivals.jsonl")));
            let marks = format!("{{\"fault_end_us\": {}}}\n", fault.end.at_micros);
            let _ = std::fs::write(Path::new(&keep).join(format!("{slug}.marks.json")), marks);
        }
        let recovery = outcome.caught_up_after(&fault.end);
        let lag_zero = match fault.lag_zero {
            Some(task) => task.await.expect("the offsets watch"),
            None => None,
        };
        let row = Row {
            scenario: name,
            fault: fault.what,
            produced: outcome.produced(),
            lost: outcome.verdict.lost,
            duplicated: outcome.verdict.duplicates,
            out_of_order: outcome.verdict.reordered,
            unexpected: outcome.verdict.unexpected,
            recovery,
            lag_zero,
            fault_seconds: fault.lasted.as_secs_f64(),
            max_delay: outcome.verdict.latency.max(),
            seconds: started.elapsed().as_secs_f64(),
        };
        row.report();
        assert!(
            outcome.verdict.passed(),
            "{}: {}\n{}\nkmirror logs:\n{logs}",
            name,
            row.line(),
            outcome.verdict
        );
        assert!(
            recovery.is_some(),
            "{name}: a record the source had at the fault's end never arrived"
        );
        (outcome, row)
    }
}

/// `kmirror run`, in `ns` if given, logging with `KMIRROR_FAULTS_RUST_LOG` as its filter if
/// set (e.g. `warn,kmirror=debug`). `KMIRROR_FAULTS_BIN` names the binary to run instead of
/// the test build: scripts/faults.sh gives a release build, whose recovery times are those
/// of production (the unoptimised build forwards fewer batches per second when catching up).
fn spawn(ns: Option<&str>, config: &Path, dir: &Path) -> Kmirror {
    let filter = std::env::var("KMIRROR_FAULTS_RUST_LOG").ok();
    let env: Vec<(&str, &str)> = filter.iter().map(|f| ("RUST_LOG", f.as_str())).collect();
    match std::env::var_os("KMIRROR_FAULTS_BIN") {
        Some(program) => Kmirror::run_program(&program, ns, config, dir, &[], &env),
        None => Kmirror::run_in(ns, config, dir, &[], &env),
    }
}

/// Every kmirror log in `dir`, in start order.
fn logs_in(dir: &Path) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    logs.retain(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("kmirror-"))
    });
    logs.sort();
    logs.iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// When a fault began and ended, and what the source had acknowledged at its end.
#[derive(Debug)]
pub struct Fault {
    pub what: String,
    pub lasted: Duration,
    pub end: Mark,
    /// Watching the target's end offsets from the fault's end (see [`lag_zero`]).
    lag_zero: Option<tokio::task::JoinHandle<Option<Duration>>>,
}

impl Run {
    /// The fault that began at `began` is over: marks what the source holds now.
    pub async fn fault_ended(&mut self, what: impl Into<String>, began: Instant) -> Fault {
        let lasted = began.elapsed();
        let lag_zero = self.seeds.clone().map(|(source, target)| {
            tokio::spawn(lag_zero(
                source,
                target,
                self.source_topic.clone(),
                self.target_topic.clone(),
                self.partitions,
            ))
        });
        let end = self.stream.mark().await;
        Fault {
            what: what.into(),
            lasted,
            end,
            lag_zero,
        }
    }
}

/// From now until the target's end offsets reach the source's of now (lag 0, as kmirror's
/// own lag metric counts it): independent of how fast the test's reader keeps up. The target
/// topic is written by kmirror alone, each source record once, so its offsets are the
/// source's. `None` if that takes over three minutes.
async fn lag_zero(
    source: Vec<String>,
    target: Vec<String>,
    source_topic: String,
    target_topic: String,
    partitions: i32,
) -> Option<Duration> {
    let start = Instant::now();
    let config = kmirror::config::ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..kmirror::config::ClientConfig::default()
    };
    let deadline = start + Duration::from_secs(180);
    let ends = |cluster: Option<std::sync::Arc<Cluster>>, topic: String| async move {
        let cluster = cluster?;
        let _ = cluster.refresh_topics(std::slice::from_ref(&topic)).await;
        let mut ends = Vec::new();
        for p in 0..partitions {
            ends.push(cluster.list_offset(&topic, p, OffsetSpec::Latest).await.ok()?);
        }
        Some(ends)
    };
    let src = Cluster::bootstrap("check", &source, config.clone()).await.ok();
    let wanted = loop {
        if let Some(e) = ends(src.clone(), source_topic.clone()).await {
            break e;
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut dst = None;
    while Instant::now() < deadline {
        if dst.is_none() {
            dst = Cluster::bootstrap("check", &target, config.clone()).await.ok();
        }
        if let Some(got) = ends(dst.clone(), target_topic.clone()).await
            && got.iter().zip(&wanted).all(|(g, w)| g >= w)
        {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// One line of the Failures table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub fault: String,
    pub produced: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub unexpected: u64,
    /// From the fault's end until the test's reader had read every record the source had then.
    pub recovery: Option<Duration>,
    /// From the fault's end until the target's end offsets reached the source's then (lag 0),
    /// when the test process can reach both clusters.
    pub lag_zero: Option<Duration>,
    pub fault_seconds: f64,
    /// The longest a record took from its send to its arrival on the target.
    pub max_delay: Option<Duration>,
    pub seconds: f64,
}

impl Row {
    pub fn line(&self) -> String {
        format!(
            "{}: {} | produced {} | lost {} | duplicated {} | out of order {} | unexpected {} | fault lasted {:.1} s | lag 0 {} after its end | all read {} after its end | longest record delay {}",
            self.scenario,
            self.fault,
            self.produced,
            self.lost,
            self.duplicated,
            self.out_of_order,
            self.unexpected,
            self.fault_seconds,
            self.lag_zero
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
            self.recovery
                .map_or_else(|| "never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
            self.max_delay
                .map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
        )
    }

    /// On stderr, and as a JSON line appended to `$KMIRROR_FAULTS_REPORT` if set (the
    /// script's table).
    pub fn report(&self) {
        eprintln!("FAULT {}", self.line());
        if let Ok(path) = std::env::var("KMIRROR_FAULTS_REPORT") {
            let v = json!({
                "scenario": self.scenario, "fault": self.fault, "produced": self.produced,
                "lost": self.lost, "duplicated": self.duplicated, "out_of_order": self.out_of_order,
                "unexpected": self.unexpected,
                "recovery_s": self.recovery.map(|d| d.as_secs_f64()),
                "lag_zero_s": self.lag_zero.map(|d| d.as_secs_f64()),
                "fault_s": self.fault_seconds,
                "max_delay_s": self.max_delay.map(|d| d.as_secs_f64()),
                "seconds": self.seconds,
            });
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            writeln!(f, "{v}").expect("write the report");
        }
    }
}

/// A scenario whose records cannot all arrive (the source lost them): its row says what
/// kmirror stopped on (`detected`), with the line it logged as `detail`.
pub fn report_detected(scenario: &'static str, produced: u64, detected: &str, detail: &str) {
    // Without the terminal colours of kmirror's log line.
    let detail = regex::Regex::new("\x1b\\[[0-9;]*m")
        .expect("regex")
        .replace_all(detail, "");
    eprintln!("FAULT {scenario}: produced {produced} | stopped: {detected} | {detail}");
    if let Ok(path) = std::env::var("KMIRROR_FAULTS_REPORT") {
        let v = json!({"scenario": scenario, "produced": produced, "detected": detected, "detail": detail});
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        writeln!(f, "{v}").expect("write the report");
    }
}
