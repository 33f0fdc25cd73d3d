//! Reads an upstream INI file into the raw config, with INI lines and key names for messages.

use std::path::Path;

use serde::Deserialize;
use serde::de::IntoDeserializer;
use toml::{Table, Value};

use crate::error::{ConfigProblem, Locations};
use crate::ini::{Environment, IniFile, InterpolationError};
use crate::keys::{KEYS, Key, Kind};
use crate::raw::RawConfig;
use crate::{DispatchMode, LogFormat, ProcessMode};

/// The outcome of reading an INI file: what could be read, and every problem on the way.
pub(crate) struct IniRead {
    pub(crate) raw: RawConfig,
    pub(crate) locations: Locations,
    pub(crate) problems: Vec<ConfigProblem>,
    pub(crate) warnings: Vec<String>,
    /// Some line is not INI at all: validation is skipped, so one bad line is one error.
    pub(crate) syntax_errors: bool,
}

/// Reads INI `text` (from `source`) into a [`RawConfig`].
pub(crate) fn read(text: &str, source: &Path, env: &Environment) -> IniRead {
    let mut out = IniRead {
        raw: RawConfig::default(),
        locations: Locations::default(),
        problems: Vec::new(),
        warnings: Vec::new(),
        syntax_errors: false,
    };
    let (file, errors) = crate::ini::parse_lenient(text);
    out.syntax_errors = !errors.is_empty();
    out.problems = errors
        .into_iter()
        .map(|error| ConfigProblem {
            file: source.to_owned(),
            line: Some(error.line()),
            key: None,
            message: "this line is not valid INI".to_owned(),
            fix: error.to_string(),
        })
        .collect();
    let mut reader = Reader {
        file: &file,
        env,
        source,
        out: &mut out,
    };
    reader.warn_unknown();
    let mut root = Table::new();
    let mut plugin_shared = Table::new();
    let mut plugin_paths: Option<(Vec<Value>, usize)> = None;
    for key in KEYS {
        let Some((toml_path, value, line)) = reader.read_key(key) else {
            continue;
        };
        let (section, field) = toml_path.split_once('.').unwrap_or(("", &toml_path));
        if section == "plugins" {
            if field == "path" {
                if let Value::Array(paths) = value {
                    plugin_paths = Some((paths, line));
                }
            } else {
                plugin_shared.insert(field.to_owned(), value);
            }
            continue;
        }
        let table = root
            .entry(section.to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(table) = table {
            table.insert(field.to_owned(), value);
        }
    }
    if let Some((paths, line)) = plugin_paths {
        let mut tables = Vec::new();
        for (index, path) in paths.into_iter().enumerate() {
            let mut table = plugin_shared.clone();
            table.insert("path".to_owned(), path);
            out_plugin_locations(reader.out, &file, index, line);
            tables.push(Value::Table(table));
        }
        root.insert("plugins".to_owned(), Value::Array(tables));
    }
    match RawConfig::deserialize(Value::Table(root)) {
        Ok(raw) => out.raw = raw,
        // Every value was type-checked above, so this would be our bug, not the user's.
        Err(err) => out.problems.push(ConfigProblem {
            file: source.to_owned(),
            line: None,
            key: None,
            message: format!("internal error converting the INI file: {err}"),
            fix: "please report this as a bug in sgevents".to_owned(),
        }),
    }
    out
}

fn out_plugin_locations(out: &mut IniRead, file: &IniFile, index: usize, paths_line: usize) {
    out.locations.insert(
        format!("plugins[{index}].path"),
        paths_line,
        "plugins.paths",
    );
    for key in KEYS
        .iter()
        .filter(|k| k.ini.0 == "plugins" && k.ini.1 != "paths")
    {
        if let Some(option) = file.raw("plugins", key.ini.1) {
            let field = key.toml.trim_start_matches("plugins.");
            out.locations.insert(
                format!("plugins[{index}].{field}"),
                option.line,
                format!("plugins.{}", option.written_key),
            );
        }
    }
}

struct Reader<'a> {
    file: &'a IniFile,
    env: &'a Environment,
    source: &'a Path,
    out: &'a mut IniRead,
}

impl Reader<'_> {
    fn problem(&mut self, line: usize, key: String, message: String, fix: String) {
        self.out.problems.push(ConfigProblem {
            file: self.source.to_owned(),
            line: Some(line),
            key: Some(key),
            message,
            fix,
        });
    }

    /// Upstream ignores options it does not know; we keep going but say so. A near miss of a
    /// known name (`fetch_intervl`, `[shotgn]`) is an error instead, with the name it resembles:
    /// otherwise the setting the user meant would silently not apply. The setting it resembles
    /// is then not also reported as missing.
    fn warn_unknown(&mut self) {
        const SECTIONS: [&str; 5] = ["daemon", "shotgun", "plugins", "emails", "cluster"];
        for section in &self.file.sections {
            let known: Vec<&str> = crate::keys::ini_names(&section.name).collect();
            if known.is_empty() {
                if let Some(meant) = crate::keys::suggest(&section.name, SECTIONS) {
                    self.problem(
                        section.line,
                        format!("[{}]", section.name),
                        format!("unknown section [{}]", section.name),
                        format!("did you mean [{meant}]?"),
                    );
                    for key in KEYS.iter().filter(|k| k.ini.0 == meant) {
                        self.out.locations.mark_broken(key.toml);
                    }
                    continue;
                }
                self.out.warnings.push(format!(
                    "{}:{}: section [{}] is not used by sgevents and is ignored",
                    self.source.display(),
                    section.line,
                    section.name
                ));
                continue;
            }
            for option in &section.options {
                if known.iter().any(|k| k.eq_ignore_ascii_case(&option.key)) {
                    continue;
                }
                let meant = crate::keys::suggest(&option.key, known.iter().copied())
                    .filter(|meant| section.option(meant).is_none());
                if let Some(meant) = meant {
                    self.problem(
                        option.line,
                        format!("{}.{}", section.name, option.written_key),
                        format!("unknown option `{}`", option.written_key),
                        format!("did you mean `{meant}`?"),
                    );
                    if let Some(key) = KEYS
                        .iter()
                        .find(|k| k.ini == (section.name.as_str(), meant))
                    {
                        self.out.locations.mark_broken(key.toml);
                    }
                    continue;
                }
                self.out.warnings.push(format!(
                    "{}:{}: option `{}` in [{}] is not a setting sgevents knows and is ignored (see docs/configuration.md)",
                    self.source.display(),
                    option.line,
                    option.written_key,
                    section.name
                ));
            }
        }
    }

    /// Reads one key into a typed TOML value; `None` when unset or unreadable (a problem is
    /// recorded for the latter).
    fn read_key(&mut self, key: &Key) -> Option<(String, Value, usize)> {
        let (section, name) = key.ini;
        let option = self.file.raw(section, name)?;
        let line = option.line;
        let shown = format!("{section}.{}", option.written_key);
        self.out.locations.insert(key.toml, line, shown.clone());
        if key.kind == Kind::Secret
            && let Some(reference) = env_reference(self.file, section, &option.value)
        {
            // `key: %(SG_ED_API_KEY)s` becomes `script_key_env`, so converting the file never
            // writes the secret out and errors name the variable, not the value.
            let env_path = format!("{}_env", key.toml);
            self.out.locations.insert(env_path.clone(), line, shown);
            return Some((env_path, Value::String(reference.to_owned()), line));
        }
        let value = match self.file.get(section, name, self.env) {
            Ok(Some((value, _))) => value,
            Ok(None) => return None,
            Err(err) => {
                let message = match (&err, key.kind) {
                    (InterpolationError::Syntax { .. }, Kind::Secret) => {
                        "a `%` must be written `%%` or start a `%(name)s` reference".to_owned()
                    }
                    _ => err.to_string(),
                };
                self.out.locations.mark_broken(key.toml);
                self.problem(
                    line,
                    shown,
                    "the value cannot be interpolated".to_owned(),
                    message,
                );
                return None;
            }
        };
        match convert(&value, key.kind, key.toml) {
            Ok(Some(converted)) => Some((key.toml.to_owned(), converted, line)),
            Ok(None) => None,
            Err((message, fix)) => {
                self.out.locations.mark_broken(key.toml);
                self.problem(line, shown, message, fix);
                None
            }
        }
    }
}

/// `%(NAME)s` as the whole value, where NAME is not an option of the file: an environment
/// variable reference.
fn env_reference<'a>(file: &IniFile, section: &str, value: &'a str) -> Option<&'a str> {
    let name = value.strip_prefix("%(")?.strip_suffix(")s")?;
    let plain = !name.is_empty() && !name.contains([')', '%']);
    (plain && file.raw(section, name).is_none()).then_some(name)
}

type Bad = (String, String);

fn convert(value: &str, kind: Kind, toml_path: &str) -> Result<Option<Value>, Bad> {
    Ok(Some(match kind {
        Kind::Str => Value::String(value.to_owned()),
        Kind::Secret => Value::String(value.to_owned()),
        Kind::Int => Value::Integer(int(value)?),
        Kind::Bool => Value::Boolean(boolean(value)?),
        Kind::OnOff => Value::Boolean(value == "on"),
        Kind::StrList => Value::Array(
            value
                .split(',')
                .map(str::trim)
                // Upstream rejects an empty plugin path; keep it so validation can say so.
                .filter(|item| toml_path == "plugins.path" || !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ),
        Kind::IntList => Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| int(item).map(Value::Integer))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Word => {
            word(value, toml_path)?;
            Value::String(value.trim().to_owned())
        }
    }))
}

/// Python `int()`: optional sign, digits, `_` between digits, surrounding spaces.
fn int(value: &str) -> Result<i64, Bad> {
    let trimmed = value.trim();
    let cleaned = trimmed.replace('_', "");
    let ok_underscores =
        !trimmed.starts_with('_') && !trimmed.ends_with('_') && !trimmed.contains("__");
    cleaned
        .parse::<i64>()
        .ok()
        .filter(|_| ok_underscores)
        .ok_or_else(|| {
            (
                format!("`{trimmed}` is not a whole number"),
                "write a whole number such as 5".to_owned(),
            )
        })
}

/// Python `getboolean`.
fn boolean(value: &str) -> Result<bool, Bad> {
    match value.trim().to_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        other => Err((
            format!("`{other}` is not a boolean"),
            "write True or False (also accepted: yes/no, on/off, 1/0)".to_owned(),
        )),
    }
}

fn word(value: &str, toml_path: &str) -> Result<(), Bad> {
    fn check<'de, T: Deserialize<'de>>(value: &'de str, choices: &str) -> Result<(), Bad> {
        let de: serde::de::value::StrDeserializer<'de, serde::de::value::Error> =
            value.into_deserializer();
        T::deserialize(de).map(|_| ()).map_err(|_| {
            (
                format!("`{value}` is not one of the allowed values"),
                format!("write one of: {choices}"),
            )
        })
    }
    let value = value.trim();
    match toml_path {
        "daemon.dispatch" => check::<DispatchMode>(value, "concurrent, sequential"),
        "daemon.log_format" => check::<LogFormat>(value, "text, json"),
        "plugins.process" => check::<ProcessMode>(value, "per_plugin, per_path"),
        _ => Ok(()),
    }
}
