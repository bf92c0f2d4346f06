//! The harness itself: each backend hands out a fresh database that accepts DDL and is isolated.

use plinth_testkit::{test_db, Kind};

#[tokio::test]
async fn each_backend_gives_a_fresh_isolated_database() {
    for kind in Kind::ALL {
        let a = test_db!(kind);
        let b = test_db!(kind);
        assert_ne!(a.name, b.name);
        a.exec("CREATE TABLE only_in_a (id INTEGER)").await.unwrap();
        // The same table name is free in b: the databases are separate.
        b.exec("CREATE TABLE only_in_a (id INTEGER)").await.unwrap();
    }
}
