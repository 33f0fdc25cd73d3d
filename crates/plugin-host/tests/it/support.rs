//! Shared helpers: the venv's Python, a running site, captured logs and polling waits.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sgevents_api::{Client, ClientConfig, Event};
use sgevents_plugin_api::{Outcome, Plugin, matching_callbacks};
use sgevents_plugin_host::HostConfig;
use sgevents_sim::{Sim, SimConfig};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The script every test plugin authenticates as.
pub(crate) const SCRIPT: (&str, &str) = ("sgevents_tests", "plugin-host-test-key");

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter under test: `SGEVENTS_PYTHON`, else the workspace venv.
pub(crate) fn python() -> PathBuf {
    std::env::var_os("SGEVENTS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// A file of `examples/plugins/`.
pub(crate) fn example(relative: &str) -> PathBuf {
    root().join("examples/plugins").join(relative)
}

/// A file of this test binary's `plugins/` folder.
pub(crate) fn test_plugin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/plugins")
        .join(name)
}

/// A site with the test script registered.
pub(crate) async fn site() -> Sim {
    sgevents_sim::spawn(SimConfig {
        scripts: vec![(SCRIPT.0.to_owned(), SCRIPT.1.to_owned())],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Host settings for `sim`, with the example plugins' credentials in the environment.
pub(crate) fn config(sim: &Sim) -> HostConfig {
    let mut config = HostConfig::new(python(), sim.url());
    config.callback_timeout = Duration::from_secs(60);
    config.extra_env = vec![
        ("SGEVENTS_EXAMPLE_SCRIPT".to_owned(), SCRIPT.0.to_owned()),
        ("SGEVENTS_EXAMPLE_KEY".to_owned(), SCRIPT.1.to_owned()),
    ];
    config
}

/// An api3 client for `sim`, as the daemon's poller uses it.
/// A client that reads events as the daemon does for Python plugins: each row's pickle is
/// written in the same pass as its fields (the fidelity tests that build an event from
/// text themselves cover the pickle written later, from the event's text).
pub(crate) fn client(sim: &Sim) -> Client {
    Client::new(ClientConfig::new(&sim.url(), SCRIPT.0, SCRIPT.1))
        .unwrap()
        .with_event_reader(Arc::new(sgevents_plugin_host::PickledEvents))
}

/// Every event after `after_id`, read from the site.
pub(crate) async fn events_after(sim: &Sim, after_id: i64) -> Vec<Arc<Event>> {
    client(sim)
        .events_after(after_id, 500)
        .await
        .unwrap()
        .into_iter()
        .map(Arc::new)
        .collect()
}

/// The newest event id (0 on an empty site).
pub(crate) fn latest(sim: &Sim) -> i64 {
    sim.latest_event_id().unwrap_or(0)
}

/// Creates a Shot and returns its id.
pub(crate) fn create_shot(sim: &Sim, code: &str) -> i64 {
    let shot = sim.create(SCRIPT.0, "Shot", json!({"code": code})).unwrap();
    shot["id"].as_i64().unwrap()
}

/// Sets a Shot's status.
pub(crate) fn set_shot_status(sim: &Sim, id: i64, status: &str) {
    sim.update(SCRIPT.0, "Shot", id, json!({"sg_status_list": status}))
        .unwrap();
}

/// Runs the daemon's dispatch step for one event: matchEvents in Rust, then `handle`.
pub(crate) async fn dispatch(plugin: &mut dyn Plugin, event: &Arc<Event>) -> Option<Outcome> {
    let indexes = matching_callbacks(plugin.callbacks(), event);
    if indexes.is_empty() {
        return None;
    }
    Some(plugin.handle(event, &indexes).await)
}

/// The first event of `events` with this type (and attribute, when given).
pub(crate) fn find_event(
    events: &[Arc<Event>],
    event_type: &str,
    attribute: Option<&str>,
) -> Arc<Event> {
    events
        .iter()
        .find(|e| {
            e.event_type == event_type
                && (attribute.is_none() || e.attribute_name.as_deref() == attribute)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {event_type} {attribute:?} event in {events:#?}"))
}

/// An event row built from `base` with some fields replaced.
pub(crate) fn with_fields(base: &Event, fields: Value) -> Arc<Event> {
    let mut raw = base.raw().clone();
    for (key, value) in fields.as_object().unwrap() {
        raw.insert(key.clone(), value.clone());
    }
    Arc::new(Event::from_json(Value::Object(raw)).unwrap())
}

/// One re-emitted Python log record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub(crate) level: tracing::Level,
    pub(crate) logger: String,
    pub(crate) py_level: i64,
    pub(crate) message: String,
}

/// Captures the `logger`/`py_level` tracing events of the current thread.
#[derive(Clone, Default)]
pub(crate) struct Logs {
    records: Arc<Mutex<Vec<Record>>>,
}

impl Logs {
    /// Starts capturing; keep the guard alive for the test (current-thread runtimes only).
    pub(crate) fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::registry().with(logs.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub(crate) fn all(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// Records of `logger` whose message contains `text`.
    pub(crate) fn matching(&self, logger: &str, text: &str) -> Vec<Record> {
        self.all()
            .into_iter()
            .filter(|r| r.logger == logger && r.message.contains(text))
            .collect()
    }

    /// Waits (polling, up to 30 s) for a record of `logger` containing `text`.
    pub(crate) async fn wait_for(&self, logger: &str, text: &str) -> Record {
        wait_until(|| self.matching(logger, text).into_iter().next())
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no log record of {logger} containing {text:?}; got:\n{:#?}",
                    self.all()
                )
            })
    }
}

/// Polls `check` every 20 ms for up to 30 s.
pub(crate) async fn wait_until<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
pub(crate) fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[derive(Default)]
struct FieldVisitor {
    logger: Option<String>,
    py_level: Option<i64>,
    message: String,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "logger" {
            self.logger = Some(value.to_owned());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "py_level" {
            self.py_level = Some(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "logger" => self.logger = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logs {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        if let (Some(logger), Some(py_level)) = (visitor.logger, visitor.py_level) {
            self.records.lock().unwrap().push(Record {
                level: *event.metadata().level(),
                logger,
                py_level,
                message: visitor.message,
            });
        }
    }
}
