//! `compat check --target mysql` on a real PostgreSQL schema reports each column that would not
//! carry over, with a reason and a suggested type.

use plinth::backend::{ConnectConfig, Db};
use plinth::compat::{introspect, portability_check, LogicalType, ObjectKind};
use plinth::Backend;
use plinth_testkit::{test_db, Kind};

#[tokio::test]
async fn postgres_schema_checked_against_mysql() {
    let t = test_db!(Kind::Postgres);
    // 70 characters: PostgreSQL keeps the first 63 bytes and says so only in a NOTICE.
    let long = "customer_subscription_billing_adjustment_reason_code_history_archive_x";
    assert_eq!(long.len(), 70);
    let mut db = Db::connect(&t.url, &ConnectConfig::default())
        .await
        .unwrap();
    db.execute_script(&format!(
        "CREATE TABLE events (id bigint PRIMARY KEY, payload jsonb NOT NULL, tags text[], \
         happened_at timestamptz NOT NULL, body varchar(20000), {long} integer, \
         note varchar(200)); CREATE INDEX events_recent ON events (id) WHERE id > 100;"
    ))
    .await
    .unwrap();
    let schema = introspect(&mut db).await.unwrap();
    let events = schema.tables.iter().find(|t| t.name == "events").unwrap();
    let truncated = &long[..63];
    assert!(
        events.columns.iter().any(|c| c.name == truncated),
        "PostgreSQL truncated the name"
    );
    assert_eq!(
        events
            .columns
            .iter()
            .find(|c| c.name == "tags")
            .unwrap()
            .logical,
        LogicalType::Array(Box::new(LogicalType::Text))
    );

    let findings = portability_check(&schema, Backend::Postgres, Backend::MySql);
    let about = |name: &str| {
        findings
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no finding for {name}: {findings:#?}"))
    };
    let payload = about("payload");
    assert_eq!(payload.suggested.as_deref(), Some("JSON"));
    assert!(payload.reason.contains("GIN"), "{}", payload.reason);
    let tags = about("tags");
    assert_eq!(tags.suggested.as_deref(), Some("JSON"));
    assert!(tags.reason.contains("array"));
    let ts = about("happened_at");
    assert_eq!(ts.suggested.as_deref(), Some("DATETIME(6)"));
    assert!(ts.reason.contains("UTC"));
    let body = about("body");
    assert_eq!(body.suggested.as_deref(), Some("MEDIUMTEXT"));
    assert!(body.reason.contains("16,383"));
    // The 70-character name exists only as 63 bytes on PostgreSQL: the check reports that it was
    // probably truncated and that the migration's full name would not be the same on MySQL.
    let name = about(truncated);
    assert_eq!(name.kind, ObjectKind::Column);
    assert!(name.reason.contains("truncates"), "{}", name.reason);
    let idx = about("events_recent");
    assert!(idx.reason.contains("partial"));
    // Portable columns are not reported.
    assert!(findings.iter().all(|f| f.name != "note" && f.name != "id"));
    db.close().await.unwrap();
}
