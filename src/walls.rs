//! The module walls, checked: each module of `src/` uses only the modules
//! before it in the list README.md gives ("Modules (`src/`)").

use std::path::{Path, PathBuf};

fn readme_order() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("- Modules (`src/`)")
        .expect("README.md lists the modules under '- Modules (`src/`)'");
    let rest = &readme[start..];
    let end = rest
        .find(".\n")
        .expect("the module list ends with a full stop");
    let list = &rest[..end];
    // Every `name` in backquotes, except the `src/` of the heading.
    list.split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| !n.contains('/'))
        .map(str::to_string)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_uses_one_listed_after_it() {
    let order = readme_order();
    assert!(order.len() >= 10, "README's module list: {order:?}");
    let pos = |m: &str| order.iter().position(|o| o == m);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        let Some(me) = pos(top) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            for part in line.split("crate::").skip(1) {
                let used: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if pos(&used).is_some_and(|u| u > me) {
                    bad.push(format!("{}:{}: {top} uses {used}", rel.display(), i + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "modules using ones listed after them:\n{}",
        bad.join("\n")
    );
}
