//! Reading files: a DataFusion [`ListingTable`] over one Parquet or CSV file,
//! and the row count from a Parquet footer.

use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;

use crate::error::{describe_datafusion, EngineError, EngineResult};
use crate::model::EngineKind;

/// How DataFusion reads files of `kind`: Parquet with the exact Arrow types
/// stored in the file (no view types), CSV with a header row, types inferred
/// from the data, and quoted newlines allowed in values.
pub fn listing_options(kind: EngineKind) -> ListingOptions {
    let format: Arc<dyn FileFormat> = match kind {
        EngineKind::Csv => Arc::new(
            CsvFormat::default()
                .with_has_header(true)
                .with_newlines_in_values(true),
        ),
        _ => {
            // Parquet min/max statistics leave NaN out, so pruning row groups
            // or pages on them can drop rows holding NaN
            // (apache/datafusion#24804): barge reads every row group.
            let mut format = ParquetFormat::default()
                .with_force_view_types(false)
                .with_enable_pruning(false);
            let mut options = format.options().clone();
            options.global.enable_page_index = false;
            format = format.with_options(options);
            Arc::new(format)
        }
    };
    // The URL names one file, so no extension filter is needed (and a glob may
    // match files without one).
    ListingOptions::new(format).with_file_extension("")
}

/// A `file://` URL for an absolute path, percent-encoded so that characters
/// such as `[`, `*`, `?`, `%` or spaces in a file name are taken literally.
pub fn file_url(path: &Path) -> Result<ListingTableUrl, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
    let mut url = String::with_capacity(text.len() + 8);
    url.push_str("file://");
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                url.push(byte as char)
            }
            other => url.push_str(&format!("%{other:02X}")),
        }
    }
    ListingTableUrl::parse(&url).map_err(|e| describe_datafusion(&e))
}

/// A TableProvider reading the file at `path` (absolute) as table `table` of
/// connection `connection`. The schema is read from the file (Parquet) or
/// inferred from its rows (CSV).
pub async fn listing_table(
    connection: &str,
    table: &str,
    path: &Path,
    kind: EngineKind,
) -> EngineResult<Arc<dyn TableProvider>> {
    let failed = |message: String| {
        EngineError::query(
            connection,
            Some(table),
            None,
            format!("cannot read {}: {message}", path.display()),
        )
    };
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size == 0 {
        return Err(failed(format!(
            "the file is empty (a valid {} file has at least a {})",
            kind_label(kind),
            if kind == EngineKind::Csv {
                "header row"
            } else {
                "footer"
            }
        )));
    }
    let url = file_url(path).map_err(failed)?;
    let options = listing_options(kind);
    let state = SessionStateBuilder::new().build();
    let schema = options
        .infer_schema(&state, &url)
        .await
        .map_err(|e| failed(describe_datafusion(&e)))?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema);
    let provider = ListingTable::try_new(config).map_err(|e| failed(describe_datafusion(&e)))?;
    Ok(Arc::new(provider))
}

/// Rows in a Parquet file, from its footer (no data is read).
pub fn parquet_row_count(connection: &str, table: &str, path: &Path) -> EngineResult<u64> {
    let failed = |message: String| {
        EngineError::query(
            connection,
            Some(table),
            None,
            format!("cannot read the footer of {}: {message}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| failed(e.to_string()))?;
    let rows = metadata.file_metadata().num_rows();
    u64::try_from(rows).map_err(|_| failed(format!("negative row count {rows}")))
}

/// `Parquet` or `CSV`, for messages.
pub fn kind_label(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Csv => "CSV",
        _ => "Parquet",
    }
}

/// The file extension of `kind`, without the dot.
pub fn extension(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Csv => "csv",
        _ => "parquet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_take_glob_characters_literally() {
        let url = file_url(Path::new("/tmp/a [1] *x?.parquet")).unwrap();
        assert!(url.get_glob().is_none());
        assert_eq!(url.prefix().as_ref(), "tmp/a [1] *x?.parquet");
    }
}
