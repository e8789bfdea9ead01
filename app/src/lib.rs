//! The console's user interface: pages and components rendered on the
//! server and hydrated in the browser, and the thin server functions behind
//! them. The domain is reached only on the server (`ssr` feature).

pub mod alerts_api;
pub mod api;
pub mod audit_query;
pub mod backups_api;
pub mod charts;
pub mod components;
#[cfg(feature = "ssr")]
pub mod context;
pub mod deploys_api;
pub mod env_api;
pub mod errors;
pub mod home_api;
pub mod hosts_api;
pub mod i18n;
pub mod integrations_api;
pub mod linode_api;
pub mod monitoring_api;
pub mod pages;
pub mod second_factor_api;
pub mod secret_text;
pub mod sessions_api;
mod shell;
pub mod tokens_api;

pub use shell::{shell, App};
