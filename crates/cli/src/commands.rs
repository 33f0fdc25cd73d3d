//! One module per subcommand; each exposes its clap arguments and a `run` function.

pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod events;
pub(crate) mod lifecycle;
pub(crate) mod plugin;
pub(crate) mod replay;
pub(crate) mod run;
pub(crate) mod sim;
pub(crate) mod state;
pub(crate) mod status;
