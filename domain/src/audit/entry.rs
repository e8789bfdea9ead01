//! Writing one audit record: its content cleaned of control characters and
//! cut to a readable length, chained to the previous row under the chain's
//! lock, in the caller's transaction.

use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::chain;
use super::row_hash::{RecordContent, GENESIS, KEYED, PLAIN};
use super::{Actor, AuditAction, Outcome, Provenance};
use crate::error::{DomainError, Result};

/// Details strings longer than this are cut: the log records what happened,
/// not whatever an attacker pasted into a form.
const MAX_DETAIL_CHARS: usize = 200;

/// One audit record about to be written.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub(super) actor: Actor,
    pub(super) action: AuditAction,
    pub(super) target: String,
    pub(super) outcome: Outcome,
    pub(super) details: Map<String, Value>,
    pub(super) provenance: Provenance,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: AuditAction, target: &str, outcome: Outcome) -> Self {
        Self {
            actor,
            action,
            target: clean(target),
            outcome,
            details: Map::new(),
            provenance: Provenance::default(),
        }
    }

    /// Adds a detail. Never pass a secret: details are shown to every
    /// operator and exported. Strings are cut and stripped of control
    /// characters.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(clean(key), sanitize(value.into()));
        self
    }

    pub fn from(mut self, provenance: &Provenance) -> Self {
        self.provenance = Provenance {
            client_address: provenance.client_address.as_deref().map(clean),
            request_id: provenance.request_id.as_deref().map(clean),
            token: None,
        };
        match &provenance.token {
            Some(token) => self.detail("token", token.as_str()),
            None => self,
        }
    }

    /// Appends this record inside the caller's transaction, chained to the
    /// previous row.
    #[tracing::instrument(level = "debug", skip_all, fields(action = %self.action, target = %self.target, outcome = %self.outcome.as_str()))]
    pub async fn record(self, tx: &mut PgConnection) -> Result<()> {
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", crate::advisory_locks::AUDIT_CHAIN)
            .execute(&mut *tx)
            .await?;
        let previous = sqlx::query_scalar!("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let previous = previous.unwrap_or_else(|| GENESIS.to_vec());
        // A keyed chain takes keyed rows only; a database whose chain was
        // never keyed (no console started on it yet) takes plain ones.
        let key = match chain::chain_id(&mut *tx).await? {
            Some(chain_id) => Some(chain::unlocked(&chain_id).ok_or_else(|| {
                DomainError::Internal("the audit chain's key was not opened in this process (AuditLog::unlock)".into())
            })?),
            None => None,
        };
        let content = RecordContent {
            at: now_to_the_microsecond(),
            actor_id: self.actor.id(),
            actor: self.actor.name().to_owned(),
            action: self.action.as_str().to_owned(),
            target: self.target,
            outcome: self.outcome.as_str().to_owned(),
            details: Value::Object(self.details),
            client_address: self.provenance.client_address,
            request_id: self.provenance.request_id,
        };
        let (version, hash) = match &key {
            Some(key) => (KEYED, content.keyed_hash(&previous, key)),
            None => (PLAIN, content.chained_hash(&previous)),
        };
        sqlx::query!(
            "INSERT INTO audit_log
                (at, actor_id, actor, action, target, outcome, details, client_address, request_id, previous_hash, row_hash,
                 chain_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            content.at,
            content.actor_id,
            content.actor,
            content.action,
            content.target,
            content.outcome,
            content.details,
            content.client_address,
            content.request_id,
            previous,
            hash.as_slice(),
            version,
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Appends this record in a transaction of its own: for events that
    /// change nothing else.
    #[tracing::instrument(level = "debug", skip_all, fields(action = %self.action, target = %self.target))]
    pub async fn record_alone(self, pool: &PgPool) -> Result<()> {
        let mut tx = pool.begin().await?;
        self.record(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn now_to_the_microsecond() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .expect("a truncated nanosecond is valid")
}

/// Keeps printable text only (PostgreSQL refuses NUL bytes; control
/// characters have no place in a log) and cuts it to a readable length.
fn clean(raw: &str) -> String {
    let mut cleaned: String = raw.chars().filter(|c| !c.is_control()).take(MAX_DETAIL_CHARS).collect();
    if raw.chars().filter(|c| !c.is_control()).nth(MAX_DETAIL_CHARS).is_some() {
        cleaned.push('…');
    }
    cleaned
}

fn sanitize(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(clean(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitize).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (clean(&k), sanitize(v))).collect()),
        other => other,
    }
}

/// Whether `by` may act as `role`. When not, the refusal is recorded
/// (`action` on `target`, denied, with the caller's role) and returned:
/// the one way a capability refuses someone, audited.
pub async fn require_role(
    pool: &sqlx::PgPool,
    by: &crate::accounts::Operator,
    role: crate::accounts::Role,
    action: AuditAction,
    target: &str,
    provenance: &Provenance,
) -> crate::error::Result<()> {
    let Err(denied) = by.require(role) else {
        return Ok(());
    };
    AuditEntry::new(by.actor(), action, target, Outcome::Denied)
        .detail("role", by.role.as_str())
        .from(provenance)
        .record_alone(pool)
        .await?;
    Err(denied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_lose_nul_bytes_and_are_cut() {
        let entry = AuditEntry::new(Actor::Anonymous, AuditAction::SessionSignIn, "x", Outcome::Failure)
            .detail("username", format!("a\0b{}", "z".repeat(1_000_000)));
        let Value::String(kept) = &entry.details["username"] else {
            panic!()
        };
        assert!(kept.starts_with("abz"));
        assert_eq!(kept.chars().count(), MAX_DETAIL_CHARS + 1);
    }
}
