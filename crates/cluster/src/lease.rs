//! The poller's lease: one key in a JetStream key-value bucket whose entries expire after
//! `lease`. The holder renews it by compare-and-set on the revision it last wrote; when the
//! holder stops renewing, the entry ages out on the server's clock and another node's
//! `create` succeeds. No node's clock is trusted.

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use bytes::Bytes;

use crate::{Cluster, ClusterError};

/// The key that holds the lease.
const KEY: &str = "poller";

/// Where this node stands after a renewal attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// This node holds the lease; `term` is the revision at which it took it, unique to this
    /// tenure, so writes made as leader can be fenced with it.
    Leader {
        /// The revision at which the lease was taken.
        term: u64,
    },
    /// Another node holds it (`holder`), or nobody does and it could not be taken this round.
    Follower {
        /// The holder's node name, when known.
        holder: Option<String>,
    },
}

/// This node's handle on the lease.
pub struct Lease {
    store: kv::Store,
    node: String,
    /// The revision this node last wrote while holding the lease.
    revision: Option<u64>,
    term: u64,
}

impl Lease {
    /// Opens (creating when needed) the lease bucket with `replicas` copies.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when the bucket cannot be created or opened.
    pub async fn open(cluster: &Cluster, replicas: usize) -> Result<Lease, ClusterError> {
        let store = cluster
            .bucket(
                cluster.names().lease_bucket(),
                "which node polls the site",
                Some(cluster.settings().lease),
                replicas,
            )
            .await?;
        Ok(Lease {
            store,
            node: cluster.settings().node.clone(),
            revision: None,
            term: 0,
        })
    }

    /// How often the holder should renew: a third of the lease, so two renewals may be lost
    /// before it lapses.
    pub fn renew_every(lease: std::time::Duration) -> std::time::Duration {
        lease / 3
    }

    /// Renews the lease if this node holds it, or takes it if nobody does.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked; the caller must then act as a
    /// follower (stop polling) until a renewal succeeds again.
    pub async fn renew(&mut self) -> Result<Standing, ClusterError> {
        let value = Bytes::from(self.node.clone());
        if let Some(revision) = self.revision {
            match self.store.update(KEY, value.clone(), revision).await {
                Ok(next) => {
                    self.revision = Some(next);
                    return Ok(Standing::Leader { term: self.term });
                }
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                    // Lapsed and taken (or expired): this tenure is over.
                    self.revision = None;
                }
                Err(err) => {
                    self.revision = None;
                    return Err(ClusterError::js("renew the lease", err));
                }
            }
        }
        match self.store.create(KEY, value).await {
            Ok(revision) => {
                self.revision = Some(revision);
                self.term = revision;
                Ok(Standing::Leader { term: revision })
            }
            Err(err) if err.kind() == CreateErrorKind::AlreadyExists => Ok(Standing::Follower {
                holder: self.holder().await?,
            }),
            Err(err) => Err(ClusterError::js("take the lease", err)),
        }
    }

    /// The node that holds the lease now, if any.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn holder(&self) -> Result<Option<String>, ClusterError> {
        let entry = self
            .store
            .entry(KEY)
            .await
            .map_err(|err| ClusterError::js("read the lease", err))?;
        Ok(entry
            .filter(|entry| entry.operation == kv::Operation::Put)
            .map(|entry| String::from_utf8_lossy(&entry.value).into_owned()))
    }

    /// Gives the lease up at once (on a clean shutdown), so another node need not wait for
    /// it to lapse. Does nothing when this node does not hold it.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked; the lease then lapses on its own.
    pub async fn release(&mut self) -> Result<(), ClusterError> {
        let Some(revision) = self.revision.take() else {
            return Ok(());
        };
        self.store
            .delete_expect_revision(KEY, Some(revision))
            .await
            .map_err(|err| ClusterError::js("release the lease", err))
    }
}
