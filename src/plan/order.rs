//! Step order. A step runs after the steps whose targets it reads, after the
//! steps it names in `depends_on`, and after earlier steps writing the same
//! table. Steps are grouped in levels; the steps of one level are independent
//! and may run concurrently.

use crate::config::StepConfig;
use crate::error::Error;
use crate::session::TableRead;

/// The steps each step waits for (indices into `steps`). Steps writing into
/// one of `single_writer` connections (engines that take one writer at a
/// time, like SQLite) also run one after the other.
pub fn dependencies(
    steps: &[StepConfig],
    reads: &[Vec<TableRead>],
    single_writer: &[&str],
) -> Vec<Vec<usize>> {
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut deps: Vec<usize> = steps
                .iter()
                .enumerate()
                .filter(|(j, other)| {
                    *j != i && {
                        let writes_read = reads[i].iter().any(|(conn, table)| {
                            *conn == other.target.connection
                                && table.eq_ignore_ascii_case(&other.target.table.name)
                        });
                        let same_target_earlier = *j < i && other.target == step.target;
                        let same_single_writer = *j < i
                            && other.target.connection == step.target.connection
                            && single_writer.contains(&step.target.connection.as_str());
                        let named = step.depends_on.contains(&other.name);
                        writes_read || same_target_earlier || same_single_writer || named
                    }
                })
                .map(|(j, _)| j)
                .collect();
            deps.sort_unstable();
            deps
        })
        .collect()
}

/// Adds `(before, after)` edges to `deps` — `after` waits for `before` —
/// leaving out any edge that would close a cycle (its foreign key is then
/// not waited for: a cycle of foreign keys has no order that satisfies it).
pub fn add_edges_without_cycles(deps: &mut [Vec<usize>], edges: &[(usize, usize)]) {
    fn reaches(deps: &[Vec<usize>], from: usize, to: usize, seen: &mut Vec<bool>) -> bool {
        if from == to {
            return true;
        }
        if std::mem::replace(&mut seen[from], true) {
            return false;
        }
        deps[from].iter().any(|&d| reaches(deps, d, to, seen))
    }
    for &(before, after) in edges {
        if before == after || deps[after].contains(&before) {
            continue;
        }
        let mut seen = vec![false; deps.len()];
        if !reaches(deps, before, after, &mut seen) {
            deps[after].push(before);
            deps[after].sort_unstable();
        }
    }
}

/// Groups steps into levels: every step's dependencies are in earlier levels.
/// Within a level, steps keep their file order.
pub fn levels(steps: &[StepConfig], deps: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, Error> {
    let mut level_of: Vec<Option<usize>> = vec![None; steps.len()];
    let mut remaining = steps.len();
    let mut levels: Vec<Vec<usize>> = Vec::new();
    while remaining > 0 {
        let ready: Vec<usize> = (0..steps.len())
            .filter(|&i| level_of[i].is_none())
            .filter(|&i| deps[i].iter().all(|&d| level_of[d].is_some()))
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = (0..steps.len())
                .filter(|&i| level_of[i].is_none())
                .map(|i| steps[i].name.as_str())
                .collect();
            return Err(Error::Usage(format!(
                "steps depend on each other in a cycle: {}\n  hint: a step reads the target of another step that reads its own target; break the cycle or remove a depends_on",
                stuck.join(", ")
            )));
        }
        for &i in &ready {
            level_of[i] = Some(levels.len());
        }
        remaining -= ready.len();
        levels.push(ready);
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TargetRef;
    use crate::model::{TableName, WriteMode};

    #[test]
    fn foreign_key_edges_order_steps_but_never_close_a_cycle() {
        // 0 reads nothing; 1 and 2 reference each other; 2 references 0.
        let mut deps = vec![vec![], vec![], vec![]];
        add_edges_without_cycles(&mut deps, &[(0, 2), (2, 1), (1, 2), (1, 1)]);
        assert_eq!(deps, [vec![], vec![2], vec![0]]);
    }

    fn step(name: &str, target: &str) -> StepConfig {
        StepConfig {
            name: name.into(),
            target: TargetRef {
                connection: "dst".into(),
                table: TableName::new(None, target),
            },
            sql: String::new(),
            key: vec![],
            mode: WriteMode::Append,
            depends_on: vec![],
            disable_fk_checks: false,
            partition_on: None,
            partitions: None,
            retry: Default::default(),
            chunk_rows: None,
            max_rejects: 0,
            origin: String::new(),
        }
    }

    #[test]
    fn readers_of_a_target_wait_for_its_writer() {
        let steps = vec![
            step("orders", "orders"),
            step("categories", "categories"),
            step("products", "products"),
        ];
        let reads = vec![
            vec![("src".into(), "orders".into())],
            vec![("src".into(), "products".into())],
            vec![
                ("src".into(), "products".into()),
                ("dst".into(), "Categories".into()),
            ],
        ];
        let deps = dependencies(&steps, &reads, &[]);
        assert_eq!(deps, vec![vec![], vec![], vec![1]]);
        assert_eq!(levels(&steps, &deps).unwrap(), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn steps_into_a_single_writer_connection_run_in_turn() {
        let steps = vec![step("a", "a"), step("b", "b")];
        let reads: Vec<Vec<TableRead>> = vec![vec![], vec![]];
        let independent: Vec<Vec<usize>> = vec![vec![], vec![]];
        let in_turn: Vec<Vec<usize>> = vec![vec![], vec![0]];
        assert_eq!(dependencies(&steps, &reads, &[]), independent);
        assert_eq!(dependencies(&steps, &reads, &["dst"]), in_turn);
    }

    #[test]
    fn cycles_are_reported_with_their_steps() {
        let steps = vec![step("a", "a"), step("b", "b")];
        let reads = vec![
            vec![("dst".into(), "b".into())],
            vec![("dst".into(), "a".into())],
        ];
        let err = levels(&steps, &dependencies(&steps, &reads, &[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cycle: a, b"), "{err}");
    }
}
