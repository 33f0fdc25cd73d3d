//! Cluster mode on NATS JetStream: the connection and names a cluster's nodes share, the
//! poller's lease ([`lease`]), the event stream ([`stream`]) and plugin placement ([`place`]).
//!
//! Every node runs the same binary and config. One node at a time holds the lease and polls the
//! site; it publishes each event once into the cluster's stream, with the event id as the
//! message id, so a poller that takes over never publishes an event twice. Plugins are placed on
//! live nodes by rendezvous hashing.

pub mod feed;
pub mod lease;
pub mod members;
mod names;
pub mod place;
pub mod state;
pub mod stream;

use std::time::Duration;

pub use names::{NameError, Names};

/// How a node joins its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// NATS servers to try, in order (`nats://host:port`).
    pub nats_urls: Vec<String>,
    /// Names the stream, buckets and consumers, so clusters can share a NATS.
    pub name: String,
    /// This node's name (default: the host name).
    pub node: String,
    /// How long a lease lasts without renewal; a new leader polls within twice this.
    pub lease: Duration,
    /// How long an event stays in the stream; older ones are dropped by the server.
    pub stream_max_age: Duration,
}

/// How long a node waits for NATS to answer a listing or a pull before it gives up and asks
/// again (a request lost with the connection is otherwise never answered).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The shortest lease a cluster accepts.
pub const MIN_LEASE: Duration = Duration::from_secs(2);

/// Why the cluster could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The settings cannot work.
    #[error("cluster settings: {0}")]
    Settings(String),
    /// No NATS server of the list answered.
    #[error("cannot connect to NATS at {urls}: {source}")]
    Connect {
        /// The servers tried.
        urls: String,
        /// What the client said.
        source: async_nats::ConnectError,
    },
    /// JetStream refused or failed an operation.
    #[error("NATS JetStream: {what}: {detail}")]
    JetStream {
        /// What was being done.
        what: &'static str,
        /// The server's or client's words.
        detail: String,
    },
}

impl ClusterError {
    pub(crate) fn js(what: &'static str, err: impl std::fmt::Display) -> ClusterError {
        ClusterError::JetStream {
            what,
            detail: err.to_string(),
        }
    }
}

/// A node's connection to its cluster.
#[derive(Clone)]
pub struct Cluster {
    settings: ClusterSettings,
    names: Names,
    jetstream: async_nats::jetstream::Context,
}

impl Cluster {
    /// Connects to the first NATS server of `settings.nats_urls` that answers.
    ///
    /// # Errors
    /// [`ClusterError::Settings`] for a bad name or a lease under [`MIN_LEASE`];
    /// [`ClusterError::Connect`] when no server answers.
    pub async fn connect(settings: ClusterSettings) -> Result<Cluster, ClusterError> {
        if settings.lease < MIN_LEASE {
            return Err(ClusterError::Settings(format!(
                "lease_secs is {}; it must be at least {}",
                settings.lease.as_secs_f64(),
                MIN_LEASE.as_secs()
            )));
        }
        if settings.nats_urls.is_empty() {
            return Err(ClusterError::Settings(
                "nats_url is empty; give at least one nats://host:port".to_owned(),
            ));
        }
        let names =
            Names::new(&settings.name).map_err(|err| ClusterError::Settings(err.to_string()))?;
        let urls = settings.nats_urls.join(",");
        let addrs = settings
            .nats_urls
            .iter()
            .map(|url| {
                url.parse::<async_nats::ServerAddr>().map_err(|err| {
                    ClusterError::Settings(format!("nats_url `{url}` is not a NATS URL: {err}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let client = async_nats::ConnectOptions::new()
            .name(format!("sgevents {}", settings.node))
            .retry_on_initial_connect()
            .connect(addrs)
            .await
            .map_err(|source| ClusterError::Connect {
                urls: urls.clone(),
                source,
            })?;
        Ok(Cluster {
            settings,
            names,
            jetstream: async_nats::jetstream::new(client),
        })
    }

    /// The settings the node joined with.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The names of the cluster's stream, buckets and subjects.
    pub fn names(&self) -> &Names {
        &self.names
    }

    pub(crate) fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.jetstream
    }

    /// Opens (creating when needed) a key-value bucket that keeps only each key's latest
    /// value, on disk, with `replicas` copies; with `max_age`, entries not rewritten within it
    /// expire on the server's clock.
    pub(crate) async fn bucket(
        &self,
        bucket: String,
        what: &str,
        max_age: Option<Duration>,
        replicas: usize,
    ) -> Result<async_nats::jetstream::kv::Store, ClusterError> {
        self.jetstream
            .create_or_update_key_value(async_nats::jetstream::kv::Config {
                bucket: bucket.clone(),
                description: format!("sgevents: {what}"),
                history: 1,
                max_age: max_age.unwrap_or_default(),
                storage: async_nats::jetstream::stream::StorageType::File,
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|err| ClusterError::JetStream {
                what: "open a key-value bucket",
                detail: format!("{bucket} ({what}): {err}"),
            })
    }
}
