//! A local Flow Production Tracking site emulator: api3 JSON over HTTP, EventLogEntry
//! generation, id gaps and fault injection, embeddable in tests or run as `sgevents sim`.
//!
//! Start one with [`spawn`]; the returned [`Sim`] serves until [`Sim::shutdown`].

mod activity;
mod api;
mod db;
mod error;
mod events;
mod faults;
mod filter;
mod gaps;
mod persist;
mod read;
mod schema;
mod seed;
mod server;
mod site;
mod summarize;
mod time;
mod value;
mod write;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{ApiError, SimError};
pub use faults::{FaultKind, FaultRule};
pub use gaps::{Delay, GapProfile};

use site::{Site, writes_from_object};

/// Everything a site is started with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Scripts (ApiUsers) to register as `(name, key)`, with event logging on.
    pub scripts: Vec<(String, String)>,
    /// Persist to `DIR/site.sqlite3`; in memory when `None`.
    pub data_dir: Option<PathBuf>,
    /// A `schema_read` JSON dump to use instead of the built-in schema.
    pub schema: Option<PathBuf>,
    /// Drive studio activity at about this many events per second.
    pub activity: Option<f64>,
    /// Write this many events of history before serving.
    pub prefill: u64,
    /// Seed of every random choice (gaps, faults, activity).
    pub seed: u64,
    /// Which writes commit their event rows late or never.
    pub gaps: GapProfile,
    /// Faults installed at start.
    pub faults: Vec<FaultRule>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scripts: Vec::new(),
            data_dir: None,
            schema: None,
            activity: None,
            prefill: 0,
            seed: 0,
            gaps: GapProfile::default(),
            faults: Vec::new(),
        }
    }
}

/// A running site.
pub struct Sim {
    site: Arc<Site>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    activity: Option<JoinHandle<()>>,
}

/// Builds the site (schema, stored data, scripts, prefill), binds and serves in a tokio task.
///
/// # Errors
/// An unreadable schema or data store, an invalid gap profile or fault, or a failed bind.
pub async fn spawn(config: SimConfig) -> Result<Sim, SimError> {
    if let Some(rate) = config.activity
        && !(rate > 0.0 && rate.is_finite())
    {
        return Err(SimError::Config {
            setting: "activity".into(),
            message: format!("{rate} is not a positive rate"),
        });
    }
    let site = Site::open(&config)?;
    if config.prefill > 0 {
        activity::prefill(&site, config.prefill, config.seed)?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop, stopped) = watch::channel(false);
    let app = server::router(site.clone());
    let mut server_stop = stopped.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "Site server stopped");
        }
    });
    let activity = config
        .activity
        .map(|rate| tokio::spawn(activity::worker(site.clone(), rate, config.seed, stopped)));
    tracing::info!(%addr, "Site emulator listening");
    Ok(Sim {
        site,
        addr,
        stop,
        server: Some(server),
        activity,
    })
}

impl Sim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The site URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a record as the named script; events are attributed to that ApiUser.
    ///
    /// # Errors
    /// An unknown script, or the api3 error a client would get.
    pub fn create(
        &self,
        script: &str,
        entity_type: &str,
        fields: Value,
    ) -> Result<Value, SimError> {
        let writes = writes_from_object(&fields)?;
        let actor = self.site.script_actor(&self.site.lock(), script)?;
        Ok(self.site.transaction(|db, now| {
            write::create(db, &actor, "create", entity_type, &writes, &[], now)
        })?)
    }

    /// Updates a record as the named script (multi-entity fields are set).
    ///
    /// # Errors
    /// An unknown script, or the api3 error a client would get.
    pub fn update(
        &self,
        script: &str,
        entity_type: &str,
        id: i64,
        fields: Value,
    ) -> Result<Value, SimError> {
        let writes = writes_from_object(&fields)?;
        let actor = self.site.script_actor(&self.site.lock(), script)?;
        Ok(self.site.transaction(|db, now| {
            write::update(db, &actor, "update", entity_type, id, &writes, now)
        })?)
    }

    /// Retires a record as the named script; `false` if it was already retired.
    ///
    /// # Errors
    /// An unknown script, or the api3 error a client would get.
    pub fn delete(&self, script: &str, entity_type: &str, id: i64) -> Result<bool, SimError> {
        let actor = self.site.script_actor(&self.site.lock(), script)?;
        Ok(self
            .site
            .transaction(|db, now| write::delete(db, &actor, "delete", entity_type, id, now))?)
    }

    /// Revives a retired record as the named script; `false` if it was not retired.
    ///
    /// # Errors
    /// An unknown script, or the api3 error a client would get.
    pub fn revive(&self, script: &str, entity_type: &str, id: i64) -> Result<bool, SimError> {
        let actor = self.site.script_actor(&self.site.lock(), script)?;
        Ok(self
            .site
            .transaction(|db, now| write::revive(db, &actor, "revive", entity_type, id, now))?)
    }

    /// Writes about `n_events` events of synthetic studio history, densely committed.
    ///
    /// # Errors
    /// The site has no people to act as, or the store failed.
    pub fn prefill(&self, n_events: u64) -> Result<(), SimError> {
        let seed = self.site.lock().next_event_id.unsigned_abs();
        Ok(activity::prefill(&self.site, n_events, seed)?)
    }

    /// The highest EventLogEntry id reads can see now (committed and visible).
    pub fn latest_event_id(&self) -> Option<i64> {
        self.site.lock().latest_visible_event(time::now_millis())
    }

    /// The id the next event will get (every id below it is committed, late or lost).
    pub fn next_event_id(&self) -> i64 {
        self.site.lock().next_event_id
    }

    /// Requests served per api3 method (malformed bodies count as `<malformed>`).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.site.counts()
    }

    /// Replaces the gap profile for later writes.
    ///
    /// # Errors
    /// Fractions outside 0..=1.
    pub fn set_gap_profile(&self, profile: GapProfile) -> Result<(), SimError> {
        profile.validate()?;
        self.site.lock().gaps.profile = profile;
        Ok(())
    }

    /// Installs a fault rule.
    ///
    /// # Errors
    /// An out-of-range rate or status.
    pub fn add_fault(&self, rule: FaultRule) -> Result<(), SimError> {
        rule.validate()?;
        self.site.faults().add(rule);
        Ok(())
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.site.faults().clear();
    }

    /// Stops serving and waits for the server task to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(activity) = self.activity.take() {
            let _ = activity.await;
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
