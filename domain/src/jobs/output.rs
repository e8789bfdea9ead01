//! A job's output lines: written as they come (numbered, in chunks of
//! consecutive lines of one stream) and read back, a page at a time or as
//! one downloadable text.
//!
//! One row per chunk, not per line (see the migration `job_output_chunks`):
//! a row's own costs (its foreign key check, its index entry) held a flood
//! of output to a few MiB/s; a chunk carries hundreds of lines.

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::JobRunner;
use crate::error::Result;
use crate::ssh::OutputLine;

/// One stored output line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct StoredLine {
    pub seq: i64,
    pub stderr: bool,
    pub line: String,
}

impl From<StoredLine> for vocabulary::jobs::OutputLine {
    fn from(line: StoredLine) -> Self {
        Self {
            seq: line.seq,
            stderr: line.stderr,
            text: line.line,
        }
    }
}

/// Lines sent to a live viewer in one event at most (output of usual lines
/// comes in events of about [`LIVE_BATCH_BYTES`]). These sizes and the two
/// below bound the console's memory while a job floods its output: the
/// jobs bench's 100 MB stream peaks at 57 MiB with them (goal ≤ 64), at
/// 64 MiB with twice as much.
pub const LIVE_BATCH_LINES: i64 = 8_192;
/// Bytes of lines sent to a live viewer in one event, about (beyond one line).
pub const LIVE_BATCH_BYTES: usize = 512 << 10;
/// Lines taken off the channel at once at most.
const BATCH: usize = 4096;
/// Lines waiting for the writer at most: beyond, the command's output waits
/// on the host (SSH flow control).
pub(super) const WAITING_LINES: usize = 8_192;
/// Bytes of a chunk, about (beyond one line): what a page of 200 lines reads
/// at most, and a download holds.
const CHUNK_BYTES: usize = 256 << 10;
/// Bytes written in one statement at most (and so held at once), beyond one
/// line.
const WRITE_BYTES: usize = 512 << 10;
/// Lines read at once for a download.
const DOWNLOAD_LINES: i64 = 10_000;

/// A stored chunk: `line_count` lines numbered from `first_seq`, each ended
/// by a line feed.
struct Chunk {
    first_seq: i64,
    line_count: i32,
    stderr: bool,
    lines: String,
}

impl Chunk {
    /// Its lines, with their numbers.
    fn numbered(&self) -> impl Iterator<Item = (i64, &str)> {
        (self.first_seq..).zip(self.lines.split_terminator('\n'))
    }

    fn last_seq(&self) -> i64 {
        self.first_seq + i64::from(self.line_count) - 1
    }
}

impl JobRunner {
    /// Output lines after `after_seq`, at most `limit`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn output_after(&self, job_id: i64, after_seq: i64, limit: i64) -> Result<Vec<StoredLine>> {
        self.lines_after(job_id, after_seq, limit, usize::MAX).await
    }

    /// The next lines after `after_seq` for a live viewer: as many as are
    /// there, up to [`LIVE_BATCH_LINES`] lines or about [`LIVE_BATCH_BYTES`]
    /// (so a flood goes in few events, and a viewer's memory stays bounded).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn live_batch(&self, job_id: i64, after_seq: i64) -> Result<Vec<StoredLine>> {
        self.lines_after(job_id, after_seq, LIVE_BATCH_LINES, LIVE_BATCH_BYTES)
            .await
    }

    /// Lines after `after_seq`, up to `limit` lines or about `bytes`.
    async fn lines_after(&self, job_id: i64, after_seq: i64, limit: i64, bytes: usize) -> Result<Vec<StoredLine>> {
        let mut chunks = self.chunks_after(job_id, after_seq, limit);
        let (mut lines, mut taken) = (Vec::new(), 0);
        while let Some(chunk) = chunks.try_next().await? {
            for (seq, text) in chunk.numbered().filter(|(seq, _)| *seq > after_seq) {
                if lines.len() as i64 >= limit || taken >= bytes {
                    return Ok(lines);
                }
                taken += text.len();
                lines.push(StoredLine {
                    seq,
                    stderr: chunk.stderr,
                    line: text.to_owned(),
                });
            }
        }
        Ok(lines)
    }

    /// The chunks holding lines `after_seq + 1` to `after_seq + span`, in
    /// order (the first may begin before, the last end after).
    fn chunks_after(
        &self,
        job_id: i64,
        after_seq: i64,
        span: i64,
    ) -> impl Stream<Item = std::result::Result<Chunk, sqlx::Error>> + Send + '_ {
        // The first chunk is found through the key (the last one beginning
        // at or before line `first`), the rest follow it. The bounds are
        // computed here, saturating: a cursor near the largest bigint (any
        // API caller may send one) finds nothing rather than overflowing.
        let first = after_seq.saturating_add(1);
        let last = after_seq.saturating_add(span);
        sqlx::query_as!(
            Chunk,
            "SELECT first_seq, line_count, stderr, lines FROM job_output_chunks
             WHERE job_id = $1
               AND first_seq >= coalesce((SELECT max(first_seq) FROM job_output_chunks
                                          WHERE job_id = $1 AND first_seq <= $2), 1)
               AND first_seq + line_count > $2
               AND first_seq <= $3
             ORDER BY first_seq",
            job_id,
            first,
            last
        )
        .fetch(&self.pool)
    }

    /// The whole output as text, in chunks (constant memory).
    pub fn output_text(&self, job_id: i64) -> impl Stream<Item = Result<Vec<u8>>> + Send + 'static {
        let runner = self.clone();
        futures::stream::try_unfold(0_i64, move |after| {
            let runner = runner.clone();
            async move {
                let chunks: Vec<Chunk> = runner.chunks_after(job_id, after, DOWNLOAD_LINES).try_collect().await?;
                let Some(last) = chunks.last().map(Chunk::last_seq) else {
                    return Ok(None);
                };
                let size = chunks.iter().map(|c| c.lines.len() + 6 * c.line_count as usize).sum();
                let mut text = Vec::with_capacity(size);
                for chunk in &chunks {
                    let mark: &[u8] = if chunk.stderr { b"[err] " } else { b"      " };
                    for (_, line) in chunk.numbered().filter(|(seq, _)| *seq > after) {
                        text.extend_from_slice(mark);
                        text.extend_from_slice(line.as_bytes());
                        text.push(b'\n');
                    }
                }
                Ok(Some((text, last)))
            }
        })
    }
}

/// Writes lines as they come, numbering them from 1: whatever has arrived
/// goes in one statement, as chunks (a slow job's line goes alone, at once;
/// a flood goes a MiB at a time). Returns how many lines.
pub(super) async fn write_output(pool: PgPool, job_id: i64, mut receiver: mpsc::Receiver<OutputLine>) -> Result<i64> {
    let mut pending = PendingChunks::default();
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        for line in batch.drain(..) {
            pending.push(&line);
            if pending.bytes >= WRITE_BYTES {
                pending.write(&pool, job_id).await?;
            }
        }
        // More waiting: it joins this statement.
        if receiver.is_empty() {
            pending.write(&pool, job_id).await?;
        }
    }
    pending.write(&pool, job_id).await?;
    Ok(pending.written)
}

/// Lines on their way to the database, as the columns of their chunks.
#[derive(Default)]
struct PendingChunks {
    /// Lines numbered so far (written or pending).
    written: i64,
    first_seqs: Vec<i64>,
    line_counts: Vec<i32>,
    stderr: Vec<bool>,
    lines: Vec<String>,
    bytes: usize,
}

impl PendingChunks {
    /// Adds a line to the last chunk, or to a new one when the stream
    /// changes or the last chunk is full.
    fn push(&mut self, line: &OutputLine) {
        let fits = match (self.stderr.last(), self.lines.last()) {
            (Some(&stderr), Some(lines)) => stderr == line.stderr && lines.len() < CHUNK_BYTES,
            _ => false,
        };
        if !fits {
            self.first_seqs.push(self.written + 1);
            self.line_counts.push(0);
            self.stderr.push(line.stderr);
            self.lines.push(String::new());
        }
        let (Some(lines), Some(count)) = (self.lines.last_mut(), self.line_counts.last_mut()) else {
            unreachable!("a chunk was just opened")
        };
        let before = lines.len();
        // PostgreSQL text holds no NUL, and a line feed ends a line. Lines
        // come without line feeds, capped at ssh::MAX_LINE.
        let bytes = line.text.as_bytes();
        if bytes.contains(&0) || bytes.contains(&b'\n') {
            lines.extend(line.text.chars().filter(|c| !matches!(c, '\0' | '\n')));
        } else {
            lines.push_str(&line.text);
        }
        lines.push('\n');
        *count += 1;
        self.written += 1;
        self.bytes += lines.len() - before;
    }

    /// Writes the pending chunks in one statement (so one notification).
    async fn write(&mut self, pool: &PgPool, job_id: i64) -> Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        sqlx::query!(
            "INSERT INTO job_output_chunks (job_id, first_seq, line_count, stderr, lines)
             SELECT $1, * FROM unnest($2::bigint[], $3::integer[], $4::boolean[], $5::text[])",
            job_id,
            &self.first_seqs,
            &self.line_counts,
            &self.stderr,
            &self.lines,
        )
        .execute(pool)
        .await?;
        self.first_seqs.clear();
        self.line_counts.clear();
        self.stderr.clear();
        self.lines.clear();
        self.bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stderr: bool, text: &str) -> OutputLine {
        OutputLine {
            stderr,
            text: text.to_owned(),
        }
    }

    #[test]
    fn lines_go_in_one_chunk_per_run_of_one_stream_and_come_back_numbered() {
        let mut pending = PendingChunks::default();
        for l in [
            line(false, "a"),
            line(false, ""),
            line(true, "oops"),
            line(false, "b\0c\nd"),
        ] {
            pending.push(&l);
        }
        assert_eq!(pending.first_seqs, [1, 3, 4]);
        assert_eq!(pending.line_counts, [2, 1, 1]);
        assert_eq!(pending.stderr, [false, true, false]);
        assert_eq!(pending.lines, ["a\n\n", "oops\n", "bcd\n"]);
        assert_eq!(pending.written, 4);
        let chunk = Chunk {
            first_seq: 1,
            line_count: 2,
            stderr: false,
            lines: pending.lines[0].clone(),
        };
        assert_eq!(chunk.numbered().collect::<Vec<_>>(), [(1, "a"), (2, "")]);
        assert_eq!(chunk.last_seq(), 2);
    }

    /// A job row to hang output on (no runner, no SSH).
    async fn a_job(pool: &PgPool) -> i64 {
        let secret: i64 =
            sqlx::query_scalar("INSERT INTO secrets (purpose, sealed) VALUES ('test:unused', '\\x00') RETURNING id")
                .fetch_one(pool)
                .await
                .unwrap();
        let host: i64 = sqlx::query_scalar(
            "INSERT INTO hosts (name, ssh_address, ssh_port, ssh_user, private_key_secret, public_key, host_key,
                                host_key_fingerprint, app_dir, web_service, wsgi_service, site_url)
             VALUES ('quiet', '127.0.0.1', 22, 'ocp', $1, 'ssh-ed25519 AAAA', 'ssh-ed25519 AAAA', 'SHA256:x',
                     '/srv/app', 'nginx', 'gunicorn', 'http://127.0.0.1/') RETURNING id",
        )
        .bind(secret)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query_scalar(
            "INSERT INTO jobs (host_id, action, mutating, command_line, actor, status)
             VALUES ($1, 'webapp.check_prerequisites', false, 'true', 'tester', 'running') RETURNING id",
        )
        .bind(host)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn lines_written_in_chunks_read_back_from_any_line_by_page_live_and_as_a_download(pool: PgPool) {
        let job = a_job(&pool).await;
        let runner = crate::Console::new(
            pool.clone(),
            crate::secrets::SecretBox::new(crate::secrets::MasterKey::generate()),
        )
        .jobs
        .clone();
        let mut changes = runner.changes();
        // Lines in runs of each stream, some arriving apart (so in chunks of
        // their own), one empty, one with a NUL.
        let mut expected = Vec::new();
        let (sender, receiver) = mpsc::channel(WAITING_LINES);
        let writer = tokio::spawn(write_output(pool.clone(), job, receiver));
        for round in 0..5 {
            for n in 0..(40 * round + 1) {
                let stderr = n % 7 == 3;
                let text = match n {
                    2 => String::new(),
                    5 => format!("round {round} \0nul"),
                    _ => format!("round {round} line {n}"),
                };
                sender.send(line(stderr, &text)).await.unwrap();
                expected.push((stderr, text.replace('\0', "")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        drop(sender);
        let total = expected.len() as i64;
        assert_eq!(writer.await.unwrap().unwrap(), total);
        let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM job_output_chunks WHERE job_id = $1")
            .bind(job)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(chunks > 5 && chunks < total, "{chunks} chunks for {total} lines");
        let stored = |from: i64, to: i64| -> Vec<StoredLine> {
            (from..to)
                .map(|seq| {
                    let (stderr, line) = expected[seq as usize - 1].clone();
                    StoredLine { seq, stderr, line }
                })
                .collect()
        };

        for after in 0..=total {
            for limit in [1, 3, 200] {
                let page = runner.output_after(job, after, limit).await.unwrap();
                assert_eq!(
                    page,
                    stored(after + 1, (after + 1 + limit).min(total + 1)),
                    "after {after}, {limit}"
                );
            }
        }
        assert_eq!(runner.live_batch(job, 17).await.unwrap(), stored(18, total + 1));
        assert_eq!(runner.job(job).await.unwrap().output_lines, total);
        // The view shows the same lines, one per row.
        let viewed: Vec<(i64, bool, String)> =
            sqlx::query_as("SELECT seq, stderr, line FROM job_output WHERE job_id = $1 ORDER BY seq")
                .bind(job)
                .fetch_all(&pool)
                .await
                .unwrap();
        let viewed: Vec<StoredLine> = viewed
            .into_iter()
            .map(|(seq, stderr, line)| StoredLine { seq, stderr, line })
            .collect();
        assert_eq!(viewed, stored(1, total + 1));

        let download: Vec<u8> = runner.output_text(job).try_concat().await.unwrap();
        let wanted: String = expected
            .iter()
            .map(|(stderr, text)| format!("{}{text}\n", if *stderr { "[err] " } else { "      " }))
            .collect();
        assert_eq!(String::from_utf8(download).unwrap(), wanted);

        // Viewers heard of every line, up to the last.
        let mut heard = 0;
        while heard < total {
            match tokio::time::timeout(std::time::Duration::from_secs(5), changes.next_for(job)).await {
                Ok(Some(crate::jobs::JobChange::Lines { seq, .. })) => heard = seq,
                Ok(Some(_)) => {}
                other => panic!("heard up to {heard} of {total}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_full_chunk_is_followed_by_a_new_one() {
        let mut pending = PendingChunks::default();
        let long = "x".repeat(1000);
        for _ in 0..(CHUNK_BYTES / 1000 + 2) {
            pending.push(&line(false, &long));
        }
        assert_eq!(pending.lines.len(), 2);
        assert!(pending.lines[0].len() >= CHUNK_BYTES && pending.lines[0].len() < CHUNK_BYTES + 1001);
        assert_eq!(pending.first_seqs[1], i64::from(pending.line_counts[0]) + 1);
    }
}
