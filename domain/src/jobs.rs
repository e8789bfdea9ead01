//! Jobs: each runbook action run on a host is a job row (queued → running →
//! succeeded / failed / cancelled / interrupted) with its actor, its exact
//! command line, its exit status, and every output line stored as it comes.
//!
//! At most one mutating job runs on a host at a time, across every console
//! process: a unique index on the jobs table refuses a second one. Each
//! console process holds an advisory lock on its runner id while alive; at
//! start-up, jobs whose runner's lock is free (their console died) are marked
//! interrupted, never left "running".

use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::accounts::{Operator, Role};
use crate::audit::{Actor, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::{Host, HostDirectory, ServiceControl, ServiceVerb};
use crate::ssh::{Ended, OutputLine, RemoteCommand};

/// The actions of the runbook (manual §3.1-3.2 and §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Runbook {
    /// `systemctl stop` the web server: the site goes offline.
    StopWebServer,
    RestartWebServer,
    RestartWsgiServer,
    /// Reads the versions of NGINX, Gunicorn and PostgreSQL, free disk and uptime.
    CheckPrerequisites,
}

impl Runbook {
    pub const ALL: [Runbook; 4] = [
        Runbook::StopWebServer,
        Runbook::RestartWebServer,
        Runbook::RestartWsgiServer,
        Runbook::CheckPrerequisites,
    ];

    /// The action's name in the audit log and the jobs table.
    pub fn action(self) -> &'static str {
        match self {
            Runbook::StopWebServer => "webapp.stop_web_server",
            Runbook::RestartWebServer => "webapp.restart_web_server",
            Runbook::RestartWsgiServer => "webapp.restart_wsgi_server",
            Runbook::CheckPrerequisites => "host.check_prerequisites",
        }
    }

    pub fn parse(action: &str) -> Result<Self> {
        Runbook::ALL
            .into_iter()
            .find(|r| r.action() == action)
            .ok_or_else(|| DomainError::invalid("action", "error-action-unknown"))
    }

    /// Whether it changes the host (and so takes the host's lock).
    pub fn mutating(self) -> bool {
        !matches!(self, Runbook::CheckPrerequisites)
    }

    pub fn command(self, host: &Host) -> RemoteCommand {
        match self {
            Runbook::StopWebServer => host.control.command(&host.web_service, ServiceVerb::Stop),
            Runbook::RestartWebServer => host.control.command(&host.web_service, ServiceVerb::Restart),
            Runbook::RestartWsgiServer => host.control.command(&host.wsgi_service, ServiceVerb::Restart),
            Runbook::CheckPrerequisites => RemoteCommand::program("sh")
                .fixed("-c")
                .fixed(PREREQUISITES_SCRIPT)
                .fixed("sh")
                .arg(&host.app_dir),
        }
    }
}

/// Prints one `name: value` line per prerequisite; the app directory is `$1`.
const PREREQUISITES_SCRIPT: &str = "echo \"nginx: $(nginx -v 2>&1)\"; \
echo \"gunicorn: $(gunicorn --version 2>&1)\"; \
echo \"postgresql: $(psql --version 2>&1)\"; \
echo \"disk_free_kib: $(df -Pk \"$1\" | awk 'NR==2 {print $4}')\"; \
echo \"uptime: $(uptime)\"";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted => "interrupted",
        }
    }

    fn parse(raw: &str) -> Self {
        match raw {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => JobStatus::Interrupted,
        }
    }

    pub fn finished(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// A job as its page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub action: String,
    pub command_line: String,
    pub actor: String,
    pub status: JobStatus,
    pub exit_status: Option<i32>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub output_lines: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    host_id: i64,
    host_name: String,
    action: String,
    command_line: String,
    actor: String,
    status: String,
    exit_status: Option<i32>,
    error: Option<String>,
    created_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
    output_lines: i64,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Self {
        Job {
            id: r.id,
            host_id: r.host_id,
            host_name: r.host_name,
            action: r.action,
            command_line: r.command_line,
            actor: r.actor,
            status: JobStatus::parse(&r.status),
            exit_status: r.exit_status,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            output_lines: r.output_lines,
        }
    }
}

const JOB_SELECT: &str = "SELECT j.id, j.host_id, h.name AS host_name, j.action, j.command_line, j.actor, j.status,
        j.exit_status, j.error, j.created_at, j.started_at, j.finished_at,
        (SELECT coalesce(max(seq), 0) FROM job_output o WHERE o.job_id = j.id) AS output_lines
 FROM jobs j JOIN hosts h ON h.id = j.host_id";

/// One stored output line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredLine {
    pub seq: i64,
    pub stderr: bool,
    pub line: String,
}

/// Runs jobs and answers for them.
#[derive(Clone, Debug)]
pub struct JobRunner {
    pool: PgPool,
    hosts: HostDirectory,
    runner_id: i64,
}

/// How often a running job looks for a cancel request.
const CANCEL_POLL: Duration = Duration::from_millis(300);
/// Lines written to the database in one statement at most.
const BATCH: usize = 500;

impl JobRunner {
    pub fn new(pool: PgPool, hosts: HostDirectory) -> Self {
        let runner_id = (rand::random::<u64>() >> 2) as i64 | (1 << 60);
        Self { pool, hosts, runner_id }
    }

    /// Claims this process's runner id (an advisory lock held for the
    /// process's life) and marks the jobs of dead runners interrupted.
    /// Returns how many were.
    pub async fn start(&self) -> Result<u64> {
        let mut holder = self.pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(self.runner_id)
            .execute(&mut holder)
            .await?;
        // The lock lives as long as this connection: until the pool closes
        // (the console stops) or the process dies.
        let closed = self.pool.close_event();
        tokio::spawn(async move {
            closed.await;
            use sqlx::Connection;
            let _ = holder.close().await;
        });
        self.recover_interrupted().await
    }

    /// Jobs left queued or running by a console that is gone become
    /// "interrupted" (audited as the system).
    pub async fn recover_interrupted(&self) -> Result<u64> {
        let runners: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT runner FROM jobs WHERE status IN ('queued', 'running') AND runner IS NOT NULL AND runner <> $1",
        )
        .bind(self.runner_id)
        .fetch_all(&self.pool)
        .await?;
        let mut interrupted = 0;
        for runner in runners {
            let mut conn = self.pool.acquire().await?;
            let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(runner)
                .fetch_one(&mut *conn)
                .await?;
            if !free {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            let jobs: Vec<(i64, String, String)> = sqlx::query_as(
                "UPDATE jobs j SET status = 'interrupted', finished_at = now(),
                        error = 'the console running it stopped before it finished'
                 FROM hosts h WHERE h.id = j.host_id AND j.runner = $1 AND j.status IN ('queued', 'running')
                 RETURNING j.id, j.action, h.name",
            )
            .bind(runner)
            .fetch_all(&mut *tx)
            .await?;
            for (id, action, host) in &jobs {
                AuditEntry::new(Actor::System, "job.interrupted", host, Outcome::Failure)
                    .detail("job", *id)
                    .detail("action", action.as_str())
                    .record(&mut tx)
                    .await?;
            }
            tx.commit().await?;
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(runner)
                .execute(&mut *conn)
                .await?;
            interrupted += jobs.len() as u64;
        }
        Ok(interrupted)
    }

    /// Starts a runbook action on a host (operators and admins). A second
    /// mutating job on a busy host is refused with the running job's number.
    pub async fn start_job(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        runbook: Runbook,
    ) -> Result<i64> {
        let host = self.hosts.get(host_id).await?;
        if let Err(denied) = by.require(Role::Operator) {
            AuditEntry::new(by.actor(), runbook.action(), host.name.as_str(), Outcome::Denied)
                .detail("role", by.role.as_str())
                .from(provenance)
                .record_alone(&self.pool)
                .await?;
            return Err(denied);
        }
        let command = runbook.command(&host);
        let mut tx = self.pool.begin().await?;
        let inserted: std::result::Result<i64, sqlx::Error> = sqlx::query_scalar(
            "INSERT INTO jobs (host_id, action, mutating, command_line, actor_id, actor, status, runner)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) RETURNING id",
        )
        .bind(host.id)
        .bind(runbook.action())
        .bind(runbook.mutating())
        .bind(command.line())
        .bind(by.id)
        .bind(by.username.as_str())
        .bind(self.runner_id)
        .fetch_one(&mut *tx)
        .await;
        let job_id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("jobs_one_mutating_per_host") => {
                drop(tx);
                let busy: Option<(i64, String, String)> = sqlx::query_as(
                    "SELECT id, action, actor FROM jobs WHERE host_id = $1 AND mutating AND status IN ('queued', 'running')",
                )
                .bind(host.id)
                .fetch_optional(&self.pool)
                .await?;
                let (busy_id, busy_action, busy_actor) = busy.unwrap_or((0, String::new(), String::new()));
                AuditEntry::new(by.actor(), runbook.action(), host.name.as_str(), Outcome::Denied)
                    .detail("reason", "another action is running on this host")
                    .detail("running_job", busy_id)
                    .detail("running_action", busy_action)
                    .detail("running_for", busy_actor)
                    .from(provenance)
                    .record_alone(&self.pool)
                    .await?;
                return Err(DomainError::HostBusy { job: busy_id });
            }
            Err(other) => return Err(other.into()),
        };
        AuditEntry::new(by.actor(), runbook.action(), host.name.as_str(), Outcome::Success)
            .detail("job", job_id)
            .detail("event", "started")
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        let runner = self.clone();
        let (by, provenance) = (by.clone(), provenance.clone());
        tokio::spawn(async move {
            if let Err(error) = runner.run(job_id, host, runbook, command, by, provenance).await {
                tracing::error!(job = job_id, %error, "a job could not be recorded");
            }
        });
        Ok(job_id)
    }

    async fn run(
        &self,
        job_id: i64,
        host: Host,
        runbook: Runbook,
        command: RemoteCommand,
        by: Operator,
        provenance: Provenance,
    ) -> Result<()> {
        sqlx::query("UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1")
            .bind(job_id)
            .execute(&self.pool)
            .await?;
        let (sender, receiver) = mpsc::channel::<OutputLine>(BATCH * 4);
        let writer = tokio::spawn(write_output(self.pool.clone(), job_id, receiver));
        let outcome = async {
            let session = tokio::select! {
                session = self.hosts.connect(&host, &by, &provenance) => session?,
                () = self.cancelled(job_id) => return Ok(Ended::Cancelled),
            };
            // A cancel also kills the command's process group on the host.
            let ended = session.run_until(&command, &sender, self.cancelled(job_id)).await;
            session.close().await;
            ended
        }
        .await;
        drop(sender);
        let written = writer
            .await
            .map_err(|e| DomainError::Internal(format!("output writer: {e}")))??;
        let (status, exit_status, error) = match outcome {
            Ok(Ended::Cancelled) => (JobStatus::Cancelled, None, Some("cancelled by an operator".to_owned())),
            Ok(Ended::Exited(Some(0))) => (JobStatus::Succeeded, Some(0), None),
            Ok(Ended::Exited(code)) => {
                let code = code.map(|c| c as i32);
                let error = match (&host.control, self.sudo_wanted_a_password(job_id).await?) {
                    (ServiceControl::Systemd, true) => Some(sudoers_hint(&host)),
                    _ => Some(match code {
                        Some(code) => format!("the command exited with status {code}"),
                        None => "the command ended without an exit status (killed?)".to_owned(),
                    }),
                };
                (JobStatus::Failed, code, error)
            }
            Err(error) => (JobStatus::Failed, None, Some(error.to_string())),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE jobs SET status = $2, exit_status = $3, error = $4, finished_at = now() WHERE id = $1")
            .bind(job_id)
            .bind(status.as_str())
            .bind(exit_status)
            .bind(&error)
            .execute(&mut *tx)
            .await?;
        let outcome = if status == JobStatus::Succeeded {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut entry = AuditEntry::new(by.actor(), runbook.action(), host.name.as_str(), outcome)
            .detail("job", job_id)
            .detail("event", status.as_str())
            .detail("output_lines", written)
            .from(&provenance);
        if let Some(error) = &error {
            entry = entry.detail("error", error.as_str());
        }
        entry.record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves once someone asked to cancel the job.
    async fn cancelled(&self, job_id: i64) {
        loop {
            tokio::time::sleep(CANCEL_POLL).await;
            let asked: std::result::Result<bool, _> =
                sqlx::query_scalar("SELECT cancel_requested FROM jobs WHERE id = $1")
                    .bind(job_id)
                    .fetch_one(&self.pool)
                    .await;
            if asked.unwrap_or(false) {
                return;
            }
        }
    }

    async fn sudo_wanted_a_password(&self, job_id: i64) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM job_output WHERE job_id = $1 AND stderr AND line LIKE '%password is required%')",
        )
        .bind(job_id)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Asks a running job to stop (operators and admins).
    pub async fn cancel(&self, by: &Operator, provenance: &Provenance, job_id: i64) -> Result<()> {
        by.require(Role::Operator)?;
        let job = self.job(job_id).await?;
        let mut tx = self.pool.begin().await?;
        let changed =
            sqlx::query("UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status IN ('queued', 'running')")
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
        if changed.rows_affected() == 0 {
            return Err(DomainError::invalid("job", "error-job-finished"));
        }
        AuditEntry::new(by.actor(), "job.cancel", &job.host_name, Outcome::Success)
            .detail("job", job_id)
            .detail("action", job.action.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn job(&self, job_id: i64) -> Result<Job> {
        let row: Option<JobRow> = sqlx::query_as(&format!("{JOB_SELECT} WHERE j.id = $1"))
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.ok_or(DomainError::NotFound("job"))?.into())
    }

    pub async fn jobs_on_host(&self, host_id: i64, limit: i64) -> Result<Vec<Job>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "{JOB_SELECT} WHERE j.host_id = $1 ORDER BY j.id DESC LIMIT $2"
        ))
        .bind(host_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Job::from).collect())
    }

    /// Output lines after `after_seq`, at most `limit`.
    pub async fn output_after(&self, job_id: i64, after_seq: i64, limit: i64) -> Result<Vec<StoredLine>> {
        Ok(sqlx::query_as(
            "SELECT seq, stderr, line FROM job_output WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(job_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The whole output as text, in chunks (constant memory).
    pub fn output_text(&self, job_id: i64) -> impl Stream<Item = Result<Vec<u8>>> + Send + 'static {
        let runner = self.clone();
        futures::stream::try_unfold(Some(0_i64), move |after| {
            let runner = runner.clone();
            async move {
                let Some(after) = after else { return Ok(None) };
                let lines = runner.output_after(job_id, after, 10_000).await?;
                let Some(last) = lines.last().map(|l| l.seq) else {
                    return Ok(None);
                };
                let mut chunk = Vec::with_capacity(lines.len() * 80);
                for line in &lines {
                    chunk.extend_from_slice(if line.stderr { b"[err] " } else { b"      " });
                    chunk.extend_from_slice(line.line.as_bytes());
                    chunk.push(b'\n');
                }
                Ok(Some((chunk, (lines.len() == 10_000).then_some(last))))
            }
        })
    }

    /// The latest prerequisites check's output on a host, if any succeeded.
    pub async fn latest_prerequisites(&self, host_id: i64) -> Result<Option<(i64, Vec<StoredLine>)>> {
        let job: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE host_id = $1 AND action = $2 AND status = 'succeeded' ORDER BY id DESC LIMIT 1",
        )
        .bind(host_id)
        .bind(Runbook::CheckPrerequisites.action())
        .fetch_optional(&self.pool)
        .await?;
        match job {
            Some(id) => Ok(Some((id, self.output_after(id, 0, 100).await?))),
            None => Ok(None),
        }
    }
}

/// Writes lines as they come, in batches, numbering them. Returns how many.
async fn write_output(pool: PgPool, job_id: i64, mut receiver: mpsc::Receiver<OutputLine>) -> Result<i64> {
    let mut seq = 0_i64;
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let mut query = sqlx::QueryBuilder::new("INSERT INTO job_output (job_id, seq, stderr, line) ");
        query.push_values(batch.drain(..), |mut row, line| {
            seq += 1;
            // Lines come capped at ssh::MAX_LINE; PostgreSQL text holds no NUL.
            let text = line.text.replace('\0', "");
            row.push_bind(job_id)
                .push_bind(seq)
                .push_bind(line.stderr)
                .push_bind(text);
        });
        query.build().execute(&pool).await?;
    }
    Ok(seq)
}

/// What to add to sudoers so the console can control this host's services.
fn sudoers_hint(host: &Host) -> String {
    let units = [&host.web_service, &host.wsgi_service];
    let commands: Vec<String> = units
        .iter()
        .flat_map(|unit| {
            [ServiceVerb::Stop, ServiceVerb::Restart, ServiceVerb::IsActive]
                .map(|verb| format!("/usr/bin/systemctl {} {}", verb.as_str(), unit.as_str()))
        })
        .collect();
    format!(
        "sudo asked for a password. Add this line on the host (visudo -f /etc/sudoers.d/ocpizza-console): {} ALL=(root) NOPASSWD: {}",
        host.target.user.as_str(),
        commands.join(", ")
    )
}

/// One prerequisite as the host page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prerequisite {
    pub name: String,
    pub found: Option<String>,
    pub required: Option<String>,
    /// `ok`, `old` (older than required), `missing`, or `info` (no requirement).
    pub verdict: String,
}

/// Reads a prerequisites check's output against the required versions.
pub fn assess_prerequisites(lines: &[StoredLine], required: &[(&str, &str)]) -> Vec<Prerequisite> {
    let value = |name: &str| {
        lines.iter().find_map(|l| {
            l.line
                .strip_prefix(&format!("{name}: "))
                .map(str::trim)
                .map(str::to_owned)
        })
    };
    let mut assessed: Vec<Prerequisite> = required
        .iter()
        .map(|(name, minimum)| {
            let found = value(name).and_then(|text| first_version(&text));
            let verdict = match &found {
                None => "missing",
                Some(v) if version_at_least(v, minimum) => "ok",
                Some(_) => "old",
            };
            Prerequisite {
                name: (*name).to_owned(),
                found,
                required: Some((*minimum).to_owned()),
                verdict: verdict.into(),
            }
        })
        .collect();
    for name in ["disk_free_kib", "uptime"] {
        assessed.push(Prerequisite {
            name: name.into(),
            found: value(name),
            required: None,
            verdict: "info".into(),
        });
    }
    assessed
}

fn first_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|part| part.contains('.') && part.starts_with(|c: char| c.is_ascii_digit()))
        .map(|v| v.trim_end_matches('.').to_owned())
}

fn version_at_least(found: &str, minimum: &str) -> bool {
    let parts = |v: &str| v.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    let (mut found, mut minimum) = (parts(found), parts(minimum));
    let len = found.len().max(minimum.len());
    found.resize(len, 0);
    minimum.resize(len, 0);
    found >= minimum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> StoredLine {
        StoredLine {
            seq: 1,
            stderr: false,
            line: text.into(),
        }
    }

    #[test]
    fn prerequisites_compare_versions_newer_passes_older_warns() {
        let lines = [
            line("nginx: nginx version: nginx/1.22.1"),
            line("gunicorn: gunicorn (version 20.0.4)"),
            line("postgresql: sh: 1: psql: not found"),
            line("disk_free_kib: 1234"),
        ];
        let assessed = assess_prerequisites(
            &lines,
            &[("nginx", "1.21.6"), ("gunicorn", "20.1"), ("postgresql", "12.9")],
        );
        let verdicts: Vec<(&str, &str)> = assessed.iter().map(|p| (p.name.as_str(), p.verdict.as_str())).collect();
        assert_eq!(
            verdicts,
            [
                ("nginx", "ok"),
                ("gunicorn", "old"),
                ("postgresql", "missing"),
                ("disk_free_kib", "info"),
                ("uptime", "info")
            ]
        );
        assert_eq!(assessed[0].found.as_deref(), Some("1.22.1"));
        assert_eq!(
            first_version("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").as_deref(),
            Some("15.18")
        );
        assert!(version_at_least("20.1.0", "20.1") && !version_at_least("12.8", "12.9"));
    }
}
