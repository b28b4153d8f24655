//! No import cycle between the modules of a host crate: a module that
//! names another (`crate::store`, `super::live`, or an item that `lib.rs`
//! re-exports from it) depends on it, and no module may depend on itself
//! through others. Comments and `#[cfg(test)]` code are left out, since
//! tests and doc links do not make a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn crates() -> Vec<PathBuf> {
    let host = escort_tests::workspace().join("host");
    let mut crates: Vec<PathBuf> = fs::read_dir(host)
        .expect("the host folder")
        .map(|entry| entry.expect("an entry").path().join("src"))
        .filter(|src| src.is_dir())
        .collect();
    crates.sort();
    crates
}

/// The `.rs` files under `dir`, with their paths relative to `src`.
fn sources(src: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(src, &path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            out.push((relative, fs::read_to_string(&path).expect("a readable source")));
        }
    }
}

/// The code of a source file: no comment lines, nothing from the first `#[cfg(test)]` on.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first names of every path after `prefix` (`crate::`, `super::`),
/// with the names of a `{…}` group each on its own.
fn names_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(group.split(',').map(|name| identifier(name.trim())));
        } else {
            names.push(identifier(rest));
        }
    }
    names.retain(|name| !name.is_empty());
    names
}

/// `pub use module::{A, B as C};` in `lib.rs`: each exported name to its module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut exported = BTreeMap::new();
    for statement in lib.split(';') {
        let statement = statement.trim();
        let Some(path) = statement
            .strip_prefix("pub use ")
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        let module = identifier(path);
        let items = path[module.len()..].trim_start_matches("::");
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split(" as ").last().unwrap_or_default().trim();
            if !name.is_empty() {
                exported.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    exported
}

/// Which modules each module of the crate at `src` depends on.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .find(|path| path.exists())
        .expect("a crate root");
    let lib = fs::read_to_string(root).expect("the crate root reads");
    let lib_code = code(&lib);
    let modules: BTreeSet<String> = lib_code
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            line.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    let exported = reexports(&lib_code);
    let module_of = |name: &str| {
        if modules.contains(name) {
            Some(name.to_owned())
        } else {
            exported.get(name).cloned()
        }
    };
    let mut files = Vec::new();
    sources(src, src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (relative, text) in files {
        let module = relative
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_owned();
        if !modules.contains(&module) {
            continue;
        }
        let code = code(&text);
        let mut named = names_after(&code, "crate::");
        // `super::` in a top-level module is the crate root; deeper, it is the module itself.
        if !relative.contains('/') {
            named.extend(names_after(&code, "super::"));
        }
        for target in named.into_iter().filter_map(module_of) {
            if target != module {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

/// A path from `from` back to itself, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("a path is never empty");
        for next in graph.get(last).into_iter().flatten() {
            if next == from {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push([path.clone(), vec![next.clone()]].concat());
            }
        }
    }
    None
}

#[test]
fn no_module_of_a_host_crate_depends_on_itself_through_others() {
    let mut cycles = Vec::new();
    let mut edges = 0;
    for src in crates() {
        let graph = dependencies(&src);
        edges += graph.values().map(BTreeSet::len).sum::<usize>();
        let name = src
            .parent()
            .and_then(Path::file_name)
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for module in graph.keys() {
            if let Some(cycle) = cycle_through(&graph, module) {
                cycles.push(format!("{name}: {}", cycle.join(" -> ")));
            }
        }
    }
    assert!(edges > 40, "the module graph was read ({edges} dependencies)");
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
