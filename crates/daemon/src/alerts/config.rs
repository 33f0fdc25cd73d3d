//! The mail settings the daemon maps from `[emails]`, and their validation.

use std::time::Duration;

use lettre::message::Mailbox;

use super::AlertsError;

/// Email alert settings (upstream's `[emails]` section plus our rate limit).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub server: String,
    /// SMTP port (25 plain, 587 STARTTLS).
    pub port: u16,
    /// The sender address.
    pub from: String,
    /// Default recipients (used unless a plugin's `setEmails` says otherwise).
    pub to: Vec<String>,
    /// The subject prefix: mails are titled `<subject> ERROR - SG event daemon.`.
    pub subject: String,
    /// Require STARTTLS before sending (upstream's `useTLS`).
    pub use_tls: bool,
    /// SMTP login; no login when `None`.
    pub username: Option<String>,
    /// SMTP password, used with `username`; never printed.
    pub password: Option<sgevents_config::Secret>,
    /// The rate-limit window per logger.
    pub digest_window: Duration,
    /// How many mails a logger may send per window before the rest is folded into a digest.
    pub max_per_window: u32,
    /// How failed sends are retried.
    pub retry: RetryPolicy,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            server: String::new(),
            port: 25,
            from: String::new(),
            to: Vec::new(),
            subject: String::new(),
            use_tls: false,
            username: None,
            password: None,
            digest_window: Duration::from_secs(600),
            max_per_window: 5,
            retry: RetryPolicy::default(),
        }
    }
}

/// Exponential backoff for mails the SMTP server did not take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failure; doubled after each further failure.
    pub initial: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
    /// How long one SMTP conversation may take before it counts as failed.
    pub timeout: Duration,
    /// How many mails may wait for a working server; the oldest are dropped beyond that.
    pub max_pending: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
            max_pending: 500,
        }
    }
}

/// Settings with parsed addresses, ready for the worker.
#[derive(Debug, Clone)]
pub(super) struct ValidConfig {
    pub(super) raw: EmailConfig,
    pub(super) from: Mailbox,
    pub(super) to: Vec<Mailbox>,
}

impl EmailConfig {
    /// Checks the settings and parses the addresses.
    pub(super) fn validate(self) -> Result<ValidConfig, AlertsError> {
        if self.server.trim().is_empty() {
            return Err(AlertsError::Missing { field: "server" });
        }
        if self.from.trim().is_empty() {
            return Err(AlertsError::Missing { field: "from" });
        }
        let from = parse_mailbox("from", &self.from)?;
        let to = parse_mailboxes("to", &self.to)?;
        Ok(ValidConfig {
            raw: self,
            from,
            to,
        })
    }
}

/// Parses one address, naming the setting on failure.
pub(super) fn parse_mailbox(field: &'static str, value: &str) -> Result<Mailbox, AlertsError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|source| AlertsError::BadAddress {
            field,
            value: value.to_owned(),
            source,
        })
}

/// Parses a list of addresses, naming the setting on failure.
pub(super) fn parse_mailboxes(
    field: &'static str,
    values: &[String],
) -> Result<Vec<Mailbox>, AlertsError> {
    values
        .iter()
        .filter(|value| !value.trim().is_empty())
        .map(|value| parse_mailbox(field, value))
        .collect()
}
