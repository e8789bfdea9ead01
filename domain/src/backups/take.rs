//! Taking a backup, as a job's work: read which database the app uses
//! (and the versions), record the backup "running", stream `pg_dump`'s
//! output through compression, encryption and the checksum into the
//! storage while the job's output shows the bytes and the rate every few
//! seconds, then keep the object and record it "succeeded" — or remove
//! whatever was written and record it "failed".

use std::time::{Duration, Instant};

use time::format_description::well_known::iso8601;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::catalog::NewBackup;
use super::{pipeline, remote, BackupTrigger, Backups};
use crate::jobs::{failure, JobContext, JobFailure};
use crate::ssh::{Ended, SshSession, StreamError};
use crate::storage::StorageKey;
use vocabulary::backups::size_text as size;

/// What to record a backup as.
pub(crate) struct Request {
    pub trigger: BackupTrigger,
    pub reason: Option<String>,
    /// The restore job this backup is the safety copy for.
    pub safety_for_job: Option<i64>,
    /// The database the app must still use (a restore's safety copy).
    pub expect_database: Option<String>,
}

/// How often the job's output reports the progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl Backups {
    /// A backup as a job's work: connect, take it, close. Returns how it
    /// ended and, when it succeeded, the catalog row's number.
    pub(super) async fn take_connected(
        &self,
        job: &JobContext,
        request: Request,
    ) -> Result<(Ended, Option<i64>), JobFailure> {
        let Some(session) = job.connect().await? else {
            return Ok((Ended::Cancelled, None));
        };
        let taken = self.take(job, &session, request).await;
        session.close().await;
        taken
    }

    /// Takes a backup over `session`; returns how it ended and, when it
    /// succeeded, the catalog row's number.
    pub(crate) async fn take(
        &self,
        job: &JobContext,
        session: &SshSession,
        request: Request,
    ) -> Result<(Ended, Option<i64>), JobFailure> {
        let facts = match self.inspect(job, session).await? {
            Ok(facts) => facts,
            Err(ended) => return Ok((ended, None)),
        };
        if let Some(expected) = request.expect_database.as_ref().filter(|e| **e != facts.database) {
            job.say(format!(
                "the app now uses database {:?}, not {expected:?}: nothing was restored",
                facts.database
            ))
            .await;
            return Ok((Ended::Exited(Some(65)), None));
        }
        let (key_id, recipient) = self.keys.current().await.map_err(|e| failure::of_console(&e))?;
        let stamp = time::OffsetDateTime::now_utc()
            .format(&iso8601::Iso8601::<{ STAMP }>)
            .unwrap_or_default()
            .replace(':', "");
        let key = StorageKey::parse(&format!(
            "{}/{}-{}-job{}.dump.zst.age",
            job.host.name.as_str(),
            stamp,
            safe_file_word(&facts.database),
            job.job_id
        ))
        .map_err(|e| failure::of_console(&e))?;
        let backup_id = self
            .record_started(NewBackup {
                host_id: job.host.id,
                job_id: job.job_id,
                database_name: &facts.database,
                trigger: request.trigger,
                actor: job.by.name(),
                reason: request.reason.as_deref(),
                storage_key: key.as_str(),
                key_id,
                pg_dump_version: &facts.pg_dump_version,
                server_version: &facts.server_version,
                safety_for_job: request.safety_for_job,
            })
            .await
            .map_err(|e| failure::of_console(&e))?;
        let outcome = self.stream_into_storage(job, session, &key, &recipient).await;
        let recorded = match &outcome {
            Ok((Ended::Exited(Some(0)), Some((raw, stored, sum)))) => {
                job.say(format!(
                    "backup {backup_id}: {} from pg_dump, {} stored, sha256 {sum}",
                    size(*raw),
                    size(*stored)
                ))
                .await;
                self.record_succeeded(backup_id, *raw, *stored, sum).await
            }
            Ok((ended, _)) => {
                self.storage.discard(&key).await;
                let code = match ended {
                    Ended::Cancelled => JobFailure::Cancelled.code(),
                    _ => JobFailure::CommandFailed.code(),
                };
                self.record_failed(backup_id, code).await
            }
            Err(failure) => {
                self.storage.discard(&key).await;
                self.record_failed(backup_id, failure.code()).await
            }
        };
        recorded.map_err(|e| failure::of_console(&e))?;
        let (ended, kept) = outcome?;
        Ok((ended, kept.map(|_| backup_id)))
    }

    /// Runs the inspect command: the database's facts, or how the command
    /// ended when it did not succeed (its output is in the job's).
    async fn inspect(
        &self,
        job: &JobContext,
        session: &SshSession,
    ) -> Result<Result<remote::DatabaseFacts, Ended>, JobFailure> {
        let (sender, mut receiver) = mpsc::channel(64);
        let collect = async {
            let mut lines = Vec::new();
            while let Some(line) = receiver.recv().await {
                lines.push(line);
            }
            lines
        };
        let run = async {
            let ended = session
                .run_until(&remote::inspect(&job.host), &sender, job.cancelled())
                .await;
            drop(sender);
            ended
        };
        let (ended, lines) = tokio::join!(run, collect);
        let ended = ended.map_err(|e| failure::of_ssh(&e))?;
        let mut stdout = Vec::new();
        for line in lines {
            if !line.stderr {
                stdout.push(line.text.clone());
            }
            let _ = job.lines.send(line).await;
        }
        let facts = remote::DatabaseFacts::read(&stdout);
        if ended != Ended::Exited(Some(0)) {
            return Ok(Err(ended));
        }
        if !valid_database_name(&facts.database) {
            job.say(format!(
                "the app's .env names an invalid database: {:?}",
                facts.database
            ))
            .await;
            return Ok(Err(Ended::Exited(Some(65))));
        }
        Ok(Ok(facts))
    }

    /// pg_dump → compression → encryption → checksum → storage, with the
    /// progress in the job's output. Returns how pg_dump ended and, when it
    /// succeeded and the object is kept, (raw bytes, stored bytes, sha256).
    async fn stream_into_storage(
        &self,
        job: &JobContext,
        session: &SshSession,
        key: &StorageKey,
        recipient: &age::x25519::Recipient,
    ) -> Result<(Ended, Option<(u64, u64, String)>), JobFailure> {
        let refusal = std::sync::Mutex::new(None);
        let streamed = self.stream_into(job, session, key, recipient, &refusal).await;
        // What the storage answered (a full disk, a bucket refusing the
        // key, no answer at all) is the operator's clue: the job says it.
        // Neither a path nor an S3 answer holds a secret.
        if let Some(error) = refusal.into_inner().ok().flatten() {
            job.say(format!("storage: {error}")).await;
        }
        streamed
    }

    async fn stream_into(
        &self,
        job: &JobContext,
        session: &SshSession,
        key: &StorageKey,
        recipient: &age::x25519::Recipient,
        refusal: &std::sync::Mutex<Option<std::io::Error>>,
    ) -> Result<(Ended, Option<(u64, u64, String)>), JobFailure> {
        let storage_failed = |error: std::io::Error| {
            tracing::warn!(%error, "the backup storage refused the backup");
            if let Ok(mut refusal) = refusal.lock() {
                *refusal = Some(error);
            }
            JobFailure::StorageFailed
        };
        let object = self.storage.create(key).await.map_err(storage_failed)?;
        let mut sealing = pipeline::sealing(object, recipient).await.map_err(storage_failed)?;
        let started = Instant::now();
        let (raw, stored) = (sealing.raw.clone(), sealing.stored.clone());
        let progress = async {
            let mut ticks = tokio::time::interval(PROGRESS_EVERY);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                job.say(progress_line(raw.bytes(), stored.bytes(), started.elapsed()))
                    .await;
            }
        };
        let dump = remote::dump(&job.host);
        let streamed = tokio::select! {
            streamed = session.stream_stdout(&dump, &mut sealing.writer, &job.lines, job.cancelled()) => streamed,
            never = progress => never,
        };
        let ended = match streamed {
            Ok(ended) => ended,
            Err(StreamError::Local(error)) => return Err(storage_failed(error)),
            Err(StreamError::Ssh(error)) => return Err(failure::of_ssh(&error)),
        };
        if ended != Ended::Exited(Some(0)) {
            return Ok((ended, None));
        }
        sealing.writer.shutdown().await.map_err(storage_failed)?;
        self.storage.keep(key).await.map_err(storage_failed)?;
        job.say(progress_line(raw.bytes(), stored.bytes(), started.elapsed()))
            .await;
        Ok((ended, Some((raw.bytes(), stored.bytes(), stored.sha256()))))
    }
}

/// The time stamp in object names: `20261125T031500Z`.
const STAMP: u128 = iso8601::Config::DEFAULT
    .set_use_separators(false)
    .set_time_precision(iso8601::TimePrecision::Second { decimal_digits: None })
    .encode();

/// PostgreSQL's unquoted identifiers: what the app's database is called.
fn valid_database_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn safe_file_word(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
        .collect()
}

/// `12.5 MiB read from pg_dump, 3.1 MiB stored, 4.2 MiB/s, 0:03`: numbers
/// and units only, the same in every language.
fn progress_line(raw: u64, stored: u64, elapsed: Duration) -> String {
    let rate = raw as f64 / elapsed.as_secs_f64().max(0.001);
    let seconds = elapsed.as_secs();
    format!(
        "pg_dump → {} · stored {} · {}/s · {}:{:02}",
        size(raw),
        size(stored),
        size(rate as u64),
        seconds / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_plain_identifiers() {
        for good in ["ocpizza_db", "_x", "db2"] {
            assert!(valid_database_name(good), "{good}");
        }
        for bad in ["", "2db", "a;b", "a b", "x'y", &"a".repeat(64)] {
            assert!(!valid_database_name(bad), "{bad}");
        }
    }

    #[test]
    fn progress_reads_the_same_in_every_language() {
        let line = progress_line(10 * 1024 * 1024, 2 * 1024 * 1024, Duration::from_secs(65));
        assert_eq!(line, "pg_dump → 10.0 MiB · stored 2.0 MiB · 157.5 KiB/s · 1:05");
    }
}
