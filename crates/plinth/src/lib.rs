//! plinth: make the database layer of an application safe to change and easy to watch.

pub mod backend;
pub mod redact;

pub mod compat;

pub use backend::{Backend, Version};
