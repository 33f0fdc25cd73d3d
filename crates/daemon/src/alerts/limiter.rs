//! The per-logger rate limit: a fixed window per logger; what exceeds it becomes one digest.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::message::{Alert, AlertLevel, DIGEST_QUOTED};

/// What to do with one alert.
#[derive(Debug)]
pub(super) enum Admit {
    /// Within the limit: mail it now.
    Send(Alert),
    /// Over the limit: it is held for the window's digest.
    Held,
}

/// The messages of one logger that the limit held back during one window.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Digest {
    /// The logger.
    pub(super) logger: String,
    /// The worst level among the held messages.
    pub(super) level: AlertLevel,
    /// How many were held.
    pub(super) held: u64,
    /// The first few held messages, quoted in the digest.
    pub(super) quoted: Vec<Alert>,
    /// The recipients of the last held message.
    pub(super) recipients: Option<Vec<String>>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    sent: u32,
    held: Option<Digest>,
}

/// Fixed windows per logger. The caller passes the clock so the logic is testable.
#[derive(Debug)]
pub(super) struct Limiter {
    window: Duration,
    max: u32,
    loggers: HashMap<String, Window>,
    ready: Vec<Digest>,
}

impl Limiter {
    /// A limit of `max` mails per `window` for each logger.
    pub(super) fn new(window: Duration, max: u32) -> Limiter {
        Limiter {
            window,
            max,
            loggers: HashMap::new(),
            ready: Vec::new(),
        }
    }

    /// Counts `alert` against its logger's window.
    pub(super) fn admit(&mut self, alert: Alert, now: Instant) -> Admit {
        let window = self.window;
        let entry = self
            .loggers
            .entry(alert.logger.clone())
            .or_insert_with(|| Window {
                started: now,
                sent: 0,
                held: None,
            });
        if now.saturating_duration_since(entry.started) >= window {
            if let Some(digest) = entry.held.take() {
                self.ready.push(digest);
            }
            entry.started = now;
            entry.sent = 0;
        }
        if entry.sent < self.max {
            entry.sent += 1;
            return Admit::Send(alert);
        }
        let digest = entry.held.get_or_insert_with(|| Digest {
            logger: alert.logger.clone(),
            level: alert.level,
            held: 0,
            quoted: Vec::new(),
            recipients: None,
        });
        digest.held += 1;
        digest.level = digest.level.max(alert.level);
        digest.recipients.clone_from(&alert.recipients);
        if digest.quoted.len() < DIGEST_QUOTED {
            digest.quoted.push(alert);
        }
        Admit::Held
    }

    /// The digests of windows that have ended by `now`; forgets idle loggers.
    pub(super) fn due(&mut self, now: Instant) -> Vec<Digest> {
        let window = self.window;
        let mut out = std::mem::take(&mut self.ready);
        self.loggers.retain(|_, entry| {
            if now.saturating_duration_since(entry.started) < window {
                return true;
            }
            if let Some(digest) = entry.held.take() {
                out.push(digest);
            }
            false
        });
        out
    }

    /// Every held digest, whether its window has ended or not (used at shutdown).
    pub(super) fn flush_all(&mut self) -> Vec<Digest> {
        let mut out = std::mem::take(&mut self.ready);
        for (_, mut entry) in self.loggers.drain() {
            if let Some(digest) = entry.held.take() {
                out.push(digest);
            }
        }
        out
    }

    /// When the earliest window holding messages ends.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(Instant::now());
        }
        self.loggers
            .values()
            .filter(|entry| entry.held.is_some())
            .map(|entry| entry.started + self.window)
            .min()
    }
}
