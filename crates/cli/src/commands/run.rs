//! `sgevents run`.

use std::process::ExitCode;

/// Arguments of `sgevents run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents run` is not built yet")
}
