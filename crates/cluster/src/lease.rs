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
    /// What this node writes while it holds the lease: its name, a newline and a token unique
    /// to this handle, so that after an unanswered write it can tell its own entry from one a
    /// restarted process of the same name wrote.
    value: Bytes,
    /// The revision this node last wrote while holding the lease.
    revision: Option<u64>,
    term: u64,
}

/// A token unique to one lease handle on one host: process id, a per-process counter and the
/// time it was made.
fn tenure_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The node name in a lease entry's value (everything before the first newline).
fn holder_name(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split('\n').next().unwrap_or_default().to_owned()
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
        let node = cluster.settings().node.clone();
        Ok(Lease {
            store,
            value: Bytes::from(format!("{node}\n{}", tenure_token())),
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
        if let Some(revision) = self.revision {
            match self.store.update(KEY, self.value.clone(), revision).await {
                Ok(next) => {
                    self.revision = Some(next);
                    return Ok(Standing::Leader { term: self.term });
                }
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                    // Either the lease lapsed and was taken, or an earlier write of ours went
                    // through without an answer. Only the entry can tell.
                    if let Some(standing) = self.reclaim().await? {
                        return Ok(standing);
                    }
                    self.revision = None;
                }
                Err(err) => {
                    // Keep the revision: the write may or may not have reached the servers,
                    // and the next renewal finds out which.
                    return Err(ClusterError::js("renew the lease", err));
                }
            }
        }
        match self.store.create(KEY, self.value.clone()).await {
            Ok(revision) => {
                self.revision = Some(revision);
                self.term = revision;
                Ok(Standing::Leader { term: revision })
            }
            Err(err) if err.kind() == CreateErrorKind::AlreadyExists => {
                let entry = self.current().await?;
                match entry {
                    // Our own create landed without an answer: the tenure began at it.
                    Some(entry) if entry.value == self.value => {
                        self.revision = Some(entry.revision);
                        self.term = entry.revision;
                        Ok(Standing::Leader { term: self.term })
                    }
                    other => Ok(Standing::Follower {
                        holder: other.map(|entry| holder_name(&entry.value)),
                    }),
                }
            }
            Err(err) => Err(ClusterError::js("take the lease", err)),
        }
    }

    /// After a refused renewal: when the entry is still this handle's own (a write of ours
    /// landed but its answer was lost), renews on the entry's revision and keeps the term.
    /// `None` when the entry belongs to someone else or is gone.
    async fn reclaim(&mut self) -> Result<Option<Standing>, ClusterError> {
        let Some(entry) = self
            .current()
            .await?
            .filter(|entry| entry.value == self.value)
        else {
            return Ok(None);
        };
        let next = self
            .store
            .update(KEY, self.value.clone(), entry.revision)
            .await
            .map_err(|err| ClusterError::js("renew the lease", err))?;
        self.revision = Some(next);
        Ok(Some(Standing::Leader { term: self.term }))
    }

    /// The node that holds the lease now, if any.
    ///
    /// # Errors
    /// [`ClusterError::JetStream`] when NATS cannot be asked.
    pub async fn holder(&self) -> Result<Option<String>, ClusterError> {
        Ok(self.current().await?.map(|entry| holder_name(&entry.value)))
    }

    /// The lease entry as it stands, when one is held.
    async fn current(&self) -> Result<Option<kv::Entry>, ClusterError> {
        let entry = self
            .store
            .entry(KEY)
            .await
            .map_err(|err| ClusterError::js("read the lease", err))?;
        Ok(entry.filter(|entry| entry.operation == kv::Operation::Put))
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
