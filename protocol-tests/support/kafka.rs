//! Apache Kafka for the tests: KRaft nodes started from the jars `scripts/install-kafka.sh`
//! installed (through `scripts/kafka/node.sh`, which sets the JVM up for a small machine), on
//! 127.0.0.1 with free ports, in temporary directories, killed on drop.
//!
//! - [`Kafka::single`]: one combined broker and controller with five listeners: PLAINTEXT,
//!   SSL (server certificate only), MTLS (SSL that requires a client certificate), SASL_SSL
//!   (SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN) and SASL_PLAINTEXT (SCRAM-SHA-512 only). The
//!   certificates come from a CA made for the node ([`TestCa`]); the SCRAM users are added when
//!   the storage is formatted.
//! - [`Kafka::cluster`]: three such nodes, every topic with three replicas and
//!   `min.insync.replicas=2`, for failure tests: nodes can be killed, restarted on their log
//!   directories, paused (SIGSTOP) and resumed.
//! - [`shared_source`] and [`shared_target`]: one single node each for the whole test binary,
//!   for tests that only need their own topics and groups on a broker (most of them); they
//!   save about two seconds of start-up and a JVM per test.
//!
//! Every JVM has a watchdog (`sh`) reading a pipe from the test process: when the test process
//! ends, however it ends, the pipe closes and the watchdog kills the JVM and removes the
//! node's directory. Shared nodes live in statics, which Rust never drops, so this is what
//! stops them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kmirror::cluster::Cluster;
use kmirror::config::ClientConfig;
use kmirror::testkit::certs::{Leaf, TestCa};
use tokio::sync::OnceCell;

/// The SCRAM and PLAIN user every secured node knows.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "Alice-Secret-42";

/// What to start.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// `None`: the reference version (`scripts/kafka/versions.properties`).
    pub version: Option<String>,
    /// Property lines appended to every node's configuration (they win over the defaults).
    pub properties: Vec<String>,
    /// Maximum heap per node, for `-Xmx`.
    pub heap: String,
    /// Run the nodes in a network namespace of the fault suite ([`super::netns`]), listening
    /// on its address there instead of 127.0.0.1. Such a cluster is reached from processes in
    /// that namespace (the Python client is, through the namespace's registry), never from the
    /// test process: [`Kafka::client`] cannot reach it.
    pub netns: Option<super::netns::Place>,
    /// An extra SASL_SSL listener `OAUTH` with OAUTHBEARER, validating JWTs against the keys
    /// at this JWKS URL ([`KafkaOptions::with_oauth`]).
    pub oauth_jwks: Option<String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            version: None,
            properties: Vec::new(),
            heap: "512m".to_owned(),
            netns: None,
            oauth_jwks: None,
        }
    }
}

impl KafkaOptions {
    /// The compatibility version (3.9) instead of the reference.
    pub fn compat() -> Self {
        Self {
            version: Some(version("compat")),
            ..Self::default()
        }
    }

    pub fn with(mut self, property: &str) -> Self {
        self.properties.push(property.to_owned());
        self
    }

    /// Adds a SASL_SSL listener with OAUTHBEARER ([`Kafka::oauth_addr`]) whose broker validates
    /// JWTs (audience `kafka`) with the keys served at `jwks_url`, which must answer before the
    /// broker starts. Sessions are bounded by the token's expiry (`connections.max.reauth.ms`).
    pub fn with_oauth(mut self, jwks_url: &str) -> Self {
        self.oauth_jwks = Some(jwks_url.to_owned());
        self
    }

    /// The nodes run in `place`'s network namespace, on its address.
    pub fn in_netns(mut self, place: super::netns::Place) -> Self {
        self.netns = Some(place);
        self
    }
}

/// A version from `scripts/kafka/versions.properties` (`reference` or `compat`), unless
/// `KMIRROR_KAFKA_VERSION` overrides the reference.
pub fn version(which: &str) -> String {
    if which == "reference"
        && let Ok(v) = std::env::var("KMIRROR_KAFKA_VERSION")
    {
        return v;
    }
    let text = std::fs::read_to_string(repo().join("scripts/kafka/versions.properties"))
        .expect("scripts/kafka/versions.properties");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{which}=")))
        .unwrap_or_else(|| panic!("no {which}= in versions.properties"))
        .trim()
        .to_owned()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free port for a broker listener, below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768-60999 by default). A port the kernel hands out for
/// port 0 is free only until it hands the same port to the local end of some outgoing
/// connection, and a broker then failed to start with "Address already in use" before it had
/// bound it. Ports below the range go only to whoever asks for them by number; this process
/// walks them from a point that depends on its pid, and checks each is free when it picks it.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let below = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|low| *low > LOWEST + 1_000)
        .unwrap_or(32_768);
    let span = below - LOWEST;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOWEST + (start + n) % span).expect("below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOWEST} and {below}");
}

/// The ports of one node, one per listener.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub plaintext: u16,
    pub ssl: u16,
    pub mtls: u16,
    pub sasl_ssl: u16,
    pub sasl_plaintext: u16,
    pub controller: u16,
    /// The OAUTHBEARER listener's, when the cluster has one.
    pub oauth: Option<u16>,
}

impl Ports {
    fn free(oauth: bool) -> Self {
        Self {
            oauth: oauth.then(free_port),
            plaintext: free_port(),
            ssl: free_port(),
            mtls: free_port(),
            sasl_ssl: free_port(),
            sasl_plaintext: free_port(),
            controller: free_port(),
        }
    }
}

/// Certificates and keys of a cluster, as files the clients (kmirror, librdkafka) read.
#[derive(Debug)]
pub struct Pki {
    pub ca: TestCa,
    pub client: Leaf,
    /// The CA certificate (PEM): `ssl.truststore.location`, librdkafka's `ssl.ca.location`.
    pub ca_file: PathBuf,
    /// Client key and certificate in one PEM file: kmirror's `ssl.keystore.location`.
    pub client_keystore: PathBuf,
    /// The client certificate and key apart, for librdkafka.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server_keystore: PathBuf,
}

impl Pki {
    fn write(dir: &Path) -> Self {
        let ca = TestCa::new("kmirror test CA");
        let server = ca.server(&["localhost", "127.0.0.1"]);
        let client = ca.client("kmirror");
        let put = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a certificate file");
            path
        };
        Self {
            ca_file: put("ca.pem", &ca.cert_pem),
            client_keystore: put("client.pem", &client.keystore_pem()),
            client_cert: put("client-cert.pem", &client.cert_pem),
            client_key: put("client-key.pem", &client.key_pem),
            server_keystore: put("server.pem", &server.keystore_pem()),
            ca,
            client,
        }
    }
}

#[derive(Debug)]
struct Node {
    id: i32,
    dir: PathBuf,
    ports: Ports,
    jvm: Option<Child>,
    /// The watchdog's stdin: one line per JVM started (its pid); closing it stops the node.
    watchdog: Option<(Child, ChildStdin)>,
    starts: usize,
    /// The cluster's directory, which the watchdog removes.
    root: PathBuf,
}

/// One Kafka cluster of one or three nodes.
#[derive(Debug)]
pub struct Kafka {
    nodes: Vec<Node>,
    pki: Arc<Pki>,
    version: String,
    heap: String,
    /// Java system properties of every node (`-Dkey=value`, space-separated).
    jvm_props: String,
    /// The address every listener binds (127.0.0.1 unless the nodes run in a namespace).
    host: String,
    netns: Option<super::netns::Place>,
    _dir: tempfile::TempDir,
}

impl Kafka {
    /// One node with the reference version.
    pub async fn single() -> Self {
        Self::start(1, KafkaOptions::default()).await
    }

    /// One node with `options`.
    pub async fn single_with(options: KafkaOptions) -> Self {
        Self::start(1, options).await
    }

    /// Three nodes: replication factor 3 and `min.insync.replicas=2` by default, the internal
    /// topics too.
    pub async fn cluster(options: KafkaOptions) -> Self {
        Self::start(3, options).await
    }

    async fn start(count: i32, options: KafkaOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kmirror-kafka-")
            .tempdir()
            .expect("temp dir");
        let version = options.version.clone().unwrap_or_else(|| version("reference"));
        let home = super::tools_dir().join("kafka").join(&version).join("lib");
        assert!(
            home.join(".complete").exists(),
            "Kafka {version} is not installed in {}: run scripts/install-kafka.sh (or scripts/test.sh)",
            home.display()
        );
        let pki = Arc::new(Pki::write(dir.path()));
        let host = options
            .netns
            .as_ref()
            .map_or_else(|| "127.0.0.1".to_owned(), |p| p.host.clone());
        let ports: Vec<Ports> = (0..count)
            .map(|_| Ports::free(options.oauth_jwks.is_some()))
            .collect();
        let voters = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}@{host}:{}", i + 1, p.controller))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = random_uuid();
        let mut nodes = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let id = i as i32 + 1;
            let node_dir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let mut props = std::fs::read_to_string(repo().join("scripts/kafka/base.properties"))
                .expect("scripts/kafka/base.properties");
            props.push_str(&node_properties(id, p, &host, &voters, &node_dir, &pki));
            if let (Some(jwks), Some(port)) = (&options.oauth_jwks, p.oauth) {
                props.push_str(&oauth_properties(&host, p, port, jwks, &version));
            }
            if count > 1 {
                props.push_str(&replicated_properties(count));
            }
            for line in &options.properties {
                props.push_str(line);
                props.push('\n');
            }
            std::fs::write(node_dir.join("server.properties"), props).expect("server.properties");
            nodes.push(Node {
                id,
                dir: node_dir,
                ports: *p,
                jvm: None,
                watchdog: None,
                starts: 0,
                root: dir.path().to_owned(),
            });
        }
        let mut kafka = Self {
            nodes,
            pki,
            version,
            heap: options.heap,
            // Kafka 4 fetches only the OAuth URLs this property allows (3.9 ignores it).
            jvm_props: options.oauth_jwks.as_ref().map_or_else(String::new, |u| {
                format!("-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={u}")
            }),
            host,
            netns: options.netns,
            _dir: dir,
        };
        for i in 0..kafka.nodes.len() {
            kafka.format(i, &cluster_id);
        }
        for i in 0..kafka.nodes.len() {
            kafka.spawn(i);
        }
        for i in 0..kafka.nodes.len() {
            kafka.wait_started(i).await;
        }
        kafka.wait_brokers(kafka.nodes.len()).await;
        kafka
    }

    fn node_sh(&self) -> Command {
        let mut c = super::netns::command(
            self.netns.as_ref().map(|p| p.ns.as_str()),
            repo().join("scripts/kafka/node.sh"),
        );
        c.env("KMIRROR_KAFKA_VERSION", &self.version)
            .env("KMIRROR_KAFKA_HEAP", &self.heap)
            .env("KMIRROR_KAFKA_JVM_PROPS", &self.jvm_props)
            .env("KMIRROR_TOOLS", super::tools_dir())
            .stdin(Stdio::null());
        c
    }

    fn format(&self, i: usize, cluster_id: &str) {
        let node = &self.nodes[i];
        let scram = |m: &str| format!("{m}=[name={USER},password={PASSWORD}]");
        let out = self
            .node_sh()
            .arg("format")
            .arg(&node.dir)
            .args(["-t", cluster_id])
            .args(["--add-scram", &scram("SCRAM-SHA-256")])
            .args(["--add-scram", &scram("SCRAM-SHA-512")])
            .output()
            .expect("run scripts/kafka/node.sh format");
        assert!(
            out.status.success(),
            "formatting node {} failed:\n{}{}",
            node.id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&mut self, i: usize) {
        let log_path = {
            let node = &mut self.nodes[i];
            node.starts += 1;
            node.dir.join(format!("kafka-{}.log", node.starts))
        };
        let log = std::fs::File::create(&log_path).expect("log file");
        let dir = self.nodes[i].dir.clone();
        let jvm = self
            .node_sh()
            .arg("start")
            .arg(&dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start scripts/kafka/node.sh");
        let pid = jvm.id();
        let node = &mut self.nodes[i];
        node.jvm = Some(jvm);
        if node.watchdog.is_none() {
            // Reads the pid of every JVM this node starts; at end of input (the test process
            // is gone, or the cluster is dropped) kills the last one and removes the cluster's
            // directory.
            let mut child = Command::new("sh")
                .args([
                    "-c",
                    r#"pid=; while read -r line; do pid=$line; done; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$0""#,
                ])
                .arg(&node.root)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the watchdog");
            let stdin = child.stdin.take().expect("watchdog stdin");
            node.watchdog = Some((child, stdin));
        }
        if let Some((_, stdin)) = node.watchdog.as_mut() {
            let _ = writeln!(stdin, "{pid}");
        }
    }

    async fn wait_started(&mut self, i: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let log = self.node_log(i);
            if log.contains("Kafka Server started") {
                return;
            }
            let node = &mut self.nodes[i];
            if let Some(status) = node.jvm.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                // The cause is usually an ERROR far above the shutdown lines of the tail.
                let errors: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("ERROR") || l.contains("Exception"))
                    .take(10)
                    .collect();
                panic!(
                    "Kafka node {} exited ({status}) while starting:\n{}\n...\n{}",
                    node.id,
                    errors.join("\n"),
                    tail(&log, 60)
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Kafka node {} did not start within 90 s:\n{}",
                node.id,
                tail(&log, 60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the metadata lists `count` brokers (each node registered with the
    /// controller quorum).
    async fn wait_brokers(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        if self.netns.is_some() {
            // Out of the test process's reach: asked from inside the namespace.
            while super::pyclient::broker_count(&self.addr()).await < count {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the metadata did not list {count} brokers within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            return;
        }
        loop {
            if let Ok(c) = Cluster::bootstrap("kafka-testkit", &self.seeds(), quick()).await {
                if c.metadata().brokers.len() >= count {
                    c.close().await;
                    return;
                }
                c.close().await;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the metadata did not list {count} brokers within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    fn listeners(&self, port: impl Fn(&Ports) -> u16, host: &str) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{host}:{}", port(&n.ports)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// PLAINTEXT bootstrap addresses of every node, comma-separated.
    pub fn addr(&self) -> String {
        self.listeners(|p| p.plaintext, &self.host)
    }

    /// The PLAINTEXT addresses one by one (kmirror's `Cluster::bootstrap` seeds).
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("{}:{}", self.host, n.ports.plaintext))
            .collect()
    }

    /// SSL listener (server certificate only), by host name so that it is checked.
    pub fn ssl_addr(&self) -> String {
        self.listeners(|p| p.ssl, "localhost")
    }

    /// SSL listener that requires a client certificate.
    pub fn mtls_addr(&self) -> String {
        self.listeners(|p| p.mtls, "localhost")
    }

    /// SASL_SSL listener: SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN.
    pub fn sasl_ssl_addr(&self) -> String {
        self.listeners(|p| p.sasl_ssl, "localhost")
    }

    /// SASL_SSL listener with OAUTHBEARER ([`KafkaOptions::with_oauth`]).
    pub fn oauth_addr(&self) -> String {
        self.listeners(|p| p.oauth.expect("a cluster started with_oauth"), "localhost")
    }

    /// SASL_PLAINTEXT listener: SCRAM-SHA-512 only.
    pub fn sasl_plaintext_addr(&self) -> String {
        self.listeners(|p| p.sasl_plaintext, &self.host)
    }

    /// A kmirror cluster handle on the PLAINTEXT listeners.
    pub async fn client(&self) -> Arc<Cluster> {
        Cluster::bootstrap("check", &self.seeds(), ClientConfig::default())
            .await
            .expect("bootstrap the test cluster")
    }

    /// The node (0-based) with broker id `id`.
    pub fn index_of(&self, id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// The log of node `i`'s latest start.
    fn node_log(&self, i: usize) -> String {
        let node = &self.nodes[i];
        std::fs::read_to_string(node.dir.join(format!("kafka-{}.log", node.starts))).unwrap_or_default()
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.nodes[i]
            .jvm
            .as_ref()
            .unwrap_or_else(|| panic!("node {} is not running", self.nodes[i].id))
            .id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// SIGKILL: the node stops at once, as in a crash.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut jvm) = self.nodes[i].jvm.take() {
            let _ = jvm.kill();
            let _ = jvm.wait();
        }
    }

    /// Starts a killed node again on its log directories and waits until it has started.
    pub async fn start_node(&mut self, i: usize) {
        assert!(
            self.nodes[i].jvm.is_none(),
            "node {} is running",
            self.nodes[i].id
        );
        self.spawn(i);
        self.wait_started(i).await;
    }

    /// Starts killed nodes together (a controller quorum forms only once a majority runs)
    /// and waits until each has started.
    pub async fn start_nodes(&mut self, nodes: &[usize]) {
        for &i in nodes {
            assert!(
                self.nodes[i].jvm.is_none(),
                "node {} is running",
                self.nodes[i].id
            );
            self.spawn(i);
        }
        for &i in nodes {
            self.wait_started(i).await;
        }
    }

    /// Kills node `i` and starts it again.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.start_node(i).await;
    }

    /// SIGSTOP: the node is frozen (no response, no replication, no heartbeat) until resumed.
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// SIGCONT after [`Kafka::pause`].
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut jvm) = node.jvm.take() {
                let _ = jvm.kill();
                let _ = jvm.wait();
            }
            if let Some((mut watchdog, stdin)) = node.watchdog.take() {
                drop(stdin);
                let _ = watchdog.wait();
            }
        }
    }
}

fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A Kafka cluster id: 16 random bytes in URL-safe base64 without padding (`Uuid.toString`),
/// never starting with `-`, which the storage tool would read as an option (Kafka's own
/// `Uuid.randomUuid` draws again in that case too); one id in 64 did.
fn random_uuid() -> String {
    use base64::Engine;
    loop {
        let bytes: [u8; 16] = rand::random();
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Listeners, certificates and SASL of one node, and no time-based retention: tests write
/// records with timestamps from 2001 and 2023, which the default seven days would delete at
/// the next retention check (every five minutes), shared brokers live longer than that.
fn node_properties(id: i32, p: &Ports, host: &str, voters: &str, dir: &Path, pki: &Pki) -> String {
    let jaas_scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
    let jaas_plain = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}=\"{PASSWORD}\";"
    );
    format!(
        "\n# node {id}\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://{host}:{plain},SSL://{host}:{ssl},MTLS://{host}:{mtls},SASL_SSL://{host}:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plain},CONTROLLER://{host}:{controller}\n\
         advertised.listeners=PLAINTEXT://{host}:{plain},SSL://localhost:{ssl},MTLS://localhost:{mtls},SASL_SSL://localhost:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plain}\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n\
         log.retention.ms=-1\n\
         ssl.keystore.type=PEM\n\
         ssl.keystore.location={keystore}\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location={ca}\n\
         listener.name.mtls.ssl.client.auth=required\n\
         sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN\n\
         listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN\n\
         listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas_scram}\n\
         listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas_scram}\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config={jaas_plain}\n\
         listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
         listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas_scram}\n",
        plain = p.plaintext,
        ssl = p.ssl,
        mtls = p.mtls,
        sasl_ssl = p.sasl_ssl,
        sasl_plain = p.sasl_plaintext,
        controller = p.controller,
        data = dir.join("data").display(),
        keystore = pki.server_keystore.display(),
        ca = pki.ca_file.display(),
    )
}

/// The OAUTH listener of [`KafkaOptions::with_oauth`], appended so that its `listeners`,
/// `advertised.listeners` and protocol map lines win over the node's.
fn oauth_properties(host: &str, p: &Ports, port: u16, jwks: &str, version: &str) -> String {
    // The validator's package moved out of `secured` in Kafka 4.
    let package = if version.starts_with("3.") {
        "org.apache.kafka.common.security.oauthbearer.secured"
    } else {
        "org.apache.kafka.common.security.oauthbearer"
    };
    format!(
        "listeners=PLAINTEXT://{host}:{plain},SSL://{host}:{ssl},MTLS://{host}:{mtls},SASL_SSL://{host}:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plain},CONTROLLER://{host}:{controller},OAUTH://{host}:{port}\n\
         advertised.listeners=PLAINTEXT://{host}:{plain},SSL://localhost:{ssl},MTLS://localhost:{mtls},SASL_SSL://localhost:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plain},OAUTH://localhost:{port}\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT,OAUTH:SASL_SSL\n\
         listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER\n\
         listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;\n\
         listener.name.oauth.oauthbearer.sasl.server.callback.handler.class={package}.OAuthBearerValidatorCallbackHandler\n\
         listener.name.oauth.oauthbearer.connections.max.reauth.ms=600000\n\
         sasl.oauthbearer.jwks.endpoint.url={jwks}\n\
         sasl.oauthbearer.expected.audience=kafka\n",
        plain = p.plaintext,
        ssl = p.ssl,
        mtls = p.mtls,
        sasl_ssl = p.sasl_ssl,
        sasl_plain = p.sasl_plaintext,
        controller = p.controller,
    )
}

/// Settings of a cluster of `count` nodes: every topic and internal topic replicated to all
/// of them, and acknowledged writes on at least two.
fn replicated_properties(count: i32) -> String {
    let min_isr = count.min(2);
    format!(
        "\n# {count} nodes\n\
         default.replication.factor={count}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={count}\n\
         transaction.state.log.replication.factor={count}\n\
         transaction.state.log.min.isr={min_isr}\n\
         share.coordinator.state.topic.replication.factor={count}\n\
         share.coordinator.state.topic.min.isr={min_isr}\n"
    )
}

static SHARED_SOURCE: OnceCell<Kafka> = OnceCell::const_new();
static SHARED_TARGET: OnceCell<Kafka> = OnceCell::const_new();

/// A single node shared by every test of this binary that uses it as a source. Tests must use
/// their own topics (see [`super::topic`]) and groups.
pub async fn shared_source() -> &'static Kafka {
    SHARED_SOURCE.get_or_init(Kafka::single).await
}

/// A second shared single node, for targets.
pub async fn shared_target() -> &'static Kafka {
    SHARED_TARGET.get_or_init(Kafka::single).await
}
