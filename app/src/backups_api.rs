//! Server functions for backups: the catalog and each host's backup health
//! (viewers and up), "Back up now", "Verify" and "Restore" (operators), the
//! schedule and its retention (admins), each checking the caller, calling
//! the domain, converting. A started job sends the browser to its page,
//! with or without JavaScript.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use vocabulary::backups::{BackupStatus, BackupTrigger, VerificationStatus};
use vocabulary::jobs::JobFailure;

use crate::api::Role;
#[cfg(feature = "ssr")]
use crate::api::{opening_job_page, require, utc};
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
    /// Why it failed.
    pub failure: Option<JobFailure>,
    /// Its newest verification, if any.
    pub verification: Option<VerificationRow>,
}

/// A backup's newest verification (a test restore into a scratch database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationRow {
    pub status: VerificationStatus,
    pub job_id: Option<i64>,
    pub tables: usize,
    pub rows: i64,
    /// How long the restore took, in milliseconds.
    pub restore_ms: Option<i64>,
    pub failure: Option<JobFailure>,
}

/// One host's backups at a glance: ages in seconds (as the server's clock
/// reads them), the RPO (age of the newest verified backup) and the RTO
/// (how long the last verified restore took).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHealthRow {
    pub host_id: i64,
    pub host_name: String,
    pub last_backup_age: Option<i64>,
    pub rpo: Option<i64>,
    pub last_verification_age: Option<i64>,
    pub rto_ms: Option<i64>,
}

/// Past this age the newest backup is a warning (a daily schedule that
/// missed a run).
pub const BACKUP_STALE_SECONDS: i64 = 26 * 3600;

impl BackupHealthRow {
    /// No backup, or the newest older than 26 hours.
    pub fn stale(&self) -> bool {
        self.last_backup_age.is_none_or(|age| age > BACKUP_STALE_SECONDS)
    }
}

/// A host's schedule as its form and summary show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRow {
    pub enabled: bool,
    pub cron: String,
    pub time_zone: String,
    pub keep_last: i32,
    pub keep_daily: i32,
    pub keep_weekly: i32,
    pub keep_monthly: i32,
    pub verify_after: bool,
    /// UTC; empty for a host with no schedule saved.
    pub next_run: String,
    pub last_job: Option<i64>,
    pub updated_by: String,
}

/// One host on the backups page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostBackups {
    pub host: HostSummary,
    /// The storage sits on the host's own machine (the manual forbids it).
    pub storage_on_host: bool,
    pub health: BackupHealthRow,
    /// Its schedule; the default one (not saved) when `saved` is false.
    pub schedule: ScheduleRow,
    pub saved: bool,
}

/// Which backups the catalog shows (the page's address: `?host=&status=&trigger=`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogQuery {
    pub host: Option<i64>,
    pub status: Option<BackupStatus>,
    pub trigger: Option<BackupTrigger>,
}

/// What the catalog's filter selects, in all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogTotalsRow {
    pub backups: i64,
    pub succeeded: i64,
    pub stored_bytes: i64,
}

/// The backups page: where backups are kept, the hosts (with whether the
/// storage sits on the host's machine), and the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupsView {
    pub storage: String,
    /// Where verifications restore; `None`: verifying is not available.
    pub scratch: Option<String>,
    pub hosts: Vec<HostBackups>,
    pub catalog: Vec<BackupRow>,
    pub totals: CatalogTotalsRow,
    /// Who may restore (operators, or admins only when so configured).
    pub restore_role: Role,
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
            failure: b.failure.as_deref().and_then(JobFailure::from_code),
            verification: None,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::backups::Verification> for VerificationRow {
    fn from(v: domain::backups::Verification) -> Self {
        VerificationRow {
            status: v.status,
            job_id: v.job_id,
            tables: v.tables.len(),
            rows: v.tables.iter().map(|t| t.rows).sum(),
            restore_ms: v.restore_ms,
            failure: v.failure.as_deref().and_then(JobFailure::from_code),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::backups::BackupHealth> for BackupHealthRow {
    fn from(h: domain::backups::BackupHealth) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let age = |at: Option<time::OffsetDateTime>| at.map(|at| (now - at).whole_seconds().max(0));
        BackupHealthRow {
            host_id: h.host_id,
            host_name: h.host_name,
            last_backup_age: age(h.last_backup_at),
            rpo: age(h.last_verified_backup_at),
            last_verification_age: age(h.last_verification_at),
            rto_ms: h.last_restore_ms,
        }
    }
}

#[cfg(feature = "ssr")]
impl ScheduleRow {
    fn of(schedule: Option<&domain::backups::BackupSchedule>) -> Self {
        let form = schedule.map(|s| s.form()).unwrap_or_default();
        ScheduleRow {
            enabled: form.enabled,
            cron: form.cron,
            time_zone: form.time_zone,
            keep_last: form.keep_last,
            keep_daily: form.keep_daily,
            keep_weekly: form.keep_weekly,
            keep_monthly: form.keep_monthly,
            verify_after: form.verify_after,
            next_run: schedule.map(|s| utc(s.next_run_at)).unwrap_or_default(),
            last_job: schedule.and_then(|s| s.last_job_id),
            updated_by: schedule.map(|s| s.updated_by.clone()).unwrap_or_default(),
        }
    }
}

/// The catalog shows this many backups, newest first.
pub const CATALOG_ROWS: i64 = 200;

/// The page, its catalog filtered (each filter left out: any). Flat
/// arguments: a filter left out is simply not posted.
#[server(endpoint = "backups/overview")]
pub async fn backups_overview(
    host: Option<i64>,
    status: Option<BackupStatus>,
    trigger: Option<BackupTrigger>,
) -> Result<BackupsView, AppError> {
    let caller = require(Role::Viewer).await?;
    let backups = &caller.console.backups;
    let (schedules, health) = (backups.schedules().await?, backups.health().await?);
    let mut hosts = Vec::new();
    for host in caller.console.hosts.list().await? {
        let schedule = schedules.iter().find(|s| s.host_id == host.id);
        let Some(health) = health.iter().find(|h| h.host_id == host.id) else {
            continue;
        };
        hosts.push(HostBackups {
            host: HostSummary::from(&host),
            storage_on_host: backups.storage_on_host(&host),
            health: health.clone().into(),
            schedule: ScheduleRow::of(schedule),
            saved: schedule.is_some(),
        });
    }
    let filter = domain::backups::CatalogFilter {
        host_id: host,
        status,
        trigger,
        before: None,
    };
    let totals = backups.totals(&filter).await?;
    let mut catalog: Vec<BackupRow> = backups
        .list_filtered(&filter, CATALOG_ROWS)
        .await?
        .into_iter()
        .map(BackupRow::from)
        .collect();
    let ids: Vec<i64> = catalog.iter().map(|b| b.id).collect();
    for verification in backups.latest_verifications(&ids).await? {
        if let Some(row) = catalog.iter_mut().find(|b| b.id == verification.backup_id) {
            row.verification = Some(verification.into());
        }
    }
    Ok(BackupsView {
        storage: backups.storage_location(),
        scratch: backups.scratch_location(),
        hosts,
        catalog,
        totals: CatalogTotalsRow {
            backups: totals.backups,
            succeeded: totals.succeeded,
            stored_bytes: totals.stored_bytes,
        },
        restore_role: backups.restore_role(),
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
    opening_job_page(job)
}

/// "Restore": once the typed confirmation is the backup's database name,
/// starts the restore job (the site stopped meanwhile when `stop_site` is
/// ticked) and opens its page.
#[server(endpoint = "backups/restore")]
pub async fn restore_backup(
    backup_id: i64,
    database_confirmation: String,
    stop_site: Option<String>,
) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let request = domain::backups::RestoreRequest {
        backup_id,
        typed_database: database_confirmation,
        stop_site: stop_site.is_some(),
    };
    let job = caller.console.backups.restore_with(by, from, request).await?;
    opening_job_page(job)
}

/// Each host's backup health, for the home page.
#[cfg(feature = "ssr")]
pub(crate) async fn backup_health(console: &domain::Console) -> domain::error::Result<Vec<BackupHealthRow>> {
    Ok(console
        .backups
        .health()
        .await?
        .iter()
        .cloned()
        .map(BackupHealthRow::from)
        .collect())
}

/// "Verify": restores the backup into a scratch database and opens the
/// job's page.
#[server(endpoint = "backups/verify")]
pub async fn verify_backup(backup_id: i64) -> Result<i64, AppError> {
    let caller = require(Role::Operator).await?;
    let job = caller
        .console
        .backups
        .verify(&caller.operator, &caller.provenance, backup_id)
        .await?;
    opening_job_page(job)
}

/// A schedule as its form posts it (`schedule[cron]`, …): numbers as typed,
/// so a word where a number goes is refused next to its field; a checkbox
/// left unticked is not posted (`None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleFields {
    pub enabled: Option<String>,
    pub cron: String,
    pub time_zone: String,
    pub keep_last: String,
    pub keep_daily: String,
    pub keep_weekly: String,
    pub keep_monthly: String,
    pub verify_after: Option<String>,
}

/// Saves a host's backup schedule and retention (admins).
#[server(endpoint = "backups/schedule")]
pub async fn save_backup_schedule(host_id: i64, schedule: ScheduleFields) -> Result<ScheduleRow, AppError> {
    let caller = require(Role::Admin).await?;
    let ScheduleFields {
        enabled,
        cron,
        time_zone,
        keep_last,
        keep_daily,
        keep_weekly,
        keep_monthly,
        verify_after,
    } = schedule;
    let number = |field: &'static str, text: &str| {
        text.trim()
            .parse::<i32>()
            .map_err(|_| domain::DomainError::invalid(field, "error-schedule-retention"))
    };
    let form = domain::backups::ScheduleForm {
        enabled: enabled.is_some(),
        cron,
        time_zone,
        keep_last: number("keep_last", &keep_last)?,
        keep_daily: number("keep_daily", &keep_daily)?,
        keep_weekly: number("keep_weekly", &keep_weekly)?,
        keep_monthly: number("keep_monthly", &keep_monthly)?,
        verify_after: verify_after.is_some(),
    };
    let saved = caller
        .console
        .backups
        .save_schedule(&caller.operator, &caller.provenance, host_id, form)
        .await?;
    Ok(ScheduleRow::of(Some(&saved)))
}

/// The safety copy a failed restore job took first: what its page offers.
#[server(endpoint = "backups/safety-copy")]
pub async fn restore_safety_copy(job_id: i64) -> Result<Option<BackupRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    Ok(caller
        .console
        .backups
        .safety_copy_of(job_id)
        .await?
        .map(BackupRow::from))
}
