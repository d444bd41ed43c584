//! How fast to write: a steady `--qps` pace shared by all workers, and the bounded backoff for
//! 429 and 5xx answers (the server's `Retry-After` first, else exponential with full jitter).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Evenly spaced request slots: at most `qps` starts per second, no bursts (kube-apiserver's
/// priority and fairness judges sustained rate, and a burst of 32 at once is what trips it).
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `qps` = 0 means no limit.
    pub fn new(qps: f64) -> Self {
        let interval = (qps > 0.0).then(|| Duration::from_secs_f64(1.0 / qps));
        Self { interval, next: Mutex::new(None) }
    }

    /// Waits for the next free slot.
    pub async fn wait(&self) {
        let Some(interval) = self.interval else { return };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Retries allowed for one object after 429/5xx/transport errors.
pub const MAX_RETRIES: u32 = 8;
/// The first backoff step.
const BASE: Duration = Duration::from_millis(200);
/// No single wait is longer than this, whatever the server asks for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The wait before retry number `attempt` (1-based): the server's `Retry-After` when it gave
/// one (capped at [`MAX_WAIT`]), else a uniformly random wait in
/// `[0, min(MAX_WAIT, BASE * 2^(attempt-1))]` (full jitter, so workers that failed together do
/// not retry together).
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(d) = retry_after {
        return d.min(MAX_WAIT);
    }
    let ceiling = BASE.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_WAIT);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_honours_retry_after_and_is_bounded() {
        assert_eq!(backoff(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(backoff(1, Some(Duration::from_secs(3600))), MAX_WAIT);
        for attempt in 1..=40 {
            let d = backoff(attempt, None);
            assert!(d <= MAX_WAIT, "{attempt}: {d:?}");
            assert!(d <= BASE * 2u32.pow(attempt.saturating_sub(1).min(10)), "{attempt}: {d:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests_evenly() {
        let pacer = Pacer::new(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.wait().await;
        }
        // Slots at 0, 100, 200, 300, 400 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
        let unlimited = Pacer::new(0.0);
        let start = Instant::now();
        unlimited.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
