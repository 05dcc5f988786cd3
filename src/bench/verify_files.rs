//! `kmirror bench verify`: the end-to-end verifier ([`super::verify`]) on what another program
//! sent and read, for replicators kmirror does not run itself (benches/compare.sh runs
//! MirrorMaker 2 and a librdkafka pipeline next to kmirror and reads every target with
//! librdkafka).
//!
//! - `--sent FILE`: one line per key `k<N>` in key order, the number of records sent with it.
//! - `--received FILE`: one line per record read from the target, in the order each partition
//!   delivered them: `<key> <value prefix> <received µs since the epoch>`, the value prefix
//!   being `<sequence>:<sent µs>:` as [`super::verify::value`] writes it (the padding is left
//!   out).
//!
//! Prints the verdict, then one line `verdict key=value ...` for scripts.

use std::path::{Path, PathBuf};

use super::BenchError;
use super::verify::{Received, Verdict, verify};

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyOptions {
    #[arg(long)]
    pub sent: PathBuf,
    #[arg(long)]
    pub received: PathBuf,
}

fn read(path: &Path) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|e| BenchError::io(&format!("reading {}", path.display()), e))
}

/// Per-key counts of the sent file.
pub fn parse_sent(text: &str) -> Result<Vec<u64>, BenchError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.trim()
                .parse()
                .map_err(|_| BenchError::Options(format!("sent file, line {}: not a count: {l:?}", i + 1)))
        })
        .collect()
}

/// The records of the received file, as one stream (the verifier checks order per key, and a
/// key lives in one partition).
pub fn parse_received(text: &str) -> Result<Vec<Received>, BenchError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let mut f = l.split_whitespace();
            let bad = || BenchError::Options(format!("received file, line {}: {l:?}", i + 1));
            let key = f.next().ok_or_else(bad)?;
            let value = f.next().ok_or_else(bad)?;
            let at = f.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
            Ok(Received {
                key: Some(key.as_bytes().to_vec()),
                value: Some(value.as_bytes().to_vec()),
                received_micros: at,
            })
        })
        .collect()
}

pub fn run(o: &VerifyOptions) -> Result<Verdict, BenchError> {
    let sent = parse_sent(&read(&o.sent)?)?;
    let received = parse_received(&read(&o.received)?)?;
    Ok(verify(&sent, &[received]))
}

/// The machine-readable line: counts and latency quantiles in ms (`-` without records).
pub fn summary_line(v: &Verdict) -> String {
    let ms = |q: f64| {
        v.latency
            .quantile(q)
            .map_or_else(|| "-".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
    };
    format!(
        "verdict sent={} received={} lost={} duplicates={} reordered={} unexpected={} p50_ms={} p99_ms={}",
        v.sent,
        v.received,
        v.lost,
        v.duplicates,
        v.reordered,
        v.unexpected,
        ms(0.5),
        ms(0.99)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_the_documented_format_are_verified() {
        // Latencies 2, 3 and 2 ms; quantiles are histogram bucket bounds (within 6%).
        let sent = parse_sent("2\n1\n").unwrap();
        let received = parse_received("k0 0:1000: 3000\nk1 0:1000: 4000\nk0 1:2000: 4000\n").unwrap();
        let v = verify(&sent, &[received]);
        assert!(v.passed(), "{v}");
        assert_eq!(
            summary_line(&v),
            "verdict sent=3 received=3 lost=0 duplicates=0 reordered=0 unexpected=0 p50_ms=2.0 p99_ms=2.9"
        );
    }

    #[test]
    fn loss_duplicates_and_reorders_are_counted() {
        let sent = parse_sent("3\n").unwrap();
        let received = parse_received("k0 1:0: 5\nk0 0:0: 5\nk0 0:0: 5\n").unwrap();
        let v = verify(&sent, &[received]);
        assert_eq!((v.lost, v.duplicates, v.reordered), (1, 1, 1), "{v}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_sent("x\n").is_err());
        assert!(parse_received("k0 0:0:\n").is_err());
    }
}
