//! A tansu 0.6.0 broker for one test: a free 127.0.0.1 port, a private temp directory,
//! sqlite storage (the memory engine reports wrong high watermarks and skips batches on
//! mid-batch fetches), killed on drop.
//!
//! Only `groups.rs` still uses it, until it moves to Apache Kafka (`support::kafka`); this
//! file goes with that move. scripts/install-test-deps.sh no longer installs tansu.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kmirror::config::ClientConfig;
use kmirror::net::Connection;

#[derive(Debug)]
pub struct TansuBroker {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl TansuBroker {
    pub fn binary() -> PathBuf {
        let bin = super::tools_dir().join("bin").join("tansu");
        assert!(
            bin.exists(),
            "tansu not found at {}: run scripts/install-test-deps.sh (or scripts/test.sh)",
            bin.display()
        );
        bin
    }

    /// Starts a broker and waits until it completes an ApiVersions handshake.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Self::spawn(&dir, port);
        let broker = Self { child, dir, port };
        broker.wait_ready().await;
        broker
    }

    fn spawn(dir: &tempfile::TempDir, port: u16) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("tansu.log"))
            .expect("log file");
        let url = format!("tcp://127.0.0.1:{port}");
        Command::new(Self::binary())
            // A clean directory: tansu loads `.env` from its working directory.
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn tansu")
    }

    async fn wait_ready(&self) {
        let broker = self;
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(2),
            ..ClientConfig::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if Connection::connect(&broker.addr(), &config).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tansu did not start within 30 s; its log:\n{}",
                broker.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
