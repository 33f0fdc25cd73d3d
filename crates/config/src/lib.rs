//! Daemon configuration: upstream's INI file and our native TOML, validated into [`Settings`].
//!
//! Reading is two-stage: either format is read into raw structs ([`raw::RawConfig`], the TOML
//! shape), then validated once into [`Settings`] (durations, paths, enums, resolved secrets),
//! which the daemon receives explicitly. Every problem found names the file, the line where
//! known, the key and what to do; [`check`] returns all of them, not just the first.

mod error;
mod find;
mod from_ini;
pub mod ini;
mod keys;
pub mod raw;
mod secret;
mod settings;
mod toml_format;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigProblem};
pub use find::{CONFIG_NAMES, find_config, find_config_in};
pub use ini::Environment;
pub use secret::Secret;
pub use settings::{
    ClusterConfig, ConfigFormat, DaemonSettings, DispatchMode, EmailSettings, LogFormat, LogMode,
    LogSettings, PluginFilters, PluginPathSettings, ProcessMode, Settings, SiteSettings,
};
pub use validate::{CONTROL_SOCKET_NAME, DEFAULT_STREAM_MAX_AGE_DAYS, STATE_DB_NAME};

/// Reads and validates the configuration at `path`, choosing INI or TOML by content and name
/// (see [`detect_format`]), with the process environment for `%(NAME)s` and `*_env` secrets.
///
/// # Errors
/// [`ConfigError::Read`] when the file cannot be read; [`ConfigError::Invalid`] listing every
/// problem otherwise.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    load_with_env(path, &Environment::from_process())
}

/// [`load`] for commands that only read settings and never connect to the site (`status`,
/// `state`): secrets that cannot be resolved are left empty (see
/// [`Environment::without_secrets`]).
///
/// # Errors
/// As [`load`].
pub fn load_without_secrets(path: &Path) -> Result<Settings, ConfigError> {
    load_with_env(path, &Environment::from_process().without_secrets())
}

/// [`load`] with an explicit environment.
///
/// # Errors
/// As [`load`].
pub fn load_with_env(path: &Path, env: &Environment) -> Result<Settings, ConfigError> {
    let text = read(path)?;
    parse_with_env(&text, path, env).map_err(|problems| ConfigError::Invalid { problems })
}

/// Validates the file and returns every problem (a read failure is one problem).
///
/// # Errors
/// All [`ConfigProblem`]s found.
pub fn check(path: &Path) -> Result<Settings, Vec<ConfigProblem>> {
    check_with_env(path, &Environment::from_process())
}

/// [`check`] with an explicit environment.
///
/// # Errors
/// All [`ConfigProblem`]s found.
pub fn check_with_env(path: &Path, env: &Environment) -> Result<Settings, Vec<ConfigProblem>> {
    match load_with_env(path, env) {
        Ok(settings) => Ok(settings),
        Err(ConfigError::Invalid { problems }) => Err(problems),
        Err(err) => {
            // The problem's prefix names the file: the message does not again.
            let (message, fix) = match err {
                ConfigError::Read { error, .. } => (
                    format!("cannot be read: {error}"),
                    "check the path and its permissions".to_owned(),
                ),
                ConfigError::NotAFile { kind, .. } => (
                    format!("is {kind}, not a regular file"),
                    "point --config at the file itself".to_owned(),
                ),
                ConfigError::TooLarge { size, limit, .. } => (
                    format!(
                        "is {size} bytes, larger than the {limit} bytes a configuration may have"
                    ),
                    "check that --config names the right file".to_owned(),
                ),
                other => (other.to_string(), "see docs/configuration.md".to_owned()),
            };
            Err(vec![ConfigProblem {
                file: path.to_owned(),
                line: None,
                key: None,
                message,
                fix,
            }])
        }
    }
}

/// Parses and validates configuration `text` as if read from `source`.
///
/// # Errors
/// Every [`ConfigProblem`] found.
pub fn parse_with_env(
    text: &str,
    source: &Path,
    env: &Environment,
) -> Result<Settings, Vec<ConfigProblem>> {
    let format = detect_format(text, source);
    let (raw, locations, mut problems, warnings, syntax_errors) =
        read_raw(text, source, format, env);
    if syntax_errors {
        // What was read around a bad line is not what the user wrote: no cascade.
        return Err(problems);
    }
    let ctx = validate::Context {
        source,
        format,
        locations: &locations,
        env,
    };
    match validate::validate(&raw, &ctx, warnings) {
        Ok(settings) if problems.is_empty() => Ok(settings),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            if problems.is_empty() {
                problems.push(ConfigProblem {
                    file: source.to_owned(),
                    line: None,
                    key: None,
                    message: "the configuration is incomplete".to_owned(),
                    fix: "please report this as a bug in sgevents".to_owned(),
                });
            }
            problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            Err(problems)
        }
    }
}

/// Reads an upstream INI file into the raw (TOML-shaped) configuration, for conversion.
///
/// # Errors
/// [`ConfigError::Read`], or [`ConfigError::Invalid`] for syntax, interpolation and value errors.
pub fn read_ini(path: &Path, env: &Environment) -> Result<raw::RawConfig, ConfigError> {
    let text = read(path)?;
    let read = from_ini::read(&text, path, env);
    if read.problems.is_empty() {
        Ok(read.raw)
    } else {
        Err(ConfigError::Invalid {
            problems: read.problems,
        })
    }
}

/// The TOML text of a raw configuration (what `sgevents config convert` prints).
///
/// # Errors
/// [`toml::ser::Error`] if a value cannot be written (not expected for raw configs).
pub fn to_toml(raw: &raw::RawConfig) -> Result<String, toml::ser::Error> {
    toml::to_string(raw)
}

/// Decides the format: a `[shotgun]` header means INI, `[site]`/`[[plugins]]` mean TOML;
/// otherwise `.toml` files are TOML and everything else is INI (upstream's `.conf`).
pub fn detect_format(text: &str, source: &Path) -> ConfigFormat {
    for line in text.lines().map(str::trim) {
        match line {
            "[shotgun]" => return ConfigFormat::Ini,
            "[site]" | "[[plugins]]" => return ConfigFormat::Toml,
            _ => {}
        }
    }
    match source.extension().and_then(|e| e.to_str()) {
        Some("toml") => ConfigFormat::Toml,
        _ => ConfigFormat::Ini,
    }
}

/// The largest configuration file read: far above any real one (upstream's example is 6 KB),
/// so a wrong `--config` (a log, a disk image) is refused instead of read into memory.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads the file at `path` after checking, without opening it, that it is a regular file
/// (opening a FIFO would block) of at most [`MAX_CONFIG_BYTES`].
fn read(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    use std::os::unix::fs::FileTypeExt as _;
    let read_error = |error| ConfigError::Read {
        path: path.to_owned(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(read_error)?;
    let kind = meta.file_type();
    let not_a_file = if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("a device")
    } else if !kind.is_file() {
        Some("not a file")
    } else {
        None
    };
    if let Some(kind) = not_a_file {
        return Err(ConfigError::NotAFile {
            path: path.to_owned(),
            kind,
        });
    }
    let too_large = |size| ConfigError::TooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_CONFIG_BYTES,
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large(meta.len()));
    }
    // The file may have been swapped or grown since: read at most one byte past the limit.
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text",
        ))
    })
}

type RawRead = (
    raw::RawConfig,
    error::Locations,
    Vec<ConfigProblem>,
    Vec<String>,
    bool,
);

fn read_raw(text: &str, source: &Path, format: ConfigFormat, env: &Environment) -> RawRead {
    match format {
        ConfigFormat::Ini => {
            let read = from_ini::read(text, source, env);
            let syntax = read.syntax_errors;
            (
                read.raw,
                read.locations,
                read.problems,
                read.warnings,
                syntax,
            )
        }
        ConfigFormat::Toml => {
            let read = toml_format::read(text, source);
            let syntax = read.syntax_errors;
            (read.raw, read.locations, read.problems, Vec::new(), syntax)
        }
    }
}

/// `text` with the user and password of a URL (`https://user:pass@host/...`) replaced by
/// `***`, for messages: credentials are never printed, not even inside a URL.
pub fn redact_url(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let rest = &text[scheme_end..];
    let host_end = rest.find(['/', ' ', '`', '\'', '"']).unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &text[..scheme_end], redact_url(&rest[at + 1..])),
        None => format!(
            "{}{}",
            &text[..scheme_end + host_end],
            redact_url(&rest[host_end..])
        ),
    }
}

/// A path the daemon's state store defaults to, given upstream's `eventIdFile`.
pub fn default_state_db(event_id_file: &Path) -> PathBuf {
    event_id_file
        .parent()
        .unwrap_or(Path::new(""))
        .join(STATE_DB_NAME)
}
