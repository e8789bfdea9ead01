//! Each alert rule, on or off, with its threshold. Every rule exists from
//! the start with a sensible threshold; admins change them (audited).

use super::{AlertKind, Alerts};
use crate::accounts::{Operator, Role};
use crate::audit::{require_role, AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use vocabulary::supervision::ThresholdUnit;

/// One rule as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    pub kind: AlertKind,
    pub enabled: bool,
    /// In the rule's unit ([`AlertKind::threshold_unit`]).
    pub threshold: i32,
    /// Who changed it last, and when (`None`: as installed).
    pub changed: Option<(String, time::OffsetDateTime)>,
}

/// The thresholds a rule's unit allows.
pub fn threshold_bounds(unit: ThresholdUnit) -> std::ops::RangeInclusive<i32> {
    match unit {
        ThresholdUnit::Probes => 1..=100,
        ThresholdUnit::Milliseconds => 100..=60_000,
        ThresholdUnit::Days => 1..=365,
        ThresholdUnit::Hours => 1..=720,
        ThresholdUnit::Mebibytes => 1..=1_048_576,
        ThresholdUnit::None => 1..=1,
    }
}

impl Alerts {
    /// Every rule, in the vocabulary's order.
    pub async fn rules(&self) -> Result<Vec<AlertRule>> {
        let rows = sqlx::query!("SELECT kind, enabled, threshold, changed_by, changed_at FROM alert_rules")
            .fetch_all(&self.pool)
            .await?;
        let mut rules = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: AlertKind = row
                .kind
                .parse()
                .map_err(|e| DomainError::Internal(format!("alert rule: {e}")))?;
            rules.push(AlertRule {
                kind,
                enabled: row.enabled,
                threshold: row.threshold,
                changed: row.changed_by.zip(row.changed_at),
            });
        }
        rules.sort_by_key(|rule| AlertKind::ALL.iter().position(|kind| *kind == rule.kind));
        Ok(rules)
    }

    /// Turns a rule on or off and sets its threshold (admins). Audited.
    #[tracing::instrument(skip(self, by, provenance), fields(by = %by.username))]
    pub async fn save_rule(
        &self,
        by: &Operator,
        provenance: &Provenance,
        kind: AlertKind,
        enabled: bool,
        threshold: i32,
    ) -> Result<()> {
        require_role(
            &self.pool,
            by,
            Role::Admin,
            AuditAction::AlertRule,
            kind.as_str(),
            provenance,
        )
        .await?;
        let unit = kind.threshold_unit();
        let threshold = if unit == ThresholdUnit::None { 1 } else { threshold };
        if !threshold_bounds(unit).contains(&threshold) {
            return Err(DomainError::invalid("threshold", "error-alert-threshold"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE alert_rules SET enabled = $2, threshold = $3, changed_by = $4, changed_at = now() WHERE kind = $1",
            kind.as_str(),
            enabled,
            threshold,
            by.username.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        AuditEntry::new(by.actor(), AuditAction::AlertRule, kind.as_str(), Outcome::Success)
            .detail("enabled", enabled)
            .detail("threshold", i64::from(threshold))
            .from(provenance)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
