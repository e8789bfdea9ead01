//! One module per page.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod backups;
pub mod dashboard;
pub mod deployments;
pub mod environment;
pub mod host;
pub mod host_linode;
pub mod hosts;
pub mod integrations;
pub mod job;
pub mod monitoring;
pub mod my_account;
pub mod second_factor;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
