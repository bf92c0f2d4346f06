//! SQLite's documented way to change a column's type (https://www.sqlite.org/lang_altertable.html,
//! "Making Other Kinds Of Table Schema Changes"): create the new table, copy the rows, drop the
//! old one, rename, recreate indexes and triggers, check foreign keys. The CREATE TABLE text is
//! rewritten in place, so constraints, defaults, checks, foreign keys and STRICT survive.

use super::sql::{quote, rewrite_create_table};
use crate::backend::{Db, DbConn};
use crate::Backend;

/// Why the rebuild did not happen.
pub(crate) enum RebuildError {
    /// The database refused a statement (classified by the caller).
    Sql(sqlx::Error),
    /// The rebuild would be unsafe here; the reason says why and what to do.
    Refused(String),
}

impl From<sqlx::Error> for RebuildError {
    fn from(e: sqlx::Error) -> Self {
        RebuildError::Sql(e)
    }
}

const SP: &str = "plinth_rebuild";

async fn scalar_i64(db: &mut Db, sql: &'static str) -> Result<i64, sqlx::Error> {
    match &mut db.conn {
        DbConn::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        _ => Err(sqlx::Error::Protocol(
            "SQLite rebuild on a non-SQLite connection".into(),
        )),
    }
}

async fn strings(db: &mut Db, sql: &'static str, table: &str) -> Result<Vec<String>, sqlx::Error> {
    match &mut db.conn {
        DbConn::Sqlite(c) => sqlx::query_scalar(sql).bind(table).fetch_all(&mut *c).await,
        _ => Err(sqlx::Error::Protocol(
            "SQLite rebuild on a non-SQLite connection".into(),
        )),
    }
}

/// Change `column` of `table` to `new_type` by rebuilding the table.
pub(crate) async fn alter_type(
    db: &mut Db,
    table: &str,
    column: &str,
    new_type: &str,
) -> Result<(), RebuildError> {
    // Foreign keys must be off while the old table is dropped (its rows would cascade or fail).
    // The pragma is a no-op inside a transaction: reading it back tells whether one is open.
    let fk_was_on = scalar_i64(db, "PRAGMA foreign_keys").await? == 1;
    let mut fk_turned_off = false;
    if fk_was_on {
        db.execute_script("PRAGMA foreign_keys = OFF").await?;
        fk_turned_off = scalar_i64(db, "PRAGMA foreign_keys").await? == 0;
        if !fk_turned_off {
            let children = strings(
                db,
                "SELECT m.name FROM sqlite_schema m, pragma_foreign_key_list(m.name) f \
                 WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> f.\"table\"",
                table,
            )
            .await?;
            if !children.is_empty() {
                return Err(RebuildError::Refused(format!(
                    "changing a column type on SQLite rebuilds the table, and inside a transaction foreign keys cannot be \
                     switched off; tables {} reference {table}: run this operation outside a transaction",
                    children.join(", ")
                )));
            }
        }
    }
    let result = rebuild(db, table, column, new_type, fk_was_on).await;
    if fk_turned_off {
        let restore = db.execute_script("PRAGMA foreign_keys = ON").await;
        if let (Ok(()), Err(e)) = (&result, restore) {
            return Err(RebuildError::Sql(e));
        }
    }
    result
}

async fn rebuild(
    db: &mut Db,
    table: &str,
    column: &str,
    new_type: &str,
    check_fk: bool,
) -> Result<(), RebuildError> {
    let b = Backend::Sqlite;
    let create = strings(
        db,
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
        table,
    )
    .await?;
    let Some(create) = create.into_iter().next() else {
        return Err(RebuildError::Refused(format!(
            "table {table} does not exist"
        )));
    };
    let tmp = format!("plinth_rebuild_{table}");
    let Some(new_create) = rewrite_create_table(&create, column, new_type.trim(), &quote(b, &tmp))
    else {
        return Err(RebuildError::Refused(format!(
            "could not find column {column} in the CREATE TABLE text of {table}; change it by hand"
        )));
    };
    let extras = strings(
        db,
        "SELECT sql FROM sqlite_schema WHERE tbl_name = ?1 COLLATE NOCASE AND type IN ('index', 'trigger') \
         AND sql IS NOT NULL ORDER BY type = 'trigger', rowid",
        table,
    )
    .await?;
    // Ordinary stored columns only: generated columns (hidden 2, 3) are recomputed.
    let cols = strings(
        db,
        "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid",
        table,
    )
    .await?;
    let col_list: Vec<String> = cols.iter().map(|c| quote(b, c)).collect();
    let col_list = col_list.join(", ");

    db.execute_script(&format!("SAVEPOINT {SP}")).await?;
    let steps = async {
        db.execute_script(&new_create).await?;
        db.execute_script(&format!(
            "INSERT INTO {} ({col_list}) SELECT {col_list} FROM {}",
            quote(b, &tmp),
            quote(b, table)
        ))
        .await?;
        db.execute_script(&format!("DROP TABLE {}", quote(b, table)))
            .await?;
        // Legacy rename: do not rewrite or re-check views and triggers of other tables that
        // name the old table while it is briefly gone; they name it again after the rename.
        db.execute_script("PRAGMA legacy_alter_table = ON").await?;
        let renamed = db
            .execute_script(&format!(
                "ALTER TABLE {} RENAME TO {}",
                quote(b, &tmp),
                quote(b, table)
            ))
            .await;
        db.execute_script("PRAGMA legacy_alter_table = OFF").await?;
        renamed?;
        for sql in &extras {
            db.execute_script(sql).await?;
        }
        if check_fk {
            let violations = strings(
                db,
                "SELECT \"table\" FROM pragma_foreign_key_check(?1)",
                table,
            )
            .await?;
            if !violations.is_empty() {
                return Err(RebuildError::Refused(format!(
                    "the rebuilt {table} violates {} foreign key reference(s); nothing was changed",
                    violations.len()
                )));
            }
        }
        Ok::<(), RebuildError>(())
    }
    .await;
    match steps {
        Ok(()) => {
            db.execute_script(&format!("RELEASE SAVEPOINT {SP}"))
                .await?;
            Ok(())
        }
        Err(e) => {
            let _ = db
                .execute_script(&format!(
                    "ROLLBACK TO SAVEPOINT {SP}; RELEASE SAVEPOINT {SP}"
                ))
                .await;
            Err(e)
        }
    }
}
