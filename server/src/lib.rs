//! The console's server: configuration, start-up, the embedded PostgreSQL,
//! the HTTP layers (observation, security headers, sessions), the routes
//! that are not Leptos pages, and the JSON API for scripts ([`api`]).

pub mod api;
pub mod assets;
pub mod audit_export;
pub mod audit_upkeep;
pub mod auth;
pub mod backup_download;
pub mod backup_scheduler;
pub mod config;
pub mod database_role;
pub mod doctor;
pub mod embedded_postgres;
pub mod error_reports;
pub mod health;
pub mod home_page_stream;
pub mod job_stream;
pub mod linode_double;
pub mod master_key;
pub mod observe;
pub mod scheduled;
pub mod security;
pub mod self_backup;
pub mod service_manager;
pub mod session;
pub mod session_cache;
pub mod startup;
pub mod tls;
pub mod typed_values;
