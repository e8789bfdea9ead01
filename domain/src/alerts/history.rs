//! The alerts as the page lists them (open first, then the newest
//! resolved), each with where its notifications went; acknowledged by an
//! operator (who, when; audited); open alerts on `/metrics`.

use serde_json::Value;
use time::OffsetDateTime;

use super::{AlertEvent, AlertKind, Alerts, DeliveryFailure};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};

/// How many alerts the history shows.
const LISTED: i64 = 100;

/// One notification of an alert, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub channel: String,
    pub event: AlertEvent,
    pub sent_at: Option<OffsetDateTime>,
    pub attempts: i32,
    pub failure: Option<DeliveryFailure>,
    pub given_up: bool,
}

/// One alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub kind: AlertKind,
    pub details: Value,
    pub opened_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub acknowledged: Option<(String, OffsetDateTime)>,
    pub deliveries: Vec<Delivery>,
}

impl AlertRecord {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

fn word<T: std::str::FromStr<Err = vocabulary::UnknownWord>>(raw: &str) -> Result<T> {
    raw.parse().map_err(|e| DomainError::Internal(format!("alerts: {e}")))
}

impl Alerts {
    /// The open alerts, then the newest resolved ones.
    pub async fn history(&self) -> Result<Vec<AlertRecord>> {
        let rows = sqlx::query!(
            "SELECT a.id, a.host_id, h.name, a.kind, a.details, a.opened_at, a.resolved_at, a.acknowledged_by,
                    a.acknowledged_at
             FROM alerts a JOIN hosts h ON h.id = a.host_id
             ORDER BY a.resolved_at IS NULL DESC, a.opened_at DESC LIMIT $1",
            LISTED
        )
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let sent = sqlx::query!(
            "SELECT n.alert_id, c.name, n.event, n.sent_at, n.attempts, n.failure, n.given_up
             FROM alert_notifications n JOIN alert_channels c ON c.id = n.channel_id
             WHERE n.alert_id = ANY($1) ORDER BY n.id",
            &ids
        )
        .fetch_all(&self.pool)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let mut deliveries = Vec::new();
            for n in sent.iter().filter(|n| n.alert_id == row.id) {
                deliveries.push(Delivery {
                    channel: n.name.clone(),
                    event: word(&n.event)?,
                    sent_at: n.sent_at,
                    attempts: n.attempts,
                    failure: n.failure.as_deref().map(word).transpose()?,
                    given_up: n.given_up,
                });
            }
            records.push(AlertRecord {
                id: row.id,
                host_id: row.host_id,
                host_name: row.name,
                kind: word(&row.kind)?,
                details: row.details,
                opened_at: row.opened_at,
                resolved_at: row.resolved_at,
                acknowledged: row.acknowledged_by.zip(row.acknowledged_at),
                deliveries,
            });
        }
        Ok(records)
    }

    /// How many alerts are open (the home page), read at most every few
    /// seconds.
    pub async fn open_count(&self) -> Result<i64> {
        self.open
            .get((), || async {
                Ok(
                    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM alerts WHERE resolved_at IS NULL"#)
                        .fetch_one(&self.pool)
                        .await?,
                )
            })
            .await
    }

    /// An operator says they have seen an open alert and deal with it.
    /// Audited; an alert already acknowledged or resolved is left as it is.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn acknowledge(&self, by: &Operator, provenance: &Provenance, alert_id: i64) -> Result<()> {
        let alert = sqlx::query!(
            "SELECT h.name, a.kind FROM alerts a JOIN hosts h ON h.id = a.host_id WHERE a.id = $1",
            alert_id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DomainError::NotFound("alert"))?;
        let action = AuditAction::AlertAcknowledge;
        require_role(&self.pool, by, Role::Operator, action, &alert.name, provenance).await?;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query!(
            "UPDATE alerts SET acknowledged_by = $2, acknowledged_at = now()
             WHERE id = $1 AND resolved_at IS NULL AND acknowledged_by IS NULL",
            alert_id,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(DomainError::invalid("alert", "error-alert-not-open"));
        }
        AuditEntry::new(by.actor(), action, &alert.name, Outcome::Success)
            .detail("alert", alert_id)
            .detail("kind", alert.kind)
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The open alerts in Prometheus's text format (`ocpizza_alert_open`,
    /// one series per host and rule that holds), read from the database.
    pub async fn metrics(&self) -> Result<String> {
        use std::fmt::Write;
        let rows = sqlx::query!(
            "SELECT h.name, a.kind FROM alerts a JOIN hosts h ON h.id = a.host_id
             WHERE a.resolved_at IS NULL ORDER BY h.name, a.kind"
        )
        .fetch_all(&self.pool)
        .await?;
        let mut text = String::from(
            "# HELP ocpizza_alert_open An alert open on the host for the rule (1).\n# TYPE ocpizza_alert_open gauge\n",
        );
        for row in rows {
            let host = row.name.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(text, "ocpizza_alert_open{{host=\"{host}\",rule=\"{}\"}} 1", row.kind);
        }
        Ok(text)
    }
}
