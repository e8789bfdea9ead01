//! Running jobs: starting one (refused on a busy host), running its command
//! over SSH while its output is stored, cancelling it, and marking the jobs
//! of a console that died "interrupted".

use sqlx::types::Json;
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::feed::{JobChange, JobChanges, JobFeed};
use super::output::{write_output, WAITING_LINES};
use super::{failure, JobFailure, JobStatus, Runbook};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::{Host, HostDirectory, ServiceControl};
use crate::ssh::{Ended, OutputLine, RemoteCommand, SshError, SshSession};

/// Runs jobs and answers for them.
#[derive(Clone, Debug)]
pub struct JobRunner {
    pub(super) pool: PgPool,
    hosts: HostDirectory,
    runner_id: i64,
    feed: JobFeed,
}

impl JobRunner {
    pub fn new(pool: PgPool, hosts: HostDirectory) -> Self {
        let runner_id = (rand::random::<u64>() >> 2) as i64 | (1 << 60);
        Self {
            feed: JobFeed::new(pool.clone()),
            pool,
            hosts,
            runner_id,
        }
    }

    /// Claims this process's runner id (an advisory lock held for the
    /// process's life) and marks the jobs of dead runners interrupted.
    /// Returns how many were.
    #[tracing::instrument(skip_all, fields(runner = self.runner_id))]
    pub async fn start(&self) -> Result<u64> {
        let mut holder = self.pool.acquire().await?.detach();
        sqlx::query!("SELECT pg_advisory_lock($1)", self.runner_id)
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
    #[tracing::instrument(skip_all, fields(runner = self.runner_id))]
    pub async fn recover_interrupted(&self) -> Result<u64> {
        let runners = sqlx::query_scalar!(
            r#"SELECT DISTINCT runner AS "runner!" FROM jobs
               WHERE status IN ('queued', 'running') AND runner IS NOT NULL AND runner <> $1"#,
            self.runner_id
        )
        .fetch_all(&self.pool)
        .await?;
        let mut interrupted = 0;
        for runner in runners {
            let mut conn = self.pool.acquire().await?;
            let free = sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "free!""#, runner)
                .fetch_one(&mut *conn)
                .await?;
            if !free {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            let jobs = sqlx::query!(
                "UPDATE jobs j SET status = 'interrupted', finished_at = now(), failure = $2
                 FROM hosts h WHERE h.id = j.host_id AND j.runner = $1 AND j.status IN ('queued', 'running')
                 RETURNING j.id, j.action, h.name",
                runner,
                Json(JobFailure::ConsoleStopped) as _,
            )
            .fetch_all(&mut *tx)
            .await?;
            for job in &jobs {
                AuditEntry::new(Actor::System, AuditAction::JobInterrupted, &job.name, Outcome::Failure)
                    .detail("job", job.id)
                    .detail("action", job.action.as_str())
                    .record(&mut tx)
                    .await?;
            }
            tx.commit().await?;
            sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", runner)
                .fetch_one(&mut *conn)
                .await?;
            interrupted += jobs.len() as u64;
        }
        Ok(interrupted)
    }

    /// Starts a runbook action on a host (operators and admins). A second
    /// mutating job on a busy host is refused with the running job's number.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id, action = %runbook.action()))]
    pub async fn start_job(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        runbook: Runbook,
    ) -> Result<i64> {
        let host = self.hosts.get(host_id).await?;
        let command = runbook.command(&host);
        let plan = JobPlan {
            action: runbook.action(),
            mutating: runbook.mutating(),
            command_line: command.line(),
            details: Vec::new(),
            work: Box::new(move |job| Box::pin(job.run_command(command))),
        };
        self.start_plan(by, provenance, host, plan).await
    }

    /// Starts `plan` on `host` (operators and admins): the job row, its
    /// audit record, then its work in the background. A second mutating job
    /// on a busy host is refused with the running job's number.
    pub(crate) async fn start_plan(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host: Host,
        plan: JobPlan,
    ) -> Result<i64> {
        require_role(
            &self.pool,
            by,
            Role::Operator,
            plan.action,
            host.name.as_str(),
            provenance,
        )
        .await?;
        self.start_as(by.actor(), provenance, host, plan).await
    }

    /// Starts `plan` on behalf of `by` (an operator already allowed to, or
    /// the console itself: a schedule). A second mutating job on a busy
    /// host is refused with the running job's number.
    pub(crate) async fn start_as(&self, by: Actor, provenance: &Provenance, host: Host, plan: JobPlan) -> Result<i64> {
        let JobPlan {
            action,
            mutating,
            command_line,
            details,
            work,
        } = plan;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query_scalar!(
            "INSERT INTO jobs (host_id, action, mutating, command_line, actor_id, actor, status, runner)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7) RETURNING id",
            host.id,
            action.as_str(),
            mutating,
            command_line,
            by.id(),
            by.name(),
            self.runner_id,
        )
        .fetch_one(&mut *tx)
        .await;
        let job_id = match inserted {
            Ok(id) => id,
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("jobs_one_mutating_per_host") => {
                drop(tx);
                let busy = sqlx::query!(
                    "SELECT id, action, actor FROM jobs WHERE host_id = $1 AND mutating AND status IN ('queued', 'running')",
                    host.id
                )
                .fetch_optional(&self.pool)
                .await?
                .map(|job| (job.id, job.action, job.actor));
                let (busy_id, busy_action, busy_actor) = busy.unwrap_or((0, String::new(), String::new()));
                AuditEntry::new(by.clone(), action, host.name.as_str(), Outcome::Denied)
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
        let mut started = AuditEntry::new(by.clone(), action, host.name.as_str(), Outcome::Success)
            .detail("job", job_id)
            .detail("event", "started")
            .from(provenance);
        for (key, value) in &details {
            started = started.detail(key, value.as_str());
        }
        started.record(&mut tx).await?;
        tx.commit().await?;
        let runner = self.clone();
        let provenance = provenance.clone();
        tokio::spawn(async move {
            if let Err(error) = runner.run(job_id, host, (action, details), work, by, provenance).await {
                tracing::error!(job = job_id, %error, "a job could not be recorded");
            }
        });
        Ok(job_id)
    }

    #[tracing::instrument(skip_all, fields(job = job_id, host = %host.name.as_str(), action = %action, request_id = provenance.request_id.as_deref()))]
    async fn run(
        &self,
        job_id: i64,
        host: Host,
        (action, details): (AuditAction, Vec<(&'static str, String)>),
        work: JobWork,
        by: Actor,
        provenance: Provenance,
    ) -> Result<()> {
        sqlx::query!(
            "UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1",
            job_id
        )
        .execute(&self.pool)
        .await?;
        let (sender, receiver) = mpsc::channel::<OutputLine>(WAITING_LINES);
        let writer = tokio::spawn(write_output(self.pool.clone(), job_id, receiver));
        let context = JobContext {
            job_id,
            host: host.clone(),
            by: by.clone(),
            provenance: provenance.clone(),
            lines: sender,
            runner: self.clone(),
        };
        // The work owns the output's sender: once it ends, the writer drains.
        let outcome = work(context).await;
        // Whatever the job did, the host's services are read again.
        self.hosts.forget_service_states(host.id);
        let written = writer
            .await
            .unwrap_or_else(|e| Err(DomainError::Internal(format!("output writer: {e}"))));
        let (status, exit_status, failure) = match (outcome, &written) {
            (_, Err(error)) => (JobStatus::Failed, None, Some(failure::of_console(error))),
            (Ok(Ended::Cancelled), _) => (JobStatus::Cancelled, None, Some(JobFailure::Cancelled)),
            (Ok(Ended::Exited(Some(0))), _) => (JobStatus::Succeeded, Some(0), None),
            (Ok(Ended::Exited(code)), _) => {
                let code = code.map(|c| c as i32);
                let failure = match (&host.control, self.sudo_wanted_a_password(job_id).await?) {
                    (ServiceControl::Systemd, true) => failure::sudo_wants_password(&host),
                    _ if code.is_some() => JobFailure::CommandFailed,
                    _ => JobFailure::NoExitStatus,
                };
                (JobStatus::Failed, code, Some(failure))
            }
            (Err(failure), _) => (JobStatus::Failed, None, Some(failure)),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE jobs SET status = $2, exit_status = $3, failure = $4, finished_at = now() WHERE id = $1",
            job_id,
            status.as_str(),
            exit_status,
            failure.as_ref().map(Json) as _,
        )
        .execute(&mut *tx)
        .await?;
        let outcome = if status == JobStatus::Succeeded {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut entry = AuditEntry::new(by, action, host.name.as_str(), outcome)
            .detail("job", job_id)
            .detail("event", status.as_str())
            .detail("output_lines", *written.as_ref().unwrap_or(&0))
            .from(&provenance);
        for (key, value) in &details {
            entry = entry.detail(key, value.as_str());
        }
        if let Some(failure) = &failure {
            entry = entry.detail("failure", failure.code());
        }
        entry.record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The changes to every job, as they happen (see [`JobFeed`]).
    pub fn changes(&self) -> JobChanges {
        self.feed.subscribe()
    }

    /// Resolves once someone asked to cancel the job: it looks when the job
    /// changes (from any console process), not on a timer.
    async fn cancelled(&self, job_id: i64) {
        let mut changes = self.changes();
        loop {
            let asked = sqlx::query_scalar!("SELECT cancel_requested FROM jobs WHERE id = $1", job_id)
                .fetch_one(&self.pool)
                .await;
            if asked.unwrap_or(false) {
                return;
            }
            loop {
                match changes.next_for(job_id).await {
                    // Output alone never cancels.
                    Some(JobChange::Lines { .. }) => continue,
                    Some(_) => break,
                    None => return std::future::pending().await,
                }
            }
        }
    }

    async fn sudo_wanted_a_password(&self, job_id: i64) -> Result<bool> {
        Ok(sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM job_output_chunks WHERE job_id = $1 AND stderr AND lines LIKE '%password is required%')
               AS "wanted!""#,
            job_id
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Asks a running job to stop (operators and admins).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), job = job_id))]
    pub async fn cancel(&self, by: &Operator, provenance: &Provenance, job_id: i64) -> Result<()> {
        by.require(Role::Operator)?;
        let job = self.job(job_id).await?;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query!(
            "UPDATE jobs SET cancel_requested = true WHERE id = $1 AND status IN ('queued', 'running')",
            job_id
        )
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(DomainError::invalid("job", "error-job-finished"));
        }
        AuditEntry::new(by.actor(), AuditAction::JobCancel, &job.host_name, Outcome::Success)
            .detail("job", job_id)
            .detail("action", job.action.as_str())
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What a job does once it runs, given its context: how it ended, or why it
/// failed in words staff read.
pub(crate) type JobWork = Box<dyn FnOnce(JobContext) -> BoxFuture<'static, WorkOutcome> + Send>;
pub(crate) type WorkOutcome = std::result::Result<Ended, JobFailure>;
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A job to start: its action's name, whether it takes the host's lock,
/// the command line its page shows, what its audit records add (the
/// backup restored), and its work. A runbook action's work
/// runs one command; a capability's (a backup, a restore) runs its own.
pub(crate) struct JobPlan {
    pub action: AuditAction,
    pub mutating: bool,
    pub command_line: String,
    pub details: Vec<(&'static str, String)>,
    pub work: JobWork,
}

/// What a job's work runs with: its host, who started it, where its output
/// lines go (stored and streamed as they come), and its cancellation.
pub(crate) struct JobContext {
    pub job_id: i64,
    pub host: Host,
    /// Who started it: an operator, or the console (a schedule).
    pub by: Actor,
    pub provenance: Provenance,
    pub lines: mpsc::Sender<OutputLine>,
    runner: JobRunner,
}

impl JobContext {
    /// Connects to the job's host, unless the job is cancelled first.
    pub async fn connect(&self) -> std::result::Result<Option<SshSession>, JobFailure> {
        tokio::select! {
            session = self.runner.hosts.connect(&self.host, &self.by, &self.provenance) => {
                session.map(Some).map_err(|error| failure::of_ssh(&error))
            }
            () = self.cancelled() => Ok(None),
        }
    }

    /// The console's database (a job made of steps records them there).
    pub(super) fn pool(&self) -> &PgPool {
        &self.runner.pool
    }

    /// Resolves once someone asked to cancel the job.
    pub fn cancelled(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.runner.cancelled(self.job_id)
    }

    /// Writes one line of the job's own (a progress report) to its output.
    pub async fn say(&self, text: String) {
        let _ = self.lines.send(OutputLine { stderr: false, text }).await;
    }

    /// A runbook action's work: its one command, its output stored line by
    /// line; a cancel also kills the command's process group on the host.
    async fn run_command(self, command: RemoteCommand) -> WorkOutcome {
        let Some(session) = self.connect().await? else {
            return Ok(Ended::Cancelled);
        };
        let ended = self.run_on(&session, &command).await;
        session.close().await;
        ended
    }

    /// Runs `command` on an open session as part of the job: its output
    /// goes to the job's, a cancel stops it.
    pub async fn run_on(&self, session: &SshSession, command: &RemoteCommand) -> WorkOutcome {
        session
            .run_until(command, &self.lines, self.cancelled())
            .await
            .map_err(|error: SshError| failure::of_ssh(&error))
    }
}
