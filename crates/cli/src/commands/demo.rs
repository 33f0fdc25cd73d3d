//! `sgevents demo`.

use std::process::ExitCode;

/// Arguments of `sgevents demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents demo` is not built yet")
}
