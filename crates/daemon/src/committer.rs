//! The one thread that writes cursors: it folds concurrent commits from all plugin workers
//! into one SQLite transaction (group commit) and tells each worker when its cursor is durable.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use sgevents_store::{Cursor, PluginKey, Store};

/// Where cursors are persisted. Implemented for the SQLite store; tests may use memory.
pub trait CursorStore: Send + 'static {
    /// Saves all `updates` atomically (all or none).
    ///
    /// # Errors
    /// A message naming the store and the problem; the committer logs it and retries.
    fn save(&mut self, updates: &[(PluginKey, Cursor)]) -> Result<(), String>;
}

impl CursorStore for Store {
    fn save(&mut self, updates: &[(PluginKey, Cursor)]) -> Result<(), String> {
        Store::save(self, updates).map_err(|err| err.to_string())
    }
}

struct Request {
    key: PluginKey,
    cursor: Cursor,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// A handle to the committer thread. Cloning is cheap.
#[derive(Clone)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the committer thread. It ends when every handle is dropped, after a final write.
    ///
    /// # Errors
    /// When the operating system refuses a new thread.
    pub(crate) fn spawn(
        mut store: Box<dyn CursorStore>,
    ) -> std::io::Result<(Committer, thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel::<Request>();
        let handle = thread::Builder::new()
            .name("sgevents-committer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everything queued meanwhile goes into the same transaction; per plugin
                    // only the newest cursor matters.
                    let mut batch = BTreeMap::new();
                    let mut waiting = Vec::new();
                    for request in std::iter::once(first).chain(rx.try_iter()) {
                        batch.insert(request.key, request.cursor);
                        waiting.extend(request.done);
                    }
                    let updates: Vec<(PluginKey, Cursor)> = batch.into_iter().collect();
                    let result = store.save(&updates);
                    for done in waiting {
                        let _ = done.send(result.clone());
                    }
                }
            })?;
        Ok((Committer { tx }, handle))
    }

    /// Persists `cursor` and waits until it is durable.
    ///
    /// # Errors
    /// The store's message when the write failed, or when the committer is gone.
    pub(crate) async fn commit(&self, key: &PluginKey, cursor: &Cursor) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Request {
                key: key.clone(),
                cursor: cursor.clone(),
                done: Some(done),
            })
            .map_err(|_| "the cursor committer has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the cursor committer has stopped".to_owned())?
    }

    /// Queues `cursor` for the next transaction without waiting: for progress over events the
    /// plugin never saw, which are harmless to replay after a crash.
    pub(crate) fn commit_later(&self, key: &PluginKey, cursor: &Cursor) {
        let _ = self.tx.send(Request {
            key: key.clone(),
            cursor: cursor.clone(),
            done: None,
        });
    }
}
