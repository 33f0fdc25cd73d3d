//! Reads the native TOML format into the raw config, collecting every problem with its line.

use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::error::{ConfigProblem, Locations};
use crate::keys::KEYS;
use crate::raw::{RawCluster, RawConfig, RawDaemon, RawEmails, RawPluginPath, RawSite};

/// The outcome of reading a TOML file.
pub(crate) struct TomlRead {
    pub(crate) raw: RawConfig,
    pub(crate) locations: Locations,
    pub(crate) problems: Vec<ConfigProblem>,
    /// The text is not TOML: only the syntax errors are reported (no cascade of "missing").
    pub(crate) syntax_errors: bool,
}

struct Ctx<'a> {
    text: &'a str,
    source: &'a Path,
    locations: Locations,
    problems: Vec<ConfigProblem>,
}

/// Reads TOML `text` (from `source`).
pub(crate) fn read(text: &str, source: &Path) -> TomlRead {
    let mut ctx = Ctx {
        text,
        source,
        locations: Locations::default(),
        problems: Vec::new(),
    };
    let mut raw = RawConfig::default();
    match DeTable::parse(text) {
        Err(err) => {
            ctx.problems = syntax_errors(text, source, err);
            return TomlRead {
                raw,
                locations: ctx.locations,
                problems: ctx.problems,
                syntax_errors: true,
            };
        }
        Ok(document) => {
            let span = document.span();
            let document = document.into_inner();
            ctx.record_locations(&document, "");
            for (key, value) in document {
                let name = key.get_ref().to_string();
                match name.as_str() {
                    "daemon" => {
                        raw.daemon = ctx
                            .section::<RawDaemon>(value, "daemon")
                            .unwrap_or_default()
                    }
                    "site" => raw.site = ctx.section::<RawSite>(value, "site").unwrap_or_default(),
                    "emails" => raw.emails = ctx.section::<RawEmails>(value, "emails"),
                    "cluster" => raw.cluster = ctx.section::<RawCluster>(value, "cluster"),
                    "plugins" => raw.plugins = ctx.plugins(value),
                    _ => {
                        const TABLES: [&str; 5] =
                            ["daemon", "site", "plugins", "emails", "cluster"];
                        let meant = crate::keys::suggest(&name, TABLES);
                        let fix = match (name.as_str(), meant) {
                            ("shotgun", _) => "the site connection is the [site] table in TOML".to_owned(),
                            (_, Some(meant)) => {
                                for field in crate::keys::toml_fields(meant) {
                                    ctx.locations.mark_broken(&format!("{meant}.{field}"));
                                }
                                format!("did you mean `{meant}`?")
                            }
                            _ => "remove it; the tables are [daemon], [site], [[plugins]], [emails] and [cluster]".to_owned(),
                        };
                        ctx.push(
                            key.span(),
                            &name,
                            format!("unknown table or key `{name}`"),
                            fix,
                        );
                    }
                }
            }
            let _ = span;
        }
    }
    TomlRead {
        raw,
        locations: ctx.locations,
        problems: ctx.problems,
        syntax_errors: false,
    }
}

/// Every syntax error, one per bad line: after each error its line is blanked and the text
/// parsed again (at most 20 times), since the TOML parser stops at the first.
fn syntax_errors(text: &str, source: &Path, first: toml::de::Error) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut err = Some(first);
    while let Some(error) = err.take() {
        let line = error
            .span()
            .map(|span| line_of(&lines.join("\n"), span.start));
        problems.push(ConfigProblem {
            file: source.to_owned(),
            line,
            key: None,
            message: format!("this is not valid TOML: {}", error.message().trim_end()),
            fix: "fix the syntax (text values need quotes; see docs/configuration.md)".to_owned(),
        });
        let Some(index) = line.and_then(|line| line.checked_sub(1)) else {
            break;
        };
        if problems.len() >= 20 || index >= lines.len() || lines[index].is_empty() {
            break;
        }
        lines[index].clear();
        err = DeTable::parse(&lines.join("\n")).err();
    }
    problems
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn push(&mut self, span: Range<usize>, key: &str, message: String, fix: String) {
        let line = self.line(span.start);
        self.locations.mark_broken(key);
        self.problems.push(ConfigProblem {
            file: self.source.to_owned(),
            line: Some(line),
            key: Some(key.to_owned()),
            message,
            fix,
        });
    }

    fn record_locations(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table {
            let path = format!("{prefix}{}", key.get_ref());
            let line = self.line(key.span().start);
            self.locations.insert(path.clone(), line, path.clone());
            match value.get_ref() {
                DeValue::Table(inner) => self.record_locations(inner, &format!("{path}.")),
                DeValue::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            self.record_locations(inner, &format!("{path}[{index}]."));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn plugins(&mut self, value: Spanned<DeValue<'_>>) -> Vec<RawPluginPath> {
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(index, item)| {
                    self.section::<RawPluginPath>(item.clone(), &format!("plugins[{index}]"))
                })
                .collect(),
            _ => {
                self.push(
                    span,
                    "plugins",
                    "`plugins` must be a list of tables".to_owned(),
                    "write each plugin directory as its own [[plugins]] table (two brackets) with a `path`".to_owned(),
                );
                Vec::new()
            }
        }
    }

    /// Deserializes one table; on an error, records it, drops the offending key and tries again,
    /// so every bad key in the table is reported.
    fn section<T: DeserializeOwned>(
        &mut self,
        value: Spanned<DeValue<'_>>,
        name: &str,
    ) -> Option<T> {
        let mut value = value;
        for _ in 0..100 {
            let attempt: Result<T, toml::de::Error> =
                T::deserialize(ValueDeserializer::from(value.clone()));
            let err = match attempt {
                Ok(parsed) => return Some(parsed),
                Err(err) => err,
            };
            let span = err.span().unwrap_or_else(|| value.span());
            let span_ref = value.span();
            let DeValue::Table(table) = value.get_mut() else {
                let message = err.message().to_owned();
                self.push(
                    span_ref,
                    name,
                    message,
                    format!("`{name}` must be a table: write it as [{name}]"),
                );
                return None;
            };
            let culprit = table
                .iter()
                .find(|(k, v)| contains(&k.span(), span.start) || contains(&v.span(), span.start))
                .map(|(k, _)| k.get_ref().to_string());
            let Some(culprit) = culprit else {
                self.push(
                    span,
                    name,
                    err.message().to_owned(),
                    "see docs/configuration.md".to_owned(),
                );
                return None;
            };
            let key = format!("{name}.{culprit}");
            let (message, fix, meant) = explain(err.message(), &culprit, name);
            if let Some(meant) = meant {
                // The key the user meant is there, misspelt: not also "missing".
                self.locations.mark_broken(&format!("{name}.{meant}"));
            }
            self.push(span, &key, message, fix);
            table.remove(culprit.as_str());
        }
        None
    }
}

fn contains(range: &Range<usize>, offset: usize) -> bool {
    range.start <= offset && offset < range.end.max(range.start + 1)
}

/// A serde message, what to do about it, and for a misspelt key the field it resembles.
/// `table` is `daemon`, `site`, `plugins[2]`, ...
fn explain(message: &str, key: &str, table: &str) -> (String, String, Option<&'static str>) {
    let message = message.trim_end().to_owned();
    let section = table.split('[').next().unwrap_or(table);
    if message.starts_with("unknown field") {
        let prefix = format!("{section}.");
        let ini_name = KEYS
            .iter()
            .filter(|k| k.toml.starts_with(&prefix))
            .find(|k| k.ini.1.eq_ignore_ascii_case(key));
        let field = |k: &'static crate::keys::Key| k.toml.rsplit('.').next().unwrap_or(k.toml);
        if let Some(k) = ini_name {
            let meant = field(k);
            return (
                format!("unknown key `{key}`"),
                format!("`{key}` is the INI name; in TOML write `{meant}`"),
                Some(meant),
            );
        }
        if let Some(meant) = crate::keys::suggest(key, crate::keys::toml_fields(section)) {
            return (
                format!("unknown key `{key}`"),
                format!("did you mean `{meant}`?"),
                Some(meant),
            );
        }
        return (
            message,
            "remove the key or fix its spelling (see docs/configuration.md)".to_owned(),
            None,
        );
    }
    let fix = if message.starts_with("unknown variant") {
        "write one of the listed values, in quotes".to_owned()
    } else if message.starts_with("invalid type") || message.starts_with("expected") {
        "use the type named above: numbers and true/false without quotes, text in quotes, lists in [ ]"
            .to_owned()
    } else {
        "see docs/configuration.md".to_owned()
    };
    (message, fix, None)
}
