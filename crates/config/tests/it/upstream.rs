//! Upstream's example file reads unchanged with upstream's meanings, and without its env leak.

use std::time::Duration;

use sgevents_config::{
    ConfigFormat, DispatchMode, Environment, LogFormat, LogMode, ProcessMode, find_config_in,
    load_with_env,
};

use crate::fixtures::{Fixture, NATIVE_TOML, UPSTREAM_INI, site_env};

#[test]
fn upstream_example_reads_with_upstream_meanings() {
    let fx = Fixture::new();
    let path = fx.write("shotgunEventDaemon.conf", UPSTREAM_INI);
    let settings = load_with_env(&path, &site_env()).unwrap();
    let dir = fx.path();
    assert_eq!(settings.format, ConfigFormat::Ini);
    let daemon = &settings.daemon;
    assert_eq!(daemon.pid_file, Some(dir.join("shotgunEventDaemon.pid")));
    assert_eq!(
        daemon.event_id_file,
        Some(dir.join("shotgunEventDaemon.id"))
    );
    assert_eq!(daemon.state_db, dir.join("sgevents-state.sqlite3"));
    assert_eq!(daemon.log.mode, LogMode::PerPlugin);
    assert_eq!(daemon.log.main_log(), dir.join("logs/shotgunEventDaemon"));
    assert_eq!(daemon.log.plugin_log("foo"), dir.join("logs/plugin.foo"));
    assert_eq!(
        daemon.log.timing_log(),
        dir.join("logs/shotgunEventDaemon.timing")
    );
    assert_eq!(daemon.log.level, 20);
    assert!(!daemon.log.timing);
    assert_eq!(daemon.log.format, LogFormat::Text);
    assert_eq!(daemon.conn_retry_sleep, Duration::from_secs(60));
    assert_eq!(daemon.max_conn_retries, 5);
    assert_eq!(daemon.fetch_interval, Duration::from_secs(5));
    assert_eq!(daemon.max_event_batch_size, 500);
    assert_eq!(daemon.backlog_timeout, Duration::from_secs(300));
    assert_eq!(daemon.dispatch, DispatchMode::Concurrent);
    assert_eq!(daemon.queue_size, 1000);
    assert_eq!(daemon.shutdown_grace, Duration::from_secs(30));
    assert_eq!(daemon.http, None);
    assert_eq!(settings.site.server, "https://studio.example.com");
    assert_eq!(settings.site.script_name, "shotgunEventDaemon");
    assert_eq!(settings.site.script_key.expose(), "0123456789abcdef");
    assert_eq!(settings.site.proxy_server, None);
    assert!(settings.site.use_session_uuid);
    assert_eq!(settings.site.timeout, Duration::from_secs(60));
    let paths: Vec<_> = settings.plugins.iter().map(|p| p.path.clone()).collect();
    assert_eq!(paths, vec![dir.join("plugins"), dir.join("more_plugins")]);
    assert_eq!(settings.plugins[0].process, ProcessMode::PerPlugin);
    assert!(
        settings.plugins[0].run_ahead,
        "processes run ahead with a progress page by default"
    );
    assert_eq!(
        settings.plugins[0].callback_timeout,
        Duration::from_secs(600)
    );
    let emails = settings.emails.as_ref().unwrap();
    assert_eq!(emails.server, "smtp.example.com");
    assert_eq!(emails.port, 25);
    assert_eq!(emails.to, vec!["one@example.com", "two@example.com"]);
    assert_eq!(emails.subject, "[SG]");
    assert!(!emails.use_tls);
    assert_eq!(emails.username.as_deref(), Some("mailer"));
    assert_eq!(emails.password.as_ref().unwrap().expose(), "mail-secret");
    // Secrets never print.
    let debug = format!("{settings:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
    assert!(!debug.contains("mail-secret"), "{debug}");
}

#[test]
fn environment_variables_never_become_options() {
    // Upstream's ConfigParser(defaults=os.environ) turns these into emails.port, emails.username,
    // emails.password, emails.usetls and daemon.logpath/timing_log. Here they change nothing.
    let fx = Fixture::new();
    let text = UPSTREAM_INI
        .replace("username: mailer\n", "")
        .replace("password: %(SG_ED_EMAIL_PASSWORD)s\n", "")
        .replace("logPath: {DIR}/logs\n", "")
        .replace("timing_log: off\n", "")
        .replace("max_event_batch_size = 500\n", "");
    let path = fx.write("leak.conf", &text);
    let mut pairs: Vec<(String, String)> = vec![
        ("PORT".into(), "2525".into()),
        ("USERNAME".into(), "bob".into()),
        ("PASSWORD".into(), "hunter2".into()),
        ("USETLS".into(), "True".into()),
        ("LOGPATH".into(), "/tmp/elsewhere".into()),
        ("TIMING_LOG".into(), "on".into()),
        ("MAX_EVENT_BATCH_SIZE".into(), "7".into()),
        ("PROXY_SERVER".into(), "proxy:3128".into()),
    ];
    pairs.extend([
        ("SG_ED_SITE_URL".into(), "https://studio.example.com".into()),
        ("SG_ED_SCRIPT_NAME".into(), "daemon".into()),
        ("SG_ED_API_KEY".into(), "k".into()),
    ]);
    let settings = load_with_env(&path, &Environment::from_pairs(pairs)).unwrap();
    let emails = settings.emails.unwrap();
    assert_eq!(emails.port, 25);
    assert_eq!(emails.username, None);
    assert_eq!(emails.password, None);
    assert!(!emails.use_tls);
    assert_eq!(settings.daemon.log.path, None);
    assert!(!settings.daemon.log.timing);
    assert_eq!(settings.daemon.max_event_batch_size, 500);
    assert_eq!(settings.site.proxy_server, None);
}

#[test]
fn timing_log_only_exactly_on_enables_it_as_upstream() {
    let fx = Fixture::new();
    for (value, expected) in [("on", true), ("off", false), ("On", false), ("true", false)] {
        let text = UPSTREAM_INI.replace("timing_log: off", &format!("timing_log: {value}"));
        let settings = load_with_env(&fx.write("t.conf", &text), &site_env()).unwrap();
        assert_eq!(settings.daemon.log.timing, expected, "timing_log: {value}");
    }
}

#[test]
fn disabled_or_incomplete_emails_send_nothing() {
    let fx = Fixture::new();
    let off = UPSTREAM_INI.replace("enabled: True", "enabled: False");
    assert_eq!(
        load_with_env(&fx.write("a.conf", &off), &site_env())
            .unwrap()
            .emails,
        None
    );
    let incomplete = UPSTREAM_INI.replace("subject: [SG]", "subject:");
    let settings = load_with_env(&fx.write("b.conf", &incomplete), &site_env()).unwrap();
    assert_eq!(settings.emails, None);
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("no alert mail")),
        "{:?}",
        settings.warnings
    );
}

#[test]
fn unknown_upstream_sections_and_keys_are_warnings() {
    let fx = Fixture::new();
    let text = format!("{UPSTREAM_INI}\n[sentry]\nsentry_dsn:\n")
        .replace("logging: 20", "logging: 20\nlogColor: red");
    let settings = load_with_env(&fx.write("w.conf", &text), &site_env()).unwrap();
    assert!(
        settings.warnings.iter().any(|w| w.contains("[sentry]")),
        "{:?}",
        settings.warnings
    );
    assert!(
        settings.warnings.iter().any(|w| w.contains("`logColor`")),
        "{:?}",
        settings.warnings
    );
}

#[test]
fn native_toml_defaults() {
    let fx = Fixture::new();
    let settings = load_with_env(&fx.write("sgevents.toml", NATIVE_TOML), &site_env()).unwrap();
    assert_eq!(settings.format, ConfigFormat::Toml);
    assert_eq!(settings.daemon.pid_file, None);
    assert_eq!(settings.daemon.log.mode, LogMode::PerPlugin);
    assert_eq!(settings.daemon.log.level, 20);
    assert!(!settings.site.use_session_uuid);
    assert_eq!(settings.emails, None);
    assert_eq!(settings.site.script_key.expose(), "0123456789abcdef");
}

#[test]
fn secret_from_file_drops_the_trailing_newline() {
    let fx = Fixture::new();
    fx.write("key.txt", "from-a-file\n");
    let text = NATIVE_TOML.replace(
        "script_key_env = \"SG_ED_API_KEY\"",
        "script_key_file = \"{DIR}/key.txt\"",
    );
    let settings = load_with_env(&fx.write("f.toml", &text), &Environment::default()).unwrap();
    assert_eq!(settings.site.script_key.expose(), "from-a-file");
}

#[test]
fn config_search_order() {
    let fx = Fixture::new();
    let first = fx.path().join("exe_dir");
    let second = fx.path().join("etc");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let dirs = vec![first.clone(), second.clone()];
    assert!(
        find_config_in(None, &dirs)
            .unwrap_err()
            .to_string()
            .contains("exe_dir/shotgunEventDaemon.conf")
    );
    std::fs::write(second.join("shotgunEventDaemon.conf"), "").unwrap();
    assert_eq!(
        find_config_in(None, &dirs).unwrap(),
        second.join("shotgunEventDaemon.conf")
    );
    std::fs::write(first.join("shotgunEventDaemon.conf"), "").unwrap();
    assert_eq!(
        find_config_in(None, &dirs).unwrap(),
        first.join("shotgunEventDaemon.conf")
    );
    std::fs::write(first.join("sgevents.toml"), "").unwrap();
    assert_eq!(
        find_config_in(None, &dirs).unwrap(),
        first.join("sgevents.toml")
    );
    let explicit = fx.path().join("nowhere.conf");
    assert!(find_config_in(Some(&explicit), &dirs).is_err());
}
