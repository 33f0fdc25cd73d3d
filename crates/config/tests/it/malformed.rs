//! A table of malformed configurations: each error names the file, line, key and the fix.

use sgevents_config::{ConfigProblem, check_with_env};

use crate::fixtures::{Fixture, NATIVE_TOML, UPSTREAM_INI, site_env};

struct Case {
    name: &'static str,
    file: &'static str,
    text: String,
    line: Option<usize>,
    key: Option<&'static str>,
    message: &'static str,
    fix: &'static str,
}

fn ini(name: &'static str, from: &str, to: &str) -> String {
    assert!(
        UPSTREAM_INI.contains(from),
        "{name}: fixture lacks {from:?}"
    );
    UPSTREAM_INI.replacen(from, to, 1)
}

fn toml(name: &'static str, from: &str, to: &str) -> String {
    assert!(NATIVE_TOML.contains(from), "{name}: fixture lacks {from:?}");
    NATIVE_TOML.replacen(from, to, 1)
}

#[allow(clippy::too_many_lines)] // A table of cases.
fn cases() -> Vec<Case> {
    let c = |name, file, text, line, key, message, fix| Case {
        name,
        file,
        text,
        line,
        key,
        message,
        fix,
    };
    vec![
        c(
            "ini missing logFile",
            "a.conf",
            ini("a", "logFile: shotgunEventDaemon\n", ""),
            None,
            Some("daemon.logFile"),
            "required setting is missing",
            "add `logFile: ...` to the [daemon] section",
        ),
        c(
            "ini missing pidFile",
            "a.conf",
            ini("b", "pidFile: {DIR}/shotgunEventDaemon.pid\n", ""),
            None,
            Some("daemon.pidFile"),
            "required setting is missing",
            "add `pidFile: ...`",
        ),
        c(
            "ini bad logMode",
            "a.conf",
            ini("c", "logMode: 1", "logMode: 2"),
            Some(5),
            Some("daemon.logMode"),
            "2 is not a log mode",
            "use 0 (everything in one file) or 1",
        ),
        c(
            "ini logging not a number",
            "a.conf",
            ini("d", "logging: 20", "logging: loud"),
            Some(8),
            Some("daemon.logging"),
            "`loud` is not a whole number",
            "write a whole number",
        ),
        c(
            "ini logging out of range",
            "a.conf",
            ini("e", "logging: 20", "logging: 60"),
            Some(8),
            Some("daemon.logging"),
            "60 is out of range",
            "from 0 to 50",
        ),
        c(
            "ini bad boolean",
            "a.conf",
            ini("f", "use_session_uuid: True", "use_session_uuid: maybe"),
            Some(20),
            Some("shotgun.use_session_uuid"),
            "`maybe` is not a boolean",
            "write True or False",
        ),
        c(
            "ini plugin path missing",
            "a.conf",
            ini("g", "{DIR}/more_plugins", "{DIR}/no_such_dir"),
            Some(23),
            Some("plugins.paths"),
            "no_such_dir does not exist",
            "create the directory or fix the path",
        ),
        c(
            "ini empty plugin path",
            "a.conf",
            ini("h", "{DIR}/more_plugins", ""),
            Some(23),
            Some("plugins.paths"),
            "plugin path number 2 is empty",
            "remove the extra comma",
        ),
        c(
            "ini unknown interpolation",
            "a.conf",
            ini("i", "%(SG_ED_SITE_URL)s", "%(SG_ED_SITE)s"),
            Some(16),
            Some("shotgun.server"),
            "cannot be interpolated",
            "export the environment variable SG_ED_SITE",
        ),
        c(
            "ini secret env unset",
            "a.conf",
            ini("j", "%(SG_ED_API_KEY)s", "%(SG_ED_API_KEY_TYPO)s"),
            Some(18),
            Some("shotgun.key"),
            "environment variable SG_ED_API_KEY_TYPO is not set",
            "export SG_ED_API_KEY_TYPO",
        ),
        c(
            "ini lone percent",
            "a.conf",
            ini("k", "subject: [SG]", "subject: 100% [SG]"),
            Some(30),
            Some("emails.subject"),
            "cannot be interpolated",
            "must be written `%%`",
        ),
        c(
            "ini duplicate option",
            "a.conf",
            ini("l", "logging: 20\n", "logging: 20\nLogging: 10\n"),
            Some(9),
            None,
            "not valid INI",
            "already set in [daemon] on line 8",
        ),
        c(
            "ini option before section",
            "a.conf",
            format!("logMode: 1\n{UPSTREAM_INI}"),
            Some(1),
            None,
            "not valid INI",
            "add a section header",
        ),
        c(
            "ini garbage line",
            "a.conf",
            ini("n", "logMode: 1\n", "logMode: 1\nthis is not an option\n"),
            Some(6),
            None,
            "not valid INI",
            "`name: value`",
        ),
        c(
            "ini missing emails section",
            "a.conf",
            UPSTREAM_INI[..UPSTREAM_INI.find("[emails]").unwrap()].to_owned(),
            None,
            Some("emails.enabled"),
            "required setting is missing",
            "add `enabled: ...` to the [emails] section",
        ),
        c(
            "ini bad port",
            "a.conf",
            ini("p", "#port: 587", "port: 99999"),
            Some(31),
            Some("emails.port"),
            "99999 is out of range",
            "from 1 to 65535",
        ),
        c(
            "ini bad dispatch",
            "a.conf",
            ini("q", "logging: 20", "logging: 20\ndispatch: parallel"),
            Some(9),
            Some("daemon.dispatch"),
            "`parallel` is not one of the allowed values",
            "concurrent, sequential",
        ),
        c(
            "ini bad http",
            "a.conf",
            ini("r", "logging: 20", "logging: 20\nhttp: localhost"),
            Some(9),
            Some("daemon.http"),
            "`localhost` is not a listen address",
            "127.0.0.1:9090",
        ),
        c(
            "ini server not a URL",
            "a.conf",
            ini("s", "%(SG_ED_SITE_URL)s", "studio.example.com"),
            Some(16),
            Some("shotgun.server"),
            "not a site URL",
            "https://",
        ),
        c(
            "ini two key sources",
            "a.conf",
            ini(
                "t",
                "key: %(SG_ED_API_KEY)s",
                "key: abc\nkey_env: SG_ED_API_KEY",
            ),
            Some(18),
            Some("shotgun.key"),
            "given more than once",
            "keep exactly one of `script_key`",
        ),
        c(
            "toml INI key name",
            "a.toml",
            toml(
                "u",
                "log_file = \"sgevents\"",
                "log_file = \"sgevents\"\nlogMode = 1",
            ),
            Some(6),
            Some("daemon.logMode"),
            "unknown key `logMode`",
            "in TOML write `log_mode`",
        ),
        c(
            "toml unknown key",
            "a.toml",
            toml(
                "v",
                "log_file = \"sgevents\"",
                "log_file = \"sgevents\"\ncolour = \"red\"",
            ),
            Some(6),
            Some("daemon.colour"),
            "unknown field `colour`",
            "remove the key or fix its spelling",
        ),
        c(
            "toml wrong type",
            "a.toml",
            toml(
                "w",
                "log_file = \"sgevents\"",
                "log_file = \"sgevents\"\nlog_mode = \"1\"",
            ),
            Some(6),
            Some("daemon.log_mode"),
            "invalid type",
            "numbers and true/false without quotes",
        ),
        c(
            "toml syntax",
            "a.toml",
            toml(
                "x",
                "server = \"https://studio.example.com\"",
                "server = https://studio.example.com",
            ),
            Some(8),
            None,
            "not valid TOML",
            "text values need quotes",
        ),
        c(
            "toml shotgun table",
            "a.toml",
            format!("{NATIVE_TOML}\n[shotgun]\nserver = \"x\"\n"),
            Some(15),
            Some("shotgun"),
            "unknown table or key `shotgun`",
            "the [site] table",
        ),
        c(
            "toml single plugins table",
            "a.toml",
            toml("z", "[[plugins]]", "[plugins]"),
            Some(12),
            Some("plugins"),
            "must be a list of tables",
            "[[plugins]] table (two brackets)",
        ),
        c(
            "toml bad variant",
            "a.toml",
            toml(
                "aa",
                "path = \"{DIR}/plugins\"",
                "path = \"{DIR}/plugins\"\nprocess = \"per_file\"",
            ),
            Some(14),
            Some("plugins[0].process"),
            "unknown variant `per_file`",
            "one of the listed values",
        ),
        c(
            "toml no plugins",
            "a.toml",
            NATIVE_TOML[..NATIVE_TOML.find("[[plugins]]").unwrap()].to_owned(),
            None,
            Some("plugins.path"),
            "no plugin directory is configured",
            "add a [[plugins]] table",
        ),
        c(
            "toml secret file missing",
            "a.toml",
            toml(
                "ac",
                "script_key_env = \"SG_ED_API_KEY\"",
                "script_key_file = \"{DIR}/no_key\"",
            ),
            Some(10),
            Some("site.script_key_file"),
            "cannot read secret file",
            "check the path",
        ),
        c(
            "toml no state",
            "a.toml",
            toml("ad", "event_id_file = \"{DIR}/shotgunEventDaemon.id\"", ""),
            None,
            Some("daemon.state_db"),
            "no state store is configured",
            "set `state_db =",
        ),
        c(
            "toml missing site server",
            "a.toml",
            toml("ae", "server = \"https://studio.example.com\"", ""),
            None,
            Some("site.server"),
            "required setting is missing",
            "add `server = ...` to the [site] table",
        ),
    ]
}

fn first_problem(fx: &Fixture, case: &Case) -> (std::path::PathBuf, Vec<ConfigProblem>) {
    let path = fx.write(case.file, &case.text);
    let problems = match check_with_env(&path, &site_env()) {
        Ok(_) => panic!("{}: expected problems, the file was accepted", case.name),
        Err(problems) => problems,
    };
    (path, problems)
}

#[test]
fn every_malformed_config_gets_a_clear_error() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in &cases {
        let fx = Fixture::new();
        let (path, problems) = first_problem(&fx, case);
        let found = problems.iter().find(|p| p.message.contains(case.message));
        let Some(problem) = found else {
            panic!(
                "{}: no problem mentions {:?}; got {problems:#?}",
                case.name, case.message
            );
        };
        assert_eq!(problem.file, path, "{}", case.name);
        assert_eq!(problem.line, case.line, "{}: {problem}", case.name);
        assert_eq!(problem.key.as_deref(), case.key, "{}: {problem}", case.name);
        assert!(
            problem.fix.contains(case.fix),
            "{}: fix {:?} lacks {:?}",
            case.name,
            problem.fix,
            case.fix
        );
        let shown = problem.to_string();
        assert!(
            shown.starts_with(&path.display().to_string()),
            "{}: {shown}",
            case.name
        );
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    let fx = Fixture::new();
    let cases = [
        (
            "a.conf",
            ini("s1", "key: %(SG_ED_API_KEY)s", "key: sup3rs3cr3t%key"),
        ),
        (
            "b.toml",
            toml(
                "s2",
                "script_key_env = \"SG_ED_API_KEY\"",
                "script_key = 987654321",
            ),
        ),
        (
            "c.toml",
            toml(
                "s3",
                "script_key_env = \"SG_ED_API_KEY\"",
                "script_key = \"sup3rs3cr3t\"\nscript_key_env = \"X\"",
            ),
        ),
    ];
    for (name, text) in cases {
        let path = fx.write(name, &text);
        let problems = check_with_env(&path, &site_env()).unwrap_err();
        let all = format!(
            "{problems:?} {}",
            problems.iter().map(ToString::to_string).collect::<String>()
        );
        assert!(!all.contains("sup3rs3cr3t"), "{name}: {all}");
        assert!(!all.contains("987654321"), "{name}: {all}");
        assert!(
            all.contains("script_key") || all.contains("shotgun.key"),
            "{name}: {all}"
        );
    }
}

#[test]
fn check_reports_every_problem_not_just_the_first() {
    let fx = Fixture::new();
    let text = toml(
        "m",
        "log_file = \"sgevents\"",
        "log_file = \"sgevents\"\nlog_mode = \"x\"\nqueue_size = 0\nfoo = 1",
    )
    .replace("{DIR}/plugins", "{DIR}/missing");
    let path = fx.write("many.toml", &text);
    let problems = check_with_env(&path, &site_env()).unwrap_err();
    let keys: Vec<_> = problems.iter().filter_map(|p| p.key.clone()).collect();
    for expected in [
        "daemon.log_mode",
        "daemon.foo",
        "daemon.queue_size",
        "plugins[0].path",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "missing {expected} in {problems:#?}"
        );
    }
    let ini_text = UPSTREAM_INI
        .replace("logMode: 1", "logMode: 7")
        .replace("logging: 20", "logging: x")
        .replace("use_session_uuid: True", "use_session_uuid: perhaps");
    let problems = check_with_env(&fx.write("many.conf", &ini_text), &site_env()).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:#?}");
}
