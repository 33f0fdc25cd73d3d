//! Writing cursors: every worker commits its plugin's cursor through one shared store, with
//! group commit across plugins.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};

use tokio::sync::Notify;

use sgevents_store::{Cursor, PluginKey, Store, StoreError};

use crate::watch::relock;

/// Where cursors are persisted. Implemented for the SQLite store; tests may use memory.
pub trait CursorStore: Send + 'static {
    /// Saves all `updates` atomically (all or none).
    ///
    /// # Errors
    /// The store's error, naming it and the problem; the committer logs it and retries.
    fn save(&mut self, updates: &[(PluginKey, Cursor)]) -> Result<(), StoreError>;

    /// Where the cursors live, for messages (the database file).
    fn location(&self) -> String {
        "the cursor store".to_owned()
    }
}

impl CursorStore for Store {
    fn save(&mut self, updates: &[(PluginKey, Cursor)]) -> Result<(), StoreError> {
        Store::save(self, updates)
    }

    fn location(&self) -> String {
        format!("the state database {}", self.path().display())
    }
}

/// A handle to the cursor store, shared by every worker. Cloning is cheap.
///
/// Workers commit in line, with group commit: a worker queues its cursor, then either finds it
/// already written by another worker's transaction, or takes the store and writes everything
/// queued so far in one transaction. One small SQLite transaction (tens of microseconds in WAL
/// mode) is cheaper than handing every commit to another thread and waking up again, and the
/// grouping keeps many plugins from queueing behind each other.
#[derive(Clone)]
pub(crate) struct Committer {
    shared: Arc<Shared>,
}

struct Shared {
    store: Mutex<Box<dyn CursorStore>>,
    queue: Mutex<Queue>,
    /// Every ticket up to this one is durable.
    durable: AtomicU64,
    /// Woken after every write, so workers waiting on another's transaction look again.
    written: Notify,
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    /// The newest cursor per plugin not yet written, with its ticket.
    pending: BTreeMap<PluginKey, (Cursor, u64)>,
}

impl Committer {
    /// Wraps the store.
    pub(crate) fn new(store: Box<dyn CursorStore>) -> Committer {
        Committer {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                queue: Mutex::new(Queue {
                    next_ticket: 1,
                    pending: BTreeMap::new(),
                }),
                durable: AtomicU64::new(0),
                written: Notify::new(),
            }),
        }
    }

    /// Persists `cursor` and returns once it is durable.
    ///
    /// # Errors
    /// The store's message when the write failed; the cursor stays queued for the next write.
    pub(crate) async fn commit(&self, key: &PluginKey, cursor: &Cursor) -> Result<(), StoreError> {
        let ticket = self.enqueue(key, cursor);
        // Let the other workers ready on this thread queue their cursors first, so that one
        // transaction carries them all (with ten busy plugins, about one write per event
        // instead of ten). Alone, the task is polled again at once.
        tokio::task::yield_now().await;
        loop {
            // Registered before looking, so a write that ends in between still wakes us.
            let written = self.shared.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.shared.durable.load(Ordering::Acquire) >= ticket {
                return Ok(());
            }
            let wrote = match self.shared.store.try_lock() {
                Ok(mut store) => Some(self.write_queue(&mut store, ticket)),
                Err(TryLockError::Poisoned(poisoned)) => {
                    Some(self.write_queue(&mut poisoned.into_inner(), ticket))
                }
                // Another worker is writing; our cursor may be in its transaction.
                Err(TryLockError::WouldBlock) => None,
            };
            match wrote {
                Some(result) => return result,
                None => written.await,
            }
        }
    }

    /// Persists `cursor`, logging a failure instead of returning it: for progress over events
    /// the plugin never saw, which are harmless to replay after a crash.
    pub(crate) fn commit_later(&self, key: &PluginKey, cursor: &Cursor) {
        let ticket = self.enqueue(key, cursor);
        if let Err(err) = self.write_through(ticket) {
            tracing::warn!(logger = "engine", plugin = %key, error = %err, "Could not save the plugin's cursor; it is saved with its next event");
        }
    }

    fn enqueue(&self, key: &PluginKey, cursor: &Cursor) -> u64 {
        let mut queue = relock(&self.shared.queue);
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        match queue.pending.get_mut(key) {
            Some(entry) => *entry = (cursor.clone(), ticket),
            None => {
                queue.pending.insert(key.clone(), (cursor.clone(), ticket));
            }
        }
        ticket
    }

    /// Returns once `ticket` is durable, blocking on the store if another worker writes.
    fn write_through(&self, ticket: u64) -> Result<(), StoreError> {
        if self.shared.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let mut store = relock(&self.shared.store);
        self.write_queue(&mut store, ticket)
    }

    /// With the store held: writes everything queued in one transaction, unless `ticket` was
    /// written meanwhile.
    fn write_queue(&self, store: &mut Box<dyn CursorStore>, ticket: u64) -> Result<(), StoreError> {
        let shared = &self.shared;
        if shared.durable.load(Ordering::Acquire) >= ticket {
            return Ok(());
        }
        let batch = std::mem::take(&mut relock(&shared.queue).pending);
        let newest = batch
            .values()
            .map(|(_, ticket)| *ticket)
            .max()
            .unwrap_or(ticket);
        let updates: Vec<(PluginKey, Cursor)> = batch
            .iter()
            .map(|(key, (cursor, _))| (key.clone(), cursor.clone()))
            .collect();
        let result = match store.save(&updates) {
            Ok(()) => {
                // Tickets are handed out under the queue lock and the whole queue is taken,
                // so every ticket up to `newest` is now written (or superseded by a newer one).
                shared.durable.fetch_max(newest, Ordering::AcqRel);
                Ok(())
            }
            Err(err) => {
                // Put back what is not superseded, so the next writer retries it.
                let mut queue = relock(&shared.queue);
                for (key, entry) in batch {
                    queue.pending.entry(key).or_insert(entry);
                }
                Err(err)
            }
        };
        shared.written.notify_waiters();
        result
    }
}
