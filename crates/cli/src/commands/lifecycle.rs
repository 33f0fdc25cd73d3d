//! `sgevents start|stop|restart|foreground`, upstream's daemon control verbs.

use std::process::ExitCode;

/// Arguments shared by the lifecycle verbs.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn start(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents start` is not built yet")
}

pub(crate) fn stop(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents stop` is not built yet")
}

pub(crate) fn restart(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents restart` is not built yet")
}

pub(crate) fn foreground(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sgevents foreground` is not built yet")
}
