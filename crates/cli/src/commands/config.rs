//! `sgevents config ...`.

use std::process::ExitCode;

/// Subcommands of `sgevents config`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {}
}
