//! The kmirror binary as a child process, for tests that need real signals: SIGTERM for a
//! clean stop, SIGKILL for a crash.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Kmirror {
    child: Child,
    log: std::path::PathBuf,
}

impl Kmirror {
    /// `kmirror run --config <config>`, logging to `<dir>/kmirror-<n>.log`.
    pub fn run(config: &Path, dir: &Path) -> Self {
        Self::run_with(config, dir, &[])
    }

    /// [`Kmirror::run`] with more arguments.
    pub fn run_with(config: &Path, dir: &Path, args: &[&str]) -> Self {
        Self::run_with_env(config, dir, args, &[])
    }

    /// [`Kmirror::run_with`] with environment variables set for the child.
    pub fn run_with_env(config: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::run_in(None, config, dir, args, env)
    }

    /// [`Kmirror::run_with_env`] inside network namespace `ns` (see `super::netns`).
    pub fn run_in(ns: Option<&str>, config: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::run_program(env!("CARGO_BIN_EXE_kmirror").as_ref(), ns, config, dir, args, env)
    }

    /// [`Kmirror::run_in`] with another kmirror binary (a release build, for timings).
    pub fn run_program(
        program: &std::ffi::OsStr,
        ns: Option<&str>,
        config: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!("kmirror-{}.log", N.fetch_add(1, Ordering::Relaxed)));
        let file = std::fs::File::create(&log).expect("log file");
        let child = super::netns::command(ns, program)
            .args(["run", "--config"])
            .arg(config)
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "warn,kmirror=info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("start kmirror");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (at most `timeout`). Waits first until kmirror has
    /// its signal handlers in place (it logs "starting" after that).
    pub async fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.log().contains("starting") && self.child.try_wait().expect("wait").is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "kmirror did not start; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "kmirror did not exit within {timeout:?} after SIGTERM; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, and the exit must be clean (status 0), or the test fails with the log.
    pub async fn stop_cleanly(self) {
        let log = self.log.clone();
        let status = self.terminate(Duration::from_secs(30)).await;
        assert!(
            status.success(),
            "kmirror exited with {status} after SIGTERM; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }

    pub fn has_exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("wait")
    }
}

impl Drop for Kmirror {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "kmirror's last log lines:\n{}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kmirror check --config <config>` off the async runtime: whether it passed, and its stdout
/// followed by its stderr.
pub async fn check(config: &Path) -> (bool, String) {
    let config = config.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kmirror"))
            .args(["check", "--config"])
            .arg(&config)
            .env("RUST_LOG", "error")
            .output()
            .expect("run kmirror check")
    })
    .await
    .expect("kmirror check task");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
