//! The `sgevents` binary: parses the command line and hands off to one command module.

mod commands;
mod notify;
mod preflight;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The daemon allocates for every event it reads and ships (a row parsed, a message built);
// mimalloc serves those with about a third of the instructions of the C library's malloc
// (measured with callgrind: BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// sgevents: a drop-in replacement for the shotgunEvents daemon.
#[derive(Debug, Parser)]
#[command(name = "sgevents", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon in the foreground (for systemd and containers).
    Run(commands::run::Args),
    /// Run the local site emulator with live activity and the example plugins.
    Demo(commands::demo::Args),
    /// Run a local Flow Production Tracking site emulator.
    Sim(commands::sim::Args),
    /// Convert or check a configuration file.
    #[command(subcommand)]
    Config(commands::config::Command),
    /// Show or change the persisted plugin cursors.
    #[command(subcommand)]
    State(commands::state::Command),
    /// Show each plugin's state: from the running daemon, or from the state store.
    Status(commands::status::Args),
    /// Print the site's events in an id range, as plugins receive them.
    Events(commands::events::Args),
    /// Run one plugin over a range of events in a fresh process; its cursor stays.
    Replay(commands::replay::Args),
    /// Resume, skip, pause or unpause a plugin (running daemon, else the state store).
    #[command(subcommand)]
    Plugin(commands::plugin::Command),
    /// Upstream-compatible daemon control: start in the background.
    Start(commands::lifecycle::Args),
    /// Upstream-compatible daemon control: stop the background daemon.
    Stop(commands::lifecycle::Args),
    /// Upstream-compatible daemon control: stop, then start.
    Restart(commands::lifecycle::Args),
    /// Upstream-compatible daemon control: run in the foreground.
    Foreground(commands::lifecycle::Args),
}

fn main() -> ExitCode {
    // One TLS crypto provider for every crate (see rust-deps.md): install it before anything
    // builds a TLS config. An error only means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Config(command) => commands::config::run(command),
        Command::State(command) => commands::state::run(command),
        Command::Status(args) => commands::status::run(args),
        Command::Events(args) => commands::events::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Plugin(command) => commands::plugin::run(command),
        Command::Start(args) => commands::lifecycle::start(args),
        Command::Stop(args) => commands::lifecycle::stop(args),
        Command::Restart(args) => commands::lifecycle::restart(args),
        Command::Foreground(args) => commands::lifecycle::foreground(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sgevents: error: {}", error_text(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message already holds
/// (an I/O error quoted by its context) is not repeated.
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::from_raw_os_error(2);
        let err = anyhow::Error::new(io).context(format!(
            "cannot create log directory /x: {}; create it",
            std::io::Error::from_raw_os_error(2)
        ));
        let text = error_text(&err);
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
        let err = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&err), "outer: inner");
    }
}
