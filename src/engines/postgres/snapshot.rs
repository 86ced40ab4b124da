//! The exported snapshot every read of a PostgreSQL source shares.
//!
//! At the first read a coordinator session runs `BEGIN ISOLATION LEVEL
//! REPEATABLE READ READ ONLY; SELECT pg_export_snapshot()` and stays open,
//! idle in its transaction, while the connection lives. Every reading
//! session (a scan's partition, a pass-through reader) then runs `BEGIN
//! ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT
//! '<id>'` before its COPY, as pg_dump's parallel workers do, so every read
//! of the run sees the database as it was at that one moment. Catalog
//! queries (columns, row estimates, partition bounds) run outside it.
//!
//! A server that will not export a snapshot leaves the reads as they were,
//! each seeing the data of its own moment, with a warning. A coordinator
//! whose session closed (the server restarted, the network dropped) is
//! replaced by a new one for the reads after it, with a warning: those reads
//! see a later moment than the ones before.

use tokio::sync::Mutex;
use tokio_postgres::Client;

use super::connector::{describe, Connector};
use crate::engines::{ReadSnapshot, SnapshotMode};
use crate::error::EngineResult;

/// The snapshot of one connection: how it was asked for, and its state.
#[derive(Debug)]
pub(crate) struct SharedSnapshot {
    mode: SnapshotMode,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The coordinator session holding the snapshot, and its id.
    holder: Option<(Client, String)>,
    /// The id of the first snapshot the reads took.
    first: Option<String>,
    /// Why the reads are not one snapshot, once they are not.
    broken: Option<String>,
    /// The server refused to export a snapshot: reads go on without.
    export_refused: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("first", &self.first)
            .field("broken", &self.broken)
            .finish()
    }
}

impl SharedSnapshot {
    pub(crate) fn new(mode: SnapshotMode) -> Self {
        Self {
            mode,
            state: Mutex::new(State::default()),
        }
    }

    /// The id of the snapshot a read imports, taking it at the first read;
    /// `None` when reads take no snapshot. Fails only when the server
    /// cannot be reached (the read would fail too).
    pub(crate) async fn id(&self, connector: &Connector) -> EngineResult<Option<String>> {
        if !matches!(self.mode, SnapshotMode::Shared { .. }) {
            return Ok(None);
        }
        let mut state = self.state.lock().await;
        if let Some((client, id)) = &state.holder {
            if !client.is_closed() {
                return Ok(Some(id.clone()));
            }
        }
        if state.export_refused {
            return Ok(None);
        }
        let client = connector.connect().await?;
        match export(&client).await {
            Ok(id) => {
                if let Some((_, old)) = &state.holder {
                    let why = format!(
                        "the session holding snapshot {old} closed, and the reads after it use snapshot {id}, a later moment"
                    );
                    tracing::warn!("connection '{}': {why}", connector.name());
                    state.broken.get_or_insert(why);
                }
                tracing::info!(
                    "connection '{}': reads share PostgreSQL exported snapshot {id}",
                    connector.name()
                );
                state.first.get_or_insert_with(|| id.clone());
                state.holder = Some((client, id.clone()));
                Ok(Some(id))
            }
            Err(e) => {
                let why = format!(
                    "PostgreSQL would not export a snapshot ({e}), so each read sees the data as it is when it runs"
                );
                tracing::warn!(
                    "connection '{}': the reads of this run are not one snapshot: {why}",
                    connector.name()
                );
                state.broken.get_or_insert(why);
                state.export_refused = true;
                Ok(None)
            }
        }
    }

    /// What the reads so far saw.
    pub(crate) async fn describe(&self) -> ReadSnapshot {
        if let Some(why) = self.mode.why_not() {
            return ReadSnapshot::NotOne(why.to_string());
        }
        let state = self.state.lock().await;
        match (&state.broken, &state.first) {
            (Some(why), _) => ReadSnapshot::NotOne(why.clone()),
            (None, Some(id)) => ReadSnapshot::One(format!("PostgreSQL exported snapshot {id}")),
            (None, None) => ReadSnapshot::One(
                "a PostgreSQL exported snapshot, not taken yet: nothing was read".to_string(),
            ),
        }
    }
}

/// Opens the snapshot's transaction on `client` and exports it.
async fn export(client: &Client) -> Result<String, String> {
    // An idle coordinator must outlive the server's idle-transaction limit
    // (a setting older servers lack: ignored there).
    let _ = client
        .batch_execute("SET idle_in_transaction_session_timeout = 0")
        .await;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| describe(&e))?;
    let row = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(|e| describe(&e))?;
    let id: String = row.try_get(0).map_err(|e| describe(&e))?;
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(format!("an unexpected snapshot id '{id}'"));
    }
    Ok(id)
}

/// The statements a reading session runs before its COPY to see snapshot `id`.
pub(crate) fn import_sql(id: &str) -> String {
    format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
        id.replace('\'', "''")
    )
}

#[cfg(test)]
mod tests;
