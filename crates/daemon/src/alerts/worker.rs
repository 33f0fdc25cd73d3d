//! The mail task: receives alerts, applies the rate limit, and sends mails with retries.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::AlertsError;
use super::config::{ValidConfig, parse_mailbox};
use super::limiter::{Admit, Digest, Limiter};
use super::message::{self, Alert};

/// One mail, addressed and worded, waiting to be sent.
#[derive(Debug, Clone)]
struct Mail {
    subject: String,
    message: Message,
}

/// The state of the mail task.
pub(super) struct Worker {
    config: ValidConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    rx: mpsc::Receiver<Alert>,
    dropped: Arc<AtomicU64>,
    reported_dropped: u64,
    close: CancellationToken,
    limiter: Limiter,
    outbox: VecDeque<Mail>,
    backoff: Option<Duration>,
    next_try: Instant,
}

impl Worker {
    /// Builds the SMTP transport; no connection is made yet.
    pub(super) fn new(
        config: ValidConfig,
        rx: mpsc::Receiver<Alert>,
        dropped: Arc<AtomicU64>,
        close: CancellationToken,
    ) -> Result<Worker, AlertsError> {
        let raw = &config.raw;
        let mut builder = if raw.use_tls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&raw.server).map_err(|source| {
                AlertsError::Transport {
                    server: raw.server.clone(),
                    source,
                }
            })?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&raw.server)
        };
        builder = builder.port(raw.port).timeout(Some(raw.retry.timeout));
        if let Some(username) = raw.username.as_ref().filter(|name| !name.is_empty()) {
            let password = raw
                .password
                .as_ref()
                .map(|secret| secret.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        let limiter = Limiter::new(raw.digest_window, raw.max_per_window);
        Ok(Worker {
            transport: builder.build(),
            config,
            rx,
            dropped,
            reported_dropped: 0,
            close,
            limiter,
            outbox: VecDeque::new(),
            backoff: None,
            next_try: Instant::now(),
        })
    }

    /// Runs until every sender is gone or `close` is cancelled, then flushes.
    pub(super) async fn run(mut self) {
        loop {
            let now = Instant::now();
            for digest in self.limiter.due(now) {
                self.enqueue_digest(digest);
            }
            if !self.outbox.is_empty() && now >= self.next_try {
                self.attempt().await;
                continue;
            }
            let retry_at = (!self.outbox.is_empty()).then_some(self.next_try);
            let wake = match (self.limiter.next_deadline(), retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                () = self.close.cancelled() => break,
                received = self.rx.recv() => match received {
                    Some(alert) => self.accept(alert),
                    None => break,
                },
                () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
            }
        }
        self.shutdown().await;
    }

    /// Sends what is left: queued alerts, held digests, and the outbox, one try each.
    async fn shutdown(&mut self) {
        while let Ok(alert) = self.rx.try_recv() {
            self.accept(alert);
        }
        for digest in self.limiter.flush_all() {
            self.enqueue_digest(digest);
        }
        let pending: Vec<Mail> = self.outbox.drain(..).collect();
        for mail in pending {
            if let Err(reason) = self.send(&mail).await {
                tracing::warn!(
                    subject = %mail.subject,
                    error = %reason,
                    "Email alert lost at shutdown: the SMTP server did not take it"
                );
            }
        }
    }

    fn accept(&mut self, alert: Alert) {
        if alert.recipients.as_ref().is_some_and(Vec::is_empty) {
            return;
        }
        match self.limiter.admit(alert, Instant::now()) {
            Admit::Send(alert) => {
                let Some(to) = self.recipients(alert.recipients.as_deref()) else {
                    return;
                };
                let dropped = self.take_dropped();
                let subject = message::subject(&self.config.raw.subject, alert.level);
                self.push(subject, message::body(&alert, dropped), to);
            }
            Admit::Held => {}
        }
    }

    fn enqueue_digest(&mut self, digest: Digest) {
        let Some(to) = self.recipients(digest.recipients.as_deref()) else {
            return;
        };
        let dropped = self.take_dropped();
        let raw = &self.config.raw;
        let body = message::digest_body(
            &digest.logger,
            digest.held,
            &digest.quoted,
            raw.digest_window,
            raw.max_per_window,
            dropped,
        );
        let subject = message::subject(&raw.subject, digest.level);
        self.push(subject, body, to);
    }

    /// The mailboxes for a recipient choice; `None` when there is nobody to send to.
    fn recipients(&self, chosen: Option<&[String]>) -> Option<Vec<Mailbox>> {
        let to: Vec<Mailbox> = match chosen {
            None => self.config.to.clone(),
            Some(list) => list
                .iter()
                .filter_map(|address| match parse_mailbox("setEmails", address) {
                    Ok(mailbox) => Some(mailbox),
                    Err(err) => {
                        tracing::warn!(error = %err, "Skipping a bad alert recipient");
                        None
                    }
                })
                .collect(),
        };
        (!to.is_empty()).then_some(to)
    }

    fn take_dropped(&mut self) -> u64 {
        let total = self.dropped.load(Ordering::Relaxed);
        let new = total.saturating_sub(self.reported_dropped);
        self.reported_dropped = total;
        new
    }

    /// Words a mail and queues it; a mail lettre cannot build is logged and skipped.
    fn push(&mut self, subject: String, body: String, to: Vec<Mailbox>) {
        let mut builder = Message::builder()
            .from(self.config.from.clone())
            .subject(subject.clone())
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        let message = match builder.body(body) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(subject = %subject, error = %err, "Email alert skipped: cannot build the mail");
                return;
            }
        };
        let mail = Mail { subject, message };
        let limit = self.config.raw.retry.max_pending.max(1);
        while self.outbox.len() >= limit {
            if let Some(old) = self.outbox.pop_front() {
                tracing::warn!(subject = %old.subject, "Email alert dropped: too many mails wait for the SMTP server");
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.outbox.push_back(mail);
    }

    /// Tries the oldest mail; on failure keeps it and backs off.
    async fn attempt(&mut self) {
        let Some(mail) = self.outbox.pop_front() else {
            return;
        };
        match self.send(&mail).await {
            Ok(()) => {
                self.backoff = None;
                self.next_try = Instant::now();
            }
            Err(reason) => {
                let retry = self.config.raw.retry;
                let wait = match self.backoff {
                    None => retry.initial,
                    Some(previous) => (previous * 2).min(retry.max),
                };
                self.backoff = Some(wait);
                self.next_try = Instant::now() + wait;
                tracing::warn!(
                    server = %self.config.raw.server,
                    port = self.config.raw.port,
                    error = %reason,
                    retry_in_secs = wait.as_secs_f64(),
                    pending = self.outbox.len() + 1,
                    "Could not send an email alert; will retry"
                );
                self.outbox.push_front(mail);
            }
        }
    }

    async fn send(&self, mail: &Mail) -> Result<(), String> {
        let timeout = self.config.raw.retry.timeout;
        match tokio::time::timeout(timeout, self.transport.send(mail.message.clone())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
        }
    }
}
