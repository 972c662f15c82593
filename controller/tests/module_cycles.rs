//! The library's modules depend on each other without cycles: a cycle means neither side
//! can be understood, tested or moved without the other.
//!
//! Every `crate::…` and `super::…` path in `controller/src/**/*.rs` (unit-test modules left
//! out) is an edge from the file's module to the deepest module the path names. A child's
//! use of its ancestors (what a parent re-exports) is not an edge: the parent contains it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_module_graph_has_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert_acyclic(module_graph(&src));
}

/// The same at the level of the crate's top-level modules (`reconcile`, `engine`, ...),
/// where a child's use of a module counts as its parent's.
#[test]
fn the_top_level_modules_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_string();
    let mut graph = Graph::new();
    for (from, to) in module_graph(&src) {
        let edges = graph.entry(top(&from)).or_default();
        edges.extend(to.iter().map(|t| top(t)).filter(|t| *t != top(&from)));
    }
    assert_acyclic(graph);
}

fn assert_acyclic(mut graph: Graph) {
    // Every cycle, one edge of each taken out to find the next, so one run names them all.
    let mut cycles = Vec::new();
    while let Some(cycle) = find_cycle(&graph) {
        let (from, to) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
        if let Some(edges) = graph.get_mut(from) {
            edges.remove(to);
        }
        cycles.push(cycle.join(" -> "));
    }
    assert!(
        cycles.is_empty(),
        "import cycles between modules (each `a -> b` means a uses b):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn the_parser_sees_nested_groups_and_super() {
    let modules: BTreeSet<String> = ["a", "a::b", "a::c", "d", "e"].map(String::from).into();
    let text = "use crate::{d::X, e};\nuse super::c::Y;\n// use crate::never;\nfn f() { crate::d::g(); }\n";
    let edges = edges_of("a::b", text, &modules, &BTreeMap::new());
    assert_eq!(edges, ["a::c", "d", "e"].map(String::from).into());
    let parent = "mod b;\nmod c;\npub use b::X;\nfn f() { not_c::g(); }\n";
    assert_eq!(
        edges_of("a", parent, &modules, &BTreeMap::new()),
        ["a::b".to_string()].into()
    );
    let reexports = root_reexports("pub use d::{X, Y as Z};\npub use e::W;\n");
    assert_eq!(
        edges_of("a::b", "use crate::{Z, W};", &modules, &reexports),
        ["d", "e"].map(String::from).into()
    );
    let mut graph = Graph::new();
    graph.insert("x".into(), ["y".to_string()].into());
    graph.insert("y".into(), ["x".to_string()].into());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["x".into(), "y".into(), "x".into()])
    );
}

/// The names `lib.rs` re-exports (`pub use error::Error;`), with the module each is from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub use "))
    {
        let line = line.trim_end_matches(';');
        let (module, items) = match line.split_once("::{") {
            Some((m, items)) => (m, items.trim_end_matches('}')),
            None => match line.rsplit_once("::") {
                Some((m, item)) => (m, item),
                None => continue,
            },
        };
        for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let name = item.rsplit(" as ").next().unwrap_or(item);
            names.insert(name.to_string(), module.to_string());
        }
    }
    // `pub type Result<T, E = Error>` is the error module's too.
    if lib.contains("pub type Result<") {
        names.insert("Result".to_string(), "error".to_string());
    }
    names
}

/// Every module (by path, `lib.rs` as `crate`) and the modules it uses.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect_rs(src, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap_or(f).with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            let name = if parts.is_empty() {
                "crate".to_string()
            } else {
                parts.join("::")
            };
            let text = std::fs::read_to_string(f).unwrap_or_default();
            (name, text)
        })
        .collect();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let reexports = root_reexports(modules.get("crate").map_or("", String::as_str));
    modules
        .iter()
        .map(|(name, text)| (name.clone(), edges_of(name, text, &names, &reexports)))
        .collect()
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules `module`'s source uses, ancestors and itself left out.
fn edges_of(
    module: &str,
    text: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    // Unit tests may reach anywhere; they are not part of the library's structure.
    let code = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let own: Vec<&str> = if module == "crate" {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut edges = BTreeSet::new();
    for (root, base) in [
        ("crate::", Vec::new()),
        ("super::", own[..own.len().saturating_sub(1)].to_vec()),
    ] {
        let mut at = 0;
        while let Some(found) = code[at..].find(root) {
            let start = at + found;
            at = start + root.len();
            // `foo_crate::` or `my_super::` are other names.
            if code[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            for path in paths(&code[at..]) {
                let mut full: Vec<String> =
                    base.iter().map(|s| s.to_string()).chain(path).collect();
                // `crate::Error` is the error module's, re-exported at the root.
                if root == "crate::"
                    && let Some(home) = full.first().and_then(|name| reexports.get(name))
                {
                    full = home.split("::").map(String::from).collect();
                }
                if let Some(target) = deepest_module(&full, modules)
                    && !is_ancestor_or_self(&target, module)
                {
                    edges.insert(target);
                }
            }
        }
    }
    // A parent names its children without a prefix (`session::sweep`, `pub use x::Y`).
    let prefix = if module == "crate" {
        String::new()
    } else {
        format!("{module}::")
    };
    for child in modules.iter().filter_map(|m| m.strip_prefix(&prefix)) {
        if child.contains("::") || child.is_empty() {
            continue;
        }
        let needle = format!("{child}::");
        let named = code.match_indices(&needle).any(|(i, _)| {
            !code[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        });
        if named {
            edges.insert(format!("{prefix}{child}"));
        }
    }
    edges
}

/// The paths written at the start of `text` (after `crate::`): `a::b`, or each member of
/// a `{…}` group, nested groups included.
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut prefix = Vec::new();
    let mut rest = text;
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                return group_members(group)
                    .into_iter()
                    .flat_map(|member| {
                        paths(member)
                            .into_iter()
                            .map(|p| prefix.iter().cloned().chain(p).collect())
                            .collect::<Vec<Vec<String>>>()
                    })
                    .collect();
            }
            return vec![prefix];
        }
        rest = &rest[ident.len()..];
        prefix.push(ident);
        match rest.strip_prefix("::") {
            Some(after) => rest = after,
            None => return vec![prefix],
        }
    }
}

/// The comma-separated members of a group whose `{` was just passed.
fn group_members(text: &str) -> Vec<&str> {
    let mut members = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                members.push(text[start..i].trim());
                return members;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    members
}

fn deepest_module(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}

fn is_ancestor_or_self(candidate: &str, module: &str) -> bool {
    module == candidate || module.starts_with(&format!("{candidate}::"))
}

/// A cycle, as the modules along it (the first repeated at the end), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    // Iterative depth-first search with colours: on the stack (grey) or finished (black).
    let mut finished: BTreeSet<&str> = BTreeSet::new();
    for start in graph.keys() {
        if finished.contains(start.as_str()) {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, neighbours(graph, start))];
        let mut on_stack: Vec<&str> = vec![start];
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) if on_stack.contains(&next) => {
                    let from = on_stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        on_stack[from..].iter().map(|s| s.to_string()).collect();
                    cycle.push(next.to_string());
                    return Some(cycle);
                }
                Some(next) if !finished.contains(next) => {
                    on_stack.push(next);
                    stack.push((next, neighbours(graph, next)));
                }
                Some(_) => {}
                None => {
                    finished.insert(node);
                    on_stack.pop();
                    stack.pop();
                }
            }
        }
    }
    None
}

fn neighbours<'a>(graph: &'a Graph, node: &str) -> Vec<&'a str> {
    graph
        .get(node)
        .map(|e| e.iter().map(String::as_str).collect())
        .unwrap_or_default()
}
