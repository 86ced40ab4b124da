//! DuckDB databases open in this process: one [`Database`] per canonical
//! path in a process-wide registry, shared by every pipeline connection to
//! that file; every query or writer gets its own [`Session`] (a `try_clone`
//! of the base connection). The file is closed when the last connection and
//! session using it are gone.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::engines::OpenOptions;

/// Path of an in-memory database (never shared).
pub(super) const MEMORY: &str = ":memory:";

/// Open database files of this process, by canonical path.
static DATABASES: OnceLock<Mutex<HashMap<PathBuf, Weak<Database>>>> = OnceLock::new();

fn registry() -> MutexGuard<'static, HashMap<PathBuf, Weak<Database>>> {
    DATABASES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One open DuckDB database: the base connection sessions are cloned from.
pub(crate) struct Database {
    pub(super) path: PathBuf,
    /// The storage version a new file is written in (see
    /// [`DEFAULT_STORAGE_VERSION`]).
    storage_version: String,
    base: Mutex<Base>,
    /// Sessions alive (queries, writers).
    pub(super) sessions: AtomicUsize,
}

pub(super) struct Base {
    /// `None` only while the database is being reopened read-write.
    pub(super) conn: Option<duckdb::Connection>,
    /// Opened with `AccessMode::ReadOnly`.
    pub(super) read_only: bool,
}

impl Database {
    fn open(path: &Path, read_only: bool, storage_version: &str) -> duckdb::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            storage_version: storage_version.to_string(),
            base: Mutex::new(Base {
                conn: Some(open_file(path, read_only, storage_version)?),
                read_only,
            }),
            sessions: AtomicUsize::new(0),
        })
    }

    /// A private in-memory database (never in the registry).
    pub(super) fn in_memory(conn: duckdb::Connection) -> Self {
        Self {
            path: PathBuf::from(MEMORY),
            storage_version: DEFAULT_STORAGE_VERSION.to_string(),
            base: Mutex::new(Base {
                conn: Some(conn),
                read_only: false,
            }),
            sessions: AtomicUsize::new(0),
        }
    }

    pub(super) fn base(&self) -> MutexGuard<'_, Base> {
        self.base
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn is_read_only(&self) -> bool {
        self.base().read_only
    }
}

/// DuckDB's memory limit for the databases barge opens.
const MEMORY_LIMIT: &str = "64MB";

/// The storage version of the DuckDB files barge creates, unless the URL
/// says otherwise (`duckdb://PATH?storage_version=v1.4.0`): the oldest the
/// bundled DuckDB writes, so DuckDB 0.9 and every later release (the 1.x
/// CLI and Python package included) open them. The bundled DuckDB's own
/// format (`latest`) is read by no 1.x release.
pub const DEFAULT_STORAGE_VERSION: &str = "v0.9.0";

pub(super) fn open_file(
    path: &Path,
    read_only: bool,
    storage_version: &str,
) -> duckdb::Result<duckdb::Connection> {
    let mode = if read_only {
        duckdb::AccessMode::ReadOnly
    } else {
        duckdb::AccessMode::ReadWrite
    };
    // DuckDB's buffer manager otherwise keeps up to 80% of RAM of written
    // pages cached; a bounded pool keeps barge's memory flat on large loads
    // (DuckDB spills to its temp directory past it).
    // The version applies to a file DuckDB creates; an existing file keeps
    // its own.
    let config = duckdb::Config::default()
        .access_mode(mode)?
        .max_memory(MEMORY_LIMIT)?
        .with("storage_compatibility_version", storage_version)?;
    duckdb::Connection::open_with_flags(path, config)
}

/// A shared [`Database`]. The last handle closes the database while holding
/// the registry lock, so a concurrent open of the same file never sees a dead
/// entry whose file is still open.
pub(super) struct DbHandle(pub(super) Option<Arc<Database>>);

impl DbHandle {
    pub(super) fn db(&self) -> Option<&Arc<Database>> {
        self.0.as_ref()
    }
}

impl Clone for DbHandle {
    fn clone(&self) -> Self {
        DbHandle(self.0.clone())
    }
}

impl Drop for DbHandle {
    fn drop(&mut self) {
        if let Some(db) = self.0.take() {
            let mut registry = registry();
            let path = db.path.clone();
            drop(db);
            if registry.get(&path).is_some_and(|w| w.strong_count() == 0) {
                registry.remove(&path);
            }
        }
    }
}

/// A DuckDB connection of its own for one query or writer.
pub(crate) struct Session {
    pub(super) conn: std::mem::ManuallyDrop<duckdb::Connection>,
    pub(super) db: DbHandle,
}

impl Deref for Session {
    type Target = duckdb::Connection;
    fn deref(&self) -> &duckdb::Connection {
        &self.conn
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: `conn` is dropped exactly once, here, and never used after.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.conn) };
        if let Some(db) = self.db.db() {
            db.sessions.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The hint of a bad URL option.
pub(super) const URL_OPTIONS_HINT: &str = "the one URL option is storage_version (the DuckDB release whose file format new files use, e.g. duckdb://out.duckdb?storage_version=v1.4.0)";

/// The file path and storage version of what follows `duckdb://`.
pub(super) fn url_options(url_path: &str) -> Result<(&str, String), String> {
    let Some((path, query)) = url_path.split_once('?') else {
        return Ok((url_path, DEFAULT_STORAGE_VERSION.to_string()));
    };
    let mut version = DEFAULT_STORAGE_VERSION.to_string();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("storage_version", value)) if !value.is_empty() => version = value.to_string(),
            _ => return Err(format!("unknown URL option '{pair}'")),
        }
    }
    Ok((path, version))
}

/// Canonical path of the database file; creates its folder when the file may
/// be created. Errors are `(message, hint)`.
pub(super) fn canonical_path(
    path: &Path,
    options: &OpenOptions,
) -> Result<PathBuf, (String, Option<&'static str>)> {
    if path.exists() {
        if path.is_dir() {
            return Err(("is a directory, not a DuckDB database file".into(), None));
        }
        return path.canonicalize().map_err(|e| (e.to_string(), None));
    }
    if !options.create || options.read_only {
        return Err((
            "database file does not exist".into(),
            Some("check the path; barge creates a DuckDB file only for a connection that steps write to (and not read_only)"),
        ));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| ("the path has no file name".to_string(), None))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| {
        (
            format!("cannot create folder {}: {e}", parent.display()),
            None,
        )
    })?;
    let parent = parent.canonicalize().map_err(|e| (e.to_string(), None))?;
    Ok(parent.join(file_name))
}

/// The process's [`Database`] for `path`, opened when needed. A file opened
/// read-only is reopened read-write for a writing connection when no session
/// is using it.
pub(super) fn open_shared(
    path: &Path,
    read_only: bool,
    storage_version: &str,
) -> Result<Arc<Database>, (String, Option<&'static str>)> {
    let locked_hint = Some(
        "another process has the file open (DuckDB allows one writer process); close it and rerun",
    );
    let mut registry = registry();
    if let Some(db) = registry.get(path).and_then(Weak::upgrade) {
        let mut base = db.base();
        if read_only || !base.read_only {
            drop(base);
            return Ok(db);
        }
        // Opened read-only by another connection: reopen it read-write.
        if db.sessions.load(Ordering::SeqCst) > 0 {
            return Err((
                "the file is open read-only and in use by another connection of this run".into(),
                Some("list the writing connection before the read-only one in the pipeline"),
            ));
        }
        base.conn = None;
        match open_file(path, false, &db.storage_version) {
            Ok(conn) => {
                base.conn = Some(conn);
                base.read_only = false;
                drop(base);
                return Ok(db);
            }
            Err(e) => {
                base.conn = open_file(path, true, &db.storage_version).ok();
                return Err((e.to_string(), locked_hint));
            }
        }
    }
    let db = Arc::new(
        Database::open(path, read_only, storage_version).map_err(|e| {
            let message = e.to_string();
            let hint = if message.contains("storage_compatibility_version") {
                Some(URL_OPTIONS_HINT)
            } else {
                message.contains("lock").then_some(locked_hint).flatten()
            };
            (message, hint)
        })?,
    );
    registry.insert(path.to_path_buf(), Arc::downgrade(&db));
    Ok(db)
}
