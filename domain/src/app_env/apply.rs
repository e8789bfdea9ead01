//! The host's `.env` file: written by an apply (a job: the file written
//! atomically — a temporary file of mode 0600 in the app directory, filled
//! from the SSH channel's standard input, renamed over `.env` — then
//! Gunicorn restarted so the app reads it), compared with what the console
//! last wrote (drift: the names that differ), and imported (its values
//! taken as the console's, secret ones straight into the secret store).
//! A value never reaches a command line, a log line, the job's output or
//! the audit log: only names do.

use std::collections::BTreeMap;

use super::file::{self, ReadFile};
use super::names::{EnvName, EnvValue};
use super::store::{file_order, StoredVariable};
use super::AppEnvironment;
use crate::accounts::Operator;
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::hosts::{Host, RemotePath, ServiceVerb};
use crate::jobs::{failure, JobContext, JobPlan, StepName, StepStatus, Steps, WorkOutcome};
use crate::secrets::Zeroizing;
use crate::ssh::{Ended, RemoteCommand, SshSession, StreamError};

/// Writes standard input to `$1/.env` atomically, mode 0600: a temporary
/// file beside it (removed if anything fails), then a rename.
const WRITE_ENV_FILE: &str = "set -e; umask 077; tmp=$(mktemp \"$1/.env.XXXXXX\"); trap 'rm -f \"$tmp\"' EXIT; \
cat > \"$tmp\"; chmod 600 \"$tmp\"; mv -f \"$tmp\" \"$1/.env\"; trap - EXIT";

/// How the host's file differs from what the console last wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Names added, removed or changed on the host.
    pub names: Vec<String>,
    /// The file is gone.
    pub file_missing: bool,
}

/// What an import took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub names: Vec<String>,
    /// Lines of the file that did not read as a variable.
    pub unreadable: usize,
}

fn env_file(host: &Host) -> Result<RemotePath> {
    RemotePath::parse(&format!("{}/.env", host.app_dir.as_str()), "app_dir")
}

impl AppEnvironment {
    /// Writes the console's values to the host's `.env` and restarts
    /// Gunicorn (operators): a job, audited with the names changed since
    /// the last version.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id))]
    pub async fn apply(&self, by: &Operator, provenance: &Provenance, host_id: i64) -> Result<i64> {
        let host = self.hosts.get(host_id).await?;
        let changed = self.changed_names(host_id).await?;
        let write = RemoteCommand::program("sh")
            .fixed("-c")
            .fixed(WRITE_ENV_FILE)
            .fixed("sh")
            .arg(&host.app_dir);
        let restart = host.control.command(&host.wsgi_service, ServiceVerb::Restart);
        let environment = self.clone();
        let plan = JobPlan {
            action: AuditAction::EnvApply,
            mutating: true,
            command_line: format!("{} < .env && {}", write.line(), restart.line()),
            details: vec![("names", changed.join(","))],
            work: Box::new(move |job| Box::pin(environment.apply_work(job, write, restart, changed))),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    /// The names whose values differ from the last version written.
    async fn changed_names(&self, host_id: i64) -> Result<Vec<String>> {
        let overview = self.overview(host_id).await?;
        let mut names: Vec<String> = overview
            .variables
            .into_iter()
            .filter(|v| v.set && v.not_applied)
            .map(|v| v.name)
            .chain(overview.removed_not_applied)
            .collect();
        names.sort_by(|a, b| file_order(a, b));
        Ok(names)
    }

    async fn apply_work(
        self,
        job: JobContext,
        write: RemoteCommand,
        restart: RemoteCommand,
        changed: Vec<String>,
    ) -> WorkOutcome {
        let internal = |e: DomainError| failure::of_console(&e);
        let mut steps = Steps::plan(&job, &[StepName::WriteEnv, StepName::RestartWsgi]).await?;
        let session = match job.connect().await {
            Ok(Some(session)) => session,
            connected => {
                steps.stop().await?;
                return connected.map(|_| Ended::Cancelled);
            }
        };
        let outcome = async {
            steps.start(StepName::WriteEnv).await?;
            let (version, variables) = self.record_version(&job, &changed).await.map_err(internal)?;
            let mut values = Vec::with_capacity(variables.len());
            for variable in &variables {
                let name = EnvName::parse(&variable.name).map_err(internal)?;
                values.push((name, self.value_of(variable).await.map_err(internal)?));
            }
            let header = format!(
                "Written by the OC Pizza console (version {version}, by {}).\nChanged by hand, it shows as drift on the host's page.",
                job.by.name()
            );
            let text = file::render(&header, &values);
            drop(values);
            let fed = session
                .feed_stdin(&write, &mut text.as_bytes(), &job.lines, job.cancelled())
                .await;
            drop(text);
            match fed {
                Ok(Ended::Exited(Some(0))) => {}
                Ok(Ended::Cancelled) => {
                    steps.stop().await?;
                    return Ok(Ended::Cancelled);
                }
                Ok(Ended::Exited(_)) => return Err(steps.fail().await),
                Err(StreamError::Ssh(error)) => {
                    steps.stop().await?;
                    return Err(failure::of_ssh(&error));
                }
                Err(StreamError::Local(error)) => {
                    steps.stop().await?;
                    return Err(internal(DomainError::Internal(error.to_string())));
                }
            }
            sqlx::query!("UPDATE app_env_applies SET written = true WHERE id = $1", version)
                .execute(&self.pool)
                .await
                .map_err(|e| internal(e.into()))?;
            let names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
            job.say(format!(
                "{} variables written to {}/.env (mode 0600): {}",
                names.len(),
                job.host.app_dir.as_str(),
                names.join(", ")
            ))
            .await;
            steps.start(StepName::RestartWsgi).await?;
            match job.run_on(&session, &restart).await {
                Ok(Ended::Exited(Some(0))) => {
                    steps.end(StepStatus::Succeeded).await?;
                    Ok(Ended::Exited(Some(0)))
                }
                Ok(Ended::Exited(_)) => Err(steps.fail().await),
                other => {
                    steps.stop().await?;
                    other
                }
            }
        }
        .await;
        session.close().await;
        outcome
    }

    /// Records a version (an apply by `job`) holding the console's values
    /// as they are now; returns its number and its variables, in file order.
    async fn record_version(&self, job: &JobContext, changed: &[String]) -> Result<(i64, Vec<StoredVariable>)> {
        let mut tx = self.pool.begin().await?;
        let version = sqlx::query_scalar!(
            "INSERT INTO app_env_applies (host_id, kind, job_id, applied_by, changed_names)
             VALUES ($1, 'apply', $2, $3, $4) RETURNING id",
            job.host.id,
            job.job_id,
            job.by.name(),
            changed,
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut variables = sqlx::query_as!(
            StoredVariable,
            "INSERT INTO app_env_applied (apply_id, name, secret, value, secret_id)
             SELECT $1, name, secret, value, secret_id FROM app_env_vars WHERE host_id = $2
             RETURNING name, secret, value, secret_id",
            version,
            job.host.id
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        variables.sort_by(|a, b| file_order(&a.name, &b.name));
        Ok((version, variables))
    }

    /// Reads the host's `.env` over SSH: `None` when it does not exist.
    async fn read_file(&self, session: &SshSession, host: &Host) -> Result<Option<ReadFile>> {
        let path = env_file(host)?;
        let test = RemoteCommand::program("test").fixed("-f").arg(&path);
        if session.answer(&test).await?.0 != Some(0) {
            return Ok(None);
        }
        let (status, lines) = session.answer(&RemoteCommand::program("cat").arg(&path)).await?;
        if status != Some(0) {
            return Err(DomainError::invalid("app_dir", "error-env-file-unreadable"));
        }
        let read = file::parse(lines.iter().map(String::as_str));
        // The lines held values: gone before anything else runs.
        drop(lines.into_iter().map(Zeroizing::new).collect::<Vec<_>>());
        Ok(Some(read))
    }

    /// How the host's `.env` differs from the last version the console
    /// wrote or imported (`None`: there is none to compare with). Read over
    /// SSH; values are compared in memory and dropped.
    #[tracing::instrument(skip_all, fields(host = host.name.as_str()))]
    pub async fn drift(&self, by: &Operator, provenance: &Provenance, host: &Host) -> Result<Option<Drift>> {
        let Some(version) = sqlx::query_scalar!(
            "SELECT id FROM app_env_applies WHERE host_id = $1 AND written ORDER BY id DESC LIMIT 1",
            host.id
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let session = self.hosts.connect(host, &by.actor(), provenance).await?;
        let read = self.read_file(&session, host).await;
        session.close().await;
        let Some(read) = read? else {
            return Ok(Some(Drift {
                names: Vec::new(),
                file_missing: true,
            }));
        };
        let written = sqlx::query_as!(
            StoredVariable,
            "SELECT name, secret, value, secret_id FROM app_env_applied WHERE apply_id = $1",
            version
        )
        .fetch_all(&self.pool)
        .await?;
        let mut expected = BTreeMap::new();
        for variable in &written {
            expected.insert(variable.name.clone(), self.value_of(variable).await?);
        }
        let mut names: Vec<String> = expected
            .keys()
            .chain(read.variables.keys())
            .filter(|name| expected.get(*name) != read.variables.get(*name))
            .cloned()
            .collect();
        names.sort_by(|a, b| file_order(a, b));
        names.dedup();
        Ok(Some(Drift {
            names,
            file_missing: false,
        }))
    }

    /// Takes the host's `.env` as the console's values (operators): each
    /// variable stored (secret ones sealed, by the name's default kind or
    /// the kind the console already gave it), recorded as a version, and
    /// audited with the names.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id))]
    pub async fn import(&self, by: &Operator, provenance: &Provenance, host_id: i64) -> Result<Imported> {
        let host = self.allowed(by, provenance, host_id, AuditAction::EnvImport).await?;
        let session = self.hosts.connect(&host, &by.actor(), provenance).await?;
        let read = self.read_file(&session, &host).await;
        session.close().await;
        let read = read?.ok_or_else(|| DomainError::invalid("app_dir", "error-env-file-missing"))?;
        let mut tx = self.pool.begin().await?;
        let version = sqlx::query_scalar!(
            "INSERT INTO app_env_applies (host_id, kind, applied_by, changed_names, written)
             VALUES ($1, 'import', $2, '{}', true) RETURNING id",
            host.id,
            by.username.as_str(),
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut names = Vec::new();
        let mut unreadable = read.unreadable;
        for (name, value) in &read.variables {
            let name = EnvName::parse(name)?;
            // A value the console could not write back is left out, counted.
            let Ok(value) = EnvValue::parse(&name, value) else {
                unreadable += 1;
                continue;
            };
            let value = value.expose();
            let (secret, secret_id) = self.put_value(&mut tx, host.id, &name, None, value, by).await?;
            let plain = (!secret).then_some(value);
            sqlx::query!(
                "INSERT INTO app_env_applied (apply_id, name, secret, value, secret_id) VALUES ($1, $2, $3, $4, $5)",
                version,
                name.as_str(),
                secret,
                plain,
                secret_id,
            )
            .execute(&mut *tx)
            .await?;
            names.push(name.as_str().to_owned());
        }
        names.sort_by(|a, b| file_order(a, b));
        sqlx::query!(
            "UPDATE app_env_applies SET changed_names = $2 WHERE id = $1",
            version,
            &names
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(by.actor(), AuditAction::EnvImport, host.name.as_str(), Outcome::Success)
            .detail("names", names.join(","))
            .detail("unreadable_lines", unreadable as i64)
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Imported { names, unreadable })
    }
}
