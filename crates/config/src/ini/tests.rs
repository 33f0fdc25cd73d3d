//! Golden cases: every expected value below was produced by CPython 3.11's `ConfigParser`.

use super::*;

fn get(text: &str, section: &str, key: &str) -> Result<Option<String>, InterpolationError> {
    let file = parse(text).unwrap();
    Ok(file
        .get(section, key, &Environment::default())?
        .map(|(value, _)| value))
}

fn value(text: &str, section: &str, key: &str) -> String {
    get(text, section, key).unwrap().unwrap()
}

fn chain(links: usize, last: &str) -> String {
    let mut text = String::from("[a]\n");
    for i in 0..links {
        text.push_str(&format!("k{i} = %(k{})s\n", i + 1));
    }
    text.push_str(&format!("k{links} = {last}\n"));
    text
}

#[test]
fn golden_values_match_cpython() {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("[a]\nx = 1\ny: %(x)s-%(X)s\n", "a", "y", "1-1"),
        (
            "[DEFAULT]\nbase = /srv\n[a]\nlog = %(base)s/log\n",
            "a",
            "log",
            "/srv/log",
        ),
        (
            "[DEFAULT]\nbase = /srv\nlog = %(base)s/log\n[a]\nbase = /opt\n",
            "a",
            "log",
            "/opt/log",
        ),
        ("[a]\nx = 100%% sure %%(x)s\n", "a", "x", "100% sure %(x)s"),
        (
            "[a]\nx = first\n  second\n\n  third\n\n\ny = 2\n",
            "a",
            "x",
            "first\nsecond\n\nthird",
        ),
        ("[a]\nurl: http://h:80/a=b\n", "a", "url", "http://h:80/a=b"),
        ("[a]\nk = v: w\n", "a", "k", "v: w"),
        (
            "[a]\nk = v # not a comment\n",
            "a",
            "k",
            "v # not a comment",
        ),
        ("[a]\nLogMode = 1\n", "a", "logmode", "1"),
        ("[a]\na = %(b)s\nb = %(c)s!\nc = deep\n", "a", "a", "deep!"),
        ("[a]\nk =\n", "a", "k", ""),
        ("[a]\nk = 1\n  # c\n  more\n", "a", "k", "1\nmore"),
    ];
    for (text, section, key, expected) in cases {
        assert_eq!(&value(text, section, key), expected, "input: {text:?}");
    }
}

#[test]
fn depth_limit_matches_cpython() {
    // Ten references ending in a plain value resolve; CPython gives "end".
    assert_eq!(value(&chain(9, "end"), "a", "k0"), "end");
    assert_eq!(value(&chain(10, "end"), "a", "k0"), "end");
    // The eleventh level needs substitution itself: CPython raises InterpolationDepthError.
    assert_eq!(
        get(&chain(10, "end%%"), "a", "k0"),
        Err(InterpolationError::Depth)
    );
    assert_eq!(
        get("[a]\nx = %(y)s\ny = %(x)s\n", "a", "x"),
        Err(InterpolationError::Depth)
    );
}

#[test]
fn interpolation_errors() {
    assert_eq!(
        get("[a]\nx = %(nope)s\n", "a", "x"),
        Err(InterpolationError::Missing {
            reference: "nope".into()
        })
    );
    assert!(matches!(
        get("[a]\nx = 5%\n", "a", "x"),
        Err(InterpolationError::Syntax { .. })
    ));
    assert!(matches!(
        get("[a]\nx = %(open\n", "a", "x"),
        Err(InterpolationError::Syntax { .. })
    ));
    assert!(matches!(
        get("[a]\nx = %(y)d\ny = 1\n", "a", "x"),
        Err(InterpolationError::Syntax { .. })
    ));
}

#[test]
fn environment_is_only_read_through_references() {
    let file = parse("[shotgun]\nserver: %(SG_ED_SITE_URL)s\n[emails]\nserver: smtp\n").unwrap();
    let env = Environment::from_pairs([("SG_ED_SITE_URL", "https://x.example"), ("PORT", "2525")]);
    let (server, option) = file.get("shotgun", "server", &env).unwrap().unwrap();
    assert_eq!(server, "https://x.example");
    assert_eq!(option.line, 2);
    // Upstream's leak: with defaults=os.environ, emails.port would be "2525". Here it is unset.
    assert_eq!(file.get("emails", "port", &env).unwrap(), None);
    // Lowercase references find the variable too, as with Python's lowercased environ keys.
    let file = parse("[a]\nx = %(sg_ed_site_url)s\n").unwrap();
    assert_eq!(
        file.get("a", "x", &env).unwrap().unwrap().0,
        "https://x.example"
    );
    // The file's [DEFAULT] wins over the environment.
    let file = parse("[DEFAULT]\nport = 25\n[a]\nx = %(PORT)s\n").unwrap();
    assert_eq!(file.get("a", "x", &env).unwrap().unwrap().0, "25");
}

#[test]
fn syntax_errors_are_all_collected_with_lines() {
    let text = "orphan = 1\n[a]\nx = 1\nX = 2\njust words\n[a]\n= nothing\n";
    let errors = parse(text).unwrap_err();
    let lines: Vec<usize> = errors.iter().map(IniSyntaxError::line).collect();
    assert_eq!(lines, vec![1, 4, 5, 6, 7]);
    assert!(matches!(
        errors[1],
        IniSyntaxError::DuplicateOption { first_line: 3, .. }
    ));
    assert!(matches!(
        errors[3],
        IniSyntaxError::DuplicateSection { first_line: 2, .. }
    ));
}

#[test]
fn sections_are_case_sensitive_and_keys_are_not() {
    let file = parse("[Daemon]\nLOGMODE = 1\n[daemon]\nlogmode = 0\n").unwrap();
    assert_eq!(file.sections.len(), 2);
    assert_eq!(
        file.section("Daemon")
            .unwrap()
            .option("logMode")
            .unwrap()
            .value,
        "1"
    );
    assert_eq!(
        file.section("daemon")
            .unwrap()
            .option("LogMode")
            .unwrap()
            .value,
        "0"
    );
    assert_eq!(
        file.section("Daemon").unwrap().options[0].written_key,
        "LOGMODE"
    );
}
