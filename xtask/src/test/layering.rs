//! The hypervisor's structure rules, checked on its source as host unit tests: no import
//! cycle between its files, no `arch::x86_64::` path outside `arch/` (generic code goes
//! through the `arch` facade), and no dependency on the toolstack crate.
//!
//! The import graph is read from the text: every `crate::a::b` path (also inside `use
//! crate::{...}` groups) and `super::` path outside comments and `#[cfg(test)]` code is an
//! edge to the deepest module file it names; a path through a module's `pub use child::*`
//! or `pub use child::{item}` re-export is followed into `child`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`domain::state`, `` for the crate root) → the source text that counts.
pub type Sources = BTreeMap<String, String>;

/// The module path of a file relative to `src/` (`a/b.rs` and `a/b/mod.rs` → `a::b`).
pub fn module_of(rel: &str) -> String {
    let p = rel.trim_end_matches(".rs");
    let p = p.strip_suffix("/mod").unwrap_or(p);
    if p == "main" || p == "lib" {
        return String::new();
    }
    p.replace('/', "::")
}

/// The part of a file that is production code: comments dropped, test modules cut.
pub fn production(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every non-test `.rs` file under `src`, by module path.
pub fn read_sources(src: &Path) -> Sources {
    fn walk(dir: &Path, src: &Path, out: &mut Sources) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if name != "tests" {
                    walk(&p, src, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
                let rel = p.strip_prefix(src).expect("under src").to_string_lossy();
                let text = std::fs::read_to_string(&p).expect("readable source");
                out.insert(module_of(&rel), production(&text));
            }
        }
    }
    let mut out = Sources::new();
    walk(src, src, &mut out);
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `::`-separated lower-case path starting at `s` (`a::b::c`), stopping before a `{`.
fn path_at(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = s;
    loop {
        let n = rest.find(|c| !is_ident(c)).unwrap_or(rest.len());
        let ident = &rest[..n];
        if ident.is_empty() || !ident.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
            break;
        }
        parts.push(ident.to_string());
        rest = &rest[n..];
        match rest.strip_prefix("::") {
            Some(r) if !r.starts_with('{') => rest = r,
            _ => break,
        }
    }
    parts
}

/// The paths named after each occurrence of `prefix` (`crate::`, `super::`), groups expanded.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        if text[..i].ends_with(is_ident) {
            continue;
        }
        let at = &text[i + prefix.len()..];
        let head = path_at(at);
        let after: usize = head.iter().map(|p| p.len() + 2).sum();
        let group = at.get(after.saturating_sub(2)..).unwrap_or("");
        if let Some(g) = group.strip_prefix("::{").or_else(|| at.strip_prefix('{')) {
            let body = &g[..g.find('}').unwrap_or(g.len())];
            for item in body.split([',', '{']) {
                let mut p = head.clone();
                p.extend(path_at(item.trim()));
                out.push(p);
            }
        } else {
            out.push(head);
        }
    }
    out
}

/// `pub use child::*` and `pub use child::{items}` re-exports of a module: item → child.
fn reexports(text: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let (mut globs, mut named) = (Vec::new(), BTreeMap::new());
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((child, items)) = rest.split_once("::") else {
            continue;
        };
        if child.contains(|c| !is_ident(c)) || child == "crate" || child == "super" {
            continue;
        }
        let items = items.trim_end_matches(';');
        if items == "*" {
            globs.push(child.to_string());
        } else {
            for it in items.split([',', '{', '}', ' ']).filter(|s| !s.is_empty()) {
                named.insert(it.to_string(), child.to_string());
            }
        }
    }
    (globs, named)
}

/// The import graph between the modules of `src`: module → the modules it names.
pub fn import_graph(src: &Sources) -> BTreeMap<String, BTreeSet<String>> {
    let exports: BTreeMap<&str, _> = src
        .iter()
        .map(|(m, t)| (m.as_str(), reexports(t)))
        .collect();
    let join = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            format!("{a}::{b}")
        }
    };
    // The deepest module file `parts` reaches, following re-exports.
    fn resolve(
        parts: &[String],
        src: &Sources,
        exports: &BTreeMap<&str, (Vec<String>, BTreeMap<String, String>)>,
        join: &dyn Fn(&str, &str) -> String,
        depth: usize,
    ) -> Option<String> {
        let mut best: Option<(String, usize)> = src.contains_key("").then(|| (String::new(), 0));
        let mut m = String::new();
        for (i, p) in parts.iter().enumerate() {
            m = join(&m, p);
            if src.contains_key(&m) {
                best = Some((m.clone(), i + 1));
            }
        }
        let (best, used) = best?;
        let rest = &parts[used..];
        if let (Some(first), Some((globs, named)), true) =
            (rest.first(), exports.get(best.as_str()), depth < 8)
        {
            let children = named.get(first).into_iter().chain(globs.iter());
            for child in children {
                let c = join(&best, child);
                if src.contains_key(&c) {
                    let mut via: Vec<String> = best.split("::").map(String::from).collect();
                    via.retain(|s| !s.is_empty());
                    via.push(child.clone());
                    via.extend(rest.iter().cloned());
                    if let Some(r) = resolve(&via, src, exports, join, depth + 1) {
                        return Some(r);
                    }
                }
            }
        }
        Some(best)
    }
    let mut g = BTreeMap::new();
    for (m, text) in src {
        let parent: Vec<String> = {
            let mut v: Vec<String> = m.split("::").map(String::from).collect();
            v.pop();
            v.retain(|s| !s.is_empty());
            v
        };
        let mut deps = BTreeSet::new();
        let named = paths_after(text, "crate::").into_iter().chain(
            paths_after(text, "super::").into_iter().map(|p| {
                let mut full = parent.clone();
                full.extend(p);
                full
            }),
        );
        for p in named {
            if let Some(r) = resolve(&p, src, &exports, &join, 0) {
                if r != *m && !r.is_empty() {
                    deps.insert(r);
                }
            }
        }
        g.insert(m.clone(), deps);
    }
    g
}

/// One import cycle of `g` (its modules in order, the first repeated at the end), if any.
pub fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> = g.keys().map(|k| (k.as_str(), Mark::New)).collect();
    // Iterative depth-first search; `stack` holds the open path with each node's next edge.
    for start in g.keys() {
        if mark[start.as_str()] != Mark::New {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = Vec::new();
        let edges = |n: &str| -> Vec<&str> {
            g[n].iter()
                .map(String::as_str)
                .filter(|d| g.contains_key(*d))
                .collect()
        };
        mark.insert(start, Mark::Open);
        stack.push((start, edges(start)));
        while let Some((node, todo)) = stack.last_mut() {
            let node = *node;
            match todo.pop() {
                Some(next) => match mark[next] {
                    Mark::New => {
                        mark.insert(next, Mark::Open);
                        stack.push((next, edges(next)));
                    }
                    Mark::Open => {
                        let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                        cycle.push(next.to_string());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                },
                None => {
                    mark.insert(node, Mark::Done);
                    stack.pop();
                }
            }
        }
    }
    None
}

/// The graph between subsystems (the crate's top-level modules): an edge `a → b` for every
/// import from a file of `a` into a file of `b`, `a != b`.
pub fn subsystem_graph(
    g: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or("").to_string();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in g {
        let a = top(from);
        let entry = out.entry(a.clone()).or_default();
        for to in tos {
            let b = top(to);
            if b != a && !b.is_empty() {
                entry.insert(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> Sources {
        files
            .iter()
            .map(|(f, t)| (module_of(f), production(t)))
            .collect()
    }

    #[test]
    fn module_paths() {
        assert_eq!(module_of("main.rs"), "");
        assert_eq!(module_of("domain/mod.rs"), "domain");
        assert_eq!(module_of("domain/state.rs"), "domain::state");
    }

    #[test]
    fn edges_follow_groups_super_and_reexports() {
        let s = sources(&[
            ("main.rs", "mod a; mod b; mod arch;"),
            (
                "a/mod.rs",
                "use crate::{b::x, arch::paging::map};\nuse super::b;",
            ),
            ("b/mod.rs", "pub mod x;"),
            ("b/x.rs", "// crate::a::ignored in a comment\nfn f() {}"),
            ("arch/mod.rs", "mod x86_64;\npub use x86_64::*;"),
            ("arch/x86_64/mod.rs", "pub mod paging;"),
            (
                "arch/x86_64/paging.rs",
                "#[cfg(test)]\nmod t { use crate::a; }",
            ),
        ]);
        let g = import_graph(&s);
        let a: Vec<&str> = g["a"].iter().map(String::as_str).collect();
        assert_eq!(a, ["arch::x86_64::paging", "b", "b::x"]);
        assert!(
            g["b::x"].is_empty(),
            "comments name nothing: {:?}",
            g["b::x"]
        );
        assert!(
            g["arch::x86_64::paging"].is_empty(),
            "test code is not counted"
        );
        assert_eq!(find_cycle(&g), None);
    }

    #[test]
    fn a_cycle_is_found_and_named() {
        let s = sources(&[
            ("main.rs", ""),
            ("a.rs", "use crate::b::f;"),
            ("b.rs", "fn f() { crate::c::g() }"),
            ("c.rs", "fn g() { crate::a::h() }"),
            ("d.rs", "use crate::a;"),
        ]);
        let cycle = find_cycle(&import_graph(&s)).expect("a → b → c → a");
        assert_eq!(cycle.first(), cycle.last());
        let mut members: Vec<&String> = cycle[..cycle.len() - 1].iter().collect();
        members.sort();
        assert_eq!(members, ["a", "b", "c"]);
    }

    fn hypervisor_src() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hypervisor/src")
    }

    /// Imports allowed to close a cycle, each with why. The entry stubs (`global_asm!` in
    /// `entry.rs`) jump to the first-level trap handlers by symbol, and those return to the
    /// guest through `enter_guest`: one entry path in two files.
    const ALLOWED: &[(&str, &str)] = &[("arch::x86_64::entry", "arch::x86_64::trap")];

    #[test]
    fn the_hypervisor_has_no_import_cycle_between_its_files() {
        let src = read_sources(&hypervisor_src());
        assert!(src.len() > 50, "read only {} hypervisor files", src.len());
        let mut g = import_graph(&src);
        for (from, to) in ALLOWED {
            let present = g.get_mut(*from).is_some_and(|d| d.remove(*to));
            assert!(
                present,
                "allowed import {from} → {to} is gone: drop it from ALLOWED"
            );
        }
        let edges: usize = g.values().map(BTreeSet::len).sum();
        assert!(
            edges > 100,
            "only {edges} imports found: the reader is broken"
        );
        if let Some(c) = find_cycle(&g) {
            panic!("import cycle in the hypervisor: {}", c.join(" → "));
        }
    }

    /// Subsystem imports allowed to close a cycle, each with why. The entry stubs hand every
    /// trap, interrupt and `syscall` to `dispatch`, the one way up from the machine into the
    /// hypervisor's logic (as an interrupt vector table points up).
    const ALLOWED_UP: &[(&str, &str)] = &[("arch", "dispatch")];

    #[test]
    fn the_hypervisor_has_no_import_cycle_between_its_subsystems() {
        let src = read_sources(&hypervisor_src());
        let mut g = subsystem_graph(&import_graph(&src));
        assert!(
            g.len() > 15,
            "only {} subsystems found: the reader is broken",
            g.len()
        );
        for (from, to) in ALLOWED_UP {
            let present = g.get_mut(*from).is_some_and(|d| d.remove(*to));
            assert!(
                present,
                "allowed import {from} → {to} is gone: drop it from ALLOWED_UP"
            );
        }
        if let Some(c) = find_cycle(&g) {
            panic!(
                "import cycle between the hypervisor's subsystems: {}",
                c.join(" → ")
            );
        }
    }

    #[test]
    fn subsystems_are_the_top_level_modules() {
        let src = sources(&[
            ("a/x.rs", "use crate::b::y;"),
            ("a/z.rs", "use crate::a::x;"),
            ("b/y.rs", "fn f() { crate::a::z::g(); }"),
            ("c.rs", ""),
        ]);
        let g = subsystem_graph(&import_graph(&src));
        assert_eq!(g["a"], BTreeSet::from(["b".to_string()]));
        assert_eq!(g["b"], BTreeSet::from(["a".to_string()]));
        assert!(
            find_cycle(&g).is_some(),
            "a ↔ b through different files is a cycle"
        );
    }

    #[test]
    fn generic_hypervisor_code_reaches_arch_only_through_its_facade() {
        let src = read_sources(&hypervisor_src());
        let leaks: Vec<&String> = src
            .iter()
            .filter(|(m, t)| !m.starts_with("arch") && t.contains("arch::x86_64::"))
            .map(|(m, _)| m)
            .collect();
        assert!(
            leaks.is_empty(),
            "`arch::x86_64::` named outside arch/: {leaks:?}"
        );
    }

    #[test]
    fn the_hypervisor_does_not_link_the_toolstack() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hypervisor/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("hypervisor/Cargo.toml");
        assert!(text.contains("pv-builder"), "the builder dependency moved?");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_start().starts_with("dom0-tools")),
            "hypervisor/Cargo.toml depends on dom0-tools"
        );
    }
}
