//! The project's own documents stay true to the code.
//!
//! - `docs/cross-protocol.md`: every row of a table whose first column is `cell` names at
//!   least one test in its *lockstate test* column, and every name in backticks there or in
//!   the *e2e* column is a test function that exists in the repository (a `fn NAME`, or the
//!   first argument of a local `macro_rules!` that defines a `fn`, such as the `cell!` macro of
//!   the matrix tests). Matrix A and Matrix B have every cell exactly once.
//! - The code cites `docs/` by sections that exist, and never the research notes that live
//!   outside the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// Every file below the repository whose name ends with one of `exts`, skipping build output,
/// git metadata and captured data.
fn files(exts: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if p.is_dir() {
                if !matches!(name, "target" | ".git" | "corpus" | "artifacts" | "pcaps") {
                    walk(&p, exts, out);
                }
            } else if exts.iter().any(|e| name.ends_with(e)) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo(), exts, &mut out);
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s` (after leading whitespace).
fn leading_ident(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// Names of every function defined in the repository's Rust sources: `fn NAME`, and the first
/// argument of every invocation of a `macro_rules!` macro whose body defines a `fn $...`.
fn defined_fns() -> BTreeSet<String> {
    let sources: Vec<String> = files(&[".rs"]).iter().map(|p| read(p)).collect();
    let mut names = BTreeSet::new();
    let mut fn_macros = BTreeSet::new();
    for text in &sources {
        for (i, _) in text.match_indices("fn ") {
            let before = text[..i].chars().next_back();
            if before.is_some_and(is_ident_char) {
                continue;
            }
            if let Some(n) = leading_ident(&text[i + 3..]) {
                names.insert(n.to_string());
            }
        }
        for (i, _) in text.match_indices("macro_rules!") {
            let rest = &text[i + "macro_rules!".len()..];
            let Some(name) = leading_ident(rest) else {
                continue;
            };
            // The macro's body: up to the next item that starts at column 0.
            let body_end = rest.find("\n}").unwrap_or(rest.len());
            if rest[..body_end].contains("fn $") {
                fn_macros.insert(name.to_string());
            }
        }
    }
    for text in &sources {
        for m in &fn_macros {
            let call = format!("{m}!(");
            for (i, _) in text.match_indices(&call) {
                if text[..i].chars().next_back().is_some_and(is_ident_char) {
                    continue;
                }
                if let Some(n) = leading_ident(&text[i + call.len()..]) {
                    names.insert(n.to_string());
                }
            }
        }
    }
    names
}

/// Splits a Markdown table row into its cells (`\|` is a literal bar, not a separator).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev = '\0';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            out.push(cur.trim().to_string());
            cur.clear();
        } else {
            cur.push(c);
        }
        prev = c;
    }
    out.push(cur.trim().to_string());
    out
}

/// The names in backticks in a table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

struct CellRow {
    line: usize,
    id: String,
    tests: Vec<String>,
    e2e: Vec<String>,
}

/// Every row of every `| cell | ...` table of the document.
fn cell_rows(doc: &str) -> Vec<CellRow> {
    let mut rows = Vec::new();
    let mut header: Option<(usize, usize)> = None; // (test column, e2e column)
    for (n, line) in doc.lines().enumerate() {
        let t = line.trim();
        if !t.starts_with('|') {
            header = None;
            continue;
        }
        let c = cells(t);
        if c.first().map(String::as_str) == Some("cell") {
            let col = |name: &str| {
                c.iter().position(|x| x == name).unwrap_or_else(|| {
                    panic!("line {}: a cell table needs a {name:?} column", n + 1)
                })
            };
            header = Some((col("lockstate test"), col("e2e")));
            continue;
        }
        let Some((tc, ec)) = header else {
            continue;
        };
        if c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ':')) {
            continue; // the separator row
        }
        rows.push(CellRow {
            line: n + 1,
            id: c[0].clone(),
            tests: c.get(tc).map(|x| backticked(x)).unwrap_or_default(),
            e2e: c.get(ec).map(|x| backticked(x)).unwrap_or_default(),
        });
    }
    rows
}

fn doc(name: &str) -> String {
    read(&repo().join("docs").join(name))
}

#[test]
fn every_cell_of_cross_protocol_md_names_existing_tests() {
    let text = doc("cross-protocol.md");
    let fns = defined_fns();
    let rows = cell_rows(&text);
    assert!(rows.len() > 200, "only {} cells found", rows.len());
    let mut problems = Vec::new();
    let mut seen = BTreeMap::new();
    for r in &rows {
        if let Some(prev) = seen.insert(r.id.clone(), r.line) {
            problems.push(format!(
                "line {}: cell {} already at line {prev}",
                r.line, r.id
            ));
        }
        if r.tests.is_empty() {
            problems.push(format!("line {}: cell {} names no test", r.line, r.id));
        }
        for t in r.tests.iter().chain(&r.e2e) {
            if !t.chars().all(is_ident_char) || !fns.contains(t) {
                problems.push(format!(
                    "line {}: cell {} names `{t}`, which is no test function in the repository",
                    r.line, r.id
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_matrices_have_every_cell_once() {
    let text = doc("cross-protocol.md");
    let ids: BTreeSet<String> = cell_rows(&text).into_iter().map(|r| r.id).collect();
    let a_rows = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "10a", "10b", "11", "12", "13", "14", "15",
        "15b", "16", "17", "18", "19", "20", "21",
    ];
    let b_rows = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "10a", "10b", "11", "12", "13", "14", "15",
        "15a", "15b", "15c", "16", "17", "18", "19", "20", "21",
    ];
    let mut want = BTreeSet::new();
    for r in a_rows {
        for c in ["NLM-S", "NLM-X", "SMB-S", "SMB-X", "Share"] {
            want.insert(format!("A{r}.{c}"));
        }
    }
    for r in b_rows {
        for c in ["R", "RH", "RW", "RWH"] {
            want.insert(format!("B{r}.{c}"));
        }
    }
    let have: BTreeSet<String> = ids
        .iter()
        .filter(|i| {
            (i.starts_with('A') || i.starts_with('B'))
                && i[1..].starts_with(|c: char| c.is_ascii_digit())
        })
        .cloned()
        .collect();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing cells {missing:?}, unknown cells {extra:?}"
    );
}

/// The headings of a Markdown document, without their `#`s.
fn headings(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect()
}

#[test]
fn code_cites_docs_by_sections_that_exist_and_nothing_outside_the_repo() {
    // Spelled in pieces so this file does not cite them itself.
    let forbidden = [
        concat!("cross-protocol", "-semantics.md"),
        concat!("design/", "architecture.md"),
        concat!("shared/", "spec"),
        concat!("shared/", "design"),
        concat!("lessons-from", "-prior-art"),
    ];
    let cross = headings(&doc("cross-protocol.md"));
    let arch_text = doc("architecture.md");
    let arch = headings(&arch_text);
    // The numbered items of "Lessons from prior art".
    let lessons: BTreeSet<u32> = arch_text
        .split("## Lessons from prior art")
        .nth(1)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_once(". **").and_then(|(n, _)| n.parse().ok()))
        .collect();
    assert!(lessons.len() >= 20, "lessons found: {lessons:?}");
    // `§4.2` exists when a heading starts with "4.2 " (or "4. " for `§4`).
    let section_exists = |s: &str| {
        let s = s.trim_end_matches('.');
        cross
            .iter()
            .any(|h| h.starts_with(&format!("{s} ")) || h.starts_with(&format!("{s}. ")))
    };
    let mut problems = Vec::new();
    for p in files(&[".rs", ".toml", ".sh", ".c", ".md"]) {
        let text = read(&p);
        let rel = p.strip_prefix(repo()).unwrap_or(&p).display().to_string();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{rel}:{}", n + 1);
            for f in forbidden {
                if line.contains(f) {
                    problems.push(format!("{at}: cites {f}, which is not in the repository"));
                }
            }
            for (i, _) in line.match_indices("cross-protocol.md") {
                let rest =
                    line[i + "cross-protocol.md".len()..].trim_start_matches([',', ' ', '`']);
                if let Some(sec) = rest.strip_prefix('§') {
                    let num: String = sec
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.')
                        .collect();
                    if !num.is_empty() && !section_exists(&num) {
                        problems.push(format!("{at}: docs/cross-protocol.md has no §{num}"));
                    }
                }
            }
            for (i, _) in line.match_indices("architecture.md") {
                let rest = &line[i + "architecture.md".len()..];
                let rest = rest.trim_start_matches([')', '`']);
                if let Some(n) = rest.strip_prefix(" lesson ") {
                    let num: String = n.chars().take_while(char::is_ascii_digit).collect();
                    if !num.is_empty() && !num.parse().is_ok_and(|n: u32| lessons.contains(&n)) {
                        problems.push(format!("{at}: docs/architecture.md has no lesson {num}"));
                    }
                }
                if let Some(q) = rest.strip_prefix(", \"") {
                    if let Some(end) = q.find('"') {
                        let title = &q[..end];
                        if !arch.iter().any(|h| h == title) {
                            problems.push(format!(
                                "{at}: docs/architecture.md has no section \"{title}\""
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_what_it_checks() {
    // The parser itself: a cell table row, escaped bars, macro-defined tests.
    let rows = cell_rows(
        "| cell | x | lockstate test | e2e |\n|---|---|---|---|\n| Z1 | a \\| b | `t1`, `t2` | — |\n\ntext\n",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, "Z1");
    assert_eq!(rows[0].tests, vec!["t1", "t2"]);
    assert!(rows[0].e2e.is_empty());
    let fns = defined_fns();
    assert!(fns.contains("the_checker_finds_what_it_checks"));
    // Defined through lockstate's `cell!` macro, not as `fn`.
    assert!(fns.contains("a_r1_nlm_lock_s_vs_nlm_s_granted"));
    assert!(!fns.contains("a_r1_nlm_lock_s_vs_nlm_s_no_such_cell"));
}
