//! Exponential backoff with jitter around idempotent calls (reads), retrying transient faults only.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::ClientError;

/// How often and how patiently to retry a transient fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included. `0` is treated as `1`.
    pub max_attempts: u32,
    /// The delay before the second attempt; it doubles for each further attempt.
    pub base_delay: Duration,
    /// The cap on any one delay, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts (upstream's `max_conn_retries`), starting at 500 ms, capped at 30 s.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The un-jittered delay after failed attempt number `attempt` (1-based):
    /// `base_delay * 2^(attempt-1)`, capped at `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1_u32 << exponent)
            .min(self.max_delay)
    }

    /// The delay to sleep after failed attempt number `attempt`: uniformly random in
    /// `[backoff/2, backoff]` ("equal jitter"), so many clients do not retry in step.
    /// A `Retry-After` from the site raises it, up to `max_delay`.
    pub fn delay(&self, attempt: u32, error: &ClientError) -> Duration {
        let backoff = self.backoff(attempt);
        let half = backoff / 2;
        let jittered = half + rand::rng().random_range(Duration::ZERO..=half);
        match error.retry_after() {
            Some(asked) => jittered.max(asked.min(self.max_delay)),
            None => jittered,
        }
    }
}

/// What a failed run of [`with_retry_notify`] went through, passed to its observer before each sleep.
#[derive(Debug)]
pub struct RetryNotice<'a> {
    /// The attempt that just failed, 1-based.
    pub attempt: u32,
    /// The policy's attempt limit.
    pub max_attempts: u32,
    /// The transient error of that attempt.
    pub error: &'a ClientError,
    /// How long we now sleep before the next attempt.
    pub delay: Duration,
}

/// Runs `op` until it succeeds, fails with a non-transient error (returned at once: an
/// [`ClientError::Auth`] is never retried), or `policy.max_attempts` attempts have failed
/// (the last error is returned). Use it only around idempotent calls such as reads.
///
/// # Errors
/// The first non-transient error, or the last transient one.
pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, op: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    with_retry_notify(policy, op, |notice| {
        tracing::debug!(
            attempt = notice.attempt,
            max_attempts = notice.max_attempts,
            delay_ms = u64::try_from(notice.delay.as_millis()).unwrap_or(u64::MAX),
            error = %notice.error,
            "Retrying after a transient site fault"
        );
    })
    .await
}

/// Like [`with_retry`], calling `on_retry` before each sleep (for a WARNING per failed attempt, or
/// a metric).
///
/// # Errors
/// The first non-transient error, or the last transient one.
pub async fn with_retry_notify<T, F, Fut, N>(
    policy: &RetryPolicy,
    mut op: F,
    mut on_retry: N,
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
    N: FnMut(&RetryNotice<'_>),
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && attempt < max_attempts => {
                let delay = policy.delay(attempt, &error);
                on_retry(&RetryNotice {
                    attempt,
                    max_attempts,
                    error: &error,
                    delay,
                });
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
