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
    /// Free text searched for in the details: its words, in this order and
    /// adjacent, the last one possibly cut short ("wrong user" finds "wrong
    /// username or password"), case and punctuation aside.
    pub text: Option<String>,
}

/// One condition of a filter, its value kept apart from the SQL text:
/// `before`, then the value (always text, cast in SQL where needed), then
/// `after`. The page binds the value, the CSV export sets it as a setting of
/// its transaction; both select the same rows.
pub(super) struct Condition {
    pub before: &'static str,
    pub value: String,
    pub after: &'static str,
}

impl AuditFilter {
    pub(super) fn conditions(&self) -> Vec<Condition> {
        let condition = |before, value: &str, after| Condition {
            before,
            value: value.to_owned(),
            after,
        };
        let time = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .expect("a time of the audit log has an RFC 3339 form")
        };
        let mut conditions = Vec::new();
        if let Some(actor) = &self.actor {
            conditions.push(condition("actor = ", actor, ""));
        }
        if let Some(action) = self.action {
            conditions.push(condition("action = ", action.as_str(), ""));
        }
        if let Some(target) = &self.target {
            conditions.push(condition("target = ", target, ""));
        }
        if let Some(outcome) = self.outcome {
            conditions.push(condition("outcome = ", outcome.as_str(), ""));
        }
        if let Some(from) = self.from {
            conditions.push(condition("at >= (", &time(from), ")::timestamptz"));
        }
        if let Some(until) = self.until {
            conditions.push(condition("at < (", &time(until), ")::timestamptz"));
        }
        if let Some(text) = &self.text {
            if text.chars().any(char::is_alphanumeric) {
                // The typed words as a phrase, the last a prefix, over the
                // words index (migration 20261126000101 says how words are
                // cut).
                conditions.push(condition("details_words @@ audit_words_query(", text, ")"));
            } else {
                // Nothing but punctuation (an "@", a "/"): no word to look
                // up, the details' text is scanned as before.
                conditions.push(condition(
                    "details::text ILIKE ",
                    &format!("%{}%", escape_like(text)),
                    "",
                ));
            }
        }
        conditions
    }
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
    // Not a checked `query!`: the filters are any combination of optional
    // conditions, and one fixed statement with `($n IS NULL OR ...)` for each
    // would be planned once for all of them and miss the indexes. The
    // values are bound, never pasted; only the fixed condition texts are.
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE true"));
    for condition in filter.conditions() {
        query
            .push(" AND ")
            .push(condition.before)
            .push_bind(condition.value)
            .push(condition.after);
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
    // Planned with the values at hand each time (an unnamed statement): a
    // plan cached for any word would not know whether it is rare or common.
    Ok(query
        .build_query_as::<AuditRecord>()
        .persistent(false)
        .fetch(pool)
        .try_collect()
        .await?)
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
