//! State the nodes share, as JSON values in a key-value bucket, each written by
//! compare-and-set on the revision its writer last read: the poller's position (written only
//! by the lease holder, so a deposed leader's late write fails) and each plugin's standing.

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Cluster, ClusterError, names};

/// A value with the revision it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read<T> {
    /// The value.
    pub value: T,
    /// The revision to pass to [`Shared::write`].
    pub revision: u64,
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Somebody else wrote the key since it was read.
    #[error("`{0}` was changed by another node since it was read")]
    Conflict(String),
    /// NATS failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// A node's handle on the shared state.
pub struct Shared {
    store: kv::Store,
}

impl Shared {
    /// Opens (creating when needed) the state bucket with `replicas` copies.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the bucket cannot be created or opened.
    pub async fn open(cluster: &Cluster, replicas: usize) -> Result<Shared, ClusterError> {
        let store = cluster
            .bucket(
                cluster.names().state_bucket(),
                "positions and plugin state",
                None,
                replicas,
            )
            .await?;
        Ok(Shared { store })
    }

    /// The key under which `text` (for example a plugin's `folder/name`) is stored.
    pub fn key(kind: &str, text: &str) -> String {
        format!("{kind}.{}", names::kv_key(text))
    }

    /// Reads `key`; `None` when it was never written (or was deleted).
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked or the value is not the JSON of `T`
    /// (the message names the key).
    pub async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Read<T>>, ClusterError> {
        let entry = self
            .store
            .entry(key)
            .await
            .map_err(|err| ClusterError::js("read shared state", err))?;
        let Some(entry) = entry.filter(|entry| entry.operation == kv::Operation::Put) else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&entry.value).map_err(|err| {
            ClusterError::js(
                "read shared state",
                format!("`{key}` holds bad JSON: {err}"),
            )
        })?;
        Ok(Some(Read {
            value,
            revision: entry.revision,
        }))
    }

    /// Writes `key` if it is still at `revision` (`None`: only if it does not exist yet).
    /// Returns the new revision.
    ///
    /// # Errors
    /// [`WriteError::Conflict`] when another node wrote it first; [`WriteError::Cluster`] when
    /// NATS failed.
    pub async fn write<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        revision: Option<u64>,
    ) -> Result<u64, WriteError> {
        let bytes = Bytes::from(
            serde_json::to_vec(value)
                .map_err(|err| ClusterError::js("encode shared state", err))?,
        );
        match revision {
            Some(revision) => match self.store.update(key, bytes, revision).await {
                Ok(next) => Ok(next),
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                    Err(WriteError::Conflict(key.to_owned()))
                }
                Err(err) => Err(ClusterError::js("write shared state", err).into()),
            },
            None => match self.store.create(key, bytes).await {
                Ok(next) => Ok(next),
                Err(err) if err.kind() == CreateErrorKind::AlreadyExists => {
                    Err(WriteError::Conflict(key.to_owned()))
                }
                Err(err) => Err(ClusterError::js("write shared state", err).into()),
            },
        }
    }
}
