//! `sgevents config convert|check`: turn an upstream INI file into TOML, or validate a file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sgevents_config::{ConfigFormat, Environment, Settings};

/// Subcommands of `sgevents config`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print the native TOML equivalent of an upstream shotgunEventDaemon.conf.
    Convert {
        /// The INI file to convert.
        file: PathBuf,
    },
    /// Validate a configuration file as `sgevents run` does, and explain every problem
    /// (exit 1 if there are any): the file, then the site URL, state database, log
    /// directory, plugin directories and interpreters.
    Check {
        /// The file to check; default: the file `sgevents run` would use.
        file: Option<PathBuf>,
        /// The interpreter `run` would use for folders that set none (as `run --python`).
        #[arg(long, env = "SGEVENTS_PYTHON")]
        python: Option<PathBuf>,
    },
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Convert { file } => convert(&file),
        Command::Check { file, python } => check(file, python),
    }
}

fn convert(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process();
    let raw = match sgevents_config::read_ini(file, &env) {
        Ok(raw) => raw,
        Err(sgevents_config::ConfigError::Invalid { problems }) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!("{} problem(s); nothing converted", problems.len());
            return Ok(ExitCode::FAILURE);
        }
        Err(err) => return Err(err.into()),
    };
    let body = sgevents_config::to_toml(&raw).context("writing the TOML")?;
    print!("{}", render_converted(file, &body));
    Ok(ExitCode::SUCCESS)
}

fn render_converted(file: &std::path::Path, body: &str) -> String {
    format!(
        "# sgevents configuration, converted from {} by `sgevents config convert`.\n\
         # Every key is described in docs/configuration.md.\n\n{body}",
        file.display()
    )
}

fn check(file: Option<PathBuf>, python: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = sgevents_config::find_config(file.as_deref())?;
    let python = crate::preflight::default_python(python);
    let problems = match sgevents_config::check(&path) {
        Ok(settings) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let problems = runtime.block_on(crate::preflight::check(&settings, &python));
            if problems.is_empty() {
                print!("{}", summary(&settings, &python));
                return Ok(ExitCode::SUCCESS);
            }
            problems
        }
        Err(problems) => problems,
    };
    for problem in &problems {
        println!("{problem}");
    }
    println!("{}: {} problem(s)", path.display(), problems.len());
    Ok(ExitCode::FAILURE)
}

/// The short report printed for a valid file. Never a secret, not even one inside a URL.
fn summary(settings: &Settings, python: &std::path::Path) -> String {
    let mut out = String::new();
    let format = match settings.format {
        ConfigFormat::Ini => "upstream INI",
        ConfigFormat::Toml => "TOML",
    };
    let _ = writeln!(out, "{}: OK ({format})", settings.source.display());
    let _ = writeln!(
        out,
        "  site: {} as {}",
        sgevents_config::redact_url(&settings.site.server),
        settings.site.script_name
    );
    for plugin in &settings.plugins {
        let python = plugin.python.as_deref().unwrap_or(python);
        let _ = writeln!(
            out,
            "  plugins: {} (python {})",
            plugin.path.display(),
            python.display()
        );
    }
    let log = &settings.daemon.log;
    let _ = writeln!(
        out,
        "  log: {} (mode {}, level {}{})",
        log.main_log().display(),
        match log.mode {
            sgevents_config::LogMode::Single => 0,
            sgevents_config::LogMode::PerPlugin => 1,
        },
        log.level,
        if log.timing { ", timing log on" } else { "" }
    );
    let _ = writeln!(out, "  state: {}", settings.daemon.state_db.display());
    let http = settings
        .daemon
        .http
        .map_or_else(|| "off".to_owned(), |addr| format!("http://{addr}/status"));
    let _ = writeln!(out, "  status endpoint: {http}");
    let emails = match &settings.emails {
        Some(emails) => format!("to {}", emails.to.join(", ")),
        None => "off".to_owned(),
    };
    let _ = writeln!(out, "  emails: {emails}");
    for warning in &settings.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out
}

#[cfg(test)]
mod tests;
