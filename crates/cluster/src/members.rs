//! Which nodes are alive: each node writes its own key in a bucket whose entries expire after
//! `lease`, and renews it as the lease holder renews the lease. A node that stops writing
//! drops out of [`Members::live`] on the server's clock.

use async_nats::jetstream::kv;
use bytes::Bytes;
use futures_util::TryStreamExt;

use crate::{Cluster, ClusterError};

/// A node's handle on the member list.
pub struct Members {
    store: kv::Store,
    key: String,
}

impl Members {
    /// Opens (creating when needed) the member bucket with `replicas` copies.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the bucket cannot be created or opened.
    pub async fn open(cluster: &Cluster, replicas: usize) -> Result<Members, ClusterError> {
        let store = cluster
            .bucket(
                cluster.names().members_bucket(),
                "the live nodes",
                Some(cluster.settings().lease),
                replicas,
            )
            .await?;
        Ok(Members {
            store,
            key: crate::names::kv_key(&cluster.settings().node),
        })
    }

    /// The key [`Members::live`] lists for the node named `node`.
    pub fn key_of(node: &str) -> String {
        crate::names::kv_key(node)
    }

    /// Says this node is alive, with `about` (for example its status address) as the value.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn beat(&self, about: &str) -> Result<(), ClusterError> {
        self.store
            .put(&self.key, Bytes::from(about.to_owned()))
            .await
            .map(drop)
            .map_err(|err| ClusterError::js("write this node's member entry", err))
    }

    /// Removes this node at once (on a clean shutdown), so its plugins move without waiting.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked; the entry then expires.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        self.store
            .purge(&self.key)
            .await
            .map_err(|err| ClusterError::js("remove this node's member entry", err))
    }

    /// The live nodes as (key, what each last said in [`Members::beat`]), sorted by key.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn live_with_about(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let mut nodes = Vec::new();
        for key in self.live().await? {
            let about = self
                .store
                .get(&key)
                .await
                .map_err(|err| ClusterError::js("read a member entry", err))?;
            if let Some(about) = about {
                nodes.push((key, String::from_utf8_lossy(&about).into_owned()));
            }
        }
        Ok(nodes)
    }

    /// The live nodes' keys, sorted.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn live(&self) -> Result<Vec<String>, ClusterError> {
        // The listing is a consumer of the bucket: one cut off mid-way by a lost connection
        // never ends by itself.
        let listing = async {
            let keys = self
                .store
                .keys()
                .await
                .map_err(|err| ClusterError::js("list the live nodes", err))?;
            keys.try_collect::<Vec<String>>()
                .await
                .map_err(|err| ClusterError::js("list the live nodes", err))
        };
        let mut nodes = tokio::time::timeout(crate::ANSWER_WITHIN, listing)
            .await
            .map_err(|_| ClusterError::js("list the live nodes", "no answer from NATS"))??;
        nodes.sort();
        Ok(nodes)
    }
}
