//! docs/DATABASE_COMPATIBILITY.md carries the matrices and rules generated from the code; this
//! test fails when they drift. `PLINTH_UPDATE_DOCS=1 cargo test --test compat_docs` rewrites them.

use plinth::compat::markdown::{capability_matrix, lint_rules, type_matrix};
use std::path::PathBuf;

fn replace_section(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN GENERATED {name} -->");
    let end = format!("<!-- END GENERATED {name} -->");
    let (Some(a), Some(b)) = (doc.find(&begin), doc.find(&end)) else {
        panic!("docs/DATABASE_COMPATIBILITY.md lacks the {name} markers");
    };
    format!("{}{begin}\n{body}{}", &doc[..a], &doc[b..])
}

#[test]
fn compatibility_doc_matches_the_code() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/DATABASE_COMPATIBILITY.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut want = replace_section(&doc, "capability-matrix", &capability_matrix());
    want = replace_section(&want, "type-matrix", &type_matrix());
    want = replace_section(&want, "lint-rules", &lint_rules());
    if std::env::var("PLINTH_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        doc == want,
        "docs/DATABASE_COMPATIBILITY.md is out of date: run PLINTH_UPDATE_DOCS=1 cargo test -p plinth --test compat_docs"
    );
}
