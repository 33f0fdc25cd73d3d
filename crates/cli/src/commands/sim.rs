//! `sgevents sim`.

use std::process::ExitCode;

/// Arguments of `sgevents sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents sim` is not built yet")
}
