//! Dependency order: the one ordering function behind sandboxes (`dependsOn`) and images
//! (`build.from`). Pure, linear, and without recursion (a chain's length comes from input).

use std::collections::{BTreeMap, BTreeSet};

/// `items` in an order where every dependency comes first: in passes over the input, each
/// taking, in input order, every item whose dependencies are all taken (ties keep the input
/// order, which is by name). Dependencies that are not among `items` are ignored; items in
/// or behind a cycle (which validation reports) are appended as they are.
///
/// Computed without the passes, in linear time: an item's pass is the latest pass of its
/// dependencies, plus one for a dependency that comes after it in the input (the pass had
/// already looked at the item when it took that dependency).
pub fn in_dependency_order<'a, T>(
    items: impl Iterator<Item = &'a T>,
    name: impl Fn(&T) -> &str,
    dependencies: impl Fn(&T) -> Vec<&str>,
) -> Vec<&'a T> {
    let items: Vec<&T> = items.collect();
    let mut position: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        position.entry(name(item)).or_insert(i);
    }
    let mut waiting_on = vec![0usize; items.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (i, item) in items.iter().enumerate() {
        let deps: BTreeSet<usize> = dependencies(item)
            .into_iter()
            .filter_map(|d| position.get(d).copied())
            .collect();
        waiting_on[i] = deps.len();
        for d in deps {
            dependants[d].push(i);
        }
    }
    let mut pass = vec![0usize; items.len()];
    let mut ready: Vec<usize> = (0..items.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut settled = Vec::with_capacity(items.len());
    while let Some(j) = ready.pop() {
        settled.push(j);
        for &i in &dependants[j] {
            pass[i] = pass[i].max(pass[j] + usize::from(j > i));
            waiting_on[i] -= 1;
            if waiting_on[i] == 0 {
                ready.push(i);
            }
        }
    }
    settled.sort_by_key(|&i| (pass[i], i));
    let stuck = (0..items.len()).filter(|&i| waiting_on[i] > 0);
    settled.into_iter().chain(stuck).map(|i| items[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition `in_dependency_order` computes in linear time.
    fn in_passes(items: &[(String, Vec<String>)]) -> Vec<&str> {
        let mut pending: Vec<&(String, Vec<String>)> = items.iter().collect();
        let known: BTreeSet<&str> = items.iter().map(|(n, _)| n.as_str()).collect();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::new();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|(name, deps)| {
                let ready = deps
                    .iter()
                    .all(|d| done.contains(d.as_str()) || !known.contains(d.as_str()));
                if ready {
                    done.insert(name);
                    order.push(name.as_str());
                }
                !ready
            });
            if pending.len() == before {
                order.extend(pending.drain(..).map(|(n, _)| n.as_str()));
            }
        }
        order
    }

    proptest! {
        #[test]
        fn dependency_order_matches_its_definition(
            edges in proptest::collection::vec(proptest::collection::vec(0usize..12, 0..4), 1..12)
        ) {
            let items: Vec<(String, Vec<String>)> = edges
                .iter()
                .enumerate()
                .map(|(i, deps)| (format!("n{i}"), deps.iter().map(|d| format!("n{d}")).collect()))
                .collect();
            let fast: Vec<&str> = in_dependency_order(
                items.iter(),
                |(n, _)| n.as_str(),
                |(_, deps)| deps.iter().map(String::as_str).collect(),
            )
            .into_iter()
            .map(|(n, _)| n.as_str())
            .collect();
            prop_assert_eq!(fast, in_passes(&items));
        }
    }

    #[test]
    fn a_long_dependency_chain_is_ordered_in_linear_time() {
        let n = 20_000;
        let items: Vec<(String, Vec<String>)> = (0..n)
            .map(|i| (format!("s{i:05}"), vec![format!("s{:05}", i + 1)]))
            .collect();
        let started = std::time::Instant::now();
        let order = in_dependency_order(
            items.iter(),
            |(n, _)| n.as_str(),
            |(_, deps)| deps.iter().map(String::as_str).collect(),
        );
        assert_eq!(order.first().unwrap().0, format!("s{:05}", n - 1));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
