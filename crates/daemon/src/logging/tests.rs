//! Logging tests: real files in a temp dir, a settable clock in a fixed +01:00 zone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Zoned;
use jiff::civil::date;
use jiff::tz::{TimeZone, offset};
use sgevents_config::{LogFormat, LogMode, LogSettings};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

struct TestClock(Mutex<Zoned>);

impl TestClock {
    fn at(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8, ms: i32) -> Arc<Self> {
        Arc::new(Self(Mutex::new(zoned(y, m, d, h, min, s, ms))))
    }

    fn set(&self, z: Zoned) {
        *self.0.lock().unwrap() = z;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Zoned {
        self.0.lock().unwrap().clone()
    }
}

fn tz() -> TimeZone {
    TimeZone::fixed(offset(1))
}

fn zoned(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8, ms: i32) -> Zoned {
    date(y, m, d)
        .at(h, min, s, ms * 1_000_000)
        .to_zoned(tz())
        .unwrap()
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn settings(dir: &Path, mode: LogMode, level: u8) -> LogSettings {
    LogSettings {
        mode,
        path: Some(dir.to_owned()),
        file: "shotgunEventDaemon".to_owned(),
        level,
        timing: true,
        format: LogFormat::Text,
    }
}

/// Runs `body` with the upstream layer as the thread's subscriber.
fn with_layer(
    settings: &LogSettings,
    clock: Arc<TestClock>,
    console: Option<Buffer>,
    body: impl FnOnce(),
) {
    let console = console.map(|b| Box::new(b) as ConsoleWriter);
    let layer = UpstreamLayer::new(settings, clock, console);
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(record_filter(settings.level));
    tracing::subscriber::with_default(subscriber, body);
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn mode_1_routes_engine_and_plugins_to_their_files_in_upstream_format() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), LogMode::PerPlugin, 20);
    let clock = TestClock::at(2026, 11, 22, 10, 0, 0, 123);
    with_layer(&settings, clock, None, || {
        tracing::info!(logger = "engine", "Using SG Python API version 3.10.3");
        tracing::info!("no logger field means engine");
        tracing::debug!(logger = "engine", "below the threshold");
        tracing::warn!(logger = "plugin.notify", "plugin warning");
        tracing::error!(
            logger = "plugin.notify.on_change",
            py_level = 50,
            "callback crashed"
        );
        tracing::info!(logger = "plugin.other", event = 7, "with a field");
    });
    assert_eq!(
        read(dir.path().join("shotgunEventDaemon")),
        "2026-11-22 10:00:00,123 - engine - INFO - Using SG Python API version 3.10.3\n\
         2026-11-22 10:00:00,123 - engine - INFO - no logger field means engine\n"
    );
    assert_eq!(
        read(dir.path().join("plugin.notify")),
        "2026-11-22 10:00:00,123 - plugin.notify - WARNING - plugin warning\n\
         2026-11-22 10:00:00,123 - plugin.notify.on_change - CRITICAL - callback crashed\n"
    );
    assert_eq!(
        read(dir.path().join("plugin.other")),
        "2026-11-22 10:00:00,123 - plugin.other - INFO - with a field event=7\n"
    );
}

#[test]
fn mode_0_puts_everything_in_the_main_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), LogMode::Single, 10);
    settings.timing = false;
    let clock = TestClock::at(2026, 1, 2, 3, 4, 5, 6);
    with_layer(&settings, clock, None, || {
        tracing::debug!(logger = "engine", "debug shows at level 10");
        tracing::info!(logger = "plugin.a", "from a");
        tracing::error!(logger = "plugin.a.cb", critical = true, "critical alias");
    });
    assert_eq!(
        read(dir.path().join("shotgunEventDaemon")),
        "2026-01-02 03:04:05,006 - engine - DEBUG - debug shows at level 10\n\
         2026-01-02 03:04:05,006 - plugin.a - INFO - from a\n\
         2026-01-02 03:04:05,006 - plugin.a.cb - CRITICAL - critical alias\n"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["shotgunEventDaemon"]);
}

#[test]
fn plugin_records_keep_their_python_level() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), LogMode::PerPlugin, 20);
    let clock = TestClock::at(2026, 11, 22, 10, 0, 0, 0);
    with_layer(&settings, clock, None, || {
        plugin_record("plugin.py", 50, "critical from python");
        plugin_record("plugin.py.cb", 25, "custom level");
        // Python let it through (the plugin raised its logger to DEBUG): written at level 20.
        plugin_record("plugin.py", 10, "debug the plugin asked for");
        tracing::debug!(
            logger = "plugin.py",
            "dropped: the daemon's own DEBUG is below 20"
        );
        // Library chatter without a logger field stays out below WARNING.
        tracing::info!(target: "hyper::client", "connection pooled");
    });
    assert_eq!(
        read(dir.path().join("plugin.py")),
        "2026-11-22 10:00:00,000 - plugin.py - CRITICAL - critical from python\n\
         2026-11-22 10:00:00,000 - plugin.py.cb - Level 25 - custom level\n\
         2026-11-22 10:00:00,000 - plugin.py - DEBUG - debug the plugin asked for\n"
    );
    assert!(!dir.path().join("shotgunEventDaemon").exists());
}

#[test]
fn mode_1_creates_a_plugin_file_at_load_even_if_it_never_logs() {
    let dir = tempfile::tempdir().unwrap();
    let per_plugin = settings(dir.path(), LogMode::PerPlugin, 30);
    let clock = TestClock::at(2026, 11, 22, 10, 0, 0, 0);
    with_layer(&per_plugin, Arc::clone(&clock), None, || {
        open_plugin_log("silent");
        open_plugin_log("silent");
    });
    assert_eq!(read(dir.path().join("plugin.silent")), "");
    assert!(!dir.path().join("shotgunEventDaemon").exists());

    let single = tempfile::tempdir().unwrap();
    let single_file = settings(single.path(), LogMode::Single, 20);
    with_layer(&single_file, clock, None, || open_plugin_log("silent"));
    assert_eq!(std::fs::read_dir(single.path()).unwrap().count(), 0);
}

#[test]
fn rolls_over_at_local_midnight_with_python_names_and_keeps_ten() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), LogMode::PerPlugin, 20);
    let clock = TestClock::at(2026, 11, 22, 23, 59, 59, 0);
    let main = dir.path().join("shotgunEventDaemon");
    let first_day = dir.path().join("shotgunEventDaemon.2026-11-22");
    with_layer(&settings, Arc::clone(&clock), None, || {
        tracing::info!(logger = "engine", "last line of the 22nd");
        // 00:00:01 local is still 23:00:01 UTC on the 22nd: rotation follows local time.
        clock.set(zoned(2026, 11, 23, 0, 0, 1, 0));
        tracing::info!(logger = "engine", "first line of the 23rd");
        assert_eq!(
            read(first_day.clone()),
            "2026-11-22 23:59:59,000 - engine - INFO - last line of the 22nd\n"
        );
        assert_eq!(
            read(main.clone()),
            "2026-11-23 00:00:01,000 - engine - INFO - first line of the 23rd\n"
        );
        // Eleven more days (24th to 4 December): only the ten newest dated files remain.
        for day in 1..12 {
            let z = zoned(2026, 11, 23, 12, 0, 0, 0)
                .checked_add(jiff::Span::new().days(day))
                .unwrap();
            clock.set(z);
            tracing::info!(logger = "engine", "day {day}");
        }
    });
    let mut dated: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("shotgunEventDaemon."))
        .collect();
    dated.sort();
    assert_eq!(dated.len(), BACKUPS_KEPT, "{dated:?}");
    assert_eq!(dated.first().unwrap(), "shotgunEventDaemon.2026-11-24");
    assert_eq!(dated.last().unwrap(), "shotgunEventDaemon.2026-12-03");
    assert!(read(main).ends_with(" - engine - INFO - day 11\n"));
}

#[test]
fn an_existing_file_from_an_earlier_day_rolls_over_on_first_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shotgunEventDaemon");
    std::fs::write(&path, "old line\n").unwrap();
    let old = zoned(2026, 11, 20, 15, 0, 0, 0);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::from(old.timestamp()))
        .unwrap();
    drop(file);
    let now = zoned(2026, 11, 22, 9, 0, 0, 0);
    let mut rotating = RotatingFile::open(&path, &now, BACKUPS_KEPT).unwrap();
    rotating.write_line("new line", &now).unwrap();
    assert_eq!(
        read(dir.path().join("shotgunEventDaemon.2026-11-20")),
        "old line\n"
    );
    assert_eq!(read(path), "new line\n");
}

#[test]
fn timing_message_matches_upstream_format() {
    let created: jiff::Timestamp = "2026-11-22T09:00:00Z".parse().unwrap();
    let start: jiff::Timestamp = "2026-11-22T09:00:02.5Z".parse().unwrap();
    let end: jiff::Timestamp = "2026-11-22T09:00:03.75Z".parse().unwrap();
    let record = TimingRecord {
        event_id: 4242,
        created_at: created,
        callback: "notify.on_change".to_owned(),
        start,
        end,
        error: false,
    };
    assert_eq!(
        timing_message(&record, &tz()),
        "event_id=4242 created_at=2026-11-22T10:00:00+01:00 callback=notify.on_change \
         start=2026-11-22T10:00:02.500000+01:00 end=2026-11-22T10:00:03.750000+01:00 \
         duration=00:00:00:01.250000 error=False delay=00:00:00:02.500000"
    );
    // A site clock ahead of ours gives Python's floor-divided negative delay.
    let skewed = TimingRecord {
        created_at: "2026-11-22T09:00:04Z".parse().unwrap(),
        error: true,
        ..record
    };
    let line = timing_message(&skewed, &tz());
    assert!(
        line.ends_with("error=True delay=-1:23:59:58.500000"),
        "{line}"
    );
    assert_eq!(
        pretty_delta(
            created,
            created + jiff::SignedDuration::from_secs(2 * 86_400 + 3_723)
        ),
        "02:01:02:03.000000"
    );
}

#[test]
fn timing_records_go_to_the_timing_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path(), LogMode::PerPlugin, 20);
    let clock = TestClock::at(2026, 11, 22, 10, 0, 0, 0);
    let now = jiff::Timestamp::now();
    with_layer(&settings, clock, None, || {
        timing_record(&TimingRecord {
            event_id: 7,
            created_at: now,
            callback: "plug.cb".to_owned(),
            start: now,
            end: now,
            error: false,
        });
    });
    let text = read(dir.path().join("shotgunEventDaemon.timing"));
    assert!(
        text.starts_with("2026-11-22 10:00:00,000 - timing - INFO - event_id=7 created_at="),
        "{text}"
    );
    assert!(text.contains(" callback=plug.cb start="), "{text}");
    assert!(
        text.ends_with(" duration=00:00:00:00.000000 error=False delay=00:00:00:00.000000\n"),
        "{text}"
    );
    // Mode 1: the main file gets nothing from the timing logger.
    assert!(!dir.path().join("shotgunEventDaemon").exists());
}

#[test]
fn foreground_console_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), LogMode::PerPlugin, 20);
    let clock = TestClock::at(2026, 11, 22, 10, 0, 0, 0);
    let text = Buffer::default();
    with_layer(&settings, Arc::clone(&clock), Some(text.clone()), || {
        tracing::warn!(logger = "engine", "Timeout elapsed on backlog event id 12.");
        plugin_record("plugin.a.cb", 20, "hello");
    });
    assert_eq!(
        text.text(),
        "WARNING:engine:Timeout elapsed on backlog event id 12.\nINFO:plugin.a.cb:hello\n"
    );
    settings.format = LogFormat::Json;
    let json = Buffer::default();
    with_layer(&settings, clock, Some(json.clone()), || {
        tracing::error!(logger = "engine", py_level = 50, plugin = "a", "Crash!");
    });
    let value: serde_json::Value = serde_json::from_str(json.text().trim()).unwrap();
    assert_eq!(value["level"], "CRITICAL");
    assert_eq!(value["logger"], "engine");
    assert_eq!(value["message"], "Crash!");
    assert_eq!(value["plugin"], "a");
    assert_eq!(value["time"], "2026-11-22T09:00:00Z");
}

#[test]
fn prepare_dir_creates_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(&dir.path().join("a/b"), LogMode::Single, 20);
    prepare_dir(&settings).unwrap();
    assert!(dir.path().join("a/b").is_dir());
    std::fs::write(dir.path().join("file"), "").unwrap();
    settings.path = Some(dir.path().join("file"));
    assert!(matches!(
        prepare_dir(&settings),
        Err(LogError::NotADirectory(_))
    ));
}
