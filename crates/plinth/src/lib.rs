//! plinth: make the database layer of an application safe to change and easy to watch.

pub mod backend;
pub mod errors;
pub mod redact;
pub mod schema;

pub use backend::{Backend, Version};
