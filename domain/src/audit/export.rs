//! The audit log as CSV, for the export link: the rows the page's filters
//! select, streamed in chunks so memory stays constant, with cells a
//! spreadsheet would run as formulas defused.

use futures::{Stream, StreamExt};

use super::search::{fetch_page, AuditCursor, AuditFilter, AuditRecord};
use super::AuditLog;
use crate::error::{DomainError, Result};

impl AuditLog {
    /// Every matching record, newest first, as CSV text in chunks: memory
    /// stays constant whatever the size of the log.
    #[tracing::instrument(skip(self))]
    pub fn export_csv(&self, filter: AuditFilter) -> impl Stream<Item = Result<Vec<u8>>> + Send + 'static {
        const CHUNK: u32 = 5_000;
        let pool = self.pool.clone();
        let header = futures::stream::once(async { Ok::<_, DomainError>(csv_header()) });
        let body = futures::stream::try_unfold(Some(None), move |state: Option<Option<AuditCursor>>| {
            let pool = pool.clone();
            let filter = filter.clone();
            async move {
                let Some(after) = state else { return Ok(None) };
                let records = fetch_page(&pool, &filter, after, CHUNK).await?;
                if records.is_empty() {
                    return Ok(None);
                }
                let next = (records.len() == CHUNK as usize)
                    .then(|| records.last().map(|r| AuditCursor { at: r.at, id: r.id }));
                let chunk = tokio::task::spawn_blocking(move || csv_rows(&records))
                    .await
                    .map_err(|e| DomainError::Internal(format!("csv task: {e}")))??;
                Ok(Some((chunk, next)))
            }
        });
        header.chain(body)
    }
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

fn csv_rows(records: &[AuditRecord]) -> Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(records.len() * 160));
    let format = time::format_description::well_known::Rfc3339;
    for r in records {
        let at = r.at.format(&format).map_err(|e| DomainError::Internal(e.to_string()))?;
        writer
            .write_record([
                r.id.to_string().as_str(),
                &at,
                &spreadsheet_safe(&r.actor),
                r.action.as_str(),
                &spreadsheet_safe(&r.target),
                r.outcome.as_str(),
                &spreadsheet_safe(&r.details.to_string()),
                r.client_address.as_deref().unwrap_or(""),
                r.request_id.as_deref().unwrap_or(""),
            ])
            .map_err(|e| DomainError::Internal(e.to_string()))?;
    }
    writer.into_inner().map_err(|e| DomainError::Internal(e.to_string()))
}

/// A cell a spreadsheet would take for a formula gets a leading quote.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_look_like_formulas_are_quoted() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(spreadsheet_safe("marie"), "marie");
    }
}
