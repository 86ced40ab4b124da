//! The consistent snapshot the reads of a MySQL/MariaDB source share.
//!
//! InnoDB gives a session a snapshot of its own with `START TRANSACTION WITH
//! CONSISTENT SNAPSHOT`; sessions whose transactions start while no commit
//! can happen see the same one. So, as mydumper does, a run before its first
//! load (`Connection::take_snapshot`; else the first read) opens the
//! connection's snapshot sessions (as many as reads of it may run at
//! once, see [`SnapshotMode::Shared`]), takes `FLUSH TABLES WITH READ LOCK`
//! on another session (with `lock_wait_timeout` of
//! [`LOCK_WAIT_SECONDS`]), starts every session's transaction, and runs
//! `UNLOCK TABLES`: commits wait for a few milliseconds. Each read then
//! takes a free snapshot session and gives it back when its result is read
//! to the end; a read that fails or stops early closes its session instead
//! (its transaction may be gone), and the others go on.
//!
//! The reads are not one snapshot, and a warning naming the connection says
//! so, when the lock is refused (the user lacks the RELOAD privilege, or a
//! lock was not granted in time: the sessions' snapshots are then started
//! one after another), or when a read finds no snapshot session free within
//! [`FREE_SESSION_WAIT`] (it reads on a session of its own instead of
//! waiting: a plan whose readers wait for each other never blocks).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use super::connect::{MySqlConnection, CONNECT_TIMEOUT};
use crate::engines::{ReadSnapshot, SnapshotMode};
use crate::error::EngineResult;

/// How long `FLUSH TABLES WITH READ LOCK` may wait for other sessions' locks.
pub const LOCK_WAIT_SECONDS: u32 = 10;

/// How long a read waits for a snapshot session to be given back before it
/// reads outside the snapshot.
pub const FREE_SESSION_WAIT: Duration = Duration::from_secs(5);

/// The snapshot sessions of one connection, opened at its first read.
pub(crate) struct Snapshots {
    mode: SnapshotMode,
    /// The options every session of the connection is opened with.
    opts: Opts,
    opened: OnceCell<Arc<Opened>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("mode", &self.mode)
            .finish()
    }
}

/// The sessions opened together, and what they saw.
struct Opened {
    /// Sessions no read is using.
    free: Mutex<Vec<Conn>>,
    /// One permit per free session.
    available: Arc<Semaphore>,
    /// Sessions opened; 0 when none could be.
    count: usize,
    /// Sessions closed by reads that failed or stopped early.
    lost: AtomicUsize,
    /// What the sessions' snapshot is, or why the reads are not one.
    taken: ReadSnapshot,
    /// Why later reads are not in the snapshot, once one was not.
    broken: Mutex<Option<String>>,
}

/// The session a read runs on: a snapshot session, or a pooled one.
pub(crate) struct ReadSession {
    conn: Conn,
    /// Where a snapshot session goes back to, with its permit.
    home: Option<(Arc<Opened>, OwnedSemaphorePermit)>,
}

impl ReadSession {
    /// The session.
    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// The read's result was read to its end: a snapshot session goes back
    /// to the free ones (a pooled one to the pool).
    pub(crate) fn release(self) {
        if let Some((home, permit)) = self.home {
            if let Ok(mut free) = home.free.lock() {
                free.push(self.conn);
            }
            drop(permit);
        }
    }

    /// The read stopped early: closes the session rather than read the rest
    /// of its result.
    pub(crate) async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

impl Snapshots {
    pub(crate) fn new(mode: SnapshotMode, opts: Opts) -> Self {
        Self {
            mode,
            opts,
            opened: OnceCell::new(),
        }
    }

    /// Opens the snapshot sessions now, when the reads share a snapshot and
    /// they are not open yet (see `Connection::take_snapshot`).
    pub(crate) async fn take(&self, mysql: &MySqlConnection) {
        if let SnapshotMode::Shared { readers } = self.mode {
            self.opened
                .get_or_init(|| async { Arc::new(self.open(mysql, readers.max(1)).await) })
                .await;
        }
    }

    /// A session for a read of `table`: a free snapshot session (opening
    /// them all at the first read) when the reads share a snapshot, else a
    /// pooled one.
    pub(crate) async fn session(
        &self,
        mysql: &MySqlConnection,
        table: &str,
    ) -> EngineResult<ReadSession> {
        let SnapshotMode::Shared { .. } = self.mode else {
            return pooled(mysql).await;
        };
        self.take(mysql).await;
        let Some(opened) = self.opened.get().cloned() else {
            return pooled(mysql).await;
        };
        if opened.count == 0 {
            return pooled(mysql).await;
        }
        // A read that failed or stopped early gave its permit back without
        // its session: the permit finds none, is dropped for good, and the
        // next one is tried.
        let mut waited_out = false;
        while opened.lost.load(Ordering::Relaxed) < opened.count {
            let wait = opened.available.clone().acquire_owned();
            let Ok(Ok(permit)) = tokio::time::timeout(FREE_SESSION_WAIT, wait).await else {
                waited_out = true;
                break;
            };
            let conn = opened.free.lock().ok().and_then(|mut free| free.pop());
            match conn {
                Some(conn) => {
                    return Ok(ReadSession {
                        conn,
                        home: Some((opened, permit)),
                    })
                }
                None => {
                    permit.forget();
                    opened.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let why = if waited_out {
            format!(
                "a read of {table} found none of the {} snapshot sessions free within {} s and read the data as it is when it ran (more reads ran at once than the snapshot sessions opened for them)",
                opened.count,
                FREE_SESSION_WAIT.as_secs()
            )
        } else {
            format!(
                "reads that failed or stopped early closed all {} snapshot sessions, so a read of {table} read the data as it is when it ran",
                opened.count
            )
        };
        opened.break_off(&mysql.name, why);
        pooled(mysql).await
    }

    /// What the reads so far saw.
    pub(crate) fn describe(&self) -> ReadSnapshot {
        if let Some(why) = self.mode.why_not() {
            return ReadSnapshot::NotOne(why.to_string());
        }
        let Some(opened) = self.opened.get() else {
            return ReadSnapshot::One(
                "a MySQL/MariaDB consistent snapshot, not taken yet: nothing was read".to_string(),
            );
        };
        match opened.broken.lock().ok().and_then(|b| b.clone()) {
            Some(why) => ReadSnapshot::NotOne(why),
            None => opened.taken.clone(),
        }
    }

    /// Opens `readers` snapshot sessions whose transactions start together
    /// under `FLUSH TABLES WITH READ LOCK`.
    async fn open(&self, mysql: &MySqlConnection, readers: usize) -> Opened {
        let connecting = (0..readers).map(|_| self.connect());
        let mut sessions = Vec::with_capacity(readers);
        let mut refused = None;
        for result in futures::future::join_all(connecting).await {
            match result {
                Ok(conn) => sessions.push(conn),
                Err(e) => refused = Some(e),
            }
        }
        if sessions.is_empty() {
            let why = format!(
                "no snapshot session could be opened ({}), so each read sees the data as it is when it runs",
                refused.unwrap_or_default()
            );
            return Opened::none(&mysql.name, why);
        }
        let lock = self.lock().await;
        let starting = sessions
            .iter_mut()
            .map(|conn| conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"));
        let started_ok: Vec<bool> = futures::future::join_all(starting)
            .await
            .iter()
            .map(Result::is_ok)
            .collect();
        let started = chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string();
        let locked = match lock {
            Ok(mut conn) => {
                let _ = conn.query_drop("UNLOCK TABLES").await;
                // Closing the session releases the lock whatever UNLOCK did.
                let _ = conn.disconnect().await;
                Ok(())
            }
            Err(e) => Err(e),
        };
        let sessions: Vec<Conn> = sessions
            .into_iter()
            .zip(started_ok)
            .filter_map(|(conn, ok)| ok.then_some(conn))
            .collect();
        let count = sessions.len();
        if count == 0 {
            return Opened::none(
                &mysql.name,
                "no snapshot transaction could be started, so each read sees the data as it is when it runs"
                    .to_string(),
            );
        }
        let taken = match locked {
            Ok(()) => {
                tracing::info!(
                    "connection '{}': reads share a consistent snapshot on {count} sessions",
                    mysql.name
                );
                ReadSnapshot::One(format!(
                    "MySQL/MariaDB consistent snapshot of {started}: {count} sessions whose transactions started together under FLUSH TABLES WITH READ LOCK"
                ))
            }
            Err(e) => {
                let why = format!(
                    "FLUSH TABLES WITH READ LOCK was refused ({e}), so the {count} snapshot sessions' transactions started one after another, and reads on different sessions may see different moments; grant the user RELOAD to read in one snapshot"
                );
                tracing::warn!(
                    "connection '{}': the reads of this run are not one snapshot: {why}",
                    mysql.name
                );
                ReadSnapshot::NotOne(why)
            }
        };
        Opened {
            free: Mutex::new(sessions),
            available: Arc::new(Semaphore::new(count)),
            count,
            lost: AtomicUsize::new(0),
            taken,
            broken: Mutex::new(None),
        }
    }

    /// A snapshot session: the connection's own session setup, then
    /// REPEATABLE READ (the isolation a consistent snapshot needs).
    async fn connect(&self) -> Result<Conn, String> {
        let attempt = async {
            let mut conn = Conn::new(self.opts.clone()).await?;
            conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await?;
            Ok::<_, mysql_async::Error>(conn)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
        }
    }

    /// A session holding `FLUSH TABLES WITH READ LOCK`.
    async fn lock(&self) -> Result<Conn, String> {
        let mut conn = self.connect().await?;
        conn.query_drop(format!(
            "SET SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}"
        ))
        .await
        .map_err(|e| e.to_string())?;
        conn.query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }
}

impl Opened {
    /// No snapshot sessions: reads use pooled sessions, and say why.
    fn none(connection: &str, why: String) -> Self {
        tracing::warn!(
            "connection '{connection}': the reads of this run are not one snapshot: {why}"
        );
        Self {
            free: Mutex::new(Vec::new()),
            available: Arc::new(Semaphore::new(0)),
            count: 0,
            lost: AtomicUsize::new(0),
            taken: ReadSnapshot::NotOne(why),
            broken: Mutex::new(None),
        }
    }

    /// Records (once, with a warning) why later reads are not all in the snapshot.
    fn break_off(&self, connection: &str, why: String) {
        let Ok(mut broken) = self.broken.lock() else {
            return;
        };
        if broken.is_none() {
            tracing::warn!(
                "connection '{connection}': the reads of this run are not one snapshot: {why}"
            );
            *broken = Some(why);
        }
    }
}

/// A pooled session (outside any snapshot).
async fn pooled(mysql: &MySqlConnection) -> EngineResult<ReadSession> {
    Ok(ReadSession {
        conn: mysql.conn().await?,
        home: None,
    })
}

#[cfg(test)]
mod tests;
