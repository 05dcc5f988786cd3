//! What the benchmark measures of this process: CPU seconds per thread and in total, from
//! `/proc/self/stat` and `/proc/self/task/*/stat` (Linux), and the peak resident set size
//! (`VmHWM` in `/proc/self/status`).
//!
//! The synthetic brokers run on threads of this process named [`SYNTH_THREAD`]; the
//! replicator's CPU time is the process total minus theirs. The process total counts threads
//! that have exited, so short-lived tokio blocking threads are not lost.

use std::io;

/// Name (`comm`) of the threads running the synthetic brokers.
pub(crate) const SYNTH_THREAD: &str = "kmirror-synth";

/// Clock ticks per second of the `utime`/`stime` fields: `USER_HZ`, 100 on every Linux
/// architecture kmirror builds for (it is part of the kernel ABI, independent of `HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// The thread name and CPU seconds (user + system) of one `stat` line; `None` if it does not
/// parse. The name may contain spaces and parentheses, so fields are counted after the last
/// `)` (proc(5): `pid (comm) state ppid ...`, utime and stime are fields 14 and 15).
pub(crate) fn parse_stat(line: &str) -> Option<(String, f64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let name = line.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) is index 11 and stime (15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) as f64 / TICKS_PER_SECOND))
}

/// CPU seconds of the whole process so far, exited threads included.
pub(crate) fn process_seconds() -> io::Result<f64> {
    let text = std::fs::read_to_string("/proc/self/stat")?;
    parse_stat(&text)
        .map(|(_, s)| s)
        .ok_or_else(|| io::Error::other("/proc/self/stat: unexpected format"))
}

/// CPU seconds of this process's live threads named `name`.
pub(crate) fn threads_seconds(name: &str) -> io::Result<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let path = entry?.path().join("stat");
        // A thread may exit between listing and reading.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some((comm, seconds)) = parse_stat(&text)
            && comm == name
        {
            total += seconds;
        }
    }
    Ok(total)
}

/// CPU seconds of the calling thread.
pub(crate) fn this_thread_seconds() -> io::Result<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/stat")?;
    parse_stat(&text)
        .map(|(_, s)| s)
        .ok_or_else(|| io::Error::other("/proc/thread-self/stat: unexpected format"))
}

/// CPU seconds of the replicator: the process minus the synthetic brokers' threads.
pub(crate) fn replicator_seconds() -> io::Result<f64> {
    Ok(process_seconds()? - threads_seconds(SYNTH_THREAD)?)
}

/// `VmHWM` of `/proc/self/status`, in bytes.
pub(crate) fn peak_rss_bytes() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/status")?;
    parse_vm_hwm(&text).ok_or_else(|| io::Error::other("/proc/self/status: no VmHWM line"))
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let line = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        let (name, seconds) = parse_stat(line).unwrap();
        assert_eq!(name, "tokio (worker) 1");
        assert!((seconds - 3.0).abs() < 1e-9);
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(process_seconds().unwrap() >= 0.0);
        assert!(this_thread_seconds().unwrap() >= 0.0);
        assert!(peak_rss_bytes().unwrap() > 0);
        assert_eq!(
            parse_vm_hwm("VmPeak:\t 1 kB\nVmHWM:\t   2048 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(parse_vm_hwm("VmHWM: lots"), None);
    }
}
