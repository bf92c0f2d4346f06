//! plinth: make the database layer of an application safe to change and easy to watch.
//!
//! The library never prints: it returns values and emits `tracing` events. The `plinth` binary
//! (crate `plinth-cli`) is a thin shell over it.

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
