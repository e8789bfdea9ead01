//! Verifying a backup: its checksum checked, it is restored into a scratch
//! database of a scratch server (by default the console's own embedded
//! PostgreSQL) with the console's `pg_restore`, its tables and their rows
//! counted, the restore's duration recorded (the RTO's measure), and the
//! scratch database dropped whatever happened. The managed host is never
//! touched, so a verification does not take the host's lock.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use sqlx::postgres::PgConnectOptions;
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, PgConnection};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{pipeline, Backup, BackupStatus, Backups};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::jobs::{failure, JobContext, JobFailure, JobPlan, WorkOutcome};
use crate::ssh::{Ended, OutputLine};
use crate::storage::StorageKey;
pub use vocabulary::backups::VerificationStatus;

/// A PostgreSQL server where the console may create and drop scratch
/// databases, and the `pg_restore` that restores into it.
#[derive(Clone)]
pub struct ScratchServer {
    /// Reaches the server's maintenance database (`postgres`).
    options: PgConnectOptions,
    password: Option<String>,
    pg_restore: PathBuf,
}

impl std::fmt::Debug for ScratchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchServer")
            .field("at", &self.location())
            .field("pg_restore", &self.pg_restore)
            .finish_non_exhaustive()
    }
}

impl ScratchServer {
    /// The server reached with `options` (its password apart: `pg_restore`
    /// gets it in its environment, never on its command line), with
    /// PostgreSQL's programs in `pg_bin_dir`.
    pub fn new(options: PgConnectOptions, password: Option<String>, pg_bin_dir: PathBuf) -> Self {
        let options = match &password {
            Some(password) => options.password(password),
            None => options,
        };
        Self {
            options: options.database("postgres"),
            password,
            pg_restore: pg_bin_dir.join("pg_restore"),
        }
    }

    /// Where it is, as the page shows it (no user, no password).
    pub fn location(&self) -> String {
        match self.options.get_socket() {
            Some(socket) => format!("{} (socket)", socket.display()),
            None => format!("{}:{}", self.options.get_host(), self.options.get_port()),
        }
    }

    async fn connect(&self, database: &str) -> std::result::Result<PgConnection, sqlx::Error> {
        self.options
            .clone()
            .database(database)
            .log_statements(tracing::log::LevelFilter::Trace)
            .connect()
            .await
    }

    /// `pg_restore` into `database`, in one transaction, owners and grants
    /// left out (the scratch server has none of the host's roles).
    fn pg_restore(&self, database: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.pg_restore);
        command
            .args([
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "--single-transaction",
                "--no-password",
                "--dbname",
                database,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for inherited in super::libpq::INHERITED {
            command.env_remove(inherited);
        }
        // The scratch database is named on the command line.
        let server = self.options.clone().database("postgres");
        command.envs(super::libpq::environment(&server, self.password.as_deref()));
        command
    }
}

/// A backup's latest verification.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: i64,
    pub backup_id: i64,
    pub job_id: Option<i64>,
    pub status: VerificationStatus,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// How long `pg_restore` took, in milliseconds.
    pub restore_ms: Option<i64>,
    /// Each table restored (`schema.table`) and its rows.
    pub tables: Vec<TableCount>,
    /// Why it failed: a job failure's code.
    pub failure: Option<String>,
}

/// A table of a verified backup and how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableCount {
    pub table: String,
    pub rows: i64,
}

impl Backups {
    /// The scratch server verifications restore into, when there is one.
    pub fn with_scratch_server(mut self, scratch: Option<ScratchServer>) -> Self {
        self.scratch = scratch;
        self
    }

    /// Where verifications restore, as the page shows it.
    pub fn scratch_location(&self) -> Option<String> {
        self.scratch.as_ref().map(ScratchServer::location)
    }

    /// Starts the verification of backup `backup_id` (operators and
    /// admins): a job, whose number this returns.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), backup_id))]
    pub async fn verify(&self, by: &Operator, provenance: &Provenance, backup_id: i64) -> Result<i64> {
        by.require(Role::Operator)?;
        let backup = self.get(backup_id).await?;
        if backup.status != BackupStatus::Succeeded {
            return Err(DomainError::invalid("backup", "error-backup-not-restorable"));
        }
        let host = self.hosts.get(backup.host_id).await?;
        let backups = self.clone();
        let plan = JobPlan {
            action: AuditAction::BackupVerify,
            mutating: false,
            command_line: format!(
                "pg_restore --no-owner --no-acl --exit-on-error --single-transaction --dbname <scratch database> \
                 (backup {backup_id}, on {})",
                self.scratch_location().unwrap_or_else(|| "no scratch server".into())
            ),
            details: vec![("backup", backup_id.to_string())],
            work: Box::new(move |job| Box::pin(async move { backups.verify_in_job(&job, backup_id).await })),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    /// The newest verification of each of `backup_ids`.
    pub async fn latest_verifications(&self, backup_ids: &[i64]) -> Result<Vec<Verification>> {
        let rows = sqlx::query!(
            r#"SELECT DISTINCT ON (backup_id) id, backup_id, job_id, status, started_at, finished_at, restore_ms,
                      tables AS "tables: Json<Vec<TableCount>>", failure
               FROM backup_verifications WHERE backup_id = ANY($1) ORDER BY backup_id, id DESC"#,
            backup_ids
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Verification {
                    id: row.id,
                    backup_id: row.backup_id,
                    job_id: row.job_id,
                    status: row
                        .status
                        .parse()
                        .map_err(|e: vocabulary::UnknownWord| DomainError::Internal(e.to_string()))?,
                    started_at: row.started_at,
                    finished_at: row.finished_at,
                    restore_ms: row.restore_ms,
                    tables: row.tables.map(|t| t.0).unwrap_or_default(),
                    failure: row.failure,
                })
            })
            .collect()
    }

    /// A verification as a job's work (its own job, or after a scheduled
    /// backup): recorded, restored, counted, the scratch database dropped.
    pub(super) async fn verify_in_job(&self, job: &JobContext, backup_id: i64) -> WorkOutcome {
        let internal = |e: DomainError| failure::of_console(&e);
        let verification_id = sqlx::query_scalar!(
            "INSERT INTO backup_verifications (backup_id, job_id, status) VALUES ($1, $2, 'running') RETURNING id",
            backup_id,
            job.job_id
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| internal(e.into()))?;
        let started = Instant::now();
        let outcome = self.restore_into_scratch(job, backup_id).await;
        let (status, failure, restore_ms, tables) = match &outcome {
            Ok(Some((restore_ms, tables))) => (VerificationStatus::Succeeded, None, Some(*restore_ms), tables.clone()),
            Ok(None) => (
                VerificationStatus::Failed,
                Some(JobFailure::Cancelled),
                None,
                Vec::new(),
            ),
            Err(failure) => (VerificationStatus::Failed, Some(failure.clone()), None, Vec::new()),
        };
        let mut tx = self.pool.begin().await.map_err(|e| internal(e.into()))?;
        sqlx::query!(
            "UPDATE backup_verifications SET status = $2, finished_at = now(), restore_ms = $3, tables = $4, failure = $5
             WHERE id = $1",
            verification_id,
            status.as_str(),
            restore_ms,
            Json(&tables) as _,
            failure.as_ref().map(JobFailure::code),
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| internal(e.into()))?;
        let outcome_word = if status == VerificationStatus::Succeeded {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut entry = AuditEntry::new(
            job.by.clone(),
            AuditAction::BackupVerify,
            job.host.name.as_str(),
            outcome_word,
        )
        .detail("backup", backup_id)
        .detail("job", job.job_id)
        .detail("event", "result")
        .detail("tables", tables.len())
        .detail("elapsed_ms", started.elapsed().as_millis() as u64)
        .from(&job.provenance);
        if let Some(restore_ms) = restore_ms {
            entry = entry.detail("restore_ms", restore_ms);
        }
        if let Some(failure) = &failure {
            entry = entry.detail("failure", failure.code());
        }
        entry.record(&mut tx).await.map_err(internal)?;
        tx.commit().await.map_err(|e| internal(e.into()))?;
        match outcome {
            Ok(Some(_)) => Ok(Ended::Exited(Some(0))),
            Ok(None) => Ok(Ended::Cancelled),
            Err(failure) => Err(failure),
        }
    }

    /// Restores the backup into a scratch database and counts its tables'
    /// rows: `None` when cancelled. The scratch database is dropped
    /// whatever happens.
    async fn restore_into_scratch(
        &self,
        job: &JobContext,
        backup_id: i64,
    ) -> std::result::Result<Option<(i64, Vec<TableCount>)>, JobFailure> {
        let Some(scratch) = self.scratch.clone() else {
            job.say("no scratch database server is configured (CONSOLE_VERIFY_DATABASE_URL)".into())
                .await;
            return Err(JobFailure::ScratchUnavailable);
        };
        let backup = self.get(backup_id).await.map_err(|e| failure::of_console(&e))?;
        let (key, key_id) = self.checked_object(job, &backup).await?;
        let database = format!("ocpizza_verify_{}", job.job_id);
        let unavailable = |error: sqlx::Error| {
            tracing::error!(%error, "the scratch database server refused the console");
            JobFailure::ScratchUnavailable
        };
        let mut maintenance = scratch.connect("postgres").await.map_err(unavailable)?;
        // Runtime strings: a database's name cannot be bound (it is made
        // here of a fixed word and the job's number).
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut maintenance)
            .await
            .map_err(unavailable)?;
        job.say(format!("scratch database {database} created on {}", scratch.location()))
            .await;
        let restored = self.restore_and_count(job, &scratch, &database, &key, key_id).await;
        let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            .execute(&mut maintenance)
            .await;
        match dropped {
            Ok(_) => job.say(format!("scratch database {database} dropped")).await,
            Err(error) => tracing::error!(%error, database, "a scratch database could not be dropped"),
        }
        let _ = maintenance.close().await;
        restored
    }

    async fn restore_and_count(
        &self,
        job: &JobContext,
        scratch: &ScratchServer,
        database: &str,
        key: &StorageKey,
        key_id: i64,
    ) -> std::result::Result<Option<(i64, Vec<TableCount>)>, JobFailure> {
        let unreadable = |error: &dyn std::fmt::Display| {
            tracing::warn!(%error, "the stored backup cannot be read");
            JobFailure::BackupUnreadable
        };
        let identity = self.keys.identity(key_id).await.map_err(|e| failure::of_console(&e))?;
        let object = self.storage.open(key).await.map_err(|e| unreadable(&e))?;
        let mut dump = pipeline::opening(object, &identity).await.map_err(|e| unreadable(&e))?;
        let started = Instant::now();
        let mut child = scratch.pg_restore(database).spawn().map_err(|error| {
            tracing::error!(%error, "pg_restore could not be started");
            JobFailure::ScratchUnavailable
        })?;
        let mut stdin = child.stdin.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let feed = async {
            let copied = tokio::io::copy(&mut dump, &mut stdin).await;
            drop(stdin);
            copied
        };
        let errors = async {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                let _ = job.lines.send(OutputLine { stderr: true, text }).await;
            }
        };
        let restore = async {
            let (copied, (), status) = tokio::join!(feed, errors, child.wait());
            (copied, status)
        };
        let (copied, status) = tokio::select! {
            done = restore => done,
            () = job.cancelled() => return Ok(None),
        };
        let restore_ms = started.elapsed().as_millis() as i64;
        let status = status.map_err(|error| {
            tracing::error!(%error, "pg_restore could not be waited for");
            JobFailure::VerifyFailed
        })?;
        if let Err(error) = copied {
            // pg_restore stopped reading (it failed) or the object broke.
            tracing::warn!(%error, "the backup's stream into pg_restore ended early");
        }
        if !status.success() {
            job.say(format!("pg_restore ended with {status}")).await;
            return Err(JobFailure::VerifyFailed);
        }
        job.say(format!("restored in {:.1} s", restore_ms as f64 / 1000.0))
            .await;
        let tables = count_tables(scratch, database).await.map_err(|error| {
            tracing::error!(%error, "the scratch database's tables could not be counted");
            JobFailure::VerifyFailed
        })?;
        for table in &tables {
            job.say(format!("{}: {} rows", table.table, table.rows)).await;
        }
        Ok(Some((restore_ms, tables)))
    }

    /// The backup's object and key, once its checksum is the catalog's.
    pub(super) async fn checked_object(
        &self,
        job: &JobContext,
        backup: &Backup,
    ) -> std::result::Result<(StorageKey, i64), JobFailure> {
        let internal = |e: DomainError| failure::of_console(&e);
        let (key, key_id) = self.object_of(backup.id).await.map_err(internal)?;
        let key = StorageKey::parse(&key).map_err(internal)?;
        let unreadable = |error: std::io::Error| {
            tracing::warn!(%error, backup = backup.id, "the stored backup cannot be read");
            JobFailure::BackupUnreadable
        };
        let object = self.storage.open(&key).await.map_err(unreadable)?;
        let (sum, _) = pipeline::checksum(object).await.map_err(unreadable)?;
        if Some(&sum) != backup.sha256.as_ref() {
            tracing::error!(backup = backup.id, stored = %sum, "the stored backup's checksum differs from the catalog's");
            return Err(JobFailure::BackupTampered);
        }
        job.say(format!("backup {}: sha256 {sum} checked", backup.id)).await;
        Ok((key, key_id))
    }
}

/// Every table of `database` but the system's, and its exact row count.
async fn count_tables(scratch: &ScratchServer, database: &str) -> std::result::Result<Vec<TableCount>, sqlx::Error> {
    let mut connection = scratch.connect(database).await?;
    let names: Vec<String> = sqlx::query_scalar!(
        r#"SELECT format('%I.%I', schemaname, tablename) AS "name!" FROM pg_tables
           WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"#
    )
    .fetch_all(&mut connection)
    .await?;
    let mut tables = Vec::with_capacity(names.len());
    for table in names {
        // A runtime string: the table's name, quoted by PostgreSQL's own
        // format('%I') above, cannot be bound.
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut connection)
            .await?;
        tables.push(TableCount { table, rows });
    }
    let _ = connection.close().await;
    Ok(tables)
}
