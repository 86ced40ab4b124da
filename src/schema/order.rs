//! Foreign-key order: the levels tables load in so that every table comes
//! after the tables it references (schema copy, `barge copy`, subsets).

/// Foreign-key levels: `references[i]` lists the tables table `i` references
/// (itself excluded). Every table comes after the tables it references;
/// where references form a cycle, the references of the table with the
/// fewest of them are deferred (returned as `(table, referenced)`), which
/// breaks it. Within a level, tables keep their order.
pub fn fk_levels(references: &[Vec<usize>]) -> (Vec<Vec<usize>>, Vec<(usize, usize)>) {
    let n = references.len();
    let mut placed = vec![false; n];
    let mut deferred: Vec<(usize, usize)> = Vec::new();
    let mut levels: Vec<Vec<usize>> = Vec::new();
    let pending = |i: usize, placed: &[bool], deferred: &[(usize, usize)]| -> Vec<usize> {
        references[i]
            .iter()
            .copied()
            .filter(|&r| r != i && r < placed.len() && !placed[r] && !deferred.contains(&(i, r)))
            .collect()
    };
    while placed.iter().any(|p| !p) {
        let ready: Vec<usize> = (0..n)
            .filter(|&i| !placed[i] && pending(i, &placed, &deferred).is_empty())
            .collect();
        if ready.is_empty() {
            // A cycle: defer the references of the table with the fewest.
            let Some(breaker) = (0..n)
                .filter(|&i| !placed[i])
                .min_by_key(|&i| (pending(i, &placed, &deferred).len(), i))
            else {
                break;
            };
            for r in pending(breaker, &placed, &deferred) {
                deferred.push((breaker, r));
            }
            continue;
        }
        for &i in &ready {
            placed[i] = true;
        }
        levels.push(ready);
    }
    (levels, deferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_follow_their_foreign_keys_and_cycles_are_broken() {
        // 0 customer; 1 invoice -> 0; 2 line -> 1, 3; 3 track -> 3 (self).
        let (levels, deferred) = fk_levels(&[vec![], vec![0], vec![1, 3], vec![3]]);
        assert_eq!(levels, vec![vec![0, 3], vec![1], vec![2]]);
        assert!(deferred.is_empty());
        // 0 <-> 1 cycle, 2 -> 0.
        let (levels, deferred) = fk_levels(&[vec![1], vec![0], vec![0]]);
        assert_eq!(deferred, vec![(0, 1)]);
        assert_eq!(levels, vec![vec![0], vec![1, 2]]);
    }
}
