//! Which connections' reads share one snapshot in a run, and how many
//! reads of each may run at once (see [`SnapshotMode`]).
//!
//! A connection's reads share one snapshot when its `snapshot` setting is on
//! (the default) and no step writes to it, nor to another connection of the
//! same URL: a later step must see what an earlier step wrote.
//!
//! The reads that may run at once, which size a MySQL/MariaDB connection's
//! snapshot sessions: per step, its references to the connection's tables
//! times its `partitions` (default: the session's target partitions, the
//! number of cores); summed over the `jobs` largest steps (steps run at
//! once); at least one table's partitioned read; at most
//! [`MAX_SNAPSHOT_READERS`].

use std::collections::{BTreeMap, BTreeSet};

use datafusion::prelude::SessionContext;
use secrecy::ExposeSecret;

use super::{table_read, table_references};
use crate::config::Pipeline;
use crate::engines::SnapshotMode;

/// The most reads of one connection a run gives snapshot sessions to.
pub const MAX_SNAPSHOT_READERS: usize = 32;

/// The snapshot mode of each connection of `pipeline`, for a run of up to
/// `jobs` steps at once.
pub(super) fn modes(
    pipeline: &Pipeline,
    ctx: &SessionContext,
    jobs: usize,
) -> BTreeMap<String, SnapshotMode> {
    let written_urls: BTreeSet<&str> = pipeline
        .steps
        .iter()
        .filter_map(|s| pipeline.connection(&s.target.connection))
        .map(|c| c.url.expose_secret())
        .collect();
    let partitions = ctx.state().config().target_partitions().max(1);
    // Per step, its references to each connection.
    let references: Vec<BTreeMap<String, usize>> = pipeline
        .steps
        .iter()
        .map(|step| {
            let mut counts = BTreeMap::new();
            for reference in table_references(ctx, step).unwrap_or_default() {
                if let Some((connection, _)) = table_read(&reference) {
                    *counts.entry(connection).or_insert(0) += 1;
                }
            }
            counts
        })
        .collect();
    pipeline
        .connections
        .iter()
        .map(|c| {
            let mode = if !c.snapshot {
                SnapshotMode::Off
            } else if written_urls.contains(c.url.expose_secret()) {
                SnapshotMode::Written
            } else {
                let per_step: Vec<usize> = pipeline
                    .steps
                    .iter()
                    .zip(&references)
                    .map(|(step, counts)| {
                        counts.get(&c.name).copied().unwrap_or(0)
                            * step.partitions.unwrap_or(partitions)
                    })
                    .collect();
                SnapshotMode::Shared {
                    readers: readers(per_step, jobs, partitions),
                }
            };
            (c.name.clone(), mode)
        })
        .collect()
}

/// Reads that may run at once: the `jobs` largest steps' reads summed, at
/// least `floor` (one table's partitioned read), at most
/// [`MAX_SNAPSHOT_READERS`].
fn readers(mut per_step: Vec<usize>, jobs: usize, floor: usize) -> usize {
    per_step.sort_unstable_by(|a, b| b.cmp(a));
    let at_once: usize = per_step.iter().take(jobs.max(1)).sum();
    at_once.max(floor).clamp(1, MAX_SNAPSHOT_READERS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConnectionConfig, StepConfig, TargetRef};
    use crate::model::{TableName, WriteMode};

    fn connection(name: &str, url: &str, snapshot: bool) -> ConnectionConfig {
        ConnectionConfig {
            name: name.into(),
            url: url.to_string().into(),
            read_only: false,
            snapshot,
        }
    }

    fn step(name: &str, target: &str, sql: &str, partitions: Option<usize>) -> StepConfig {
        StepConfig {
            name: name.into(),
            target: TargetRef {
                connection: target.into(),
                table: TableName::new(None, name),
            },
            sql: sql.into(),
            key: vec![],
            mode: WriteMode::Append,
            depends_on: vec![],
            disable_fk_checks: false,
            partition_on: None,
            partitions,
            retry: Default::default(),
            chunk_rows: None,
            max_rejects: 0,
            origin: "test".into(),
        }
    }

    fn pipeline(connections: Vec<ConnectionConfig>, steps: Vec<StepConfig>) -> Pipeline {
        Pipeline {
            name: "p".into(),
            file: None,
            connections,
            params: Default::default(),
            steps,
            mappings: Default::default(),
            stage: None,
            subset: None,
            salt: None,
            memory_limit: crate::config::DEFAULT_MEMORY_LIMIT,
        }
    }

    fn ctx(partitions: usize) -> SessionContext {
        SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(partitions),
        )
    }

    #[test]
    fn only_connections_no_step_writes_share_a_snapshot() {
        let p = pipeline(
            vec![
                connection("src", "postgres://h/a", true),
                connection("off", "postgres://h/b", false),
                connection("dst", "postgres://h/c", true),
                // Another name for dst's database: reads must see its writes.
                connection("alias", "postgres://h/c", true),
            ],
            vec![
                step(
                    "t",
                    "dst",
                    "SELECT * FROM src.a JOIN off.b ON a.id = b.id",
                    Some(4),
                ),
                step("u", "dst", "SELECT * FROM alias.t", None),
            ],
        );
        let modes = modes(&p, &ctx(2), 2);
        assert_eq!(modes["src"], SnapshotMode::Shared { readers: 4 });
        assert_eq!(modes["off"], SnapshotMode::Off);
        assert_eq!(modes["dst"], SnapshotMode::Written);
        assert_eq!(modes["alias"], SnapshotMode::Written);
    }

    #[test]
    fn readers_count_the_reads_of_the_steps_that_run_at_once() {
        let p = pipeline(
            vec![
                connection("src", "mysql://h/a", true),
                connection("dst", "mysql://h/b", true),
            ],
            vec![
                // Two references, 3 partitions each: 6 reads.
                step(
                    "a",
                    "dst",
                    "SELECT * FROM src.x JOIN src.y ON x.id = y.id",
                    Some(3),
                ),
                // One reference at the session's 2 partitions.
                step("b", "dst", "SELECT * FROM src.z", None),
                step("c", "dst", "SELECT * FROM src.w", Some(5)),
            ],
        );
        // One step at a time: the largest, 6 reads.
        assert_eq!(
            modes(&p, &ctx(2), 1)["src"],
            SnapshotMode::Shared { readers: 6 }
        );
        // Two at a time: 6 + 5.
        assert_eq!(
            modes(&p, &ctx(2), 2)["src"],
            SnapshotMode::Shared { readers: 11 }
        );
        // A connection no step reads still gets one table's partitioned read.
        let source_only = pipeline(vec![connection("src", "mysql://h/a", true)], vec![]);
        assert_eq!(
            modes(&source_only, &ctx(3), 2)["src"],
            SnapshotMode::Shared { readers: 3 }
        );
        assert_eq!(readers(vec![40, 40], 2, 2), MAX_SNAPSHOT_READERS);
        assert_eq!(readers(vec![], 2, 0), 1);
    }
}
