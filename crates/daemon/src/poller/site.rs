//! The loop's view of the site: when the next read is due, the site's clock and high water,
//! and upstream's connection semantics for failed reads (counted attempts, one ERROR per
//! `max_conn_retries`, backoff).

use std::time::Duration;

use jiff::Timestamp;
use sgevents_api::{ClientError, RetryPolicy};
use tokio::time::Instant;

use super::Poller;
use crate::Options;

/// The loop's view of its reads of the site.
pub(super) struct Site {
    pub(super) fetch_interval: Duration,
    pub(super) conn_retry_sleep: Duration,
    pub(super) max_conn_retries: u32,
    /// Failed attempts in a row.
    pub(super) failed_attempts: u32,
    /// An ERROR was logged for this outage (so its end is logged too).
    pub(super) errored: bool,
    /// No read of new events before this (fetch interval, or backoff after a failure).
    pub(super) next_fetch: Instant,
    /// The last read of new events returned a full batch: read again at once.
    pub(super) behind: bool,
    pub(super) head_in_flight: bool,
    pub(super) late_in_flight: bool,
    pub(super) next_late: Instant,
    pub(super) latest_in_flight: bool,
    /// The site's clock: the newest `created_at` or HTTP `Date` seen.
    pub(super) site_now: Timestamp,
    pub(super) high_water: i64,
}

impl Site {
    pub(super) fn new(options: &Options) -> Site {
        let now = Instant::now();
        Site {
            fetch_interval: options.fetch_interval,
            conn_retry_sleep: options.conn_retry_sleep,
            max_conn_retries: options.max_conn_retries.max(1),
            failed_attempts: 0,
            errored: false,
            next_fetch: now,
            behind: false,
            head_in_flight: false,
            late_in_flight: false,
            next_late: now,
            latest_in_flight: false,
            site_now: Timestamp::UNIX_EPOCH,
            high_water: 0,
        }
    }

    /// The next deadline the loop must wake up for.
    pub(super) fn next_due(&self) -> Option<Instant> {
        (!self.head_in_flight && !self.latest_in_flight).then_some(self.next_fetch)
    }

    pub(super) fn latest_due(&self) -> bool {
        !self.latest_in_flight && Instant::now() >= self.next_fetch
    }

    pub(super) fn head_due(&self) -> bool {
        !self.head_in_flight && (self.behind || Instant::now() >= self.next_fetch)
    }
}

impl Poller {
    pub(super) fn succeeded(&mut self, poll_events: Option<u64>) {
        if self.site.errored {
            tracing::info!(logger = "engine", "The site answers again");
        }
        self.site.failed_attempts = 0;
        self.site.errored = false;
        let (high_water, now) = (self.site.high_water, self.clock.now());
        self.watch.update_site(|site| {
            site.last_poll_ok = Some(now);
            site.consecutive_failures = 0;
            if poll_events.is_some() {
                site.last_poll_events = poll_events;
            }
            if high_water > 0 {
                site.high_water = Some(high_water);
            }
        });
    }

    /// Upstream's connection semantics, at start-up as mid-run: warnings with backoff for the
    /// first failed attempts, an ERROR on the engine logger after `max_conn_retries` (an alert
    /// email; repeats are folded into the alerts' digest), a pause of `conn_retry_sleep`, and
    /// again until the site answers. Returns how long to wait.
    pub(super) fn failed(&mut self, err: &ClientError) -> Duration {
        let site = &mut self.site;
        site.failed_attempts = site.failed_attempts.saturating_add(1);
        let attempts = site.failed_attempts;
        let message = if err.is_auth() {
            format!(
                "the site rejected the key of script `{}` ({err}); check the script name and key in the config",
                self.client.script_name()
            )
        } else {
            err.to_string()
        };
        let now = self.clock.now();
        self.watch.update_site(|view| {
            view.last_error = Some((now, message.clone()));
            view.consecutive_failures = attempts;
        });
        let policy = RetryPolicy {
            max_attempts: site.max_conn_retries,
            base_delay: Duration::from_millis(250),
            max_delay: site.conn_retry_sleep,
        };
        if attempts >= site.max_conn_retries {
            // Upstream: an ERROR (so an alert; the alerts fold repeats into a digest), a pause
            // of `conn_retry_sleep`, and the count starts again.
            site.errored = true;
            site.failed_attempts = 0;
            tracing::error!(
                logger = "engine",
                "Unable to reach the site after {attempts} attempts: {message}. Sleeping {:?}, then trying again.",
                site.conn_retry_sleep
            );
            return site.conn_retry_sleep;
        }
        let wait = if err.is_auth() {
            site.conn_retry_sleep
        } else {
            policy.delay(attempts, err)
        };
        tracing::warn!(
            logger = "engine",
            "Could not read the site: {message} (attempt {attempts} of {}); retrying in {wait:?}",
            site.max_conn_retries
        );
        wait
    }
}
