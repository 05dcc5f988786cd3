//! MirrorMaker 2 itself for the tests: dedicated mode (`org.apache.kafka.connect.mirror.
//! MirrorMaker`) from the installed jars, through `scripts/kafka/node.sh java`, as a child
//! process killed on drop (and by a watchdog when the test process dies), its log kept in the
//! test's directory; and MM2's client code (`scripts/kafka/mm2-tools.sh`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// What MM2 needs on one-broker clusters: every replication factor 1 (its defaults are 3) and
/// short refresh intervals (its defaults are 10 minutes), offsets committed every second.
pub const ONE_BROKER_SETTINGS: &str = "\
replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset-syncs.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
refresh.topics.interval.seconds = 1
refresh.groups.interval.seconds = 1
emit.checkpoints.interval.seconds = 1
sync.group.offsets.interval.seconds = 1
offset.flush.interval.ms = 1000
";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One MirrorMaker 2 at a time in a test binary: a Connect worker starting next to another one
/// and the other tests' brokers on two cores took minutes to copy its first records.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

/// A running MirrorMaker 2.
#[derive(Debug)]
pub struct Mm2 {
    child: Option<Child>,
    log: PathBuf,
    watchdog: Option<(Child, ChildStdin)>,
}

impl Mm2 {
    /// Starts MM2 on `config` for the flows into cluster `target` and waits until it logs
    /// "Kafka MirrorMaker started".
    pub async fn start(config: &Path, dir: &Path, target: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!("mm2-{}.log", N.fetch_add(1, Ordering::Relaxed)));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(repo().join("scripts/kafka/node.sh"))
            .args(["java", "org.apache.kafka.connect.mirror.MirrorMaker"])
            .arg(config)
            .args(["--clusters", target])
            .env("KMIRROR_TOOLS", super::tools_dir())
            .env("KMIRROR_KAFKA_HEAP", "384m")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start MirrorMaker 2");
        // Kills the JVM when its stdin closes: the test process ended, however.
        let mut watchdog = Command::new("sh")
            .args(["-c", r#"read -r pid; cat >/dev/null; kill -9 "$pid" 2>/dev/null"#])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog");
        let mut stdin = watchdog.stdin.take().expect("watchdog stdin");
        let _ = writeln!(stdin, "{}", child.id());
        let mut mm2 = Self {
            child: Some(child),
            log,
            watchdog: Some((watchdog, stdin)),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
        while !mm2.log().contains("Kafka MirrorMaker started") {
            if let Some(status) = mm2.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "MirrorMaker 2 exited ({status}) while starting:\n{}",
                    mm2.tail(80)
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "MirrorMaker 2 did not start within 180 s:\n{}",
                mm2.tail(80)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mm2
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILL: MM2 stops at once, its produces in flight and offsets uncommitted.
    pub fn kill9(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = watchdog.wait();
        }
    }
}

impl Drop for Mm2 {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("MirrorMaker 2's last log lines:\n{}", self.tail(60));
        }
        self.stop();
    }
}

/// Runs `scripts/kafka/mm2-tools.sh` (MM2's client code) and returns its stdout; fails the test
/// with its stderr when it fails.
pub async fn tools(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(repo().join("scripts/kafka/mm2-tools.sh"))
            .args(&args)
            .env("KMIRROR_TOOLS", super::tools_dir())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/kafka/mm2-tools.sh");
        assert!(
            out.status.success(),
            "mm2-tools.sh {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .expect("mm2-tools task")
}
