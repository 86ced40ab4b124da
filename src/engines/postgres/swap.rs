//! `replace` of an existing PostgreSQL table that keeps the table: the
//! shadow is `CREATE TABLE shadow (LIKE target INCLUDING ALL)` (types,
//! defaults, NOT NULL, CHECK and unique constraints, indexes, identity), and
//! the swap, run in the load's transaction, gives the new table what `LIKE`
//! does not copy: its foreign keys, the foreign keys of other tables that
//! reference it (dropped and added again, so they are checked against the
//! new rows), its triggers, its grants, its index names, and its sequences.
//! A view over the table makes the swap fail, and the load with it.

use tokio_postgres::Client;

use super::connector::Connector;
use crate::error::EngineResult;
use crate::ident::{quote, Quoting};
use crate::model::TableName;

/// What the swap must restore, read from the catalog before the load.
struct Keep {
    /// `ALTER TABLE ... ADD CONSTRAINT` of the target's foreign keys.
    own_fks: Vec<String>,
    /// Other tables' foreign keys to the target: (table, constraint, definition).
    incoming_fks: Vec<(String, String, String)>,
    /// `CREATE TRIGGER` statements.
    triggers: Vec<String>,
    /// `GRANT` statements.
    grants: Vec<String>,
    /// Columns whose values come from a sequence: (column, identity?).
    sequenced: Vec<(String, bool, Option<String>)>,
}

/// Whether the target's columns include every column in `columns`.
pub(crate) async fn keeps_definition(
    client: &Client,
    connector: &Connector,
    target: &TableName,
    columns: &[String],
) -> EngineResult<bool> {
    let existing =
        super::connect::PostgresConnection::column_types(client, connector, target).await?;
    Ok(!existing.is_empty()
        && columns
            .iter()
            .all(|c| existing.iter().any(|(name, ..)| name == c)))
}

/// The shadow created from the target's own definition.
pub(crate) fn shadow_like(target: &TableName, shadow: &TableName) -> String {
    format!(
        "CREATE TABLE {} (LIKE {} INCLUDING ALL)",
        Quoting::Double.table(shadow),
        Quoting::Double.table(target)
    )
}

/// The statements replacing `target` by `shadow` in one transaction;
/// `kept`: the shadow was made by [`shadow_like`] (so what `LIKE` does not
/// copy is restored).
pub(crate) async fn swap_sql(
    client: &Client,
    connector: &Connector,
    shadow: &TableName,
    target: &TableName,
    target_exists: bool,
    kept: bool,
) -> EngineResult<Vec<String>> {
    let t = Quoting::Double.table(target);
    let s = Quoting::Double.table(shadow);
    let keep = if target_exists {
        Some(read_keep(client, connector, target, kept).await?)
    } else {
        None
    };
    let mut out = Vec::new();
    if let Some(keep) = &keep {
        for (table, name, _) in &keep.incoming_fks {
            out.push(format!(
                "ALTER TABLE {table} DROP CONSTRAINT {}",
                quote(name)
            ));
        }
        // A serial column's sequence belongs to the old table: it must
        // outlive the DROP (the shadow's default uses it).
        for (_, identity, sequence) in &keep.sequenced {
            if let (false, Some(sequence)) = (identity, sequence) {
                out.push(format!("ALTER SEQUENCE {sequence} OWNED BY NONE"));
            }
        }
        out.push(format!("DROP TABLE {t}"));
    }
    out.push(format!("ALTER TABLE {s} RENAME TO {}", quote(&target.name)));
    // Indexes (and the constraints they back) take the target's names.
    out.push(format!(
        "DO $barge$ DECLARE i record; BEGIN FOR i IN SELECT c.relname FROM pg_index x \
         JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = {}::regclass \
         AND left(c.relname, {}) = {} LOOP EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', \
         {}, i.relname, {} || substr(i.relname, {})); END LOOP; END $barge$",
        literal(&t),
        shadow.name.chars().count(),
        literal(&shadow.name),
        literal(target.schema.as_deref().unwrap_or("public")),
        literal(&target.name),
        shadow.name.chars().count() + 1
    ));
    if let Some(keep) = keep {
        out.extend(keep.own_fks);
        for (table, name, definition) in &keep.incoming_fks {
            out.push(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {definition}",
                quote(name)
            ));
        }
        out.extend(keep.triggers);
        out.extend(keep.grants);
        for (column, identity, sequence) in &keep.sequenced {
            let c = quote(column);
            let sequence = match (identity, sequence) {
                (false, Some(sequence)) => {
                    out.push(format!("ALTER SEQUENCE {sequence} OWNED BY {t}.{c}"));
                    literal(sequence)
                }
                _ => format!(
                    "pg_get_serial_sequence({}, {})",
                    literal(&t),
                    literal(column)
                ),
            };
            out.push(format!(
                "SELECT setval({sequence}, COALESCE((SELECT max({c}) FROM {t}), 0) + 1, false)"
            ));
        }
    }
    Ok(out)
}

/// A SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What the old table has that the swap must restore.
async fn read_keep(
    client: &Client,
    connector: &Connector,
    target: &TableName,
    kept: bool,
) -> EngineResult<Keep> {
    let label = target.to_string();
    let regclass = Quoting::Double.table(target);
    let query = |sql: &'static str| {
        let regclass = regclass.clone();
        let label = label.clone();
        async move {
            client
                .query(sql, &[&regclass])
                .await
                .map_err(|e| connector.error(Some(&label), e).with_sql(sql))
        }
    };
    const INCOMING: &str =
        "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
        FROM pg_constraint WHERE contype = 'f' AND confrelid = $1::text::regclass \
        AND conrelid <> confrelid ORDER BY 1, 2";
    let incoming_fks = query(INCOMING)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    if !kept {
        // The shadow was made from the step's output: only what other
        // tables need of the target is restored.
        return Ok(Keep {
            own_fks: vec![],
            incoming_fks,
            triggers: vec![],
            grants: vec![],
            sequenced: vec![],
        });
    }
    let t = regclass.clone();
    const OWN_FKS: &str = "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
        WHERE contype = 'f' AND conrelid = $1::text::regclass ORDER BY 1";
    let own_fks = query(OWN_FKS)
        .await?
        .iter()
        .map(|r| {
            let name: String = r.get(0);
            let definition: String = r.get(1);
            format!(
                "ALTER TABLE {t} ADD CONSTRAINT {} {definition}",
                quote(&name)
            )
        })
        .collect();
    const TRIGGERS: &str = "SELECT pg_get_triggerdef(oid) FROM pg_trigger \
        WHERE tgrelid = $1::text::regclass AND NOT tgisinternal ORDER BY tgname";
    let triggers = query(TRIGGERS).await?.iter().map(|r| r.get(0)).collect();
    const GRANTS: &str = "SELECT a.privilege_type, \
        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, \
        a.is_grantable FROM pg_class c, aclexplode(c.relacl) a \
        WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner ORDER BY 2, 1";
    let grants = query(GRANTS)
        .await?
        .iter()
        .map(|r| {
            let privilege: String = r.get(0);
            let grantee: String = r.get(1);
            let grantable: bool = r.get(2);
            format!(
                "GRANT {privilege} ON {t} TO {grantee}{}",
                if grantable { " WITH GRANT OPTION" } else { "" }
            )
        })
        .collect();
    const SEQUENCED: &str = "SELECT a.attname::text, a.attidentity <> '', \
        pg_get_serial_sequence($1::text, a.attname) FROM pg_attribute a \
        WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped \
        AND pg_get_serial_sequence($1::text, a.attname) IS NOT NULL ORDER BY a.attnum";
    let sequenced = query(SEQUENCED)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    Ok(Keep {
        own_fks,
        incoming_fks,
        triggers,
        grants,
        sequenced,
    })
}
