//! The SCIM 2.0 protocol: schemas, resource documents, PATCH, filters and errors.
//!
//! Everything here works on `serde_json` documents and the schema definitions, with no storage
//! or HTTP, so the same code serves every backend and every endpoint.

pub mod cursor;
pub mod discovery;
pub mod document;
pub mod error;
pub mod filter;
pub mod fold;
pub mod group;
pub mod limits;
pub mod list;
pub mod parse_cache;
pub mod patch;
pub mod projection;
pub mod schema;
pub mod user;
pub mod value;

pub use error::{ScimError, ScimType};
