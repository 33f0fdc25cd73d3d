//! `sgevents status`.

use std::process::ExitCode;

/// Arguments of `sgevents status`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents status` is not built yet")
}
