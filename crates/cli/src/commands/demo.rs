//! `sgevents demo`: the local site emulator with live studio activity, and the daemon running
//! the example plugins against it, so a newcomer watches events flow.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use sgevents_sim::{GapProfile, SimConfig};

use super::run::{RunOptions, init_logs, runtime, serve};

const ENGINE: (&str, &str) = ("sgevents", "demo-engine-key");
const EXAMPLES: (&str, &str) = ("sgevents_examples", "demo-examples-key");
/// Misbehaving examples the demo also runs, so the status page and the operator commands have
/// something to show: one stops on an error, one hangs.
const FAULTY: &[&str] = &["raises_stop.py", "hangs.py"];
/// The page's action buttons work on the demo's loopback address with this token.
const CONTROL_TOKEN: &str = "demo";

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
    /// Where the demo keeps its config, state and logs (default: a new
    /// `sgevents-demo-DATE-TIME` folder in the temporary directory, kept after exit).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Commit every event at once (default: the sim's realistic gap profile, with late and
    /// missing ids as on a busy site).
    #[arg(long)]
    no_gaps: bool,
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
    let data = match args.data {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "sgevents-demo-{}",
            jiff::Zoned::now().strftime("%Y%m%d-%H%M%S")
        )),
    };
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let faulty = data.join("faulty-plugins");
    std::fs::create_dir_all(&faulty).with_context(|| format!("creating {}", faulty.display()))?;
    for name in FAULTY {
        let from = plugins.join("faulty").join(name);
        std::fs::copy(&from, faulty.join(name))
            .with_context(|| format!("copying {} into {}", from.display(), faulty.display()))?;
    }
    let runtime = runtime()?;
    let sim = runtime
        .block_on(sgevents_sim::spawn(SimConfig {
            listen: args.listen,
            scripts: vec![
                (ENGINE.0.to_owned(), ENGINE.1.to_owned()),
                (EXAMPLES.0.to_owned(), EXAMPLES.1.to_owned()),
            ],
            activity: Some(args.activity),
            gaps: if args.no_gaps {
                GapProfile::default()
            } else {
                GapProfile::realistic()
            },
            ..SimConfig::default()
        }))
        .with_context(|| {
            format!(
                "starting the site emulator on {} (choose another address with --listen)",
                args.listen
            )
        })?;
    let config = data.join("sgevents.toml");
    std::fs::write(
        &config,
        demo_config(&sim.url(), &data, &[&plugins, &faulty], args.http),
    )
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
    let sgevents = std::env::current_exe()
        .map_or_else(|_| "sgevents".to_owned(), |exe| exe.display().to_string());
    let from = sim.latest_event_id().unwrap_or(1);
    println!(
        "Demo data (config, state, logs) in {}; kept after exit.\n\
         Status page: http://{}/status (buttons use control_token \"{CONTROL_TOKEN}\").\n\
         Try on the faulty examples: {sgevents} replay --config {} raises_stop --from {from} --dry-run   and   {sgevents} plugin skip --config {} raises_stop",
        data.display(),
        args.http,
        config.display(),
        config.display(),
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
        checked_pythons: None,
        checked_client: None,
    };
    runtime.block_on(async {
        let result = serve(&settings, &options, &alerts).await;
        sim.shutdown().await;
        result
    })?;
    println!("Demo data kept in {}", data.display());
    Ok(ExitCode::SUCCESS)
}

fn demo_config(site: &str, data: &Path, plugins: &[&Path], http: SocketAddr) -> String {
    let quote = |path: &Path| toml_string(&path.display().to_string());
    let folders: String = plugins
        .iter()
        .map(|dir| {
            format!(
                "\n[[plugins]]\npath = {}\ncallback_timeout_secs = 60\n",
                quote(dir)
            )
        })
        .collect();
    format!(
        "# Written by `sgevents demo`.\n\
         [daemon]\n\
         state_db = {state}\n\
         log_path = {logs}\n\
         log_file = \"sgevents.log\"\n\
         log_level = 20\n\
         fetch_interval_secs = 1\n\
         http = \"{http}\"\n\
         control_token = \"{CONTROL_TOKEN}\"\n\
         lag_alert_secs = 120\n\
         shutdown_grace_secs = 5\n\n\
         [site]\n\
         server = {site}\n\
         script_name = \"{engine}\"\n\
         script_key = \"{engine_key}\"\n{folders}",
        state = quote(&data.join("state.sqlite3")),
        logs = quote(&data.join("logs")),
        site = toml_string(site),
        engine = ENGINE.0,
        engine_key = ENGINE.1,
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
