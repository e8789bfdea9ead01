//! The audit log as CSV, for the export link: the rows the page's filters
//! select, streamed in chunks so memory stays constant, with cells a
//! spreadsheet would run as formulas defused ([`csv_rows`]).

use std::fmt::Write as _;

use futures::{Stream, StreamExt};
use sqlx::{Connection, PgPool};
use tracing::Instrument;

use self::csv_rows::CsvRows;
use super::search::AuditFilter;
use super::AuditLog;
use crate::error::{DomainError, Result};

mod csv_rows;

/// Bytes gathered before a chunk goes to the reader (PostgreSQL sends one
/// message per row).
const CHUNK_BYTES: usize = 256 * 1024;

/// The rows in [`CSV_COLUMNS`]' order, as PostgreSQL's binary `COPY` sends
/// them: [`csv_rows`] writes the CSV (PostgreSQL writing it took a third
/// of its time per row).
const EXPORT_SELECT: &str = "SELECT id, at, actor, action, target, outcome, details, client_address, request_id
    FROM audit_log WHERE true";

impl AuditLog {
    /// Every matching record, newest first, as CSV text in chunks: read
    /// from PostgreSQL (`COPY ... TO STDOUT`), written as CSV and passed on
    /// as it comes, so memory stays constant whatever the size of the log.
    #[tracing::instrument(skip(self))]
    pub fn export_csv(&self, filter: AuditFilter) -> impl Stream<Item = Result<Vec<u8>>> + Send + 'static {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let pool = self.pool.clone();
        tokio::spawn(
            async move {
                if let Err(error) = copy_csv(&pool, &filter, &sender).await {
                    let _ = sender.send(Err(error)).await;
                }
            }
            .in_current_span(),
        );
        let header = futures::stream::once(async { Ok(csv_header()) });
        let rows = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        header.chain(rows)
    }
}

/// Runs the export's `COPY` on a connection of its own and sends its rows
/// as CSV in chunks of about [`CHUNK_BYTES`]. `COPY` takes no bind parameters: the
/// filter's values are set as settings of the transaction and the query
/// reads them with `current_setting`, so no value is ever part of the SQL.
async fn copy_csv(
    pool: &PgPool,
    filter: &AuditFilter,
    sender: &tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) -> Result<()> {
    // COPY cannot be prepared, so it cannot be a checked `query!` nor take
    // bind parameters: the filter's values travel as transaction settings
    // read with current_setting(), and only fixed texts go into the SQL.
    let mut sql = format!("COPY ({EXPORT_SELECT}");
    let mut settings = Vec::new();
    for (i, condition) in filter.conditions().into_iter().enumerate() {
        let name = format!("ocpizza_audit_export.value{i}");
        let _ = write!(
            sql,
            " AND {}current_setting('{name}'){}",
            condition.before, condition.after
        );
        settings.push((name, condition.value));
    }
    sql.push_str(" ORDER BY at DESC, id DESC) TO STDOUT WITH (FORMAT binary)");

    let mut connection = pool.acquire().await?;
    let mut tx = connection.begin().await?;
    for (name, value) in settings {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    let mut messages = tx.copy_out_raw(&sql).await?;
    let mut rows = CsvRows::default();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES + 4096);
    let mut reader_left = false;
    while let Some(message) = messages.next().await {
        rows.write(&message?, &mut chunk)
            .map_err(|malformed| DomainError::Internal(malformed.to_string()))?;
        if chunk.len() >= CHUNK_BYTES {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 4096));
            if sender.send(Ok(full)).await.is_err() {
                reader_left = true;
                break;
            }
        }
    }
    drop(messages);
    if reader_left {
        // The rest of the COPY would have to be read before the connection
        // served again: close it instead.
        drop(tx);
        connection.close_on_drop();
        return Ok(());
    }
    tx.commit().await?;
    rows.finish()
        .map_err(|malformed| DomainError::Internal(malformed.to_string()))?;
    if !chunk.is_empty() {
        let _ = sender.send(Ok(chunk)).await;
    }
    Ok(())
}

const CSV_COLUMNS: [&str; 9] = [
    "id",
    "at",
    "actor",
    "action",
    "target",
    "outcome",
    "details",
    "client_address",
    "request_id",
];

fn csv_header() -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).expect("writing to memory");
    writer.into_inner().expect("writing to memory")
}
