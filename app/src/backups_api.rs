//! Server functions for backups: the catalog (viewers and up), "Back up
//! now" and "Restore" (operators), each checking the caller, calling the
//! domain, converting. A started backup or restore sends the browser to its
//! job's page, with or without JavaScript.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use vocabulary::backups::{BackupStatus, BackupTrigger};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;
use crate::hosts_api::HostSummary;

/// One catalogued backup, as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRow {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub job_id: Option<i64>,
    pub database: String,
    pub trigger: BackupTrigger,
    pub actor: String,
    pub reason: Option<String>,
    pub status: BackupStatus,
    pub started: String,
    pub finished: String,
    /// pg_dump's output and the stored object, in bytes.
    pub raw_bytes: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub server_version: Option<String>,
    /// Why it failed: a job failure's code.
    pub failure: Option<String>,
}

/// The backups page: where backups are kept, the hosts (with whether the
/// storage sits on the host's machine), and the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupsView {
    pub storage: String,
    pub hosts: Vec<(HostSummary, bool)>,
    pub catalog: Vec<BackupRow>,
}

#[cfg(feature = "ssr")]
impl From<domain::backups::Backup> for BackupRow {
    fn from(b: domain::backups::Backup) -> Self {
        BackupRow {
            id: b.id,
            host_id: b.host_id,
            host_name: b.host_name,
            job_id: b.job_id,
            database: b.database_name,
            trigger: b.trigger,
            actor: b.actor,
            reason: b.reason,
            status: b.status,
            started: utc(b.started_at),
            finished: b.finished_at.map(utc).unwrap_or_default(),
            raw_bytes: b.raw_bytes,
            stored_bytes: b.stored_bytes,
            sha256: b.sha256,
            server_version: b.server_version,
            failure: b.failure,
        }
    }
}

/// The catalog shows this many backups, newest first.
pub const CATALOG_ROWS: i64 = 200;

#[server(endpoint = "backups/overview")]
pub async fn backups_overview() -> Result<BackupsView, AppError> {
    let caller = require(Role::Viewer).await?;
    let console = &caller.console;
    let mut hosts = Vec::new();
    for host in console.hosts.list().await? {
        let on_host = console.backups.storage_on_host(&host);
        hosts.push((HostSummary::from(&host), on_host));
    }
    let catalog = console.backups.list(None, CATALOG_ROWS).await?;
    Ok(BackupsView {
        storage: console.backups.storage_location(),
        hosts,
        catalog: catalog.into_iter().map(BackupRow::from).collect(),
    })
}

#[server(endpoint = "backups/one")]
pub async fn backup_detail(backup_id: i64) -> Result<BackupRow, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller.console.backups.get(backup_id).await?.into())
}

/// "Back up now": starts the backup job and opens its page.
#[server(endpoint = "backups/now")]
pub async fn back_up_now(host_id: i64, reason: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let reason = Some(reason).filter(|r| !r.trim().is_empty());
    let job = caller.console.backups.back_up_now(by, from, host_id, reason).await?;
    leptos_axum::redirect(&format!("/jobs/{job}"));
    Ok(job)
}

/// "Restore": once the typed confirmation is the backup's database name,
/// starts the restore job and opens its page.
#[server(endpoint = "backups/restore")]
pub async fn restore_backup(backup_id: i64, database_confirmation: String) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let job = caller
        .console
        .backups
        .restore(by, from, backup_id, &database_confirmation)
        .await?;
    leptos_axum::redirect(&format!("/jobs/{job}"));
    Ok(job)
}
