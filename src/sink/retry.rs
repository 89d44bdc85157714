//! Retry is one plain function: call, and on a retryable error wait (capped exponential backoff
//! with full jitter) and call again, until success, a permanent error, or shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Part, Sink, SinkError, SinkStats};
use crate::ack::Settlement;

/// First wait after a failure.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Delivers `part` through `sink` until it succeeds or fails permanently; `None` if `abort`
/// fired first.
/// With `max_attempts`, a retryable error is returned once that many attempts failed (the
/// caller dead-letters the batch).
pub async fn until_done<S: Sink>(
    name: &str,
    abort: &CancellationToken,
    stats: &SinkStats,
    sink: &mut S,
    part: &Part<'_>,
    max_attempts: Option<u32>,
) -> Option<Result<Settlement, SinkError>> {
    let mut failures: u32 = 0;
    loop {
        let result = tokio::select! {
            r = part.deliver(sink) => r,
            () = abort.cancelled() => return None,
        };
        match result {
            Ok(v) => return Some(Ok(v)),
            Err(e) if !e.retryable => {
                stats.count_error(&e);
                return Some(Err(e));
            }
            Err(e) => {
                stats.count_error(&e);
                failures += 1;
                stats.failures.fetch_add(1, Ordering::Relaxed);
                if max_attempts.is_some_and(|max| failures >= max) {
                    return Some(Err(e));
                }
                let wait = backoff(failures, e.retry_after);
                if e.operator {
                    // Credentials, a wrong path: nothing changes until someone acts, and
                    // the events wait (unacknowledged) until then.
                    tracing::error!(sink = name, error = %e, attempt = failures, wait_ms = wait.as_millis() as u64, "the destination refuses this sink's requests (check its credentials and address); the events are kept and retried");
                } else {
                    tracing::warn!(sink = name, error = %e, attempt = failures, wait_ms = wait.as_millis() as u64, "delivery failed; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = abort.cancelled() => return None,
                }
            }
        }
    }
}

/// The wait before attempt `failures + 1`: a uniformly random duration up to
/// `min(cap, start * 2^(failures-1))` ("full jitter"), or the server's `Retry-After` if given.
#[must_use]
pub fn backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(Duration::from_secs(3600));
    }
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let ceiling = exp.min(BACKOFF_CAP);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    // Full jitter, never zero (so a tight failure loop still yields).
    Duration::from_nanos(jitter(nanos.max(1)).max(1_000_000))
}

fn jitter(below: u64) -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            u64::try_from(crate::time::now_ms()).unwrap_or(1) ^ 0x9e37_79b9_7f4a_7c15,
        );
    }
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    #[test]
    fn backoff_is_capped_and_honours_retry_after() {
        for failures in 1..40 {
            assert!(backoff(failures, None) <= BACKOFF_CAP);
        }
        assert_eq!(
            backoff(3, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    /// Fails with the queued errors, then succeeds.
    struct Flaky {
        errors: Vec<SinkError>,
        calls: usize,
    }

    impl Sink for Flaky {
        async fn deliver(&mut self, _: &[Event]) -> Result<Settlement, SinkError> {
            self.calls += 1;
            match self.errors.pop() {
                Some(e) => Err(e),
                None => Ok(Settlement::Delivered),
            }
        }
    }

    fn err(retryable: bool) -> SinkError {
        if retryable {
            SinkError::retry("x".into())
        } else {
            SinkError::fatal("x".into())
        }
    }

    #[tokio::test]
    async fn retryable_errors_are_retried_until_success() {
        let abort = CancellationToken::new();
        let stats = SinkStats::default();
        let mut sink = Flaky {
            errors: vec![err(true), err(true)],
            calls: 0,
        };
        let result = until_done("t", &abort, &stats, &mut sink, &Part::Events(&[]), None).await;
        assert_eq!(result.unwrap().unwrap(), Settlement::Delivered);
        assert_eq!(sink.calls, 3);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn permanent_errors_and_abort_stop_retrying() {
        let abort = CancellationToken::new();
        let stats = SinkStats::default();
        let mut sink = Flaky {
            errors: vec![err(false)],
            calls: 0,
        };
        let r = until_done("t", &abort, &stats, &mut sink, &Part::Events(&[]), None).await;
        assert!(!r.unwrap().unwrap_err().retryable);
        abort.cancel();
        let mut sink = Flaky {
            errors: Vec::new(),
            calls: 0,
        };
        sink.errors.push(err(true));
        let r = until_done("t", &abort, &stats, &mut sink, &Part::Events(&[]), None).await;
        assert!(r.is_none());
    }
}
