//! The code's shape, checked: no module cycles in `src/` (issue 15).
//!
//! Every `crate::…`, `super::…` and `self::…` path in the library and binary sources (test
//! modules excluded) becomes an edge between the two sibling modules that contain its ends:
//! `cli::scan` → `cli::snapshot`, or `config` → `envelope` for `config::raw` →
//! `envelope::kms`. A parent using its child (or a child its parent) is the normal tree, not an
//! edge. Any strongly connected component of two or more siblings is a cycle and fails the test
//! with the files and lines that make it. Run it alone with
//! `cargo test --test integration architecture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path, `["cli", "scan"]`; the crate root is `[]`.
type ModPath = Vec<String>;

struct Source {
    module: ModPath,
    file: PathBuf,
    /// The file up to its inline `#[cfg(test)] mod tests { … }` block.
    text: String,
}

fn sources(root: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut budget = 10_000; // a bounded walk
    while let Some(dir) = stack.pop() {
        budget -= 1;
        assert!(budget > 0, "src/ walk did not end");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap();
            let mut module: ModPath = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                module.pop();
            }
            if module.iter().any(|m| m == "tests") {
                continue;
            }
            let full = std::fs::read_to_string(&path).unwrap();
            // An inline test module ends the file's product code; `mod tests;` (a file of its
            // own, skipped above) does not.
            let text = match full.find("#[cfg(test)]\nmod tests {") {
                Some(at) => full[..at].to_owned(),
                None => full,
            };
            out.push(Source { module, file: rel.to_path_buf(), text });
        }
    }
    out
}

/// Every path that starts at `crate::`, `super::` or `self::` in `code`, with its line, as
/// written (use-trees expanded: `crate::{a::B, c}` gives `crate::a::B` and `crate::c`).
fn paths(code: &str) -> Vec<(usize, Vec<String>)> {
    // Line comments out (doc links name modules without using them); lines kept.
    let code: String =
        code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (begin, _) in code.match_indices(start) {
            let before = code[..begin].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '$') {
                continue;
            }
            let line = code[..begin].matches('\n').count() + 1;
            let head = start.trim_end_matches("::").to_owned();
            let mut chars = code[begin + start.len()..].chars().peekable();
            tree(&mut chars, vec![head], &mut |p| out.push((line, p)), 0);
        }
    }
    out
}

/// Parses one use-tree after `prefix::`, calling `leaf` with every full path.
fn tree(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    prefix: Vec<String>,
    leaf: &mut dyn FnMut(Vec<String>),
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            tree(chars, prefix.clone(), leaf, depth + 1);
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            match chars.next() {
                Some(',') => continue,
                _ => break,
            }
        }
        return;
    }
    let mut path = prefix;
    loop {
        let ident: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_' || *c == '*'))
                .collect();
        if ident.is_empty() {
            break;
        }
        path.push(ident);
        if chars.peek() == Some(&':') {
            chars.next();
            chars.next();
            if chars.peek() == Some(&'{') {
                return tree(chars, path, leaf, depth + 1);
            }
            continue;
        }
        break;
    }
    // `as alias` and the rest are not part of the path.
    leaf(path);
}

/// The module a path names: its longest prefix that is a known module.
fn resolve(from: &ModPath, path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut base: ModPath = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = from.clone();
            rest = &path[1..];
        }
        Some("super") => {
            base = from.clone();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut best = base.clone();
    let mut m = base;
    for seg in rest {
        m.push(seg.clone());
        if modules.contains(&m) {
            best = m.clone();
        }
    }
    Some(best)
}

/// Tarjan's strongly connected components over `edges`.
fn components(
    nodes: &BTreeSet<ModPath>,
    edges: &BTreeMap<ModPath, BTreeSet<ModPath>>,
) -> Vec<Vec<ModPath>> {
    struct T<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<ModPath, usize>,
        low: BTreeMap<ModPath, usize>,
        stack: Vec<ModPath>,
        on: BTreeSet<ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit(t: &mut T<'_>, v: &ModPath) {
        let i = t.index.len();
        t.index.insert(v.clone(), i);
        t.low.insert(v.clone(), i);
        t.stack.push(v.clone());
        t.on.insert(v.clone());
        for w in t.edges.get(v).cloned().unwrap_or_default() {
            if !t.index.contains_key(&w) {
                visit(t, &w);
                let lw = t.low[&w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(&w) {
                let iw = t.index[&w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(&w);
                let done = &w == v;
                scc.push(w);
                if done {
                    break;
                }
            }
            if scc.len() > 1 {
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_module_cycles_in_src() {
    let (edges, report) = cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(report.is_empty(), "module cycles in src/:\n{report}");
    assert!(edges > 10, "the checker saw only {edges} module edges");
}

/// The checker itself: a cycle through a re-export behind an external `mod tests;` is found.
#[test]
fn the_checker_finds_a_seeded_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write("a/mod.rs", "#[cfg(test)]\nmod tests;\npub use crate::b::{B, C};\npub struct A;\n");
    write("a/tests.rs", "use crate::b::B;\n");
    write("b.rs", "pub struct B;\npub struct C;\nfn f(_: super::a::A) {}\n");
    let (_, report) = cycles(dir.path());
    assert!(report.contains("cycle: "), "{report}");
    assert!(report.contains("a/mod.rs:3 crate::b::B"), "{report}");
    assert!(report.contains("b.rs:3 super::a::A"), "{report}");
}

/// (number of module edges, a report of every cycle: empty when there is none) for the crate
/// sources under `root`.
fn cycles(root: &Path) -> (usize, String) {
    let sources = sources(root);
    let mut modules: BTreeSet<ModPath> = sources.iter().map(|s| s.module.clone()).collect();
    // Inline `mod x {` blocks are modules too.
    for s in &sources {
        for line in s.text.lines() {
            let t = line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            if let Some(name) = t.strip_prefix("mod ").and_then(|r| r.strip_suffix(" {")) {
                let mut m = s.module.clone();
                m.push(name.to_owned());
                modules.insert(m);
            }
        }
    }
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    let mut why: BTreeMap<(ModPath, ModPath), Vec<String>> = BTreeMap::new();
    for s in &sources {
        for (line, path) in paths(&s.text) {
            let Some(to) = resolve(&s.module, &path, &modules) else { continue };
            // The sibling modules under the common ancestor.
            let common = s.module.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == s.module.len() || common == to.len() {
                continue; // ancestor and descendant
            }
            let (a, b) = (s.module[..=common].to_vec(), to[..=common].to_vec());
            edges.entry(a.clone()).or_default().insert(b.clone());
            why.entry((a, b)).or_default().push(format!(
                "{}:{line} {}",
                s.file.display(),
                path.join("::")
            ));
        }
    }
    let nodes: BTreeSet<ModPath> = edges.keys().chain(edges.values().flatten()).cloned().collect();
    let cycles = components(&nodes, &edges);
    let mut report = String::new();
    for scc in &cycles {
        let names: Vec<String> = scc.iter().map(|m| m.join("::")).collect();
        report.push_str(&format!("cycle: {}\n", names.join(" <-> ")));
        for a in scc {
            for b in scc {
                if let Some(lines) = why.get(&(a.clone(), b.clone())) {
                    report.push_str(&format!(
                        "  {} -> {}: {}\n",
                        a.join("::"),
                        b.join("::"),
                        lines.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    (edges.len(), report)
}
