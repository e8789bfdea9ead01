//! Integration tests: the whole console (router, sessions, audit) on a real
//! PostgreSQL, one fresh database per test (`#[sqlx::test]`, dropped when the
//! test passes), spoken to over HTTP on a loopback port.

mod alerts;
mod api_v1;
mod assets;
mod audit;
mod backup_failures;
mod backup_s3;
mod backup_schedules;
mod backups;
mod crash;
mod deploys;
mod doctor;
mod embedded;
mod environment;
mod forms;
mod helpers;
mod hosts;
mod integration_doubles;
mod integrations;
mod linode;
mod linode_console;
mod logs;
mod monitoring;
mod my_sessions;
mod own_s3;
mod own_sshd;
mod second_factor;
mod secrets;
mod security;
mod self_backup;
mod sessions;
mod tls;
mod upgrades;
