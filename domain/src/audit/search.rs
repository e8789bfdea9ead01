//! Reading the log as the audit page does: filters (operator, action,
//! target, outcome, time range, free text in the details), newest first,
//! one page at a time after a (time, id) cursor.

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;

use super::{AuditAction, AuditLog, Outcome};
use crate::error::{DomainError, Result};

/// One row of the audit log as staff read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: AuditAction,
    pub target: String,
    pub outcome: Outcome,
    pub details: Value,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
}

/// The action and the outcome are stored as their words (the rows are
/// hashed as stored and never rewritten) and read back into their types
/// here: a word no version of the console wrote is an error, not a default.
impl sqlx::FromRow<'_, PgRow> for AuditRecord {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            at: row.try_get("at")?,
            actor: row.try_get("actor")?,
            action: word(row, "action")?,
            target: row.try_get("target")?,
            outcome: word(row, "outcome")?,
            details: row.try_get("details")?,
            client_address: row.try_get("client_address")?,
            request_id: row.try_get("request_id")?,
        })
    }
}

fn word<T: std::str::FromStr<Err = vocabulary::UnknownWord>>(row: &PgRow, column: &str) -> sqlx::Result<T> {
    let word: &str = row.try_get(column)?;
    word.parse()
        .map_err(|unknown: vocabulary::UnknownWord| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: unknown.into(),
        })
}

/// What the audit page and the CSV export select. Empty fields select all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub target: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Free text searched for in the details.
    pub text: Option<String>,
}

/// Where the next page starts: the (time, id) of the last row shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: OffsetDateTime,
    pub id: i64,
}

impl AuditCursor {
    /// `"<microseconds since the epoch>.<id>"`, for URLs.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.unix_timestamp_nanos() / 1_000, self.id)
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let invalid = || DomainError::invalid("cursor", "error-cursor");
        let (micros, id) = raw.split_once('.').ok_or_else(invalid)?;
        let micros: i128 = micros.parse().map_err(|_| invalid())?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| invalid())?;
        Ok(Self {
            at,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// Present when older rows match the filter.
    pub next: Option<AuditCursor>,
}

const RECORD_COLUMNS: &str = "id, at, actor, action, target, outcome, details, client_address, request_id";

impl AuditLog {
    /// One page of matching records, newest first, starting after `after`.
    #[tracing::instrument(skip(self, after), fields(filtered_by_text = filter.text.is_some()))]
    pub async fn page(&self, filter: &AuditFilter, after: Option<AuditCursor>, limit: u32) -> Result<AuditPage> {
        let limit = limit.clamp(1, 500);
        let mut records = fetch_page(&self.pool, filter, after, limit + 1).await?;
        let next = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| AuditCursor { at: r.at, id: r.id })
        } else {
            None
        };
        Ok(AuditPage { records, next })
    }
}

pub(super) async fn fetch_page(
    pool: &PgPool,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> Result<Vec<AuditRecord>> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE true"));
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(action) = filter.action {
        query.push(" AND action = ").push_bind(action.as_str());
    }
    if let Some(target) = &filter.target {
        query.push(" AND target = ").push_bind(target.clone());
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(until) = filter.until {
        query.push(" AND at < ").push_bind(until);
    }
    if let Some(text) = &filter.text {
        query
            .push(" AND details::text ILIKE ")
            .push_bind(format!("%{}%", escape_like(text)));
    }
    if let Some(after) = after {
        query
            .push(" AND (at, id) < (")
            .push_bind(after.at)
            .push(", ")
            .push_bind(after.id)
            .push(")");
    }
    query
        .push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    Ok(query.build_query_as::<AuditRecord>().fetch(pool).try_collect().await?)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_url_form() {
        let cursor = AuditCursor {
            at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            id: 42,
        };
        assert_eq!(AuditCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(AuditCursor::decode("x.1").is_err());
    }
}
