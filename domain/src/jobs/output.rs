//! A job's output lines: written as they come (numbered, in batches) and
//! read back, a page at a time or as one downloadable text.

use futures::Stream;
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

/// Lines written to the database in one statement at most.
pub(super) const BATCH: usize = 500;

impl JobRunner {
    /// Output lines after `after_seq`, at most `limit`.
    #[tracing::instrument(level = "debug", skip(self))]
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
}

/// Writes lines as they come, in batches, numbering them. Returns how many.
pub(super) async fn write_output(pool: PgPool, job_id: i64, mut receiver: mpsc::Receiver<OutputLine>) -> Result<i64> {
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
