//! SQLite (placeholder until the engine lands).
use std::sync::Arc;
use super::{Connection, OpenOptions};
use crate::error::{EngineError, EngineResult};
#[derive(Debug)]
pub struct SqliteConnection;
impl SqliteConnection {
    pub fn open(name: &str, _path: &str, _options: &OpenOptions) -> EngineResult<Arc<dyn Connection>> {
        Err(EngineError::unsupported(name, "sqlite is not built yet"))
    }
}
