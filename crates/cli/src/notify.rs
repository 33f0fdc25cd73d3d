//! systemd's notify protocol for `sgevents run`: READY, WATCHDOG, STATUS and STOPPING, decided
//! from what the loop publishes in its [`Watch`].
//!
//! The task only reads the `Watch`. [`Notifier`] holds the decisions and no I/O, so tests can
//! feed it observations of a loop whose heartbeat stops; [`spawn`] runs it against the real
//! `Watch` and sends with the `sd-notify` crate (to `$NOTIFY_SOCKET`, when systemd set it).
//!
//! - `READY=1` once no plugin is loading and a poll has succeeded.
//! - `WATCHDOG=1` every half of `$WATCHDOG_USEC`, only while the loop's heartbeat is younger
//!   than the liveness limit (the same rule as `/healthz`), so systemd restarts a stalled loop.
//! - `STATUS=` whenever the one-line summary changes; `STOPPING=1` on shutdown.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sd_notify::NotifyState;
use sgevents_daemon::{PluginState, Watch};
use tokio_util::sync::CancellationToken;

/// What the notifier needs from one look at the [`Watch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Observation {
    pub(crate) heartbeat: Option<Timestamp>,
    pub(crate) last_poll_ok: Option<Timestamp>,
    /// The last poll failure, when it is newer than the last success.
    pub(crate) poll_error: Option<String>,
    pub(crate) high_water: Option<i64>,
    pub(crate) loading: usize,
    pub(crate) active: usize,
    pub(crate) failed: usize,
}

impl Observation {
    pub(crate) fn from_watch(watch: &Watch) -> Observation {
        let site = watch.site();
        let plugins = watch.plugins();
        let count = |state: PluginState| {
            plugins
                .iter()
                .filter(|(_, _, view)| view.state == state)
                .count()
        };
        let poll_error = site
            .last_error
            .filter(|(at, _)| site.last_poll_ok.is_none_or(|ok| *at > ok))
            .map(|(_, message)| message);
        Observation {
            heartbeat: site.heartbeat,
            last_poll_ok: site.last_poll_ok,
            poll_error,
            high_water: site.high_water,
            loading: count(PluginState::Loading),
            active: count(PluginState::Active),
            failed: count(PluginState::Failed),
        }
    }
}

/// One message to systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Ready,
    Watchdog,
    Status(String),
    Stopping,
}

/// The notifier's state: whether READY went out, and the last STATUS line sent.
#[derive(Debug)]
pub(crate) struct Notifier {
    started: Timestamp,
    /// The loop counts as stalled when its heartbeat is older than this.
    stall_after: Duration,
    ready: bool,
    status: Option<String>,
}

impl Notifier {
    pub(crate) fn new(started: Timestamp, stall_after: Duration) -> Notifier {
        Notifier {
            started,
            stall_after,
            ready: false,
            status: None,
        }
    }

    /// Whether the loop is alive at `now`: its heartbeat (or, before the first, the start) is
    /// at most `stall_after` old.
    pub(crate) fn alive(&self, observation: &Observation, now: Timestamp) -> bool {
        let since = observation.heartbeat.unwrap_or(self.started);
        now.duration_since(since).unsigned_abs() <= self.stall_after
    }

    /// What to send after looking at the loop: READY once, and STATUS when it changed.
    pub(crate) fn observe(&mut self, observation: &Observation, now: Timestamp) -> Vec<Message> {
        let mut out = Vec::new();
        let alive = self.alive(observation, now);
        if !self.ready && observation.loading == 0 && observation.last_poll_ok.is_some() {
            self.ready = true;
            out.push(Message::Ready);
        }
        let status = self.status_line(observation, alive, now);
        if self.status.as_deref() != Some(status.as_str()) {
            self.status = Some(status.clone());
            out.push(Message::Status(status));
        }
        out
    }

    /// The watchdog tick: a ping only while the loop is alive.
    pub(crate) fn watchdog(&self, observation: &Observation, now: Timestamp) -> Option<Message> {
        self.alive(observation, now).then_some(Message::Watchdog)
    }

    fn status_line(&self, observation: &Observation, alive: bool, now: Timestamp) -> String {
        if !alive {
            let since = observation.heartbeat.unwrap_or(self.started);
            let secs = now.duration_since(since).unsigned_abs().as_secs();
            return format!("loop stalled: no heartbeat for {secs} s; watchdog pings stopped");
        }
        if observation.loading > 0 {
            return format!("loading {} plugin(s)", observation.loading);
        }
        let plugins = format!(
            "{} plugin(s) active, {} failed",
            observation.active, observation.failed
        );
        if let Some(error) = &observation.poll_error {
            return format!("{plugins}; site unreachable: {}", first_line(error));
        }
        match (observation.last_poll_ok, observation.high_water) {
            (None, _) => format!("{plugins}; waiting for the first poll"),
            (Some(_), Some(id)) => format!("{plugins}; events read up to {id}"),
            (Some(_), None) => format!("{plugins}; polling"),
        }
    }
}

/// The first line of `text`, at most 200 characters: STATUS is one line.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}

/// What the task waits for.
enum Event {
    Look,
    Watchdog,
    Shutdown,
}

/// Starts the notifier when systemd asked for notifications (`$NOTIFY_SOCKET` is set);
/// returns `None` otherwise. `stall_after` is the liveness limit of `/healthz`.
pub(crate) fn spawn(
    watch: Arc<Watch>,
    stall_after: Duration,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let watchdog = sd_notify::watchdog_enabled();
    if let Some(interval) = watchdog {
        tracing::info!(
            logger = "engine",
            "systemd watchdog on: a ping every {:.1} s while the loop is alive",
            interval.as_secs_f64() / 2.0
        );
    }
    Some(tokio::spawn(run(watch, stall_after, watchdog, shutdown)))
}

async fn run(
    watch: Arc<Watch>,
    stall_after: Duration,
    watchdog: Option<Duration>,
    shutdown: CancellationToken,
) {
    let mut notifier = Notifier::new(Timestamp::now(), stall_after);
    let mut look = tokio::time::interval(Duration::from_millis(250));
    // Without a watchdog this timer never fires: a day-long period, and its ticks are ignored.
    let period = watchdog.map_or(Duration::from_secs(86_400), |usec| usec / 2);
    let mut ping = tokio::time::interval(period.max(Duration::from_millis(10)));
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => Event::Shutdown,
            _ = look.tick() => Event::Look,
            _ = ping.tick(), if watchdog.is_some() => Event::Watchdog,
        };
        let observation = Observation::from_watch(&watch);
        let now = Timestamp::now();
        match event {
            Event::Look => send(&notifier.observe(&observation, now)),
            Event::Watchdog => {
                if let Some(message) = notifier.watchdog(&observation, now) {
                    send(&[message]);
                }
            }
            Event::Shutdown => {
                send(&[
                    Message::Stopping,
                    Message::Status("stopping: finishing in-flight callbacks".to_owned()),
                ]);
                return;
            }
        }
    }
}

fn send(messages: &[Message]) {
    if messages.is_empty() {
        return;
    }
    let states: Vec<NotifyState<'_>> = messages
        .iter()
        .map(|message| match message {
            Message::Ready => NotifyState::Ready,
            Message::Watchdog => NotifyState::Watchdog,
            Message::Status(text) => NotifyState::Status(text),
            Message::Stopping => NotifyState::Stopping,
        })
        .collect();
    if let Err(err) = sd_notify::notify(&states) {
        tracing::warn!(logger = "engine", error = %err, "Could not notify systemd");
    }
}

#[cfg(test)]
mod tests;
