//! A job's output lines: written as they come (numbered, in batches) and
//! read back, a page at a time or as one downloadable text.

use futures::Stream;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::JobRunner;
use crate::error::Result;
use crate::ssh::{self, OutputLine};

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

/// Lines sent to a live viewer in one event at most.
pub const LIVE_BATCH_LINES: i64 = 4096;
/// Bytes of lines sent to a live viewer in one event, about (beyond one line).
pub const LIVE_BATCH_BYTES: usize = 1 << 20;
/// Lines written to the database in one `COPY` at most.
pub(super) const BATCH: usize = 4096;
/// Bytes sent to the database in one message of a `COPY` at most (and so
/// held at once), beyond one line.
const COPY_CHUNK: usize = 1 << 20;

impl JobRunner {
    /// Output lines after `after_seq`, at most `limit`.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn output_after(&self, job_id: i64, after_seq: i64, limit: i64) -> Result<Vec<StoredLine>> {
        Ok(sqlx::query_as!(
            StoredLine,
            "SELECT seq, stderr, line FROM job_output WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            job_id,
            after_seq,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The next lines after `after_seq` for a live viewer: as many as are
    /// there, up to [`LIVE_BATCH_LINES`] lines or about [`LIVE_BATCH_BYTES`]
    /// (so a flood goes in few events, and a viewer's memory stays bounded).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn live_batch(&self, job_id: i64, after_seq: i64) -> Result<Vec<StoredLine>> {
        use futures::TryStreamExt;
        let mut rows = sqlx::query_as!(
            StoredLine,
            "SELECT seq, stderr, line FROM job_output WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            job_id,
            after_seq,
            LIVE_BATCH_LINES
        )
        .fetch(&self.pool);
        let (mut lines, mut bytes) = (Vec::new(), 0);
        while let Some(line) = rows.try_next().await? {
            bytes += line.line.len();
            lines.push(line);
            if bytes >= LIVE_BATCH_BYTES {
                break;
            }
        }
        Ok(lines)
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
}

/// Writes lines as they come, numbering them, with one `COPY` per batch of
/// whatever has arrived (a slow job's line goes alone, at once; a flood goes
/// thousands at a time). Returns how many lines.
pub(super) async fn write_output(pool: PgPool, job_id: i64, mut receiver: mpsc::Receiver<OutputLine>) -> Result<i64> {
    let mut seq = 0_i64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut rows = Vec::with_capacity(COPY_CHUNK + ssh::MAX_LINE * 2);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let mut connection = pool.acquire().await?;
        let mut copy = connection
            // COPY cannot be prepared: the one statement here that is not a
            // checked `query!`.
            .copy_in_raw("COPY job_output (job_id, seq, stderr, line) FROM STDIN")
            .await?;
        for line in batch.drain(..) {
            seq += 1;
            copy_row(&mut rows, job_id, seq, &line);
            if rows.len() >= COPY_CHUNK {
                copy.send(rows.as_slice()).await?;
                rows.clear();
            }
        }
        if !rows.is_empty() {
            copy.send(rows.as_slice()).await?;
            rows.clear();
        }
        copy.finish().await?;
    }
    Ok(seq)
}

/// Appends one line as a row of `COPY`'s text format.
fn copy_row(rows: &mut Vec<u8>, job_id: i64, seq: i64, line: &OutputLine) {
    use std::io::Write;
    let stderr = if line.stderr { 't' } else { 'f' };
    let _ = write!(rows, "{job_id}\t{seq}\t{stderr}\t");
    // Lines come capped at ssh::MAX_LINE; PostgreSQL text holds no NUL.
    for byte in line.text.bytes() {
        match byte {
            b'\\' => rows.extend_from_slice(b"\\\\"),
            b'\t' => rows.extend_from_slice(b"\\t"),
            b'\n' => rows.extend_from_slice(b"\\n"),
            b'\r' => rows.extend_from_slice(b"\\r"),
            0 => {}
            other => rows.push(other),
        }
    }
    rows.push(b'\n');
}
