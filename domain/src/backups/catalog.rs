//! The catalog's rows: a backup is recorded "running" when its bytes start
//! to flow, and ends "succeeded" (with its sizes and checksum) or "failed"
//! (with why, its object removed).

use super::{Backup, BackupStatus, BackupTrigger, Backups};
use crate::error::{DomainError, Result};
use crate::storage::StorageKey;

/// A catalog row as stored.
struct Row {
    id: i64,
    host_id: i64,
    host_name: String,
    job_id: Option<i64>,
    database_name: String,
    trigger: String,
    actor: String,
    reason: Option<String>,
    status: String,
    started_at: time::OffsetDateTime,
    finished_at: Option<time::OffsetDateTime>,
    raw_bytes: Option<i64>,
    stored_bytes: Option<i64>,
    sha256: Option<String>,
    pg_dump_version: Option<String>,
    server_version: Option<String>,
    failure: Option<String>,
}

impl TryFrom<Row> for Backup {
    type Error = DomainError;

    fn try_from(row: Row) -> Result<Self> {
        let word = |e: vocabulary::UnknownWord| DomainError::Internal(e.to_string());
        Ok(Backup {
            id: row.id,
            host_id: row.host_id,
            host_name: row.host_name,
            job_id: row.job_id,
            database_name: row.database_name,
            trigger: row.trigger.parse().map_err(word)?,
            actor: row.actor,
            reason: row.reason,
            status: row.status.parse().map_err(word)?,
            started_at: row.started_at,
            finished_at: row.finished_at,
            raw_bytes: row.raw_bytes,
            stored_bytes: row.stored_bytes,
            sha256: row.sha256,
            pg_dump_version: row.pg_dump_version,
            server_version: row.server_version,
            failure: row.failure,
        })
    }
}

/// What a new catalog row holds.
pub(super) struct NewBackup<'a> {
    pub host_id: i64,
    pub job_id: i64,
    pub database_name: &'a str,
    pub trigger: BackupTrigger,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub storage_key: &'a str,
    pub key_id: i64,
    pub pg_dump_version: &'a str,
    pub server_version: &'a str,
    pub safety_for_job: Option<i64>,
}

/// Which backups the catalog lists: any of each, unless set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    pub host_id: Option<i64>,
    pub status: Option<BackupStatus>,
    pub trigger: Option<BackupTrigger>,
    /// Only the backups listed after this one (older): a page's cursor.
    pub before: Option<i64>,
}

/// What the catalog's filter selects, in all (not only the rows shown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogTotals {
    pub backups: i64,
    pub succeeded: i64,
    /// What the selected backups still stored take in the storage.
    pub stored_bytes: i64,
}

impl Backups {
    /// The catalog, newest first: every host's, or one host's.
    pub async fn list(&self, host_id: Option<i64>, limit: i64) -> Result<Vec<Backup>> {
        let filter = CatalogFilter {
            host_id,
            ..Default::default()
        };
        self.list_filtered(&filter, limit).await
    }

    /// The backups `filter` selects, newest first, `limit` at most.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_filtered(&self, filter: &CatalogFilter, limit: i64) -> Result<Vec<Backup>> {
        let rows = sqlx::query_as!(
            Row,
            "SELECT b.id, b.host_id, h.name AS host_name, b.job_id, b.database_name, b.trigger, b.actor, b.reason,
                    b.status, b.started_at, b.finished_at, b.raw_bytes, b.stored_bytes, b.sha256,
                    b.pg_dump_version, b.server_version, b.failure
             FROM backups b JOIN hosts h ON h.id = b.host_id
             WHERE ($1::bigint IS NULL OR b.host_id = $1) AND ($2::text IS NULL OR b.status = $2)
               AND ($3::text IS NULL OR b.trigger = $3)
               AND ($5::bigint IS NULL OR (b.started_at, b.id) < (SELECT started_at, id FROM backups WHERE id = $5))
             ORDER BY b.started_at DESC, b.id DESC LIMIT $4",
            filter.host_id,
            filter.status.map(|s| s.as_str()),
            filter.trigger.map(|t| t.as_str()),
            limit,
            filter.before
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Backup::try_from).collect()
    }

    /// How many backups `filter` selects, how many succeeded, and what
    /// those still stored take.
    pub async fn totals(&self, filter: &CatalogFilter) -> Result<CatalogTotals> {
        Ok(sqlx::query_as!(
            CatalogTotals,
            r#"SELECT count(*) AS "backups!", count(*) FILTER (WHERE status = 'succeeded') AS "succeeded!",
                      coalesce(sum(stored_bytes) FILTER (WHERE status = 'succeeded'), 0)::bigint AS "stored_bytes!"
               FROM backups
               WHERE ($1::bigint IS NULL OR host_id = $1) AND ($2::text IS NULL OR status = $2)
                 AND ($3::text IS NULL OR trigger = $3)"#,
            filter.host_id,
            filter.status.map(|s| s.as_str()),
            filter.trigger.map(|t| t.as_str()),
        )
        .fetch_one(&self.pool)
        .await?)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, backup_id: i64) -> Result<Backup> {
        let row = sqlx::query_as!(
            Row,
            "SELECT b.id, b.host_id, h.name AS host_name, b.job_id, b.database_name, b.trigger, b.actor, b.reason,
                    b.status, b.started_at, b.finished_at, b.raw_bytes, b.stored_bytes, b.sha256,
                    b.pg_dump_version, b.server_version, b.failure
             FROM backups b JOIN hosts h ON h.id = b.host_id WHERE b.id = $1",
            backup_id
        )
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(DomainError::NotFound("backup"))?.try_into()
    }

    /// The safety copy restore job `restore_job` took before touching the
    /// database (what to offer first when that restore failed).
    pub async fn safety_copy_of(&self, restore_job: i64) -> Result<Option<Backup>> {
        let id = sqlx::query_scalar!(
            "SELECT id FROM backups WHERE safety_for_job = $1 AND status = 'succeeded'",
            restore_job
        )
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => Ok(Some(self.get(id).await?)),
            None => Ok(None),
        }
    }

    /// Where a backup's object is and the key it is encrypted to.
    pub(super) async fn object_of(&self, backup_id: i64) -> Result<(String, i64)> {
        let row = sqlx::query!("SELECT storage_key, key_id FROM backups WHERE id = $1", backup_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DomainError::NotFound("backup"))?;
        Ok((row.storage_key, row.key_id))
    }

    /// Backups whose job no longer runs (their console stopped midway)
    /// become "failed", and what they wrote is removed. Returns how many.
    #[tracing::instrument(skip(self))]
    pub async fn recover_interrupted(&self) -> Result<u64> {
        let abandoned = sqlx::query!(
            "UPDATE backups b SET status = 'failed', finished_at = now(), failure = 'console-stopped'
             FROM jobs j WHERE j.id = b.job_id AND b.status = 'running' AND j.status NOT IN ('queued', 'running')
             RETURNING b.storage_key"
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &abandoned {
            if let Ok(key) = StorageKey::parse(&row.storage_key) {
                self.storage.discard(&key).await;
            }
        }
        Ok(abandoned.len() as u64)
    }

    pub(super) async fn record_started(&self, new: NewBackup<'_>) -> Result<i64> {
        Ok(sqlx::query_scalar!(
            "INSERT INTO backups (host_id, job_id, database_name, trigger, actor, reason, status, storage_key, key_id,
                                  pg_dump_version, server_version, safety_for_job)
             VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11) RETURNING id",
            new.host_id,
            new.job_id,
            new.database_name,
            new.trigger.as_str(),
            new.actor,
            new.reason,
            new.storage_key,
            new.key_id,
            new.pg_dump_version,
            new.server_version,
            new.safety_for_job,
        )
        .fetch_one(&self.pool)
        .await?)
    }

    pub(super) async fn record_succeeded(
        &self,
        backup_id: i64,
        raw_bytes: u64,
        stored_bytes: u64,
        sha256: &str,
    ) -> Result<()> {
        sqlx::query!(
            "UPDATE backups SET status = 'succeeded', finished_at = now(), raw_bytes = $2, stored_bytes = $3, sha256 = $4
             WHERE id = $1",
            backup_id,
            raw_bytes as i64,
            stored_bytes as i64,
            sha256
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn record_failed(&self, backup_id: i64, failure: &str) -> Result<()> {
        sqlx::query!(
            "UPDATE backups SET status = 'failed', finished_at = now(), failure = $2 WHERE id = $1",
            backup_id,
            failure
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A host's backups at a glance (the home page, the backups page): the
/// newest backup, the newest verified one (its age is the RPO), and the
/// last verification and how long its restore took (the RTO).
#[derive(Debug, Clone, PartialEq)]
pub struct BackupHealth {
    pub host_id: i64,
    pub host_name: String,
    pub last_backup_at: Option<time::OffsetDateTime>,
    pub last_verified_backup_at: Option<time::OffsetDateTime>,
    pub last_verification_at: Option<time::OffsetDateTime>,
    pub last_restore_ms: Option<i64>,
}

/// The channel a change of a backup, a verification or a host is
/// announced on (a trigger per table, once per statement).
pub const HEALTH_CHANNEL: &str = "console_backups";

impl Backups {
    /// Every host's [`BackupHealth`], by host name. Only backups still
    /// stored count (a pruned backup restores nothing).
    pub async fn health(&self) -> Result<std::sync::Arc<Vec<BackupHealth>>> {
        self.health.get(|| self.read_health()).await
    }

    /// What this process remembers of the hosts' backup health, for
    /// whoever hears [`HEALTH_CHANNEL`].
    pub fn health_records(&self) -> std::sync::Arc<crate::remembered::Remembered<Vec<BackupHealth>>> {
        self.health.clone()
    }

    async fn read_health(&self) -> Result<Vec<BackupHealth>> {
        Ok(sqlx::query_as!(
            BackupHealth,
            r#"SELECT h.id AS host_id, h.name AS host_name,
                      (SELECT max(b.started_at) FROM backups b
                        WHERE b.host_id = h.id AND b.status = 'succeeded') AS "last_backup_at?",
                      (SELECT max(b.started_at) FROM backups b
                        WHERE b.host_id = h.id AND b.status = 'succeeded'
                          AND EXISTS (SELECT 1 FROM backup_verifications v
                                      WHERE v.backup_id = b.id AND v.status = 'succeeded')) AS "last_verified_backup_at?",
                      last.finished_at AS "last_verification_at?", last.restore_ms AS "last_restore_ms?"
               FROM hosts h
               LEFT JOIN LATERAL (
                   SELECT v.finished_at, v.restore_ms FROM backup_verifications v JOIN backups b ON b.id = v.backup_id
                   WHERE b.host_id = h.id AND v.status = 'succeeded' ORDER BY v.id DESC LIMIT 1
               ) last ON true
               ORDER BY h.name"#
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Used by the page: a status's word is known on both sides.
impl Backup {
    pub fn restorable(&self) -> bool {
        self.status == BackupStatus::Succeeded
    }
}
