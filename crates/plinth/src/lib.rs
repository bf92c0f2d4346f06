//! plinth: make the database layer of an application safe to change and easy to watch.

pub mod backend;
pub mod pool;
pub mod redact;
pub mod retry;

pub use backend::{Backend, Version};
