//! `sgevents sim`: runs the site emulator in the foreground until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use sgevents_sim::{Delay, FaultRule, GapProfile, SimConfig};

/// Arguments of `sgevents sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Register a script (ApiUser) with event logging on, as NAME:KEY (repeatable).
    #[arg(long = "script", value_name = "NAME:KEY", value_parser = parse_script)]
    scripts: Vec<(String, String)>,
    /// Persist entities, events and id counters under this directory.
    #[arg(long = "data", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use this schema_read JSON dump instead of the built-in schema.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Generate studio activity at about this many events per second.
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    activity: Option<f64>,
    /// Write this many events of history before serving.
    #[arg(long, value_name = "N", default_value_t = 0)]
    prefill: u64,
    /// Seed of every random choice (gaps, faults, activity).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Start from a gap preset: `none` or `realistic` (late 0.3, never 0.01, exp:3s:60s).
    #[arg(long, value_name = "PRESET", default_value = "none")]
    gaps: String,
    /// Fraction of write transactions whose event rows commit late.
    #[arg(long, value_name = "FRACTION")]
    gap_late: Option<f64>,
    /// Fraction of write transactions whose event rows never commit.
    #[arg(long, value_name = "FRACTION")]
    gap_never: Option<f64>,
    /// Delay of late rows: fixed:MS, uniform:MIN:MAX or exp:MEAN[:MAX] (units ms or s).
    #[arg(long, value_name = "DIST")]
    gap_delay: Option<String>,
    /// Inject a fault: KIND[=ARG][,rate=F][,count=N][,for=DURATION][,method=NAME] (repeatable);
    /// KIND is http=STATUS, latency=DURATION, drop, maintenance or exception=CODE.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
}

fn parse_script(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, key)) if !name.is_empty() && !key.is_empty() => {
            Ok((name.to_owned(), key.to_owned()))
        }
        _ => Err(format!(
            "'{text}' is not NAME:KEY (e.g. --script shotgunEvents:abc123)"
        )),
    }
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut gaps = match args.gaps.as_str() {
        "none" => GapProfile::default(),
        "realistic" => GapProfile::realistic(),
        other => anyhow::bail!("--gaps {other}: expected none or realistic"),
    };
    if let Some(late) = args.gap_late {
        gaps.late = late;
    }
    if let Some(never) = args.gap_never {
        gaps.never = never;
    }
    if let Some(delay) = &args.gap_delay {
        gaps.delay = delay.parse::<Delay>()?;
    }
    let faults = args
        .faults
        .iter()
        .map(|spec| spec.parse::<FaultRule>())
        .collect::<Result<Vec<_>, _>>()?;
    let config = SimConfig {
        listen: args.listen,
        scripts: args.scripts,
        data_dir: args.data_dir,
        schema: args.schema,
        activity: args.activity,
        prefill: args.prefill,
        seed: args.seed,
        gaps,
        faults,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: SimConfig) -> anyhow::Result<ExitCode> {
    let listen = config.listen;
    let sim = sgevents_sim::spawn(config).await.with_context(|| {
        format!("cannot start the site emulator on {listen} (choose another address with --listen)")
    })?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "sgevents sim listening on {}", sim.url())
            .context("cannot write to stdout")?;
        stdout.flush().context("cannot flush stdout")?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
