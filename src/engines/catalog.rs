//! Connections as DataFusion catalogs: connection `src` is the catalog `src`
//! (`src.main.orders`) and also a schema of the default catalog resolving to
//! the connection's default schema (`src.orders`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::hooks::LoadHooks;
use super::sink::WriterSink;
use super::Connection;
use crate::error::EngineResult;
use crate::model::{TableName, TargetSpec};

/// Registers `connection` as catalog `NAME` and as schema `NAME` of the
/// default catalog. Returns its schemas so targets can be registered on them.
pub async fn register_connection(
    ctx: &SessionContext,
    connection: Arc<dyn Connection>,
) -> EngineResult<ConnectionCatalog> {
    let tables = connection.list_tables().await?;
    let default = connection.default_schema().to_string();
    let mut by_schema: BTreeMap<String, Vec<String>> = BTreeMap::new();
    by_schema.entry(default.clone()).or_default();
    for t in tables {
        by_schema
            .entry(t.schema.clone().unwrap_or_else(|| default.clone()))
            .or_default()
            .push(t.name);
    }
    let schemas: BTreeMap<String, Arc<ConnectionSchema>> = by_schema
        .into_iter()
        .map(|(schema, tables)| {
            let provider = Arc::new(ConnectionSchema {
                connection: connection.clone(),
                schema: schema.clone(),
                tables: RwLock::new(tables),
                targets: RwLock::new(HashMap::new()),
            });
            (schema, provider)
        })
        .collect();
    let catalog = ConnectionCatalog {
        connection: connection.clone(),
        schemas,
    };
    ctx.register_catalog(connection.name(), Arc::new(catalog.clone()));
    if let Some(default_schema) = catalog.schemas.get(&default) {
        let default_catalog = ctx
            .catalog(&ctx.copied_config().options().catalog.default_catalog)
            .ok_or_else(|| DataFusionError::Internal("no default catalog".into()))?;
        default_catalog.register_schema(connection.name(), default_schema.clone())?;
    }
    Ok(catalog)
}

/// The DataFusion catalog of one connection.
#[derive(Clone)]
pub struct ConnectionCatalog {
    connection: Arc<dyn Connection>,
    schemas: BTreeMap<String, Arc<ConnectionSchema>>,
}

impl fmt::Debug for ConnectionCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionCatalog")
            .field("connection", &self.connection.name())
            .finish()
    }
}

impl ConnectionCatalog {
    /// The schema provider of `schema` (the default schema when `None`).
    pub fn schema_provider(&self, schema: Option<&str>) -> Option<Arc<ConnectionSchema>> {
        let name = schema.unwrap_or(self.connection.default_schema());
        self.schemas.get(name).cloned()
    }
}

impl CatalogProvider for ConnectionCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.keys().cloned().collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.schemas
            .get(name)
            .or_else(|| {
                self.schemas
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .map(|s| s.clone() as Arc<dyn SchemaProvider>)
    }
}

/// One schema of a connection. Tables resolve through the connection (names
/// match exactly, else case-insensitively); a step's target is registered
/// here while the step writes it.
pub struct ConnectionSchema {
    connection: Arc<dyn Connection>,
    schema: String,
    tables: RwLock<Vec<String>>,
    targets: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
}

impl fmt::Debug for ConnectionSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSchema")
            .field("connection", &self.connection.name())
            .field("schema", &self.schema)
            .finish()
    }
}

impl ConnectionSchema {
    /// Makes `provider` answer for `table` until [`Self::unregister_target`].
    pub fn register_target(&self, table: &str, provider: Arc<dyn TableProvider>) {
        if let Ok(mut targets) = self.targets.write() {
            targets.insert(table.to_string(), provider);
        }
    }

    pub fn unregister_target(&self, table: &str) {
        if let Ok(mut targets) = self.targets.write() {
            targets.remove(table);
        }
    }

    fn table_name(&self, name: &str) -> TableName {
        TableName::new(Some(&self.schema), name)
    }
}

#[async_trait]
impl SchemaProvider for ConnectionSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.read().map(|t| t.clone()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.targets.read().ok().and_then(|t| t.get(name).cloned()) {
            return Ok(Some(t));
        }
        let connection = self.connection.clone();
        if let Some(p) = connection
            .clone()
            .table_provider(&self.table_name(name))
            .await?
        {
            return Ok(Some(p));
        }
        // Names match case-insensitively when exactly one table fits.
        let tables = self.connection.list_tables().await?;
        let matches: Vec<_> = tables
            .iter()
            .filter(|t| {
                t.schema
                    .as_deref()
                    .unwrap_or(self.connection.default_schema())
                    == self.schema
                    && t.name.eq_ignore_ascii_case(name)
            })
            .collect();
        if let [only] = matches.as_slice() {
            return Ok(connection.table_provider(only).await?);
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables
            .read()
            .map(|t| t.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .unwrap_or(false)
    }
}

/// A step's target while the step runs: `INSERT INTO` it streams into the
/// connection's writer through [`WriterSink`]; reads go to the table itself.
pub struct TargetTable {
    connection: Arc<dyn Connection>,
    target: TargetSpec,
    schema: SchemaRef,
    source: Option<Arc<dyn TableProvider>>,
    hooks: LoadHooks,
}

impl TargetTable {
    /// `target` of `schema`, read through `source` (when the table exists)
    /// and written through a [`WriterSink`] driven by `hooks`.
    pub fn new(
        connection: Arc<dyn Connection>,
        target: TargetSpec,
        schema: SchemaRef,
        source: Option<Arc<dyn TableProvider>>,
        hooks: LoadHooks,
    ) -> Self {
        Self {
            connection,
            target,
            schema,
            source,
            hooks,
        }
    }
}

impl fmt::Debug for TargetTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetTable")
            .field("connection", &self.connection.name())
            .field("table", &self.target.table)
            .finish()
    }
}

#[async_trait]
impl TableProvider for TargetTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match &self.source {
            Some(source) => source.scan(state, projection, filters, limit).await,
            None => {
                let empty = datafusion::datasource::empty::EmptyTable::new(self.schema.clone());
                empty.scan(state, projection, filters, limit).await
            }
        }
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let sink = WriterSink::new(
            self.connection.clone(),
            self.target.clone(),
            self.schema.clone(),
            self.hooks.clone(),
        );
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}
