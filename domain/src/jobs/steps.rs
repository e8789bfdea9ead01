//! Jobs made of steps (a deploy, a rollback): the steps are planned when
//! the work begins, then each is marked running and ends succeeded, failed
//! or skipped; every change is announced like the job's status, so the
//! job's page shows which step runs. Each step's start is also a line of
//! the job's output, so what a step printed reads under its name.

use std::time::Instant;

use super::{failure, JobContext, JobFailure, JobRunner};
use crate::error::{DomainError, Result};
use vocabulary::jobs::{JobStep, StepName, StepStatus};

/// A job's planned steps and the one running.
pub(crate) struct Steps<'a> {
    job: &'a JobContext,
    names: Vec<StepName>,
    running: Option<(usize, Instant)>,
}

impl<'a> Steps<'a> {
    /// Records `names` as the job's steps, all pending.
    pub async fn plan(job: &'a JobContext, names: &[StepName]) -> std::result::Result<Self, JobFailure> {
        let mut steps = Self {
            job,
            names: Vec::new(),
            running: None,
        };
        steps.add(names).await?;
        Ok(steps)
    }

    /// Adds steps after the planned ones (a rollback after a failed deploy).
    pub async fn add(&mut self, names: &[StepName]) -> std::result::Result<(), JobFailure> {
        let first = self.names.len() as i32;
        let positions: Vec<i32> = (first..first + names.len() as i32).collect();
        let words: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
        sqlx::query!(
            "INSERT INTO job_steps (job_id, position, step, status)
             SELECT $1, position, step, 'pending' FROM unnest($2::int[], $3::text[]) AS s (position, step)",
            self.job.job_id,
            &positions,
            &words,
        )
        .execute(self.job.pool())
        .await
        .map_err(|e| failure::of_console(&e.into()))?;
        self.names.extend_from_slice(names);
        Ok(())
    }

    /// The first step planned.
    pub fn first(&self) -> StepName {
        self.names[0]
    }

    /// The next pending step named `name` starts (the one running, if any,
    /// having succeeded); nothing changes when `name` is the one running.
    pub async fn start(&mut self, name: StepName) -> std::result::Result<(), JobFailure> {
        if self.running.is_some_and(|(position, _)| self.names[position] == name) {
            return Ok(());
        }
        if self.running.is_some() {
            self.end(StepStatus::Succeeded).await?;
        }
        let position = self
            .next_pending(name)
            .await?
            .ok_or_else(|| failure::of_console(&DomainError::Internal(format!("step {name} was not planned"))))?;
        self.set(position, StepStatus::Running).await?;
        self.running = Some((position, Instant::now()));
        let number = position + 1;
        self.job
            .say(format!("== step {number}/{}: {name} ==", self.names.len()))
            .await;
        Ok(())
    }

    /// The next pending step named `name` is not needed (said in the
    /// output too, so the output reads every step in order); the one
    /// running, if any, succeeded. A step not planned is not skipped, and
    /// the one running goes on.
    pub async fn skip(&mut self, name: StepName) -> std::result::Result<(), JobFailure> {
        if let Some(position) = self.next_pending(name).await? {
            self.end(StepStatus::Succeeded).await?;
            self.set(position, StepStatus::Skipped).await?;
            let number = position + 1;
            self.job
                .say(format!("== step {number}/{}: {name} (skipped) ==", self.names.len()))
                .await;
        }
        Ok(())
    }

    /// The running step ends with `status`.
    pub async fn end(&mut self, status: StepStatus) -> std::result::Result<(), JobFailure> {
        if let Some((position, since)) = self.running.take() {
            self.set(position, status).await?;
            tracing::info!(step = %self.names[position], %status, millis = since.elapsed().as_millis() as u64, "step ended");
        }
        Ok(())
    }

    /// The running step failed: it is marked so, the steps left pending
    /// are skipped, and the job's failure names it.
    pub async fn fail(&mut self) -> JobFailure {
        let step = self.running.map(|(position, _)| self.names[position]);
        let marked = async {
            self.end(StepStatus::Failed).await?;
            self.skip_the_rest().await
        };
        match (marked.await, step) {
            (Err(failure), _) => failure,
            (Ok(()), Some(step)) => JobFailure::StepFailed { step },
            (Ok(()), None) => JobFailure::Internal,
        }
    }

    /// The job ends now (cancelled, or a failure already named): the
    /// running step fails, the pending ones are skipped.
    pub async fn stop(&mut self) -> std::result::Result<(), JobFailure> {
        self.end(StepStatus::Failed).await?;
        self.skip_the_rest().await
    }

    async fn skip_the_rest(&self) -> std::result::Result<(), JobFailure> {
        sqlx::query!(
            "UPDATE job_steps SET status = 'skipped', finished_at = now() WHERE job_id = $1 AND status = 'pending'",
            self.job.job_id
        )
        .execute(self.job.pool())
        .await
        .map_err(|e| failure::of_console(&e.into()))?;
        Ok(())
    }

    async fn next_pending(&self, name: StepName) -> std::result::Result<Option<usize>, JobFailure> {
        let position = sqlx::query_scalar!(
            "SELECT position FROM job_steps WHERE job_id = $1 AND step = $2 AND status = 'pending'
             ORDER BY position LIMIT 1",
            self.job.job_id,
            name.as_str()
        )
        .fetch_optional(self.job.pool())
        .await
        .map_err(|e| failure::of_console(&e.into()))?;
        Ok(position.map(|p| p as usize))
    }

    async fn set(&self, position: usize, status: StepStatus) -> std::result::Result<(), JobFailure> {
        sqlx::query!(
            "UPDATE job_steps SET status = $3,
                    started_at = CASE WHEN $3 = 'running' THEN now() ELSE started_at END,
                    finished_at = CASE WHEN $3 = 'running' THEN NULL ELSE now() END
             WHERE job_id = $1 AND position = $2",
            self.job.job_id,
            position as i32,
            status.as_str()
        )
        .execute(self.job.pool())
        .await
        .map_err(|e| failure::of_console(&e.into()))?;
        Ok(())
    }
}

impl JobRunner {
    /// A job's steps in order (none for a job of one command).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn steps(&self, job_id: i64) -> Result<Vec<JobStep>> {
        let rows = sqlx::query!(
            r#"SELECT step, status,
                      (extract(epoch FROM finished_at - started_at) * 1000)::bigint AS millis
               FROM job_steps WHERE job_id = $1 ORDER BY position"#,
            job_id
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let unknown = |e: vocabulary::UnknownWord| DomainError::Internal(format!("job {job_id}: {e}"));
                Ok(JobStep {
                    name: row.step.parse().map_err(unknown)?,
                    status: row.status.parse().map_err(unknown)?,
                    millis: row.millis,
                })
            })
            .collect()
    }
}
