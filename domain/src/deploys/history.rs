//! The deploy history: one record per deploy or rollback — the host, the
//! branch (a deploy), the commit the app ran before and the one it was
//! moved to (short id and message), who asked, and how its job ended.

use sqlx::types::Json;
use time::OffsetDateTime;

use super::{Commit, Deploys};
use crate::error::{DomainError, Result};
use crate::jobs::{JobFailure, JobStatus};
use vocabulary::deploys::DeployKind;

/// A commit as a deploy record keeps it: id and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCommit {
    pub id: String,
    pub subject: String,
}

impl RecordedCommit {
    /// The id as people quote it (its first 7 digits).
    pub fn short(&self) -> &str {
        self.id.get(..7).unwrap_or(&self.id)
    }
}

impl From<&Commit> for RecordedCommit {
    fn from(c: &Commit) -> Self {
        Self {
            id: c.id.clone(),
            subject: c.subject.clone(),
        }
    }
}

/// One deploy or rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployRecord {
    pub id: i64,
    pub host_id: i64,
    pub job_id: i64,
    pub kind: DeployKind,
    /// The branch deployed (a deploy).
    pub branch: Option<String>,
    /// The deploy whose version a rollback returned to.
    pub rollback_of: Option<i64>,
    /// What the app ran before (unknown when it could not be read).
    pub from: Option<RecordedCommit>,
    /// What it was moved to (unknown until the checkout is done).
    pub to: Option<RecordedCommit>,
    pub actor: String,
    pub at: OffsetDateTime,
    /// Its job's status, and why it failed when it did.
    pub status: JobStatus,
    pub failure: Option<JobFailure>,
}

impl DeployRecord {
    /// The commit a rollback from this record returns to: its own when it
    /// succeeded, the one it started from otherwise.
    pub fn rollback_target(&self) -> Option<&RecordedCommit> {
        match self.status {
            JobStatus::Succeeded => self.to.as_ref(),
            JobStatus::Queued | JobStatus::Running => None,
            _ => self.from.as_ref(),
        }
    }
}

struct DeployRow {
    id: i64,
    host_id: i64,
    job_id: i64,
    kind: String,
    branch: Option<String>,
    rollback_of: Option<i64>,
    from_commit: Option<String>,
    from_subject: Option<String>,
    to_commit: Option<String>,
    to_subject: Option<String>,
    actor: String,
    created_at: OffsetDateTime,
    status: String,
    failure: Option<Json<JobFailure>>,
}

impl TryFrom<DeployRow> for DeployRecord {
    type Error = DomainError;

    fn try_from(r: DeployRow) -> Result<Self> {
        let unknown = |e: vocabulary::UnknownWord| DomainError::Internal(format!("deploy {}: {e}", r.id));
        let commit = |id: Option<String>, subject: Option<String>| {
            id.map(|id| RecordedCommit {
                id,
                subject: subject.unwrap_or_default(),
            })
        };
        Ok(DeployRecord {
            id: r.id,
            host_id: r.host_id,
            job_id: r.job_id,
            kind: r.kind.parse().map_err(unknown)?,
            status: r.status.parse().map_err(unknown)?,
            branch: r.branch,
            rollback_of: r.rollback_of,
            from: commit(r.from_commit, r.from_subject),
            to: commit(r.to_commit, r.to_subject),
            actor: r.actor,
            at: r.created_at,
            failure: r.failure.map(|Json(f)| f),
        })
    }
}

/// Which deploy records to read.
#[derive(Debug, Default)]
struct Which {
    host: Option<i64>,
    deploy: Option<i64>,
    job: Option<i64>,
}

impl Deploys {
    /// A host's deploys and rollbacks, newest first.
    pub async fn history(&self, host_id: i64, limit: i64) -> Result<Vec<DeployRecord>> {
        let which = Which {
            host: Some(host_id),
            ..Which::default()
        };
        self.records(which, limit).await
    }

    /// One deploy record.
    pub async fn record(&self, deploy_id: i64) -> Result<DeployRecord> {
        let which = Which {
            deploy: Some(deploy_id),
            ..Which::default()
        };
        let found = self.records(which, 1).await?.pop();
        found.ok_or(DomainError::NotFound("deploy"))
    }

    /// The deploys a job made (a deploy, and the rollback that followed it
    /// when it failed), newest first.
    pub async fn of_job(&self, job_id: i64) -> Result<Vec<DeployRecord>> {
        let which = Which {
            job: Some(job_id),
            ..Which::default()
        };
        self.records(which, 10).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn records(&self, which: Which, limit: i64) -> Result<Vec<DeployRecord>> {
        let rows = sqlx::query_as!(
            DeployRow,
            r#"SELECT d.id, d.host_id, d.job_id, d.kind, d.branch, d.rollback_of, d.from_commit, d.from_subject,
                      d.to_commit, d.to_subject, d.actor, d.created_at, j.status,
                      j.failure AS "failure: Json<JobFailure>"
               FROM deploys d JOIN jobs j ON j.id = d.job_id
               WHERE ($1::bigint IS NULL OR d.host_id = $1) AND ($2::bigint IS NULL OR d.id = $2)
                 AND ($3::bigint IS NULL OR d.job_id = $3)
               ORDER BY d.id DESC LIMIT $4"#,
            which.host,
            which.deploy,
            which.job,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeployRecord::try_from).collect()
    }
}
