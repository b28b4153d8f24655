//! Group commit, and connections that read beside it.
//!
//! Every step is written by one thread, the [`Writer`], which owns the
//! database's only writing connection. A request hands its step over and
//! waits; the writer takes every step queued meanwhile and writes them in
//! ONE transaction, so that one sync of the WAL makes all of them durable,
//! and only then answers each waiting request. The tick hands its
//! transits' steps over without waiting for each ([`Writer::submit`]), so
//! that its transactions hold many steps, not one per tick worker. A step is still all or
//! nothing (a transaction holds whole steps only, and a step SQLite refuses
//! is rolled back to a savepoint without touching the others), and the
//! audit chain follows the order the writer wrote the steps in, which is
//! the order they committed in.
//!
//! Reads go through [`Readers`], a few read-only connections: in WAL mode a
//! read sees the last commit and never waits for the writer's sync.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::store::{Step, Store, StoreError};

/// Most steps one transaction takes; the rest wait for the next one.
pub(super) const MAX_GROUP: usize = 256;

/// A step handed to the writer, and where its outcome goes.
struct Job {
    step: Step,
    done: SyncSender<Result<Step, StoreError>>,
}

/// The thread that writes every step, many to a transaction.
pub(crate) struct Writer {
    queue: Sender<Job>,
    store: Arc<Mutex<Store>>,
}

impl Writer {
    /// Starts the writer on `store`, the writing connection.
    pub(crate) fn start(store: Store) -> Result<Writer, StoreError> {
        let store = Arc::new(Mutex::new(store));
        let (queue, jobs) = mpsc::channel();
        let owned = Arc::clone(&store);
        thread::Builder::new()
            .name("escort-writer".to_owned())
            .spawn(move || write_groups(&owned, &jobs))
            .map_err(|e| StoreError::Failed(format!("cannot start the writer: {e}")))?;
        Ok(Writer { queue, store })
    }

    /// Hands `step` to the writer without waiting for it: it is committed
    /// with the steps queued beside it.
    pub(crate) fn submit(&self, step: Step) -> Pending {
        let (done, outcome) = mpsc::sync_channel(1);
        // A writer that stopped drops the job, which `Pending::wait` tells.
        let _ = self.queue.send(Job { step, done });
        Pending { outcome }
    }

    /// The writing connection, for the rare write that is no step (the
    /// policy timeline): it waits for the transaction under way, and the
    /// writer waits for it.
    pub(crate) fn shared(&self) -> Arc<Mutex<Store>> {
        Arc::clone(&self.store)
    }

    /// The writing connection itself, for setting up at start-up. Steps
    /// wait meanwhile.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

/// A step handed to the writer ([`Writer::submit`]), not known to be
/// committed yet.
pub(crate) struct Pending {
    outcome: Receiver<Result<Step, StoreError>>,
}

impl Pending {
    /// Waits for the step's transaction: the step back once it is
    /// committed; `Err` when it was not kept.
    pub(crate) fn wait(self) -> Result<Step, StoreError> {
        // Without an answer the writer dropped the job: it panicked (and
        // the transaction the step was in was rolled back), or had stopped.
        self.outcome.recv().unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Failed("the database writer stopped".to_owned())
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A poisoned lock only means a thread panicked between statements;
    // SQLite's transactions kept the file consistent.
    store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The writer's loop: waits for a step, takes every other step queued by
/// then, writes them in one transaction and answers each.
fn write_groups(store: &Mutex<Store>, jobs: &Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let outcomes = {
            let steps: Vec<&Step> = group.iter().map(|job| &job.step).collect();
            lock(store).save_all(&steps)
        };
        match outcomes {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.done.send(outcome.map(|()| job.step));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for job in group {
                    let _ = job.done.send(Err(StoreError::Failed(reason.clone())));
                }
            }
        }
    }
}

/// A connection out of the pool, put back when dropped (even by a panic).
struct Lease<'r> {
    readers: &'r Readers,
    store: Option<Store>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            self.readers.pool().idle.push(store);
            self.readers.freed.notify_one();
        }
    }
}

/// Read-only connections, opened as they are needed, up to a limit; a read
/// beyond it waits for one to be free.
pub(crate) struct Readers {
    path: PathBuf,
    limit: usize,
    pool: Mutex<Pool>,
    freed: Condvar,
}

struct Pool {
    idle: Vec<Store>,
    opened: usize,
}

impl Readers {
    pub(crate) fn new(path: &Path, limit: usize) -> Readers {
        Readers {
            path: path.to_owned(),
            limit: limit.max(1),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                opened: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Runs `read` on a free connection.
    pub(crate) fn with<R>(&self, read: impl FnOnce(&Store) -> Result<R, StoreError>) -> Result<R, StoreError> {
        let lease = Lease {
            readers: self,
            store: Some(self.take()?),
        };
        read(
            lease
                .store
                .as_ref()
                .expect("a lease holds its connection until dropped"),
        )
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(&self) -> Result<Store, StoreError> {
        let mut pool = self.pool();
        loop {
            if let Some(store) = pool.idle.pop() {
                return Ok(store);
            }
            if pool.opened < self.limit {
                pool.opened += 1;
                drop(pool);
                return Store::open_reader(&self.path).inspect_err(|_| self.pool().opened -= 1);
            }
            pool = self.freed.wait(pool).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}
