//! Reading job rows: one job, a host's latest jobs, a host's latest
//! successful prerequisites check.

use sqlx::types::Json;
use time::OffsetDateTime;

use super::{Job, JobFailure, JobRunner, JobStatus, Runbook, StoredLine};
use crate::error::{DomainError, Result};

struct JobRow {
    id: i64,
    host_id: i64,
    host_name: String,
    action: String,
    command_line: String,
    actor: String,
    status: String,
    exit_status: Option<i32>,
    failure: Option<Json<JobFailure>>,
    created_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
    output_lines: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = DomainError;

    /// A status the console does not know is an error, never a default.
    fn try_from(r: JobRow) -> Result<Self> {
        Ok(Job {
            id: r.id,
            host_id: r.host_id,
            host_name: r.host_name,
            action: r.action,
            command_line: r.command_line,
            actor: r.actor,
            status: r
                .status
                .parse::<JobStatus>()
                .map_err(|e| DomainError::Internal(format!("job {}: {e}", r.id)))?,
            exit_status: r.exit_status,
            failure: r.failure.map(|Json(failure)| failure),
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            output_lines: r.output_lines,
        })
    }
}

impl JobRunner {
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn job(&self, job_id: i64) -> Result<Job> {
        let row = sqlx::query_as!(
            JobRow,
            r#"SELECT j.id, j.host_id, h.name AS host_name, j.action, j.command_line, j.actor, j.status,
                      j.exit_status, j.failure AS "failure: Json<JobFailure>", j.created_at, j.started_at, j.finished_at,
                      coalesce((SELECT o.first_seq + o.line_count - 1 FROM job_output_chunks o
                                WHERE o.job_id = j.id ORDER BY o.first_seq DESC LIMIT 1), 0) AS "output_lines!"
               FROM jobs j JOIN hosts h ON h.id = j.host_id WHERE j.id = $1"#,
            job_id
        )
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(DomainError::NotFound("job"))?.try_into()
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn jobs_on_host(&self, host_id: i64, limit: i64) -> Result<Vec<Job>> {
        // The same columns as `job` (the macro takes one literal string).
        let rows = sqlx::query_as!(
            JobRow,
            r#"SELECT j.id, j.host_id, h.name AS host_name, j.action, j.command_line, j.actor, j.status,
                      j.exit_status, j.failure AS "failure: Json<JobFailure>", j.created_at, j.started_at, j.finished_at,
                      coalesce((SELECT o.first_seq + o.line_count - 1 FROM job_output_chunks o
                                WHERE o.job_id = j.id ORDER BY o.first_seq DESC LIMIT 1), 0) AS "output_lines!"
               FROM jobs j JOIN hosts h ON h.id = j.host_id WHERE j.host_id = $1 ORDER BY j.id DESC LIMIT $2"#,
            host_id,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Job::try_from).collect()
    }

    /// The latest prerequisites check's output on a host, if any succeeded.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn latest_prerequisites(&self, host_id: i64) -> Result<Option<(i64, Vec<StoredLine>)>> {
        let job = sqlx::query_scalar!(
            "SELECT id FROM jobs WHERE host_id = $1 AND action = $2 AND status = 'succeeded' ORDER BY id DESC LIMIT 1",
            host_id,
            Runbook::CheckPrerequisites.action().as_str()
        )
        .fetch_optional(&self.pool)
        .await?;
        match job {
            Some(id) => Ok(Some((id, self.output_after(id, 0, 100).await?))),
            None => Ok(None),
        }
    }

    /// The mutating job running (or queued) on a host, if any: its number
    /// and action.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn running_on(&self, host_id: i64) -> Result<Option<(i64, String)>> {
        Ok(sqlx::query!(
            "SELECT id, action FROM jobs WHERE host_id = $1 AND mutating AND status IN ('queued', 'running')",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|job| (job.id, job.action)))
    }
}
