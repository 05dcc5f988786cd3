//! A fixed-size latency histogram: log-linear buckets of microseconds (16 per power of two,
//! so a percentile is within about 6% of the true value), bounded memory however long the run.

use std::time::Duration;

const SUB_BUCKETS: u64 = 16;
const BUCKETS: usize = 61 * SUB_BUCKETS as usize;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_micros: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max_micros: 0,
        }
    }
}

fn index(micros: u64) -> usize {
    if micros < SUB_BUCKETS {
        return micros as usize;
    }
    let exp = u64::from(63 - micros.leading_zeros());
    ((exp - 3) * SUB_BUCKETS + ((micros >> (exp - 4)) & (SUB_BUCKETS - 1))) as usize
}

fn lower_bound(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return index;
    }
    let exp = index / SUB_BUCKETS + 3;
    (SUB_BUCKETS + index % SUB_BUCKETS) << (exp - 4)
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[index(micros).min(BUCKETS - 1)] += 1;
        self.total += 1;
        self.max_micros = self.max_micros.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below which a fraction `q` of the samples fall (a bucket's lower bound);
    /// `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_micros(lower_bound(i).min(self.max_micros)));
            }
        }
        Some(Duration::from_micros(self.max_micros))
    }

    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.max_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            1000,
            123_456,
            10_000_000,
            u64::MAX >> 1,
        ] {
            let i = index(v);
            assert!(lower_bound(i) <= v, "{v}");
            assert!(i + 1 >= BUCKETS || lower_bound(i + 1) > v, "{v}");
            // Within 1/16 of the value.
            assert!(v - lower_bound(i) <= v / 16, "{v}");
        }
    }

    #[test]
    fn quantiles_of_known_samples() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).unwrap().as_micros() as u64;
        assert!((47_000..=50_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap().as_micros() as u64;
        assert!((93_000..=99_000).contains(&p99), "{p99}");
        assert_eq!(h.max(), Some(Duration::from_millis(100)));
    }
}
