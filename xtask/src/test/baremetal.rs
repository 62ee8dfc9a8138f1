//! How much of the hypervisor builds only for bare metal: the code `cargo test -p hypervisor`
//! cannot reach. A module or item is bare-metal only when it sits under
//! `#[cfg(target_os = "none")]` (a `mod x;` counts its file, or its directory); lines are
//! code lines (not blank, not comments, no `#[cfg(test)]` code), as the structure issue
//! counted them.

use super::layering::production;
use std::path::{Path, PathBuf};

const GATE: &str = "#[cfg(target_os = \"none\")]";

/// Code lines of `text` (already stripped of comments and tests).
fn code_lines(text: &str) -> usize {
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

/// Code lines of a module file and, for `x.rs` / `x/mod.rs`, everything under `x/`.
fn module_lines(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut n = code_lines(&production(&text));
    let dir = if file.file_name().is_some_and(|f| f == "mod.rs") {
        file.parent().map(Path::to_path_buf)
    } else {
        Some(file.with_extension(""))
    };
    if let Some(dir) = dir.filter(|d| d.is_dir()) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("module directory")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_file() && name.ends_with(".rs") && name != "mod.rs" && name != "tests.rs" {
                n += module_lines(&p);
            } else if p.is_dir() && name != "tests" && !p.with_extension("rs").exists() {
                let m = p.join("mod.rs");
                if m.exists() {
                    n += module_lines(&m);
                }
            }
        }
    }
    n
}

/// Bare-metal-only code lines in `file` (the items it gates) and in the files of the modules
/// it declares under the gate: `(what, lines)` per gated item.
fn gated_in(file: &Path) -> Vec<(String, usize)> {
    let text = production(&std::fs::read_to_string(file).expect("source"));
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != GATE {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < lines.len() && (lines[j].trim().starts_with("#[") || lines[j].trim().is_empty()) {
            j += 1;
        }
        let Some(item) = lines.get(j).map(|l| l.trim()) else {
            break;
        };
        let decl = item
            .trim_start_matches("pub ")
            .trim_start_matches("pub(crate) ");
        if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            let base = if file
                .file_name()
                .is_some_and(|f| f == "mod.rs" || f == "main.rs" || f == "lib.rs")
            {
                file.parent().expect("dir").to_path_buf()
            } else {
                file.with_extension("")
            };
            let f = [
                base.join(format!("{name}.rs")),
                base.join(name).join("mod.rs"),
            ]
            .into_iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("module {name} of {} not found", file.display()));
            out.push((f.display().to_string(), module_lines(&f)));
            i = j + 1;
            continue;
        }
        // An inline item: its lines up to the matching closing brace (or the `;`).
        let mut depth = 0i64;
        let mut k = j;
        let mut opened = false;
        while k < lines.len() {
            for c in lines[k].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (opened && depth == 0) || (!opened && lines[k].trim_end().ends_with(';')) {
                break;
            }
            k += 1;
        }
        let n = code_lines(&lines[j..=k.min(lines.len() - 1)].join("\n"));
        out.push((format!("{}: {}", file.display(), item), n));
        i = k + 1;
    }
    out
}

/// Every gated item of the hypervisor, `(what, code lines)`.
pub fn bare_metal_only(src: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("source directory") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.extend(gated_in(&p));
            }
        }
    }
    // Inside a counted module, its own gated items are already counted.
    let root = |what: &str| -> Option<PathBuf> {
        (!what.contains(": ")).then(|| {
            let f = PathBuf::from(what);
            if f.file_name().is_some_and(|n| n == "mod.rs") {
                f.parent().expect("dir").to_path_buf()
            } else {
                f.with_extension("")
            }
        })
    };
    let modules: Vec<PathBuf> = out.iter().filter_map(|g| root(&g.0)).collect();
    let inside = |what: &str| {
        let own = root(what);
        let file = PathBuf::from(what.split(": ").next().unwrap_or(what));
        modules
            .iter()
            .filter(|m| Some(*m) != own.as_ref())
            .any(|m| file.starts_with(m) || file == m.with_extension("rs"))
    };
    out.retain(|g| !inside(&g.0));
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structure issue's target (2000) plus what starting and running several processors
    /// adds that only hardware can run (issue 17: the AP trampoline, per-CPU entry stubs,
    /// GDTs, LDTs, TSSs, LAPIC timers and IPIs); their bookkeeping (`cpus.rs`,
    /// `arch/shootdown.rs`, the per-CPU scheduler) is host-tested.
    const LIMIT: usize = 2550;

    #[test]
    fn gated_modules_and_items_are_counted() {
        let dir = std::env::temp_dir().join(format!("baremetal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("arch/x86_64")).expect("dirs");
        let w = |p: &str, t: &str| std::fs::write(dir.join(p), t).expect("write");
        w(
            "main.rs",
            "mod a;\nmod arch;\n#[cfg(target_os = \"none\")]\nmod hw;\n// c\n#[cfg(target_os = \"none\")]\nfn f() {\n    x();\n}\nfn g() {}\n#[cfg(test)]\nmod t {}\n",
        );
        w("a.rs", "fn a() {}\n");
        w(
            "hw.rs",
            "fn h() {}\n#[cfg(target_os = \"none\")]\nfn i() {}\n",
        );
        w(
            "arch/mod.rs",
            "#[cfg(target_os = \"none\")]\nmod x86_64;\nfn shared() {}\n",
        );
        w(
            "arch/x86_64/mod.rs",
            "mod cpu;\n\n// only a comment\nfn one() {}\n",
        );
        w("arch/x86_64/cpu.rs", "fn two() {}\nfn three() {}\n");
        let got = bare_metal_only(&dir);
        let total: usize = got.iter().map(|g| g.1).sum();
        // x86_64 (its mod.rs and cpu.rs: 4 lines), hw.rs whole (3, its gated item not again),
        // and f (3); nothing of a.rs, arch/mod.rs's own code, g or the test module.
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got.iter().any(|g| g.0.ends_with("fn f() {") && g.1 == 3),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|g| g.0.ends_with("x86_64/mod.rs") && g.1 == 4),
            "{got:?}"
        );
        assert!(
            got.iter().any(|g| g.0.ends_with("hw.rs") && g.1 == 3),
            "{got:?}"
        );
        assert_eq!(total, 4 + 3 + 3, "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Every hypercall family in the table (`typed!(family::handler)` in `hypercall/mod.rs`)
    /// has host tests of its own (`hypercall/tests/<family>.rs`) that issue its hypercalls.
    #[test]
    fn every_hypercall_family_has_host_tests() {
        let hc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hypervisor/src/hypercall");
        let table = std::fs::read_to_string(hc.join("mod.rs")).expect("hypercall/mod.rs");
        let mut families: Vec<&str> = table
            .split("typed!(")
            .skip(1)
            .filter_map(|rest| rest.split("::").next())
            .collect();
        families.sort_unstable();
        families.dedup();
        assert!(families.len() >= 15, "table not read: {families:?}");
        for fam in families {
            let f = hc.join("tests").join(format!("{fam}.rs"));
            let text = std::fs::read_to_string(&f).unwrap_or_else(|_| {
                panic!("hypercall family {fam} has no host tests ({})", f.display())
            });
            let tests = text.matches("#[test]").count();
            assert!(tests > 0, "{}: no tests", f.display());
            assert!(
                text.contains("hypercall("),
                "{}: its tests never issue a hypercall",
                f.display()
            );
        }
    }

    #[test]
    fn few_hypervisor_lines_build_only_for_bare_metal() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hypervisor/src");
        let got = bare_metal_only(&src);
        let total: usize = got.iter().map(|g| g.1).sum();
        assert!(
            got.iter().any(|g| g.0.contains("x86_64")),
            "the x86_64 backend is not gated any more? {got:?}"
        );
        assert!(
            total < LIMIT,
            "{total} bare-metal-only code lines (limit {LIMIT}): {got:#?}"
        );
        eprintln!("bare-metal-only hypervisor code: {total} lines: {got:#?}");
    }
}
