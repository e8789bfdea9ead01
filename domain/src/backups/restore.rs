//! Restoring a backup, as a job's work: the stored object's checksum is
//! checked first (a mismatch refuses, nothing touched); the host must still
//! use the backup's database; a safety backup of the database as it is now
//! is taken (no safety copy, no restore); then the dump streams back,
//! decrypted and decompressed on the way, into `pg_restore` in one
//! transaction. A stream that breaks midway is killed on the host before
//! `pg_restore` sees an end of input, so the database stays as it was.
//! When asked, the web server is stopped (after the safety copy) while the
//! database is replaced, and started again whatever the outcome.

use super::take::Request;
use super::{pipeline, remote, Backup, BackupTrigger, Backups};
use crate::hosts::ServiceVerb;
use crate::jobs::{failure, JobContext, JobFailure, WorkOutcome};
use crate::ssh::{Ended, SshSession, StreamError};

impl Backups {
    pub(super) async fn restore_work(&self, job: JobContext, backup: Backup, stop_site: bool) -> WorkOutcome {
        let internal = |e: crate::error::DomainError| failure::of_console(&e);
        let (key, key_id) = self.checked_object(&job, &backup).await?;
        let unreadable = |error: &dyn std::fmt::Display| {
            tracing::warn!(%error, backup = backup.id, "the stored backup cannot be read");
            JobFailure::BackupUnreadable
        };
        let Some(session) = job.connect().await? else {
            return Ok(Ended::Cancelled);
        };
        let outcome = async {
            let safety = Request {
                trigger: BackupTrigger::PreRestore,
                reason: None,
                safety_for_job: Some(job.job_id),
                expect_database: Some(backup.database_name.clone()),
            };
            let (ended, safety_id) = self.take(&job, &session, safety).await?;
            let Some(safety_id) = safety_id else {
                return Ok(ended);
            };
            job.say(format!("safety backup {safety_id} taken")).await;
            if stop_site {
                let stopped = web_server(&job, &session, ServiceVerb::Stop).await?;
                if stopped != Ended::Exited(Some(0)) {
                    job.say("the web server did not stop: nothing was restored".into())
                        .await;
                    return Ok(stopped);
                }
            }
            job.say(format!("restoring backup {}", backup.id)).await;
            let restored = async {
                let identity = self.keys.identity(key_id).await.map_err(internal)?;
                let object = self.storage.open(&key).await.map_err(|e| unreadable(&e))?;
                let mut dump = pipeline::opening(object, &identity).await.map_err(|e| unreadable(&e))?;
                let restore = remote::restore(&job.host);
                match session
                    .feed_stdin(&restore, &mut dump, &job.lines, job.cancelled())
                    .await
                {
                    Ok(ended) => Ok(ended),
                    Err(StreamError::Local(error)) => Err(unreadable(&error)),
                    Err(StreamError::Ssh(error)) => Err(failure::of_ssh(&error)),
                }
            }
            .await;
            if !stop_site {
                return restored;
            }
            // The site comes back whatever became of the restore.
            let restarted = web_server(&job, &session, ServiceVerb::Restart).await;
            match (restored, restarted) {
                (Ok(Ended::Exited(Some(0))), Ok(Ended::Exited(Some(0)))) => Ok(Ended::Exited(Some(0))),
                (Ok(Ended::Exited(Some(0))), restarted) => {
                    job.say("restored, but the web server did not start again: restart it from the host's page".into())
                        .await;
                    restarted
                }
                (restored, Ok(Ended::Exited(Some(0)))) => restored,
                (restored, _) => {
                    job.say("the web server did not start again: restart it from the host's page".into())
                        .await;
                    restored
                }
            }
        }
        .await;
        session.close().await;
        outcome
    }
}

/// Runs the host's web server `verb` (stop, restart) as part of the job.
async fn web_server(job: &JobContext, session: &SshSession, verb: ServiceVerb) -> WorkOutcome {
    job.run_on(session, &job.host.control.command(&job.host.web_service, verb))
        .await
}
