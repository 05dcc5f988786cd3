//! The baseline the replicator is compared with: a plain TCP relay that reads bytes from one
//! loopback socket and writes them to another, with a 1 MiB buffer, nothing else. It moves
//! the same bytes kmirror moves (one read from the source, one write to the target) at the
//! least CPU any user-space relay can, so "CPU per GB within 2x of a plain relay" compares
//! kmirror's protocol work against pure data movement.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use super::cpu;

/// What the relay moved and what it cost its thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayReport {
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// Relays `total` bytes, written in pieces of `chunk` by a feeder thread and read by a drain
/// thread; only the relay thread's CPU is counted.
pub(crate) fn run(total: u64, chunk: &[u8]) -> std::io::Result<RelayReport> {
    let inbound = TcpListener::bind("127.0.0.1:0")?;
    let outbound = TcpListener::bind("127.0.0.1:0")?;
    let (in_addr, out_addr) = (inbound.local_addr()?, outbound.local_addr()?);
    let chunk = chunk.to_vec();
    let feeder = std::thread::Builder::new()
        .name("kmirror-feed".to_owned())
        .spawn(move || -> std::io::Result<()> {
            let mut s = TcpStream::connect(in_addr)?;
            let mut left = total;
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                s.write_all(&chunk[..n])?;
                left -= n as u64;
            }
            Ok(())
        })?;
    let drain = std::thread::Builder::new()
        .name("kmirror-drain".to_owned())
        .spawn(move || -> std::io::Result<u64> {
            let (mut s, _) = outbound.accept()?;
            let mut buf = vec![0u8; 1 << 20];
            let mut got = 0u64;
            loop {
                match s.read(&mut buf)? {
                    0 => return Ok(got),
                    n => got += n as u64,
                }
            }
        })?;
    let relay = std::thread::Builder::new()
        .name("kmirror-relay".to_owned())
        .spawn(move || -> std::io::Result<RelayReport> {
            let (mut from, _) = inbound.accept()?;
            let mut to = TcpStream::connect(out_addr)?;
            let (cpu_before, started) = (cpu::this_thread_seconds()?, Instant::now());
            let mut buf = vec![0u8; 1 << 20];
            let mut bytes = 0u64;
            loop {
                let n = from.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                to.write_all(&buf[..n])?;
                bytes += n as u64;
            }
            let report = RelayReport {
                bytes,
                seconds: started.elapsed().as_secs_f64(),
                cpu_seconds: cpu::this_thread_seconds()? - cpu_before,
            };
            drop(to);
            Ok(report)
        })?;
    let joined = |what: &str| std::io::Error::other(format!("the relay's {what} thread panicked"));
    feeder.join().map_err(|_| joined("feeder"))??;
    let report = relay.join().map_err(|_| joined("relay"))??;
    let drained = drain.join().map_err(|_| joined("drain"))??;
    if drained != total || report.bytes != total {
        return Err(std::io::Error::other(format!(
            "the relay moved {} of {total} bytes and {drained} arrived",
            report.bytes
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_every_byte() {
        let report = run(3 << 20, &[7u8; 100_000]).unwrap();
        assert_eq!(report.bytes, 3 << 20);
        assert!(report.cpu_seconds >= 0.0);
    }
}
