//! Integration tests: the real server over HTTP, on SQLite and on PostgreSQL. One test binary
//! (faster to build than one per file); one module per area.

mod support;

mod agents;
mod api_keys;
mod auth;
mod bad_input;
mod generic_plans;
mod isolation;
mod operations;
mod pipeline;
mod roles;
mod row_level_security;
