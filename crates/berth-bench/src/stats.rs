//! Summaries of measured samples.

use std::time::Duration;

/// The value at quantile `q` (0.0..=1.0) of `sorted`, by the nearest-rank method: the smallest
/// sample such that at least `q` of all samples are less than or equal to it. `None` when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let q = q.clamp(0.0, 1.0);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The median of `samples` (any order): the middle one, or the mean of the two middle ones.
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let n = s.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(s[n / 2]),
        _ => Some((s[n / 2 - 1] + s[n / 2]) / 2),
    }
}

/// Latency figures of one sequence of requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub requests: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
    pub mean: Duration,
    /// Requests completed per second of wall time over the whole sequence.
    pub per_sec: f64,
}

impl Latency {
    /// Summarises per-request round trips and the wall time the whole sequence took.
    pub fn from_samples(mut samples: Vec<Duration>, wall: Duration) -> Option<Latency> {
        samples.sort_unstable();
        let n = samples.len();
        let total: Duration = samples.iter().sum();
        Some(Latency {
            requests: n,
            p50: percentile(&samples, 0.50)?,
            p99: percentile(&samples, 0.99)?,
            min: samples[0],
            max: samples[n - 1],
            mean: total / n as u32,
            per_sec: if wall.is_zero() {
                f64::INFINITY
            } else {
                n as f64 / wall.as_secs_f64()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = us(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&s, 0.50), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&s, 0.99), Some(Duration::from_micros(99)));
        assert_eq!(percentile(&s, 1.0), Some(Duration::from_micros(100)));
        assert_eq!(percentile(&s, 0.0), Some(Duration::from_micros(1)));
        // With few samples p99 is the maximum, never an index past the end.
        let s = us(&[10, 20, 30]);
        assert_eq!(percentile(&s, 0.99), Some(Duration::from_micros(30)));
        assert_eq!(percentile(&s, 0.50), Some(Duration::from_micros(20)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn median_even_and_odd() {
        assert_eq!(median(&us(&[30, 10, 20])), Some(Duration::from_micros(20)));
        assert_eq!(
            median(&us(&[40, 10, 20, 30])),
            Some(Duration::from_micros(25))
        );
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn latency_summary_sorts_and_counts() {
        let l =
            Latency::from_samples(us(&[300, 100, 200, 1000]), Duration::from_millis(2)).unwrap();
        assert_eq!(l.requests, 4);
        assert_eq!(l.p50, Duration::from_micros(200));
        assert_eq!(l.p99, Duration::from_micros(1000));
        assert_eq!(l.min, Duration::from_micros(100));
        assert_eq!(l.max, Duration::from_micros(1000));
        assert_eq!(l.mean, Duration::from_micros(400));
        assert!((l.per_sec - 2000.0).abs() < 1e-9);
        assert_eq!(Latency::from_samples(Vec::new(), Duration::ZERO), None);
    }
}
