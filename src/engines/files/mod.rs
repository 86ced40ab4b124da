//! Parquet and CSV (placeholder until the engine lands).
use std::sync::Arc;
use super::{Connection, EngineKind, OpenOptions};
use crate::error::{EngineError, EngineResult};
#[derive(Debug)]
pub struct FileConnection;
impl FileConnection {
    pub fn open(name: &str, _path: &str, _kind: EngineKind, _options: &OpenOptions) -> EngineResult<Arc<dyn Connection>> {
        Err(EngineError::unsupported(name, "files are not built yet"))
    }
}
