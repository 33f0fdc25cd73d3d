//! The tracing layer that turns ERROR events into alerts, and the per-plugin recipient map.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::{Arc, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::AlertSender;
use super::message::{Alert, AlertLevel, Location};

/// Targets whose ERRORs are logged but never mailed: the mail task's own (a mail about mail
/// failing cannot arrive), and the NATS client's, which repeats one per reconnect attempt while
/// a cluster node is cut off (the daemon's own records say what that means for polling).
const IGNORED_TARGETS: [&str; 3] = ["sgevents_daemon::alerts::worker", "lettre", "async_nats"];

/// Who gets a plugin's alerts, as its `setEmails` call chose.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Recipients {
    /// The configured `[emails] to` list (`setEmails(True)`, or no call).
    #[default]
    Default,
    /// Nobody (`setEmails(False)`).
    Nobody,
    /// Exactly these addresses (`setEmails([...])`).
    List(Vec<String>),
}

impl Recipients {
    /// The recipient choice in the form [`Alert::recipients`] takes.
    pub fn to_alert(&self) -> Option<Vec<String>> {
        match self {
            Recipients::Default => None,
            Recipients::Nobody => Some(Vec::new()),
            Recipients::List(list) => Some(list.clone()),
        }
    }
}

/// The shared plugin → recipients map. The daemon fills it when plugins register; the layer reads it.
#[derive(Debug, Clone, Default)]
pub struct PluginRecipients {
    inner: Arc<RwLock<BTreeMap<String, Recipients>>>,
}

impl PluginRecipients {
    /// An empty map: every logger uses the default recipients.
    pub fn new() -> PluginRecipients {
        PluginRecipients::default()
    }

    /// Records plugin `plugin`'s choice.
    pub fn set(&self, plugin: impl Into<String>, recipients: Recipients) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(plugin.into(), recipients);
    }

    /// Forgets a plugin (it was removed); its loggers fall back to the defaults.
    pub fn remove(&self, plugin: &str) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(plugin);
    }

    /// The recipients for a logger: `plugin.<name>` and `plugin.<name>.<callback>` use the
    /// plugin's choice (the longest matching name wins); every other logger the defaults.
    pub fn for_logger(&self, logger: &str) -> Recipients {
        let Some(rest) = logger.strip_prefix("plugin.") else {
            return Recipients::Default;
        };
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(name, _)| {
                rest == name.as_str()
                    || rest
                        .strip_prefix(name.as_str())
                        .is_some_and(|tail| tail.starts_with('.'))
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, recipients)| recipients.clone())
            .unwrap_or_default()
    }
}

/// A `tracing_subscriber::Layer` that mails ERROR-level events.
///
/// Fields it reads: `logger` (default `engine`), `py_level` (a Python `levelno`: 50 or more
/// is CRITICAL, else ERROR; without it the event is ERROR), and optionally `path`,
/// `function` and `line` for the mail header. Other fields are appended as `key=value`.
#[derive(Debug, Clone)]
pub struct AlertLayer {
    sender: AlertSender,
    recipients: PluginRecipients,
}

impl AlertLayer {
    /// A layer that queues alerts on `sender`, addressed per `recipients`.
    pub fn new(sender: AlertSender, recipients: PluginRecipients) -> AlertLayer {
        AlertLayer { sender, recipients }
    }

    /// The alert for one ERROR event's fields (the layer's logic, without a subscriber).
    fn alert_for(&self, fields: Fields) -> Alert {
        let logger = fields.logger.unwrap_or_else(|| "engine".to_owned());
        let level = fields
            .py_level
            .map_or(AlertLevel::Error, AlertLevel::from_python);
        let mut message = fields.message.unwrap_or_default();
        if !fields.extra.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(&fields.extra);
        }
        let recipients = self.recipients.for_logger(&logger).to_alert();
        let mut alert = Alert::new(logger, level, message).with_recipients(recipients);
        if fields.location != Location::default() {
            alert.location = Some(fields.location);
        }
        alert
    }
}

impl<S: Subscriber> Layer<S> for AlertLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR {
            return;
        }
        let target = metadata.target();
        if IGNORED_TARGETS
            .iter()
            .any(|ignored| target.starts_with(ignored))
        {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.location.path.is_none() && fields.logger.is_none() {
            fields.location.path = metadata.file().map(str::to_owned);
            fields.location.line = metadata.line();
            fields.location.function = Some(metadata.target().to_owned());
        }
        self.sender.send(self.alert_for(fields));
    }
}

/// The fields of one event that matter for an alert.
#[derive(Debug, Default)]
struct Fields {
    message: Option<String>,
    logger: Option<String>,
    py_level: Option<i64>,
    location: Location,
    extra: String,
}

impl Fields {
    fn text(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = Some(value),
            "logger" => self.logger = Some(value),
            "path" => self.location.path = Some(value),
            "function" => self.location.function = Some(value),
            "line" => self.location.line = value.parse().ok(),
            "py_level" => self.py_level = value.parse().ok(),
            name => {
                if !self.extra.is_empty() {
                    self.extra.push(' ');
                }
                let _ = write!(self.extra, "{name}={value}");
            }
        }
    }

    fn int(&mut self, field: &Field, value: i64) {
        match field.name() {
            "py_level" => self.py_level = Some(value),
            "line" => self.location.line = u32::try_from(value).ok(),
            _ => self.text(field, value.to_string()),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.int(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.int(field, i64::try_from(value).unwrap_or(i64::MAX));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }
}
