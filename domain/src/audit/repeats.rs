//! Repeated anonymous refusals (a cross-origin post, a throttled sign-in)
//! coalesced: an anonymous loop must not fill the audit log, nor queue every
//! request behind the chain's lock. Per client address, action and kind of
//! refusal, the first of a minute is written at once (`count` 1); the
//! repeats are only counted (one upsert, no chain lock) and written as one
//! summary row (`count` = the repeats) when the minute is over
//! ([`super::AuditLog::flush_repeats`], run by the console every few
//! seconds and at shutdown).

use sqlx::PgPool;
use time::OffsetDateTime;

use super::{Actor, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};

/// How long repeats are counted before their summary is written.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

impl AuditEntry {
    /// Records this refusal, or only counts it when the same client address
    /// had the same `kind` of refusal for the same action in the last minute.
    #[tracing::instrument(level = "debug", skip_all, fields(action = %self.action, kind = %kind))]
    pub async fn record_coalesced(self, pool: &PgPool, kind: &str) -> Result<()> {
        let source = self
            .provenance
            .client_address
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        let window = window_seconds();
        // A repeat inside the window: counted, nothing else.
        let counted = sqlx::query!(
            "UPDATE audit_repeats SET repeated = repeated + 1
             WHERE action = $1 AND source = $2 AND kind = $3
               AND window_start > now() - make_interval(secs => $4)",
            self.action.as_str(),
            source,
            kind,
            window,
        )
        .execute(pool)
        .await?
        .rows_affected();
        if counted > 0 {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        // First of a window, or the window is over: the old window's
        // summary, if it had repeats, then this refusal itself.
        let ended = sqlx::query!(
            "DELETE FROM audit_repeats
             WHERE action = $1 AND source = $2 AND kind = $3
               AND window_start <= now() - make_interval(secs => $4)
             RETURNING target, window_start, repeated",
            self.action.as_str(),
            source,
            kind,
            window,
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.target, row.window_start, row.repeated));
        // Another request may have opened the window meanwhile: then this
        // one is a repeat.
        let first = sqlx::query_scalar!(
            r#"INSERT INTO audit_repeats (action, source, kind, target, window_start)
             VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (action, source, kind) DO UPDATE SET repeated = audit_repeats.repeated + 1
             RETURNING xmax = 0 AS "first!""#,
            self.action.as_str(),
            source,
            kind,
            self.target,
        )
        .fetch_one(&mut *tx)
        .await?;
        if first {
            if let Some((target, since, repeated)) = ended.filter(|e| e.2 > 0) {
                summary(self.action, &source, kind, &target, since, repeated)
                    .record(&mut tx)
                    .await?;
            }
            self.detail("count", 1).record(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn window_seconds() -> f64 {
    WINDOW.as_secs_f64()
}

fn summary(
    action: AuditAction,
    source: &str,
    kind: &str,
    target: &str,
    since: OffsetDateTime,
    repeated: i32,
) -> AuditEntry {
    AuditEntry::new(Actor::Anonymous, action, target, Outcome::Denied)
        .detail("reason", kind)
        .detail("repeats_since", since.unix_timestamp())
        .detail("count", repeated)
        .from(&Provenance {
            client_address: Some(source.to_owned()),
            request_id: None,
            token: None,
        })
}

/// Writes the summary of every window older than `older_than` (all of them
/// with zero) and forgets those windows. Returns how many summaries were
/// written.
pub(crate) async fn flush(pool: &PgPool, older_than: std::time::Duration) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let ended = sqlx::query!(
        "DELETE FROM audit_repeats WHERE window_start <= now() - make_interval(secs => $1)
         RETURNING action, source, kind, target, window_start, repeated",
        older_than.as_secs_f64(),
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut written = 0;
    for ended in ended {
        if ended.repeated > 0 {
            let action = ended
                .action
                .parse()
                .map_err(|e| DomainError::Internal(format!("audit_repeats: {e}")))?;
            summary(
                action,
                &ended.source,
                &ended.kind,
                &ended.target,
                ended.window_start,
                ended.repeated,
            )
            .record(&mut tx)
            .await?;
            written += 1;
        }
    }
    tx.commit().await?;
    Ok(written)
}
