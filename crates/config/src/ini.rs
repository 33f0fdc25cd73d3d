//! Reader for upstream's INI files: Python `ConfigParser` syntax and `%(name)s` interpolation, without the env leak.
//!
//! The syntax follows CPython's `RawConfigParser` with its defaults: `=` or `:` separators
//! (the first one on the line wins), full-line `#`/`;` comments, no inline comments, indented
//! continuation lines, case-insensitive option names, case-sensitive section names and a
//! `[DEFAULT]` section whose options every section inherits.
//!
//! Interpolation follows `BasicInterpolation`: a `%(name)s` reference is looked up in the
//! same section, then `[DEFAULT]`, then — our only source for the environment — the process
//! environment. Unlike upstream (`ConfigParser(defaults=os.environ)`), an environment variable
//! never becomes an option by itself: [`IniFile::get`] only returns options written in the file.

mod interpolate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use interpolate::InterpolationError;

/// The environment variables interpolation may read, passed explicitly so tests control it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Secrets that cannot be resolved become empty instead of problems (see
    /// [`Environment::without_secrets`]).
    secrets_optional: bool,
}

impl Environment {
    /// A snapshot of this process's environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os().filter_map(|(key, value)| {
                Some((key.into_string().ok()?, value.into_string().ok()?))
            }),
        )
    }

    /// An environment holding exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
            secrets_optional: false,
        }
    }

    /// This environment, for commands that read the settings but never connect to the site
    /// (`status`, `state`): a secret whose variable or file is missing is left empty rather
    /// than reported, so an operator's shell without the daemon's keys can still use them.
    pub fn without_secrets(mut self) -> Self {
        self.secrets_optional = true;
        self
    }

    /// Whether [`Environment::without_secrets`] applies.
    pub fn secrets_optional(&self) -> bool {
        self.secrets_optional
    }

    /// The variable `name`, matched exactly.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The variable `name` matched case-insensitively, as Python's lowercased
    /// `os.environ` defaults see it; an exact-case match wins.
    pub fn var_ignore_case(&self, name: &str) -> Option<&str> {
        self.var(name).or_else(|| {
            self.vars
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        })
    }
}

/// One `name = value` option as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniOption {
    /// The option name, lowercased (Python's `optionxform`).
    pub key: String,
    /// The option name as written, for messages.
    pub written_key: String,
    /// The raw value: stripped, continuation lines joined with `\n`.
    pub value: String,
    /// 1-based line of the option name.
    pub line: usize,
}

/// One `[section]` and its options, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniSection {
    /// The section name, case kept.
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    /// The options in file order.
    pub options: Vec<IniOption>,
}

impl IniSection {
    /// The option `key` (case-insensitive) written in this section.
    pub fn option(&self, key: &str) -> Option<&IniOption> {
        let key = key.to_lowercase();
        self.options.iter().find(|option| option.key == key)
    }
}

/// A parsed INI file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniFile {
    /// The `[DEFAULT]` options.
    pub defaults: Vec<IniOption>,
    /// Every other section in file order.
    pub sections: Vec<IniSection>,
}

/// A line the INI reader could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniSyntaxError {
    /// An option appears before any `[section]` header.
    #[error("option before any [section] header; add a section header such as [daemon] above it")]
    MissingSectionHeader {
        /// 1-based line.
        line: usize,
    },
    /// A line that is neither a header, an option, a comment nor a continuation.
    #[error(
        "line is not `name: value`, `name = value`, a [section] header or a comment; fix or comment it out with #"
    )]
    NotAnOption {
        /// 1-based line.
        line: usize,
    },
    /// The same section header appears twice.
    #[error("section [{name}] is already defined on line {first_line}; merge the two sections")]
    DuplicateSection {
        /// 1-based line of the second header.
        line: usize,
        /// The section name.
        name: String,
        /// Line of the first header.
        first_line: usize,
    },
    /// The same option appears twice in one section.
    #[error(
        "option `{key}` is already set in [{section}] on line {first_line}; keep only one of them"
    )]
    DuplicateOption {
        /// 1-based line of the second occurrence.
        line: usize,
        /// The section name.
        section: String,
        /// The option name as written.
        key: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
}

impl IniSyntaxError {
    /// The 1-based line the problem is on.
    pub fn line(&self) -> usize {
        match self {
            Self::MissingSectionHeader { line }
            | Self::NotAnOption { line }
            | Self::DuplicateSection { line, .. }
            | Self::DuplicateOption { line, .. } => *line,
        }
    }
}

const DEFAULT_SECTION: &str = "DEFAULT";

/// Where the current option's continuation lines go.
struct Cursor {
    /// Index into `sections`, or `None` for `[DEFAULT]`; unset before the first header.
    section: Option<Option<usize>>,
    /// Index of the option being continued within the current section.
    option: Option<usize>,
    indent_level: usize,
}

/// Parses INI text, collecting every syntax problem rather than stopping at the first.
///
/// # Errors
/// Returns all [`IniSyntaxError`]s found, in line order.
pub fn parse(text: &str) -> Result<IniFile, Vec<IniSyntaxError>> {
    let (file, errors) = parse_lenient(text);
    if errors.is_empty() {
        Ok(file)
    } else {
        Err(errors)
    }
}

/// Parses INI text, skipping the lines it cannot accept: the file as far as it could be
/// read, and every syntax problem in line order. A bad line costs only itself.
pub fn parse_lenient(text: &str) -> (IniFile, Vec<IniSyntaxError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = IniFile::default();
    let mut errors = Vec::new();
    let mut cursor = Cursor {
        section: None,
        option: None,
        indent_level: 0,
    };
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let stripped = line.trim();
        if stripped.starts_with('#') || stripped.starts_with(';') {
            continue;
        }
        if stripped.is_empty() {
            // Python keeps empty lines inside multi-line values; trailing ones are trimmed later.
            if let Some(option) = current_option(&mut file, &cursor) {
                option.value.push('\n');
            }
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if cursor.option.is_some() && cursor.section.is_some() && indent > cursor.indent_level {
            if let Some(option) = current_option(&mut file, &cursor) {
                option.value.push('\n');
                option.value.push_str(stripped);
            }
            continue;
        }
        cursor.indent_level = indent;
        if let Some(name) = section_header(stripped) {
            cursor.option = None;
            if name == DEFAULT_SECTION {
                cursor.section = Some(None);
            } else if let Some(first) = file.sections.iter().find(|s| s.name == name) {
                errors.push(IniSyntaxError::DuplicateSection {
                    line: line_no,
                    name: name.to_owned(),
                    first_line: first.line,
                });
                // Keep reading into the first section so later lines are still checked.
                let position = file.sections.iter().position(|s| s.name == name);
                cursor.section = Some(position);
            } else {
                file.sections.push(IniSection {
                    name: name.to_owned(),
                    line: line_no,
                    options: Vec::new(),
                });
                cursor.section = Some(Some(file.sections.len() - 1));
            }
            continue;
        }
        let Some(section) = cursor.section else {
            errors.push(IniSyntaxError::MissingSectionHeader { line: line_no });
            continue;
        };
        let Some((written_key, value)) = split_option(stripped) else {
            errors.push(IniSyntaxError::NotAnOption { line: line_no });
            cursor.option = None;
            continue;
        };
        let key = written_key.to_lowercase();
        let (options, section_name) = match section {
            None => (&mut file.defaults, DEFAULT_SECTION),
            Some(i) => {
                let s = &mut file.sections[i];
                (&mut s.options, s.name.as_str())
            }
        };
        if let Some(first) = options.iter().find(|o| o.key == key) {
            errors.push(IniSyntaxError::DuplicateOption {
                line: line_no,
                section: section_name.to_owned(),
                key: written_key.to_owned(),
                first_line: first.line,
            });
            cursor.option = None;
            continue;
        }
        options.push(IniOption {
            key,
            written_key: written_key.to_owned(),
            value: value.to_owned(),
            line: line_no,
        });
        cursor.option = Some(options.len() - 1);
    }
    for option in file
        .defaults
        .iter_mut()
        .chain(file.sections.iter_mut().flat_map(|s| s.options.iter_mut()))
    {
        let trimmed_len = option.value.trim_end().len();
        option.value.truncate(trimmed_len);
    }
    (file, errors)
}

fn current_option<'a>(file: &'a mut IniFile, cursor: &Cursor) -> Option<&'a mut IniOption> {
    let index = cursor.option?;
    match cursor.section? {
        None => file.defaults.get_mut(index),
        Some(section) => file.sections.get_mut(section)?.options.get_mut(index),
    }
}

/// `[name]` at the start of a stripped line; like Python, the name runs to the last `]`.
fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    let name = &rest[..end];
    (!name.is_empty()).then_some(name)
}

/// Splits `name <sep> value` at the first `=` or `:`; the name must not be empty.
fn split_option(stripped: &str) -> Option<(&str, &str)> {
    let at = stripped.find(['=', ':'])?;
    let key = stripped[..at].trim_end();
    if key.is_empty() {
        return None;
    }
    Some((key, stripped[at + 1..].trim()))
}

impl IniFile {
    /// The section named exactly `name` (section names are case-sensitive).
    pub fn section(&self, name: &str) -> Option<&IniSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The raw option `key` of `section`, falling back to `[DEFAULT]`; never the environment.
    pub fn raw(&self, section: &str, key: &str) -> Option<&IniOption> {
        let key = key.to_lowercase();
        self.section(section)
            .and_then(|s| s.options.iter().find(|o| o.key == key))
            .or_else(|| self.defaults.iter().find(|o| o.key == key))
    }

    /// The interpolated value of `key` in `section` (see the module docs), with the option it
    /// came from; `Ok(None)` when neither the section nor `[DEFAULT]` sets it.
    ///
    /// # Errors
    /// [`InterpolationError`] when a `%` sequence is malformed, a reference names nothing, or
    /// references nest deeper than 10 levels.
    pub fn get(
        &self,
        section: &str,
        key: &str,
        env: &Environment,
    ) -> Result<Option<(String, &IniOption)>, InterpolationError> {
        let Some(option) = self.raw(section, key) else {
            return Ok(None);
        };
        let value = interpolate::interpolate(self, section, &option.value, env)?;
        Ok(Some((value, option)))
    }
}
