//! The one restart back-off of the engine, shared by a container's restart
//! policy and a managed plugin's supervisor: 100 ms doubling per quick
//! failure, up to a cap, and back to 100 ms after a run long enough to
//! count as healthy.

use std::time::Duration;

/// How restarts of one kind of process are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// No delay is longer.
    pub cap: Duration,
    /// A run at least this long resets the delay to `base`.
    pub healthy_run: Duration,
}

impl Backoff {
    /// Containers with a restart policy (dockerd's 100 ms doubling, at most
    /// a minute).
    pub const CONTAINER: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(60),
        healthy_run: Duration::from_secs(10),
    };
    /// Managed plugins that crashed or failed to start.
    pub const PLUGIN: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(30),
        healthy_run: Duration::from_secs(10),
    };

    /// The delay before attempt `n` (0-based): `base` doubled `n` times,
    /// at most `cap`.
    pub fn delay(&self, n: u32) -> Duration {
        self.base.saturating_mul(1u32 << n.min(31)).min(self.cap)
    }
}

/// The failures counted so far for one supervised process.
#[derive(Debug, Clone)]
pub struct Restarts {
    policy: Backoff,
    failures: u32,
}

impl Restarts {
    pub fn new(policy: Backoff) -> Restarts {
        Restarts {
            policy,
            failures: 0,
        }
    }

    /// The process stopped after running for `ran` (zero for a start that
    /// failed): the delay before starting it again. A healthy run first
    /// forgets the earlier failures.
    pub fn next_delay(&mut self, ran: Duration) -> Duration {
        if ran >= self.policy.healthy_run {
            self.failures = 0;
        }
        let d = self.policy.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// Sleeps the delay [`Self::next_delay`] gives.
    pub async fn wait(&mut self, ran: Duration) {
        tokio::time::sleep(self.next_delay(ran)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_from_100ms_and_is_capped() {
        let p = Backoff::PLUGIN;
        assert_eq!(p.delay(0), ms(100));
        assert_eq!(p.delay(1), ms(200));
        assert_eq!(p.delay(5), ms(3200));
        assert_eq!(p.delay(8), ms(25600));
        assert_eq!(p.delay(9), Duration::from_secs(30));
        assert_eq!(p.delay(40), Duration::from_secs(30));
        let c = Backoff::CONTAINER;
        assert_eq!(c.delay(9), Duration::from_millis(51200));
        assert_eq!(c.delay(10), Duration::from_secs(60));
        assert_eq!(c.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn quick_failures_build_up_and_a_healthy_run_resets() {
        let mut r = Restarts::new(Backoff::CONTAINER);
        let quick = ms(50);
        assert_eq!(r.next_delay(quick), ms(100));
        assert_eq!(r.next_delay(quick), ms(200));
        assert_eq!(r.next_delay(Duration::ZERO), ms(400));
        // Just under the healthy run: still a quick failure.
        assert_eq!(r.next_delay(Duration::from_millis(9_999)), ms(800));
        assert_eq!(r.next_delay(Duration::from_secs(10)), ms(100));
        assert_eq!(r.next_delay(quick), ms(200));
        for _ in 0..40 {
            r.next_delay(quick);
        }
        assert_eq!(r.next_delay(quick), Duration::from_secs(60));
    }

    #[tokio::test]
    async fn wait_sleeps_the_delay() {
        let mut r = Restarts::new(Backoff {
            base: ms(20),
            cap: ms(40),
            healthy_run: ms(1000),
        });
        r.next_delay(Duration::ZERO);
        let t = std::time::Instant::now();
        r.wait(Duration::ZERO).await;
        let waited = t.elapsed();
        assert!(waited >= ms(40) && waited < ms(1000), "{waited:?}");
    }
}
