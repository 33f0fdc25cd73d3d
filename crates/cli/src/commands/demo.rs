//! `sgevents demo`: the local site emulator with live studio activity, and the daemon running
//! the example plugins against it, so a newcomer watches events flow.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use sgevents_sim::SimConfig;

use super::run::{RunOptions, init_logs, runtime, serve};

const ENGINE: (&str, &str) = ("sgevents", "demo-engine-key");
const EXAMPLES: (&str, &str) = ("sgevents_examples", "demo-examples-key");

/// Arguments of `sgevents demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the site emulator listens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Where the status page, /metrics and the health checks are served.
    #[arg(long, default_value = "127.0.0.1:9090")]
    http: SocketAddr,
    /// Studio activity, in events per second.
    #[arg(long, default_value_t = 2.0)]
    activity: f64,
    /// The plugin folder to run (default: the repository's examples/plugins).
    #[arg(long)]
    plugins: Option<PathBuf>,
    /// The Python interpreter with shotgun_api3 (default: the repository's .venv, else python3).
    #[arg(long, env = "SGEVENTS_PYTHON")]
    python: Option<PathBuf>,
    /// Where the demo keeps its config, state and logs (default: a fresh temporary folder).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plugins = match args.plugins {
        Some(dir) => dir,
        None => find_up("examples/plugins").context(
            "no examples/plugins folder here or above: run the demo from the repository, or pass --plugins DIR",
        )?,
    };
    let python = args
        .python
        .or_else(|| find_up(".venv/bin/python"))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let temp;
    let data = match args.data {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("creating a temporary folder for the demo")?;
            temp.path().to_owned()
        }
    };
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let runtime = runtime()?;
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            listen: args.listen,
            scripts: vec![
                (ENGINE.0.to_owned(), ENGINE.1.to_owned()),
                (EXAMPLES.0.to_owned(), EXAMPLES.1.to_owned()),
            ],
            activity: Some(args.activity),
            ..SimConfig::default()
        }))
        .with_context(|| {
            format!(
                "starting the site emulator on {} (choose another address with --listen)",
                args.listen
            )
        })?;
    let config = data.join("sgevents.toml");
    std::fs::write(&config, demo_config(&sim.url(), &data, &plugins, args.http))
        .with_context(|| format!("writing {}", config.display()))?;
    let settings = sgevents_config::load(&config)?;
    let _enter = runtime.enter();
    let (_log_guard, alerts) = init_logs(&settings)?;
    tracing::info!(
        logger = "engine",
        "Demo site at {}, config {}, plugins {}",
        sim.url(),
        config.display(),
        plugins.display()
    );
    let options = RunOptions {
        start_at: None,
        python,
        extra_env: vec![
            ("SGEVENTS_EXAMPLE_SCRIPT".to_owned(), EXAMPLES.0.to_owned()),
            ("SGEVENTS_EXAMPLE_KEY".to_owned(), EXAMPLES.1.to_owned()),
        ],
        pid_file: None,
        http_from_flag: true,
    };
    runtime.block_on(async {
        let result = serve(&settings, &options, &alerts).await;
        sim.shutdown().await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

fn demo_config(site: &str, data: &Path, plugins: &Path, http: SocketAddr) -> String {
    let quote = |path: &Path| toml_string(&path.display().to_string());
    format!(
        "# Written by `sgevents demo`.\n\
         [daemon]\n\
         state_db = {state}\n\
         log_path = {logs}\n\
         log_file = \"sgevents.log\"\n\
         log_level = 20\n\
         fetch_interval_secs = 1\n\
         http = \"{http}\"\n\n\
         [site]\n\
         server = {site}\n\
         script_name = \"{engine}\"\n\
         script_key = \"{engine_key}\"\n\n\
         [[plugins]]\n\
         path = {plugins}\n",
        state = quote(&data.join("state.sqlite3")),
        logs = quote(&data.join("logs")),
        site = toml_string(site),
        engine = ENGINE.0,
        engine_key = ENGINE.1,
        plugins = quote(plugins),
    )
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `relative` in the current folder or the nearest parent that has it.
fn find_up(relative: &str) -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join(relative);
        if candidate.exists() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}
