//! `sgevents run`: the daemon in the foreground, for systemd and containers.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sgevents_config::Settings;
use sgevents_daemon::alerts::{AlertLayer, AlertSender, Alerts, PluginRecipients};
use sgevents_daemon::control_socket::{self, ControlSocket};
use sgevents_daemon::status::HealthPolicy;
use sgevents_daemon::telemetry::Telemetry;
use sgevents_daemon::{Deps, StartAt, StatusEndpoint, Watch, control, setup, status_server};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Arguments of `sgevents run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The config file (upstream INI or our TOML). Without it: upstream's search order.
    #[arg(long, env = "SGEVENTS_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where plugins start: an event id, or `latest`. Overrides the saved cursors.
    #[arg(long, value_parser = parse_start_at)]
    pub(crate) start_at: Option<StartAt>,
    /// The Python interpreter for plugin folders that set none. Default: the `python` beside
    /// the sgevents executable (a virtualenv's bin/), else `python3` on PATH.
    #[arg(long, env = "SGEVENTS_PYTHON")]
    pub(crate) python: Option<PathBuf>,
    /// Serve /metrics, /healthz, /readyz and /status here (overrides the config's `http`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<std::net::SocketAddr>,
    /// Removed when the daemon exits (written by `sgevents start`).
    #[arg(long, hide = true)]
    pub(crate) pid_file: Option<PathBuf>,
    /// Cluster mode: this node's name (overrides `[cluster] node`; default the host name).
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// Cluster mode: NATS servers, comma-separated (overrides `[cluster] nats_url`; without a
    /// `[cluster]` section, joins cluster `sgevents` with a 10 s lease).
    #[arg(long, value_name = "NATS_URL")]
    pub(crate) cluster: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = sgevents_config::find_config(args.config.as_deref())?;
    let mut settings = sgevents_config::load(&path)?;
    if args.http.is_some() {
        settings.daemon.http = args.http;
    }
    if let Some(urls) = &args.cluster {
        let cluster = settings
            .cluster
            .get_or_insert_with(|| sgevents_config::ClusterConfig {
                nats_urls: Vec::new(),
                name: "sgevents".to_owned(),
                node: None,
                lease: std::time::Duration::from_secs(10),
                stream_max_age: std::time::Duration::from_secs(
                    sgevents_config::DEFAULT_STREAM_MAX_AGE_DAYS.unsigned_abs() * 86_400,
                ),
            });
        cluster.nats_urls = sgevents_config::ClusterConfig::split_urls(urls);
        if cluster.nats_urls.is_empty() {
            anyhow::bail!("--cluster `{urls}` names no NATS server; give nats://host:port[,...]");
        }
    }
    if let (Some(node), Some(cluster)) = (&args.node, settings.cluster.as_mut()) {
        cluster.node = Some(node.clone());
    }
    let options = RunOptions {
        start_at: args.start_at,
        python: crate::preflight::default_python(args.python),
        extra_env: Vec::new(),
        pid_file: args.pid_file,
        http_from_flag: args.http.is_some(),
        checked_pythons: None,
        checked_client: None,
    };
    run_settings(settings, options)
}

/// What the command line adds to the settings.
pub(crate) struct RunOptions {
    pub(crate) start_at: Option<StartAt>,
    pub(crate) python: PathBuf,
    pub(crate) extra_env: Vec<(String, String)>,
    /// Removed on exit when set (the `start` verb writes it).
    pub(crate) pid_file: Option<PathBuf>,
    /// The status address came from `--http`, not the config (for the port-clash message).
    pub(crate) http_from_flag: bool,
    /// The interpreters the preflight started, with their versions; `None` when no preflight
    /// ran, and `serve` starts each once to check it.
    pub(crate) checked_pythons: Option<Vec<(PathBuf, String)>>,
    /// The site client the preflight built from these settings, when it ran.
    pub(crate) checked_client: Option<sgevents_api::Client>,
}

/// Runs the daemon with `settings` until SIGTERM or SIGINT; SIGHUP reloads every plugin.
pub(crate) fn run_settings(settings: Settings, options: RunOptions) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let _enter = runtime.enter();
    let fork_env = settings
        .cluster
        .is_none()
        .then_some(options.extra_env.as_slice());
    if fork_env.is_some() {
        // Imports shotgun_api3 while the checks below run, not after the first site read.
        setup::warm_up_plugin_processes(&settings, &options.python, &options.extra_env);
    }
    // The same checks as `sgevents config check`, before anything is created; the
    // interpreters are asked through the fork servers just started.
    let checked = runtime.block_on(crate::preflight::check_all(
        &settings,
        &options.python,
        fork_env,
    ));
    if !checked.problems.is_empty() {
        let problems = checked.problems;
        return Err(sgevents_config::ConfigError::Invalid { problems }.into());
    }
    let options = RunOptions {
        checked_pythons: Some(checked.pythons),
        checked_client: checked.client,
        ..options
    };
    let (_log_guard, alerts) = init_logs(&settings)?;
    let result = runtime.block_on(serve(&settings, &options, &alerts));
    if let Some(pid_file) = &options.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// What the email alerts need at run time: who gets each plugin's mail, and the sender to
/// close at shutdown so held digests go out.
pub(crate) struct AlertHandles {
    pub(crate) recipients: PluginRecipients,
    sender: Option<AlertSender>,
    /// The mailer task, handed to `run` to watch.
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Installs upstream's log files (and stdout), plus email alerts when `[emails]` is set.
/// Must run inside the runtime (the mailer is a task).
pub(crate) fn init_logs(
    settings: &Settings,
) -> anyhow::Result<(sgevents_daemon::logging::LogGuard, AlertHandles)> {
    let recipients = PluginRecipients::new();
    let (layer, sender, task) = match &settings.emails {
        Some(emails) => {
            let (sender, task) = Alerts::spawn(setup::email_config(emails)).with_context(|| {
                format!("the [emails] settings of {}", settings.source.display())
            })?;
            (
                Some(AlertLayer::new(sender.clone(), recipients.clone())),
                Some(sender),
                Some(task),
            )
        }
        None => (None, None, None),
    };
    let guard = sgevents_daemon::logging::init(&settings.daemon.log, true, layer)
        .with_context(|| format!("setting up the logs of {}", settings.source.display()))?;
    for warning in &settings.warnings {
        tracing::warn!(
            logger = "engine",
            "{}: {warning}",
            settings.source.display()
        );
    }
    Ok((
        guard,
        AlertHandles {
            recipients,
            sender,
            task: std::sync::Mutex::new(task),
        },
    ))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) async fn serve(
    settings: &Settings,
    options: &RunOptions,
    alerts: &AlertHandles,
) -> anyhow::Result<()> {
    let state = setup::open_state(settings, options.start_at.is_some())?;
    let start_at = options.start_at.or(state.start_at).unwrap_or_default();
    let mut client = match &options.checked_client {
        Some(client) => client.clone(),
        None => setup::client(settings)?,
    };
    if settings.cluster.is_none() && !settings.plugins.is_empty() {
        // Rows are read once: the fields the daemon needs and the plugin processes' pickle
        // in the same pass (a cluster's poller only publishes the rows as they came).
        client = client.with_event_reader(std::sync::Arc::new(sgevents_plugin_host::PickledEvents));
    }
    let own_users = own_api_users(settings, &client).await;
    match &options.checked_pythons {
        Some(pythons) => {
            for (python, version) in pythons {
                log_python(python, version);
            }
        }
        None => check_interpreters(settings, &options.python, &options.extra_env).await,
    }
    let plugin_dirs = setup::plugin_dirs(
        settings,
        &options.python,
        &own_users,
        &options.extra_env,
        &alerts.recipients,
    );
    let shutdown = CancellationToken::new();
    let reload = Arc::new(Notify::new());
    spawn_signal_handlers(shutdown.clone(), reload.clone())?;
    let watch = Arc::new(Watch::default());
    let telemetry = Arc::new(Telemetry::new());
    let (control_tx, inbox) = control::channel();
    let health = HealthPolicy {
        heartbeat_timeout: settings.daemon.heartbeat_timeout,
        ..HealthPolicy::default()
    };
    let status = match settings.daemon.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                let change = if options.http_from_flag {
                    "choose another address with --http".to_owned()
                } else {
                    format!(
                        "change the `http` setting in {} or override it with --http",
                        settings.source.display()
                    )
                };
                format!("the status endpoint cannot listen on {addr} ({change})")
            })?;
            tracing::info!(
                logger = "engine",
                "Status page on http://{}/status",
                listener.local_addr()?
            );
            let page = status_server::PageOptions {
                control: settings.daemon.control_token.as_ref().map(|token| {
                    status_server::PageControl {
                        token: token.expose().to_owned(),
                        requests: control_tx.clone(),
                    }
                }),
                ..status_server::PageOptions::default()
            };
            Some(StatusEndpoint {
                listener,
                policy: health,
                page,
            })
        }
        None => None,
    };
    // Without its socket the daemon still runs; only `sgevents plugin ...` cannot reach it.
    let control_task = match ControlSocket::bind(&settings.daemon.control_socket).await {
        Ok(control_socket) => Some(tokio::spawn(control_socket::serve(
            control_socket,
            control_tx,
            telemetry.clone(),
            shutdown.clone(),
        ))),
        Err(err) => {
            tracing::error!(
                logger = "engine",
                "{err}; `sgevents plugin ...` cannot reach this daemon"
            );
            None
        }
    };
    let notifier = crate::notify::spawn(watch.clone(), health.heartbeat_timeout, shutdown.clone());
    let deps = Deps {
        client,
        store: Box::new(state.store),
        saved: state.saved,
        plugin_dirs,
        native_plugins: Vec::new(),
        reload,
        watch,
        telemetry,
        control: inbox,
        status,
        clock: Arc::new(sgevents_daemon::clock::SystemClock),
        tasks: alerts
            .task
            .lock()
            .ok()
            .and_then(|mut task| task.take())
            .into_iter()
            .map(|task| ("alert mailer".to_owned(), task))
            .collect(),
    };
    let mut run_options = setup::options(settings, start_at);
    run_options.imported_from = state.imported_from.clone();
    let result = match &settings.cluster {
        Some(cluster) => {
            let settings = sgevents_daemon::cluster::settings(cluster);
            sgevents_daemon::cluster::run(run_options, deps, settings, shutdown.clone()).await
        }
        None => sgevents_daemon::run(run_options, deps, shutdown.clone()).await,
    };
    // The socket file goes with the daemon; STOPPING=1 goes out on the signal, after an
    // error now.
    shutdown.cancel();
    if let Some(task) = control_task {
        let _ = task.await;
    }
    if let Some(notifier) = notifier {
        let _ = notifier.await;
    }
    result?;
    if let Some(sender) = &alerts.sender {
        sender.close();
    }
    tracing::info!(logger = "engine", "Stopped");
    Ok(())
}

/// The engine script's ApiUser id, when some folder asks to skip the daemon's own events.
async fn own_api_users(settings: &Settings, client: &sgevents_api::Client) -> BTreeSet<i64> {
    if !settings
        .plugins
        .iter()
        .any(|dir| dir.filters.skip_own_events)
    {
        return BTreeSet::new();
    }
    let names = vec![settings.site.script_name.clone()];
    match setup::api_user_ids(client, &names).await {
        Ok(ids) => ids,
        Err(err) => {
            tracing::error!(logger = "engine", error = %err, "Could not look up the daemon's ApiUser; skip_own_events is off until restart");
            BTreeSet::new()
        }
    }
}

/// Checks each interpreter once, so a missing Python or shotgun_api3 is one clear error
/// instead of one per plugin (through the fork server the plugins will use, when it can).
async fn check_interpreters(
    settings: &Settings,
    default_python: &Path,
    extra_env: &[(String, String)],
) {
    for host in setup::interpreter_hosts(settings, default_python, extra_env) {
        match sgevents_plugin_host::check_plugin_interpreter(&host).await {
            Ok(version) => log_python(&host.python, &version),
            Err(err) => tracing::error!(logger = "engine", "{err}"),
        }
    }
}

fn log_python(python: &Path, version: &str) {
    tracing::info!(
        logger = "engine",
        "Plugins run with {} (Python {version})",
        python.display()
    );
}

fn spawn_signal_handlers(shutdown: CancellationToken, reload: Arc<Notify>) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => reload.notify_one(),
            }
        }
        tracing::info!(
            logger = "engine",
            "Signal received: stopping after in-flight callbacks"
        );
        shutdown.cancel();
    });
    Ok(())
}

fn parse_start_at(text: &str) -> Result<StartAt, String> {
    if text.eq_ignore_ascii_case("latest") {
        return Ok(StartAt::Latest);
    }
    match text.parse::<i64>() {
        Ok(id) if id > 0 => Ok(StartAt::Id(id)),
        _ => Err(format!(
            "'{text}' is neither a positive event id nor `latest`"
        )),
    }
}
