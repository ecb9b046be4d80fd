//! Integration tests: each test starts the real server on a loopback port with a fresh
//! database (a SQLite file, or a new PostgreSQL database) and talks to it over HTTP.
//!
//! All modules build into this one test binary, so add new files here rather than as new
//! top-level files under `tests/`.

mod helpers;

mod admin;
mod audit;
mod bulk;
mod concurrency;
mod crash;
mod discovery;
mod entra;
mod errors;
mod etags;
mod groups;
mod instances;
mod isolation;
mod lifecycle;
mod limits;
mod lists;
mod mail;
mod okta;
mod owner_rules;
mod patch_forms;
mod patch_property;
mod process;
mod operations;
mod query;
mod request_log;
mod token_health;
mod sign_in;
mod users_crud;
