//! plinth: make the database layer of an application safe to change and easy to watch.
//!
//! The library never prints: it returns values and emits `tracing` events. The `plinth` binary
//! (crate `plinth-cli`) is a thin shell over it.
//!
//! ```no_run
//! use plinth::{ConnectConfig, Db, MigrateOptions, MigrationSource, Migrator};
//!
//! # async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = MigrationSource::from_dir(std::path::Path::new("migrations"))?;
//! source.add_rust(100, "backfill_slugs", |db| {
//!     Box::pin(async move {
//!         db.execute_script("UPDATE posts SET slug = lower(title) WHERE slug IS NULL").await?;
//!         Ok(())
//!     })
//! })?;
//! let mut db = Db::connect(url, &ConnectConfig::default()).await?;
//! let report = Migrator::new(source, MigrateOptions::default())
//!     .migrate(&mut db, &plinth::migrate::Quiet)
//!     .await?;
//! println!("applied {}", report.applied.len());
//! # Ok(())
//! # }
//! ```

pub mod backend;
pub mod compat;
pub mod errors;
pub mod migrate;
pub mod pool;
pub mod redact;
pub mod retry;
pub mod schema;

pub use backend::{Backend, ConnectConfig, Db, ServerInfo, Version};
pub use migrate::{MigrateOptions, MigrationSource, Migrator};

#[doc(hidden)]
pub use include_dir;
