//! `plinth lint` on fixtures: each rule is flagged at the right file and line, and a clean set of 20
//! realistic migrations yields nothing on any backend.

use plinth::compat::lint::{has_errors, lint_dir, lint_sql, LintFinding, Severity, RULES};
use plinth::Backend;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn fixtures(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lint")
        .join(set)
}

fn triples(findings: &[LintFinding]) -> BTreeSet<(String, &'static str, u64)> {
    findings
        .iter()
        .map(|f| (f.file.clone(), f.rule, f.line))
        .collect()
}

fn expect(list: &[(&str, &'static str, u64)]) -> BTreeSet<(String, &'static str, u64)> {
    list.iter()
        .map(|(f, r, l)| (f.to_string(), *r, *l))
        .collect()
}

const PG: &[(&str, &str, u64)] = &[
    (
        "0002_index_concurrently.up.sql",
        "no-transaction-required",
        2,
    ),
    ("0003_enum_value.up.sql", "enum-value-in-transaction", 2),
    ("0006_drop_legacy.up.sql", "destructive-change", 1),
    ("0006_drop_legacy.up.sql", "destructive-change", 2),
    ("0007_narrow_email.up.sql", "pg-table-rewrite", 1),
    ("0007_narrow_email.up.sql", "type-narrowing", 1),
    ("0008_add_token.up.sql", "pg-table-rewrite", 2),
    ("0009_index_memberships.up.sql", "pg-blocking-index", 1),
    ("0011_no_down.up.sql", "missing-down", 1),
    ("0013_mysql_types.up.sql", "unsupported-type", 2),
    ("0013_mysql_types.up.sql", "unsupported-type", 3),
    ("0013_mysql_types.up.sql", "unsupported-type", 4),
    ("0014_long_name.up.sql", "identifier-too-long", 1),
    (
        "0015_concurrent_not_alone.up.sql",
        "no-transaction-required",
        2,
    ),
    (
        "0015_concurrent_not_alone.up.sql",
        "no-transaction-required",
        3,
    ),
    ("0016_vacuum.up.sql", "no-transaction-required", 2),
];

const MYSQL: &[(&str, &str, u64)] = &[
    ("0003_enum_value.up.sql", "mysql-mixed-ddl-dml", 2),
    ("0004_backfill_plan.up.sql", "mysql-mixed-ddl-dml", 2),
    ("0005_two_tables.up.sql", "mysql-multiple-ddl", 2),
    ("0006_drop_legacy.up.sql", "destructive-change", 1),
    ("0006_drop_legacy.up.sql", "destructive-change", 2),
    ("0006_drop_legacy.up.sql", "mysql-multiple-ddl", 2),
    ("0007_narrow_email.up.sql", "type-narrowing", 1),
    ("0008_add_token.up.sql", "unsupported-type", 2),
    ("0011_no_down.up.sql", "missing-down", 1),
    ("0012_pg_types.up.sql", "unsupported-type", 3),
    ("0012_pg_types.up.sql", "unsupported-type", 4),
    ("0012_pg_types.up.sql", "unsupported-type", 5),
    ("0012_pg_types.up.sql", "unsupported-type", 6),
    ("0014_long_name.up.sql", "identifier-too-long", 1),
    ("0015_concurrent_not_alone.up.sql", "mysql-multiple-ddl", 3),
];

const SQLITE: &[(&str, &str, u64)] = &[
    ("0006_drop_legacy.up.sql", "destructive-change", 1),
    ("0006_drop_legacy.up.sql", "destructive-change", 2),
    ("0007_narrow_email.up.sql", "sqlite-unsupported-alter", 1),
    (
        "0010_plan_not_null.sqlite.up.sql",
        "sqlite-unsupported-alter",
        1,
    ),
    ("0011_no_down.up.sql", "missing-down", 1),
    ("0012_pg_types.up.sql", "unsupported-type", 4),
    ("0013_mysql_types.up.sql", "unsupported-type", 2),
    ("0016_vacuum.up.sql", "no-transaction-required", 2),
];

#[test]
fn bad_fixtures_are_flagged_at_the_right_file_and_line() {
    for (target, want) in [
        (Backend::Postgres, PG),
        (Backend::MySql, MYSQL),
        (Backend::Sqlite, SQLITE),
    ] {
        let got = lint_dir(&fixtures("bad"), Some(target)).unwrap();
        assert_eq!(triples(&got), expect(want), "target {target}");
        assert!(has_errors(&got));
    }
    // MariaDB has a UUID type (10.7+): the uuid column is fine there, the rest as MySQL.
    let maria = lint_dir(&fixtures("bad"), Some(Backend::MariaDb)).unwrap();
    let mut want = expect(MYSQL);
    want.remove(&("0008_add_token.up.sql".to_string(), "unsupported-type", 2));
    assert_eq!(triples(&maria), want);
}

#[test]
fn every_rule_is_exercised_by_the_fixtures() {
    let mut seen = BTreeSet::new();
    for t in [Backend::Postgres, Backend::MySql, Backend::Sqlite] {
        for f in lint_dir(&fixtures("bad"), Some(t)).unwrap() {
            seen.insert(f.rule);
        }
    }
    let syntax = lint_sql("0001_x.up.sql", "INSERT INTO t VALUES ('open);", None, true);
    assert_eq!(syntax.len(), 1);
    assert_eq!((syntax[0].rule, syntax[0].line), ("syntax", 1));
    seen.insert("syntax");
    for r in RULES {
        assert!(seen.contains(r.name), "rule {} has no fixture", r.name);
    }
}

#[test]
fn clean_migrations_have_no_findings_on_any_backend() {
    let dir = fixtures("clean");
    let ups = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.get(..4))
                .map(str::to_string)
        })
        .collect::<BTreeSet<_>>();
    assert_eq!(ups.len(), 20, "the clean set has 20 migrations");
    for t in [
        None,
        Some(Backend::Postgres),
        Some(Backend::MySql),
        Some(Backend::MariaDb),
        Some(Backend::Sqlite),
    ] {
        let got = lint_dir(&dir, t).unwrap();
        assert!(got.is_empty(), "{t:?}: {got:#?}");
    }
}

#[test]
fn severity_and_fix_are_filled_and_semicolons_in_strings_do_not_split() {
    let sql =
        "-- seed\nINSERT INTO plans VALUES ('a;b');\nALTER TABLE plans\n  DROP COLUMN note;\n";
    let got = lint_sql("0002_x.up.sql", sql, Some(Backend::Postgres), true);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!((got[0].rule, got[0].line), ("destructive-change", 4));
    assert_eq!(got[0].severity, Severity::Warning);
    assert!(!got[0].fix.is_empty());
    // A requirement the target does not meet: the migration is skipped there, so nothing to lint.
    let pg_only = "-- plinth:requires postgres\nCREATE TABLE t (tags text[]);\n";
    assert!(lint_sql("0003_x.up.sql", pg_only, Some(Backend::MySql), true).is_empty());
    assert_eq!(
        lint_sql(
            "0003_x.up.sql",
            "CREATE TABLE t (tags text[]);",
            Some(Backend::MySql),
            true
        )
        .len(),
        1
    );
}
