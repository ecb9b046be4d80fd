//! Hub: the identity service of the suite.
//!
//! The crate is split into layers, each in its own module:
//! - [`scim`]: the SCIM 2.0 protocol (RFC 7643 schemas, RFC 7644 operations), working on JSON
//!   documents and knowing nothing of storage or HTTP.
//! - [`domain`]: Hub's own rules (statuses, platform roles, the owner limit), free of HTTP and SQL.
//! - [`storage`]: the sqlx store for SQLite and PostgreSQL, with per-backend migrations.
//! - [`service`]: use cases that open a transaction, apply SCIM and domain rules, and write audit
//!   entries.
//! - [`http`]: the axum router, authentication, request ids and SCIM error responses.
//! - [`cli`], [`config`], [`startup`], [`telemetry`]: the `hub` binary around them.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo))]

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod mail;
pub mod scim;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
