//! Plugin processes and the plugins loaded into them: loading, dispatch, restart, shutdown.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use sgevents_plugin_api::{CallbackSpec, Event, Failure, MatchEvents, Outcome};
use tokio::time::Instant;

use crate::error::LoadError;
use crate::logs::{self, CRITICAL};
use crate::plugin::{Emails, PythonPlugin};
use crate::protocol::{
    CallbackInfo, ChildMessage, EmailsInfo, HostMessage, LoadFailureKind, short,
};
use crate::runner::{MAX_PARKED, PageRead, ReplyError, Runner};
use crate::wire::EventsMessage;
use crate::{HostConfig, MAX_AHEAD_BYTES, MAX_AHEAD_EVENTS, ProcessMode};

/// How long a process may take to exit after `shutdown` before its group is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// With a progress page, ship about this much of the plugin's work ahead (by its average
/// time per event): enough to keep the process busy, little enough that a pause, a reload
/// or a shutdown waits only this long for the events already shipped.
const AHEAD_TIME: Duration = Duration::from_millis(50);
/// The time per event assumed before a plugin has run any.
const FIRST_EVENT_TIME: Duration = Duration::from_millis(5);

/// Loads plugin files into Python processes: one process per plugin
/// ([`ProcessMode::PerPlugin`]) or one shared by every plugin this host loads
/// ([`ProcessMode::PerPath`]; use one host per plugin path).
pub struct PluginHost {
    config: Arc<HostConfig>,
    group: Mutex<Weak<Shared>>,
}

impl PluginHost {
    /// A host that starts processes as `config` says.
    pub fn new(config: HostConfig) -> PluginHost {
        PluginHost {
            config: Arc::new(config),
            group: Mutex::new(Weak::new()),
        }
    }

    /// The settings this host was made with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Loads (or reloads) one plugin file: a fresh module, `registerCallbacks(reg)` run.
    ///
    /// For a reload, call this for the changed file, then [`Plugin::shutdown`] on the old
    /// plugin. In per-path mode the new module loads into the shared process.
    ///
    /// [`Plugin::shutdown`]: sgevents_plugin_api::Plugin::shutdown
    ///
    /// # Errors
    /// Returns a [`LoadError`] for each of upstream's deactivation cases and for an
    /// interpreter that is missing, lacks shotgun_api3 or crashes while loading.
    pub async fn load(&self, path: &Path) -> Result<PythonPlugin, LoadError> {
        let (path, name) = plugin_path(path)?;
        let shared = match self.config.process {
            ProcessMode::PerPlugin => Shared::new(Arc::clone(&self.config), &name),
            ProcessMode::PerPath => {
                let mut group = self.group.lock().unwrap_or_else(PoisonError::into_inner);
                match group.upgrade() {
                    Some(shared) => shared,
                    None => {
                        let shared = Shared::new(Arc::clone(&self.config), &name);
                        *group = Arc::downgrade(&shared);
                        shared
                    }
                }
            }
        };
        let loaded = shared.load(&path, &name).await?;
        Ok(PythonPlugin::new(name, path, loaded, shared))
    }
}

/// A plugin as its process registered it.
pub(crate) struct Loaded {
    pub(crate) slot: u32,
    pub(crate) callbacks: Vec<CallbackSpec>,
    pub(crate) emails: Emails,
    /// Whether the slot keeps a progress page now (shared with its slot).
    pub(crate) paged: Arc<AtomicBool>,
    /// What [`Shared::room`] says of the slot now (shared with its slot).
    pub(crate) room: Arc<AtomicUsize>,
}

/// One process (restarted as needed) and the plugins loaded into it.
pub(crate) struct Shared {
    config: Arc<HostConfig>,
    state: tokio::sync::Mutex<State>,
    /// Processes started again after a crash or a timeout.
    restarts: AtomicU64,
}

struct State {
    runner: Option<Runner>,
    /// Reused for every message built here.
    out: Vec<u8>,
    slots: BTreeMap<u32, Slot>,
    next_slot: u32,
    /// The logger for process output before any plugin is known.
    label: String,
}

struct Slot {
    name: String,
    /// `plugin.<name>`, the logger for the process's unattributed output.
    logger: String,
    path: PathBuf,
    callbacks: Vec<CallbackSpec>,
    /// Set when a restart could not bring the plugin back; it then fails every event.
    broken: Option<String>,
    /// Events shipped to the current process and not yet handled, in shipping order.
    ahead: VecDeque<Ahead>,
    /// Entries shipped to the current process since it loaded the slot (or since the last
    /// `resume`): the number its `done` messages count up to.
    shipped: u64,
    /// The progress page the process appends finished ids to; with one it runs shipped
    /// events as they arrive, without `run`.
    page: Option<PathBuf>,
    /// `page.is_some()`, for [`PythonPlugin`] to read without the lock.
    paged: Arc<AtomicBool>,
    /// The slot's room as of the last call that changed it, for [`PythonPlugin`] to read
    /// without the lock (see [`Slot::publish_room`]).
    room: Arc<AtomicUsize>,
    /// A stopOnError failure stopped the process's running ahead: `resume` goes first.
    stopped: bool,
    /// A running average of the plugin's time per event, which bounds what is shipped ahead.
    event_time: Duration,
}

/// One event the process holds for a slot.
struct Ahead {
    id: i64,
    /// Its place in [`Slot::shipped`]'s count.
    seq: u64,
    /// The callbacks it was shipped with; kept only with a progress page, which compares them.
    callbacks: Vec<usize>,
    bytes: usize,
}

impl Slot {
    fn forget_page(&mut self) {
        self.page = None;
        self.paged.store(false, Ordering::Relaxed);
    }

    /// Publishes how many events [`Shared::upcoming`] would take now: 0 without a running
    /// process (a restart ships what it needs), for a broken plugin, or while a process that
    /// runs ahead holds more than half its limit; `usize::MAX` for a stopped slot (resumed
    /// in `upcoming`). Only a hint: `upcoming` checks it all again under the lock.
    fn publish_room(&self, running: bool) {
        let room = if !running || self.broken.is_some() {
            0
        } else if self.stopped {
            usize::MAX
        } else {
            ship_limit(self).map_or(0, |limit| limit.saturating_sub(self.ahead.len()))
        };
        self.room.store(room, Ordering::Relaxed);
    }
}

impl State {
    /// [`Slot::publish_room`] for every slot, after a change to the process they share.
    fn publish_rooms(&self) {
        let running = self.runner.is_some();
        for info in self.slots.values() {
            info.publish_room(running);
        }
    }
}

/// How many events may be shipped ahead to a plugin that takes `event_time` per event.
fn ahead_limit(event_time: Duration) -> usize {
    let nanos = event_time.as_nanos().max(1);
    usize::try_from(AHEAD_TIME.as_nanos() / nanos)
        .unwrap_or(MAX_AHEAD_EVENTS)
        .clamp(1, MAX_AHEAD_EVENTS)
}

/// How many events the slot may hold shipped ahead now, or `None` while a process that runs
/// ahead holds more than half of that: it has enough to run until its next `done`, and the
/// rest is shipped in one message then.
fn ship_limit(info: &Slot) -> Option<usize> {
    if info.page.is_none() {
        return Some(MAX_AHEAD_EVENTS);
    }
    let limit = ahead_limit(info.event_time);
    (info.ahead.len() <= limit / 2).then_some(limit)
}

/// Why loading one slot into a runner failed.
enum SlotError {
    /// The plugin itself is bad; the process is fine.
    Plugin(LoadError),
    /// The process died or hung.
    Process(ReplyError),
}

impl Shared {
    fn new(config: Arc<HostConfig>, name: &str) -> Arc<Shared> {
        Arc::new(Shared {
            config,
            restarts: AtomicU64::new(0),
            state: tokio::sync::Mutex::new(State {
                runner: None,
                out: Vec::new(),
                slots: BTreeMap::new(),
                next_slot: 0,
                label: format!("plugin.{name}"),
            }),
        })
    }

    /// Processes started again after a crash or a timeout.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    async fn load(&self, path: &Path, name: &str) -> Result<Loaded, LoadError> {
        let mut state = self.state.lock().await;
        let slot = state.next_slot;
        state.next_slot += 1;
        ensure_runner(&mut state, &self.config).await?;
        let Some(runner) = state.runner.as_mut() else {
            return Err(crashed(path, "the process could not be started"));
        };
        let result = load_slot(runner, &self.config, slot, name, path).await;
        match result {
            Ok((callbacks, emails)) => {
                let paged = Arc::new(AtomicBool::new(false));
                let room = Arc::new(AtomicUsize::new(0));
                state.slots.insert(
                    slot,
                    Slot {
                        name: name.to_owned(),
                        logger: format!("plugin.{name}"),
                        path: path.to_owned(),
                        callbacks: callbacks.clone(),
                        broken: None,
                        ahead: VecDeque::new(),
                        shipped: 0,
                        page: None,
                        paged: Arc::clone(&paged),
                        room: Arc::clone(&room),
                        stopped: false,
                        event_time: FIRST_EVENT_TIME,
                    },
                );
                state.publish_rooms();
                Ok(Loaded {
                    slot,
                    callbacks,
                    emails,
                    paged,
                    room,
                })
            }
            Err(err) => {
                let err = match err {
                    SlotError::Plugin(err) => err,
                    SlotError::Process(reply) => {
                        state.runner = None;
                        crashed(path, &reply.to_string())
                    }
                };
                if state.slots.is_empty()
                    && let Some(runner) = state.runner.take()
                {
                    runner.close(SHUTDOWN_GRACE).await;
                }
                Err(err)
            }
        }
    }

    /// Has the slot's process keep a progress page at `page` (see
    /// [`sgevents_plugin_api::Plugin::keep_progress`]). Only one-plugin processes with
    /// `run_ahead` do; a shared process stays in step with the daemon.
    pub(crate) async fn keep_progress(&self, slot: u32, page: &Path) -> bool {
        if !self.config.run_ahead {
            return false;
        }
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let (Some(runner), Some(info)) = (state.runner.as_mut(), state.slots.get_mut(&slot)) else {
            return false;
        };
        match open_page(runner, &self.config, slot, page).await {
            Ok(()) => {
                info.page = Some(page.to_owned());
                info.paged.store(true, Ordering::Relaxed);
                info.ahead.clear();
                info.publish_room(true);
                true
            }
            Err(reason) => {
                logs::emit(
                    &info.logger,
                    logs::WARNING,
                    &format!(
                        "The plugin process could not open its progress page {}: {reason}; it runs in step with the daemon instead",
                        page.display()
                    ),
                );
                false
            }
        }
    }

    /// Asks the slot's process to empty its progress page; whether it did (see
    /// [`sgevents_plugin_api::Plugin::empty_progress`]).
    pub(crate) async fn empty_page(&self, slot: u32) -> bool {
        let mut guard = self.state.lock().await;
        let state = &mut *guard;
        let (Some(runner), Some(info)) = (state.runner.as_mut(), state.slots.get_mut(&slot)) else {
            return false;
        };
        if info.page.is_none() {
            return false;
        }
        if let Err(reply) = runner.send(&HostMessage::EmptyPage { slot }).await {
            tracing::warn!(logger = %info.logger, error = %reply, "Could not ask the plugin process to empty its progress page");
            return false;
        }
        match wait_paged(runner, &self.config, slot).await {
            Ok(()) => true,
            Err(reason) => {
                // The process dropped the page: it runs in step with the daemon from now on.
                logs::emit(
                    &info.logger,
                    logs::WARNING,
                    &format!(
                        "The plugin process could not empty its progress page: {reason}; it runs in step with the daemon instead"
                    ),
                );
                info.forget_page();
                info.publish_room(true);
                false
            }
        }
    }

    /// Whether the slot's process holds shipped events not handled yet (true when the
    /// state is busy, which only a running call makes it).
    pub(crate) fn holds_events(&self, slot: u32) -> bool {
        self.state.try_lock().map_or(true, |state| {
            state
                .slots
                .get(&slot)
                .is_some_and(|info| !info.ahead.is_empty())
        })
    }

    /// Ships the events (with the callbacks that will run on them) that the daemon expects
    /// to hand this slot next, in one message, bounded by [`MAX_AHEAD_EVENTS`] and
    /// [`MAX_AHEAD_BYTES`], and with a progress page by about [`AHEAD_TIME`] of the plugin's
    /// work. Events already shipped are skipped. Without a page the process only holds them
    /// until [`Shared::handle`] says to run one. Returns how many events it took.
    pub(crate) async fn upcoming(&self, slot: u32, events: &[(Arc<Event>, Vec<usize>)]) -> usize {
        let mut guard = self.state.lock().await;
        let taken = self.ship(&mut guard, slot, events).await;
        match (guard.runner.is_some(), guard.slots.get(&slot)) {
            (true, Some(info)) => info.publish_room(true),
            _ => guard.publish_rooms(),
        }
        taken
    }

    /// [`Shared::upcoming`] under the lock.
    async fn ship(
        &self,
        state: &mut State,
        slot: u32,
        events: &[(Arc<Event>, Vec<usize>)],
    ) -> usize {
        let (Some(runner), Some(info)) = (state.runner.as_mut(), state.slots.get_mut(&slot)) else {
            return 0; // a restart ships what it needs when the events are handled
        };
        if info.broken.is_some() {
            return 0;
        }
        let run_ahead = info.page.is_some();
        if resume_if_stopped(runner, info, slot).await.is_err() {
            state.runner = None;
            return 0;
        }
        let Some(limit) = ship_limit(info) else {
            return 0;
        };
        let mut held: usize = info.ahead.iter().map(|a| a.bytes).sum();
        let mut message = EventsMessage::new(slot, std::mem::take(&mut state.out));
        let mut taken = 0;
        let shared = self.config.process == ProcessMode::PerPath;
        for (event, callbacks) in events {
            if info.ahead.len() >= limit || held >= MAX_AHEAD_BYTES {
                break;
            }
            taken += 1;
            if callbacks.is_empty() || info.ahead.iter().any(|a| a.id == event.id) {
                continue;
            }
            let before = message.len();
            if shared {
                runner.kept.push(&mut message, event, callbacks);
            } else {
                message.push(event, callbacks);
            }
            let bytes = message.len() - before;
            held += bytes;
            info.shipped += 1;
            info.ahead.push_back(Ahead {
                id: event.id,
                seq: info.shipped,
                // Only a process that runs ahead compares them (see `take_shipped`).
                callbacks: if run_ahead {
                    callbacks.clone()
                } else {
                    Vec::new()
                },
                bytes,
            });
        }
        if message.count() == 0 {
            state.out = message.finish();
            return taken;
        }
        let line = message.finish();
        let sent = runner.send_raw(&line).await;
        state.out = line;
        if sent.is_err() {
            // The next `handle` reports the crash and restarts the process.
            state.runner = None;
            return 0;
        }
        taken
    }

    /// Whether the event is [`settled`] already, found without waiting: false when another
    /// call holds the state (then [`Shared::handle`] looks again once it has it).
    pub(crate) fn try_settle(&self, slot: u32, id: i64, indexes: &[usize]) -> bool {
        self.state
            .try_lock()
            .is_ok_and(|mut state| settled(&mut state, slot, id, indexes))
    }

    /// Runs `indexes` of the slot's callbacks on `event`, in order, as upstream does.
    pub(crate) async fn handle(&self, slot: u32, event: &Event, indexes: &[usize]) -> Outcome {
        let mut guard = self.state.lock().await;
        if settled(&mut guard, slot, event.id, indexes) {
            return Outcome::default();
        }
        let restarts = self.restarts();
        let outcome = self.run(&mut guard, slot, event, indexes).await;
        match (guard.runner.is_some(), guard.slots.get(&slot)) {
            (true, Some(info)) if self.restarts() == restarts => info.publish_room(true),
            _ => guard.publish_rooms(),
        }
        outcome
    }

    /// [`Shared::handle`] under the lock, for an event not [`settled`] at once.
    async fn run(&self, state: &mut State, slot: u32, event: &Event, indexes: &[usize]) -> Outcome {
        let mut outcome = Outcome::default();
        let mut remaining = indexes;
        while let Some(&first) = remaining.first() {
            if !state.slots.contains_key(&slot) {
                outcome.failures.push(Failure {
                    callback: String::new(),
                    message: "the plugin was shut down".to_owned(),
                    stop: true,
                });
                break;
            }
            if state.runner.is_none() {
                self.restarts.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = ensure_runner(state, &self.config).await {
                    let message = format!("the plugin process could not be restarted: {err}");
                    let (callback, logger) = callback_logger(state, slot, first);
                    logs::emit(&logger, CRITICAL, &message);
                    outcome.failures.push(Failure {
                        callback,
                        message,
                        stop: true,
                    });
                    break;
                }
            }
            let (Some(runner), Some(info)) = (state.runner.as_mut(), state.slots.get_mut(&slot))
            else {
                break;
            };
            if let Some(reason) = info.broken.clone() {
                let callback = callback_name(&info.callbacks, first);
                outcome.failures.push(Failure {
                    callback,
                    message: reason,
                    stop: true,
                });
                break;
            }
            runner.set_logger(&info.logger);
            let run_ahead = info.page.is_some();
            let shipped = take_shipped(&mut info.ahead, event.id, remaining, run_ahead);
            if shipped.is_none() && resume_if_stopped(runner, info, slot).await.is_err() {
                state.runner = None;
                continue; // restarted at the top of the loop
            }
            let waited = Instant::now();
            let mut out = std::mem::take(&mut state.out);
            out.clear();
            let seq = match shipped {
                Some(seq) => seq,
                None => {
                    let mut message = EventsMessage::new(slot, out);
                    if self.config.process == ProcessMode::PerPath {
                        runner.kept.push(&mut message, event, remaining);
                    } else {
                        message.push(event, remaining);
                    }
                    out = message.finish();
                    info.shipped += 1;
                    info.shipped
                }
            };
            if !run_ahead {
                short::write_run(&mut out, slot, event.id, remaining);
            }
            let sent = if out.is_empty() {
                Ok(())
            } else {
                runner.send_raw(&out).await
            };
            state.out = out;
            let result = match sent {
                Ok(()) => {
                    let wait = Wait {
                        slot,
                        id: event.id,
                        seq: run_ahead.then_some(seq),
                        page: info.page.as_deref(),
                        callbacks: remaining,
                        specs: &info.callbacks,
                    };
                    wait.results(runner, &self.config).await
                }
                Err(reply) => Err((0, reply)),
            };
            if let Some(runner) = state.runner.as_mut() {
                for lost in std::mem::take(&mut runner.lost_pages) {
                    if let Some(info) = state.slots.get_mut(&lost) {
                        info.forget_page();
                        info.publish_room(true);
                    }
                }
            }
            let Some(info) = state.slots.get_mut(&slot) else {
                break;
            };
            match result {
                Ok(failures) => {
                    let took = waited.elapsed();
                    info.event_time = (info.event_time * 7 + took) / 8;
                    for (idx, message) in failures {
                        let spec = info.callbacks.get(idx);
                        let stop = spec.is_some_and(|spec| spec.stop_on_error);
                        if stop && info.page.is_some() {
                            // The process dropped what it held and waits for `resume`.
                            info.stopped = true;
                            info.ahead.clear();
                        }
                        outcome.failures.push(Failure {
                            callback: callback_name(&info.callbacks, idx),
                            message,
                            stop,
                        });
                    }
                    break;
                }
                Err((done, reply)) => {
                    // Callbacks before `done` answered; the one at `done` was in flight.
                    state.runner = None;
                    let failed = remaining.get(done).copied().unwrap_or(first);
                    let callback = callback_name(&info.callbacks, failed);
                    let stop = info
                        .callbacks
                        .get(failed)
                        .is_some_and(|spec| spec.stop_on_error);
                    let message = reply.to_string();
                    logs::emit(
                        &format!("{}.{callback}", info.logger),
                        CRITICAL,
                        &format!(
                            "Callback {callback} failed on event {}: {message}",
                            event.id
                        ),
                    );
                    outcome.failures.push(Failure {
                        callback,
                        message,
                        stop,
                    });
                    if stop {
                        break;
                    }
                    remaining = remaining.get(done + 1..).unwrap_or(&[]);
                }
            }
        }
        outcome
    }

    /// Forgets a plugin; ends the process when it was the last one in it.
    pub(crate) async fn unload(&self, slot: u32) {
        let mut state = self.state.lock().await;
        state.slots.remove(&slot);
        if state.slots.is_empty() {
            if let Some(runner) = state.runner.take() {
                runner.close(SHUTDOWN_GRACE).await;
            }
        } else if let Some(runner) = state.runner.as_mut() {
            match runner.send(&HostMessage::Unload { slot }).await {
                Ok(()) => wait_unloaded(runner, &self.config, slot).await,
                Err(_) => state.runner = None,
            }
        }
    }

    /// [`Shared::unload`] for `Drop`: only when nobody holds the state right now.
    pub(crate) fn forget(&self, slot: u32) {
        if let Ok(mut state) = self.state.try_lock() {
            state.slots.remove(&slot);
            if state.slots.is_empty() {
                state.runner = None;
            }
        }
    }
}

/// Starts the process if it is not running and loads every known plugin into it again.
async fn ensure_runner(state: &mut State, config: &HostConfig) -> Result<(), LoadError> {
    // Each round either succeeds or marks one more plugin broken, so this ends.
    while state.runner.is_none() {
        let mut runner = Runner::start(config, &state.label).await?;
        let mut died = false;
        for (&slot, info) in state.slots.iter_mut() {
            info.ahead.clear();
            info.shipped = 0;
            if info.broken.is_some() {
                continue;
            }
            runner.set_logger(&info.logger);
            info.stopped = false;
            match load_slot(&mut runner, config, slot, &info.name, &info.path).await {
                Ok((callbacks, _)) => {
                    if !same_shape(&callbacks, &info.callbacks) {
                        info.broken = Some(format!(
                            "after a restart the plugin at {} registered different callbacks; \
                             it stays off until its file changes",
                            info.path.display()
                        ));
                    } else if let Some(page) = info.page.clone()
                        && let Err(reason) = open_page(&mut runner, config, slot, &page).await
                    {
                        logs::emit(
                            &info.logger,
                            logs::WARNING,
                            &format!(
                                "The restarted plugin process could not open its progress page {}: {reason}; it runs in step with the daemon instead",
                                page.display()
                            ),
                        );
                        info.forget_page();
                    }
                }
                Err(SlotError::Plugin(err)) => {
                    err.emit(&info.name);
                    info.broken = Some(format!("the plugin failed to load again: {err}"));
                }
                Err(SlotError::Process(reply)) => {
                    info.broken = Some(format!("the plugin crashed while loading again: {reply}"));
                    died = true;
                    break;
                }
            }
        }
        if !died {
            state.runner = Some(runner);
        }
    }
    Ok(())
}

/// Waits until the shared process has dropped `slot` (it runs what it was shipped first), so
/// that the slot's progress page is complete. Gives up quietly after the callback timeout.
async fn wait_unloaded(runner: &mut Runner, config: &HostConfig, slot: u32) {
    let deadline = Instant::now() + config.callback_timeout;
    while let Ok(message) = runner.recv_until(deadline, config.callback_timeout).await {
        match message {
            ChildMessage::Unloaded { slot: got } if got == slot => return,
            other => keep_for_later(runner, other),
        }
    }
}

/// Sends `resume` when a stopOnError failure stopped the slot's process.
async fn resume_if_stopped(
    runner: &mut Runner,
    info: &mut Slot,
    slot: u32,
) -> Result<(), ReplyError> {
    if info.stopped {
        runner.send(&HostMessage::Resume { slot }).await?;
        info.stopped = false;
        // Both sides count entries afresh from the `resume`.
        info.shipped = 0;
        runner.done.remove(&slot);
    }
    Ok(())
}

/// Asks the process to keep the slot's progress page at `page`; the reason when it cannot.
async fn open_page(
    runner: &mut Runner,
    config: &HostConfig,
    slot: u32,
    page: &Path,
) -> Result<(), String> {
    let path = page.to_string_lossy();
    runner
        .send(&HostMessage::Page { slot, path: &path })
        .await
        .map_err(|reply| reply.to_string())?;
    wait_paged(runner, config, slot).await
}

/// Waits for the slot's `paged`; the reason when it says no (or the process is gone).
async fn wait_paged(runner: &mut Runner, config: &HostConfig, slot: u32) -> Result<(), String> {
    let deadline = Instant::now() + config.callback_timeout;
    loop {
        match runner
            .recv_until(deadline, config.callback_timeout)
            .await
            .map_err(|reply| reply.to_string())?
        {
            ChildMessage::Paged {
                slot: got,
                ok,
                error,
            } if got == slot => {
                return if ok {
                    Ok(())
                } else {
                    Err(error.unwrap_or_else(|| "the process gave no reason".to_owned()))
                };
            }
            other => keep_for_later(runner, other),
        }
    }
}

/// Loads one plugin file into `runner` under `slot`.
async fn load_slot(
    runner: &mut Runner,
    config: &HostConfig,
    slot: u32,
    name: &str,
    path: &Path,
) -> Result<(Vec<CallbackSpec>, Emails), SlotError> {
    let path_text = path.to_string_lossy();
    let load = HostMessage::Load {
        slot,
        name,
        path: &path_text,
    };
    runner.send(&load).await.map_err(SlotError::Process)?;
    let deadline = Instant::now() + config.callback_timeout;
    loop {
        let message = runner
            .recv_until(deadline, config.callback_timeout)
            .await
            .map_err(SlotError::Process)?;
        match message {
            ChildMessage::Loaded {
                slot: got,
                callbacks,
                emails,
            } if got == slot => {
                return match specs(path, callbacks) {
                    Ok(specs) => Ok((specs, emails.into())),
                    Err(err) => {
                        runner
                            .send(&HostMessage::Unload { slot })
                            .await
                            .map_err(SlotError::Process)?;
                        Err(SlotError::Plugin(err))
                    }
                };
            }
            ChildMessage::LoadFailed {
                slot: got,
                kind,
                message,
                detail,
            } if got == slot => {
                return Err(SlotError::Plugin(load_failure(path, kind, message, detail)));
            }
            other => keep_for_later(runner, other),
        }
    }
}

/// Settles the event at once when the process ran it ahead and already said so: it is the
/// first one the slot's process holds, shipped with these callbacks, a `done` counted it
/// (every callback succeeded) and no result of it waits among the parked ones (a failure,
/// or an earlier callback's answer). Anything else takes [`Shared::handle`]'s full path.
fn settled(state: &mut State, slot: u32, id: i64, callbacks: &[usize]) -> bool {
    let (Some(runner), Some(info)) = (state.runner.as_ref(), state.slots.get_mut(&slot)) else {
        return false;
    };
    let Some(front) = info.ahead.front() else {
        return false;
    };
    let counted = runner
        .done
        .get(&slot)
        .is_some_and(|&done| done >= front.seq);
    if front.id != id
        || callbacks.is_empty()
        || front.callbacks.as_slice() != callbacks
        || info.page.is_none()
        || info.broken.is_some()
        || !counted
        || runner.parked.iter().any(|p| p.0 == slot && p.1 == id)
    {
        return false;
    }
    info.ahead.pop_front();
    // As the full path's running average, for an answer that took no time.
    info.event_time = info.event_time * 7 / 8;
    info.publish_room(true);
    true
}

/// Where the process already holds `id` (for these callbacks, in run-ahead mode): its place
/// in the slot's count of shipped entries. Keeps `ahead` equal to what the process holds: on
/// `run` it drops what was shipped before the event it runs, and an event shipped now goes
/// after everything it holds, so without run-ahead an event shipped now makes it drop all
/// it held.
fn take_shipped(
    ahead: &mut VecDeque<Ahead>,
    id: i64,
    callbacks: &[usize],
    run_ahead: bool,
) -> Option<u64> {
    let Some(pos) = ahead.iter().position(|a| a.id == id) else {
        if !run_ahead {
            ahead.clear();
        }
        return None;
    };
    let found = ahead
        .get(pos)
        .filter(|a| !run_ahead || a.callbacks.as_slice() == callbacks)
        .map(|a| a.seq);
    ahead.drain(..=pos);
    found
}

/// The answers [`Shared::handle`] waits for: one `result` per callback on event `id`, where
/// with a progress page a `done` that counts the entry stands for the last successful one.
struct Wait<'a> {
    slot: u32,
    id: i64,
    /// With a progress page: the entry's place in the slot's count of shipped entries.
    seq: Option<u64>,
    /// The progress page, read when an answer is late: the event may be done and a later
    /// one hold the process (its `done` is not sent yet).
    page: Option<&'a Path>,
    callbacks: &'a [usize],
    specs: &'a [CallbackSpec],
}

impl Wait<'_> {
    /// Waits for the results in order; stops after a failed stopOnError callback (the
    /// process stops there too). Returns the failures, or how many callbacks answered
    /// before the process died or timed out.
    async fn results(
        &self,
        runner: &mut Runner,
        config: &HostConfig,
    ) -> Result<Vec<(usize, String)>, (usize, ReplyError)> {
        let mut failures = Vec::new();
        // Found on the page: every callback answered, and its failures were sent before.
        let mut on_page = runner
            .page_read
            .get(&self.slot)
            .is_some_and(|read| read.ids.contains(&self.id));
        for (done, &callback) in self.callbacks.iter().enumerate() {
            let began = runner.page_read.get(&self.slot).map(|read| read.at);
            let deadline = began.unwrap_or_else(Instant::now) + config.callback_timeout;
            let key = (self.slot, self.id, callback);
            let mut look = true;
            let error = loop {
                if look {
                    look = false;
                    if let Some(pos) = runner.parked.iter().position(|p| (p.0, p.1, p.2) == key) {
                        break runner.parked.remove(pos).and_then(|p| p.3);
                    }
                    if on_page || self.counted(runner) {
                        break None;
                    }
                }
                let message = runner
                    .recv_before(deadline)
                    .await
                    .map_err(|reply| (done, reply))?;
                match message {
                    Some(ChildMessage::Result {
                        slot,
                        id,
                        callback: got,
                        ok,
                        error,
                    }) if slot == self.slot && id == self.id && got == callback => {
                        runner.heard_from(slot);
                        break (!ok)
                            .then(|| error.unwrap_or_else(|| "the callback failed".to_owned()));
                    }
                    Some(other) => {
                        keep_for_later(runner, other); // a `done` is noted there
                        if self.counted(runner) {
                            break None;
                        }
                    }
                    None => {
                        if let Some(ids) =
                            self.page.and_then(|page| finished_on_page(page, self.id))
                        {
                            // Done: a later event holds the process (running since before
                            // now, so it is timed from now: never cut short). Every event on
                            // the page is done too, and what the process sent before it
                            // wrote them is read now.
                            while let Some(message) = runner.try_recv() {
                                keep_for_later(runner, message);
                            }
                            let at = runner
                                .page_read
                                .remove(&self.slot)
                                .map_or_else(Instant::now, |read| read.at);
                            runner.page_read.insert(self.slot, PageRead { at, ids });
                            on_page = true;
                            look = true;
                            continue;
                        }
                        runner.kill().await;
                        return Err((done, ReplyError::TimedOut(config.callback_timeout)));
                    }
                }
            };
            if let Some(error) = error {
                failures.push((callback, error));
                if self.specs.get(callback).is_some_and(|s| s.stop_on_error) {
                    return Ok(failures);
                }
            }
        }
        Ok(failures)
    }

    /// Whether a `done` counted this entry.
    fn counted(&self, runner: &Runner) -> bool {
        self.seq
            .is_some_and(|seq| runner.done.get(&self.slot).is_some_and(|&n| n >= seq))
    }
}

/// The ids on the page, when it lists `id`.
fn finished_on_page(page: &Path, id: i64) -> Option<HashSet<i64>> {
    let read = sgevents_store::page::read(page).ok()?;
    let ids: HashSet<i64> = read.ids.into_iter().collect();
    ids.contains(&id).then_some(ids)
}

/// A message that came while the host waited for another: a result of an event that ran
/// ahead (kept until its event is handled), or a lost page (acted on after the wait).
fn keep_for_later(runner: &mut Runner, message: ChildMessage) {
    match message {
        ChildMessage::Result {
            slot,
            id,
            callback,
            ok,
            error,
        } => {
            runner.heard_from(slot);
            if runner.parked.len() >= MAX_PARKED {
                runner.parked.pop_front();
            }
            let error = if ok {
                None
            } else {
                Some(error.unwrap_or_else(|| "the callback failed".to_owned()))
            };
            runner.parked.push_back((slot, id, callback, error));
        }
        ChildMessage::Done { slot, entries } => {
            runner.heard_from(slot);
            runner.done.insert(slot, entries);
        }
        ChildMessage::Paged {
            slot,
            ok: false,
            error,
        } => {
            tracing::warn!(
                logger = "engine",
                slot,
                error = error.as_deref().unwrap_or(""),
                "A plugin process could not write its progress page; its cursor is saved after every event from now on"
            );
            runner.lost_pages.push(slot);
        }
        other => tracing::debug!(message = ?other, "Ignored a stale plugin process message"),
    }
}

/// A callback's name for reports, or `#<idx>` when the plugin has no such callback.
fn callback_name(callbacks: &[CallbackSpec], idx: usize) -> String {
    callbacks
        .get(idx)
        .map_or_else(|| format!("#{idx}"), |spec| spec.name.clone())
}

/// The callback's name and its logger, `plugin.<name>.<callback>`.
fn callback_logger(state: &State, slot: u32, idx: usize) -> (String, String) {
    match state.slots.get(&slot) {
        Some(info) => {
            let callback = callback_name(&info.callbacks, idx);
            let logger = format!("{}.{callback}", info.logger);
            (callback, logger)
        }
        None => (format!("#{idx}"), "plugin".to_owned()),
    }
}

fn specs(path: &Path, callbacks: Vec<CallbackInfo>) -> Result<Vec<CallbackSpec>, LoadError> {
    callbacks
        .into_iter()
        .map(|info| {
            let match_events = MatchEvents::from_json(&info.match_events).map_err(|err| {
                LoadError::BadMatchEvents {
                    path: path.to_owned(),
                    callback: info.name.clone(),
                    reason: err.to_string(),
                }
            })?;
            Ok(CallbackSpec {
                name: info.name,
                match_events,
                stop_on_error: info.stop_on_error,
            })
        })
        .collect()
}

/// Whether a restart registered the same callbacks. Names of callable instances carry
/// their address, so only the filters and flags are compared.
fn same_shape(new: &[CallbackSpec], old: &[CallbackSpec]) -> bool {
    new.len() == old.len()
        && new.iter().zip(old).all(|(new, old)| {
            new.match_events == old.match_events && new.stop_on_error == old.stop_on_error
        })
}

fn load_failure(path: &Path, kind: LoadFailureKind, message: String, detail: String) -> LoadError {
    let path = path.to_owned();
    match kind {
        LoadFailureKind::Import => LoadError::Import {
            path,
            message,
            traceback: detail,
        },
        LoadFailureKind::NoRegister => LoadError::NoRegisterCallbacks { path, message },
        LoadFailureKind::RegisterRaised => LoadError::RegisterFailed {
            path,
            message,
            traceback: detail,
        },
        LoadFailureKind::NotCallable => LoadError::NotCallable {
            path,
            message,
            traceback: detail,
        },
        LoadFailureKind::BadMatchEvents => LoadError::BadMatchEvents {
            path,
            callback: String::new(),
            reason: message,
        },
    }
}

fn crashed(path: &Path, reason: &str) -> LoadError {
    LoadError::Crashed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The absolute path of a plugin file and its name (the file stem).
fn plugin_path(path: &Path) -> Result<(PathBuf, String), LoadError> {
    let bad = |reason: &str| LoadError::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let absolute = std::path::absolute(path).map_err(|err| bad(&err.to_string()))?;
    let metadata = std::fs::metadata(&absolute).map_err(|err| bad(&err.to_string()))?;
    if !metadata.is_file() {
        return Err(bad("it is a directory or a special file"));
    }
    let name = absolute
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| bad("its name is not valid UTF-8"))?
        .to_owned();
    if absolute.to_str().is_none() {
        return Err(bad("the path is not valid UTF-8"));
    }
    Ok((absolute, name))
}

impl From<EmailsInfo> for Emails {
    fn from(info: EmailsInfo) -> Emails {
        match info {
            EmailsInfo::Default => Emails::Default,
            EmailsInfo::Disabled => Emails::Disabled,
            EmailsInfo::To { addresses } => Emails::To(addresses),
        }
    }
}
