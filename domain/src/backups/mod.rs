//! Database backups (manual §7.1): "Back up now" streams the host's
//! `pg_dump` through the console into the backup storage — never onto the
//! host's disk — compressed, encrypted and checksummed on the way, and
//! records it in the catalog; "Restore" checks a backup's checksum, takes a
//! safety backup, and streams the dump back into `pg_restore` in one
//! transaction. Both are jobs like the runbook's actions: the same page,
//! the same lock (a backup and a restore never overlap on one host), the
//! same audit.
//!
//! Where things are: `catalog` (the catalog's rows, each host's backup
//! health), `take` (a backup's work), `restore` (a restore's work),
//! `schedule` (cron schedules run once across console processes),
//! `retention` (what a host keeps, pruning the rest), `verify` (a test
//! restore into a scratch database), `download` (a backup and the key
//! taken out by an admin), `pipeline` (compression, encryption, checksums),
//! `remote` (the commands run on the host), `key` (the key backups are
//! encrypted to).

mod catalog;
mod download;
mod key;
pub mod libpq;
mod pipeline;
mod remote;
mod restore;
mod retention;
mod schedule;
mod take;
mod verify;

use sqlx::PgPool;
use time::OffsetDateTime;

pub use catalog::{BackupHealth, CatalogFilter, CatalogTotals, HEALTH_CHANNEL};
pub use download::BackupDownload;
pub use retention::Retention;
pub use schedule::{BackupSchedule, CronSchedule, ScheduleForm};
pub(crate) use take::Request as BackupRequest;
pub use verify::{ScratchServer, TableCount, Verification, VerificationStatus};
pub use vocabulary::backups::{BackupStatus, BackupTrigger};

use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::{Host, HostDirectory};
use crate::jobs::{JobPlan, JobRunner};
use crate::secrets::SecretStore;
use crate::storage::BackupStorage;

/// One backup in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    /// The job that took it.
    pub job_id: Option<i64>,
    pub database_name: String,
    pub trigger: BackupTrigger,
    pub actor: String,
    pub reason: Option<String>,
    pub status: BackupStatus,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// pg_dump's output, in bytes.
    pub raw_bytes: Option<i64>,
    /// The stored object (compressed, encrypted), in bytes.
    pub stored_bytes: Option<i64>,
    /// SHA-256 of the stored object, hex.
    pub sha256: Option<String>,
    pub pg_dump_version: Option<String>,
    pub server_version: Option<String>,
    /// Why it failed: a job failure's code.
    pub failure: Option<String>,
}

/// The backups of every host: the catalog, and starting backups and
/// restores.
#[derive(Clone, Debug)]
pub struct Backups {
    pool: PgPool,
    storage: BackupStorage,
    keys: key::BackupKeys,
    hosts: HostDirectory,
    jobs: JobRunner,
    /// Where verifications restore backups (none: verifying is refused,
    /// saying so).
    scratch: Option<verify::ScratchServer>,
    /// Who may restore: operators (the default) or admins only.
    restore_role: Role,
    /// Each host's backup health, kept until the next announced change
    /// of a backup, a verification or a host ([`HEALTH_CHANNEL`]).
    health: std::sync::Arc<crate::remembered::Remembered<Vec<BackupHealth>>>,
}

/// What an operator asks of a restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    pub backup_id: i64,
    /// The confirmation typed: the backup's database name.
    pub typed_database: String,
    /// Stop the web server (NGINX) while the database is replaced, and
    /// start it again after, whatever the outcome.
    pub stop_site: bool,
}

/// The longest reason an operator may type for a backup.
pub const MAX_REASON: usize = 200;

impl Backups {
    pub fn new(
        pool: PgPool,
        storage: BackupStorage,
        secrets: SecretStore,
        hosts: HostDirectory,
        jobs: JobRunner,
    ) -> Self {
        Self {
            keys: key::BackupKeys::new(pool.clone(), secrets),
            pool,
            storage,
            hosts,
            jobs,
            scratch: None,
            restore_role: Role::Operator,
            health: Default::default(),
        }
    }

    /// Who may restore (operators by default; admins only when configured).
    pub fn with_restore_role(mut self, role: Role) -> Self {
        self.restore_role = role;
        self
    }

    pub fn restore_role(&self) -> Role {
        self.restore_role
    }

    /// Where backups are kept, as the page shows it.
    pub fn storage_location(&self) -> String {
        self.storage.location()
    }

    /// Whether the storage sits on the machine of `host`'s
    /// database (the manual's rule: never keep the backup there).
    pub fn storage_on_host(&self, host: &Host) -> bool {
        self.storage.is_on_host(host.target.address.as_str())
    }

    /// Starts "Back up now" on a host (operators and admins): a job, whose
    /// number this returns. `reason` is optional, at most [`MAX_REASON`]
    /// characters.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id))]
    pub async fn back_up_now(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        reason: Option<String>,
    ) -> Result<i64> {
        let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REASON || r.chars().any(char::is_control))
        {
            return Err(DomainError::invalid("reason", "error-backup-reason"));
        }
        let host = self.hosts.get(host_id).await?;
        let command = remote::dump(&host);
        let backups = self.clone();
        let plan = JobPlan {
            action: AuditAction::BackupRun,
            mutating: true,
            command_line: command.line(),
            details: reason.iter().map(|r| ("reason", r.clone())).collect(),
            work: Box::new(move |job| {
                Box::pin(async move {
                    let request = take::Request {
                        trigger: BackupTrigger::Manual,
                        reason,
                        safety_for_job: None,
                        expect_database: None,
                    };
                    backups.take_connected(&job, request).await.map(|(ended, _)| ended)
                })
            }),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    /// Starts the restore of backup `backup_id` onto its host, the site
    /// left up; see [`Backups::restore_with`].
    pub async fn restore(
        &self,
        by: &Operator,
        provenance: &Provenance,
        backup_id: i64,
        typed_database: &str,
    ) -> Result<i64> {
        let request = RestoreRequest {
            backup_id,
            typed_database: typed_database.to_owned(),
            stop_site: false,
        };
        self.restore_with(by, provenance, request).await
    }

    /// Starts a restore onto the backup's host (operators and admins, or
    /// admins only when so configured), once the confirmation typed is the
    /// backup's database name. Returns the job's number.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), backup_id = request.backup_id))]
    pub async fn restore_with(&self, by: &Operator, provenance: &Provenance, request: RestoreRequest) -> Result<i64> {
        let RestoreRequest {
            backup_id,
            typed_database,
            stop_site,
        } = request;
        let backup = self.get(backup_id).await?;
        self.at_least(
            self.restore_role,
            by,
            provenance,
            AuditAction::BackupRestore,
            &backup.host_name,
        )
        .await?;
        if backup.status != BackupStatus::Succeeded {
            return Err(DomainError::invalid("backup", "error-backup-not-restorable"));
        }
        if typed_database.trim() != backup.database_name {
            return Err(DomainError::invalid("confirmation", "error-backup-confirmation"));
        }
        let host = self.hosts.get(backup.host_id).await?;
        let command = remote::restore(&host);
        let backups = self.clone();
        let plan = JobPlan {
            action: AuditAction::BackupRestore,
            mutating: true,
            command_line: command.line(),
            details: vec![
                ("backup", backup.id.to_string()),
                ("database", backup.database_name.clone()),
                ("stop_site", stop_site.to_string()),
            ],
            work: Box::new(move |job| Box::pin(async move { backups.restore_work(job, backup, stop_site).await })),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }
}
