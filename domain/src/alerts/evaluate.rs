//! What holds now: each enabled rule asked of the database, the open
//! alerts compared with it, an alert opened for what started to hold and
//! resolved for what stopped, each change's notifications written in the
//! same transaction. The transaction holds an advisory lock: one console
//! process evaluates at a time, so two processes never both open (or both
//! resolve) the same alert — one notification per change of state.

use std::collections::HashMap;

use serde_json::{json, Value};
use sqlx::PgConnection;

use super::{AlertEvent, AlertKind, AlertRule, Alerts};
use crate::advisory_locks::ALERTS_EVALUATION;
use crate::error::{DomainError, Result};

/// How often the rules are evaluated (as often as the shortest probe
/// interval allows a change).
pub const EVALUATED_EVERY: time::Duration = time::Duration::seconds(10);

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Alerts opened: (host, rule).
    pub opened: Vec<(i64, AlertKind)>,
    /// Alerts resolved: (host, rule).
    pub resolved: Vec<(i64, AlertKind)>,
}

impl Alerts {
    /// Evaluates every enabled rule now; opens and resolves alerts.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn evaluate(&self) -> Result<Changes> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", ALERTS_EVALUATION)
            .execute(&mut *tx)
            .await?;
        let mut holding: HashMap<(i64, AlertKind), Value> = HashMap::new();
        for rule in self.rules().await?.into_iter().filter(|rule| rule.enabled) {
            for (host_id, details) in holds(&mut tx, &rule).await? {
                holding.insert((host_id, rule.kind), details);
            }
        }
        let open = sqlx::query!("SELECT id, host_id, kind FROM alerts WHERE resolved_at IS NULL")
            .fetch_all(&mut *tx)
            .await?;
        let mut changes = Changes::default();
        for alert in open {
            let kind: AlertKind = alert
                .kind
                .parse()
                .map_err(|e| DomainError::Internal(format!("alert: {e}")))?;
            if holding.remove(&(alert.host_id, kind)).is_some() {
                continue;
            }
            sqlx::query!("UPDATE alerts SET resolved_at = now() WHERE id = $1", alert.id)
                .execute(&mut *tx)
                .await?;
            notify(&mut tx, alert.id, AlertEvent::Resolved).await?;
            changes.resolved.push((alert.host_id, kind));
        }
        for ((host_id, kind), details) in holding {
            let id = sqlx::query_scalar!(
                "INSERT INTO alerts (host_id, kind, details) VALUES ($1, $2, $3) RETURNING id",
                host_id,
                kind.as_str(),
                details,
            )
            .fetch_one(&mut *tx)
            .await?;
            notify(&mut tx, id, AlertEvent::Opened).await?;
            changes.opened.push((host_id, kind));
        }
        tx.commit().await?;
        if changes != Changes::default() {
            self.open.forget_all();
        }
        for (host_id, kind) in &changes.opened {
            tracing::warn!(host_id, kind = %kind, "an alert opened");
        }
        for (host_id, kind) in &changes.resolved {
            tracing::info!(host_id, kind = %kind, "an alert resolved");
        }
        Ok(changes)
    }
}

/// A notification of `event` for every channel.
async fn notify(tx: &mut PgConnection, alert_id: i64, event: AlertEvent) -> Result<()> {
    sqlx::query!(
        "INSERT INTO alert_notifications (alert_id, channel_id, event) SELECT $1, id, $2 FROM alert_channels",
        alert_id,
        event.as_str()
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The hosts for which `rule` holds now, each with the words and figures
/// of its message.
async fn holds(tx: &mut PgConnection, rule: &AlertRule) -> Result<Vec<(i64, Value)>> {
    let threshold = rule.threshold;
    let found: Vec<(i64, Value)> = match rule.kind {
        AlertKind::SiteDown => sqlx::query!(
            r#"SELECT h.id AS "host_id!", d.down AS "down!" FROM hosts h CROSS JOIN LATERAL (
                   SELECT count(*) AS down FROM probe_results r
                   WHERE r.host_id = h.id AND NOT r.up
                     AND r.at > coalesce((SELECT max(at) FROM probe_results u WHERE u.host_id = h.id AND u.up),
                                         '-infinity')) d
               WHERE d.down >= $1"#,
            i64::from(threshold)
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "probes": r.down })))
        .collect(),
        AlertKind::SiteSlow => sqlx::query!(
            r#"SELECT h.id AS "host_id!", n.latency_ms AS "latency_ms!" FROM hosts h CROSS JOIN LATERAL (
                   SELECT up, latency_ms FROM probe_results r WHERE r.host_id = h.id ORDER BY at DESC LIMIT 1) n
               WHERE n.up AND n.latency_ms > $1"#,
            threshold
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "latency_ms": r.latency_ms, "threshold_ms": threshold })))
        .collect(),
        AlertKind::CertificateExpiring => sqlx::query!(
            r#"SELECT h.id AS "host_id!", floor(extract(epoch FROM c.cert_expires_at - now()) / 86400)::bigint AS "days!"
               FROM hosts h CROSS JOIN LATERAL (
                   SELECT cert_expires_at FROM probe_results r
                   WHERE r.host_id = h.id AND r.cert_expires_at IS NOT NULL ORDER BY at DESC LIMIT 1) c
               WHERE c.cert_expires_at < now() + $1 * interval '1 day'"#,
            f64::from(threshold)
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "days": r.days })))
        .collect(),
        AlertKind::BackupFailed => sqlx::query!(
            r#"SELECT h.id AS "host_id!", b.id AS "backup_id!" FROM hosts h CROSS JOIN LATERAL (
                   SELECT id, status FROM backups
                   WHERE host_id = h.id AND status IN ('succeeded', 'failed', 'pruned')
                   ORDER BY started_at DESC LIMIT 1) b
               WHERE b.status = 'failed'"#
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "backup_id": r.backup_id })))
        .collect(),
        // Hosts backed up on a schedule: the newest good backup (or the
        // schedule itself, when none yet) older than the threshold.
        AlertKind::BackupOld => sqlx::query!(
            r#"SELECT s.host_id AS "host_id!",
                      floor(extract(epoch FROM now() - b.finished_at) / 3600)::bigint AS hours
               FROM backup_schedules s LEFT JOIN LATERAL (
                   SELECT max(finished_at) AS finished_at FROM backups
                   WHERE host_id = s.host_id AND status IN ('succeeded', 'pruned')) b ON true
               WHERE s.enabled AND coalesce(b.finished_at, s.updated_at) < now() - $1 * interval '1 hour'"#,
            f64::from(threshold)
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "hours": r.hours })))
        .collect(),
        AlertKind::WebServiceUnreachable => sqlx::query!(
            r#"SELECT c.host_id AS "host_id!", string_agg(s.name, ', ' ORDER BY s.name) AS "services!"
               FROM web_service_checks c JOIN web_services s ON s.id = c.service_id
               WHERE s.enabled AND c.host_id IS NOT NULL AND NOT c.reachable
                 AND c.failure IS DISTINCT FROM 'host-unreachable'
               GROUP BY c.host_id"#
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "services": r.services })))
        .collect(),
        // The free space the newest successful prerequisites check found
        // (its `disk_free_kib: N` line) under the threshold.
        AlertKind::DiskNearlyFull => sqlx::query!(
            r#"SELECT h.id AS "host_id!", d.free_kib AS "free_kib!" FROM hosts h CROSS JOIN LATERAL (
                   SELECT id FROM jobs WHERE host_id = h.id AND action = $2 AND status = 'succeeded'
                   ORDER BY id DESC LIMIT 1) j
               CROSS JOIN LATERAL (
                   SELECT substring(string_agg(o.lines, E'\n' ORDER BY o.first_seq) FROM 'disk_free_kib: ([0-9]+)')::bigint
                          AS free_kib
                   FROM job_output_chunks o WHERE o.job_id = j.id AND NOT o.stderr) d
               WHERE d.free_kib < $1::bigint * 1024"#,
            i64::from(threshold),
            crate::jobs::Runbook::CheckPrerequisites.action().as_str(),
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "free_mib": r.free_kib / 1024, "threshold_mib": threshold })))
        .collect(),
        // The Linode last seen (within 10 minutes) in another state than
        // running. While a power action runs on the host nothing changes:
        // a planned shutdown or reboot opens nothing, and an open alert
        // stays open through a boot until the instance runs.
        AlertKind::LinodeNotRunning => sqlx::query!(
            r#"SELECT s.host_id AS "host_id!", s.status AS "status!"
               FROM linode_states s JOIN host_linodes l ON l.host_id = s.host_id
               WHERE s.status <> 'running' AND s.read_at > now() - interval '10 minutes'
                 AND (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.host_id = s.host_id AND j.action LIKE 'linode.%'
                                                         AND j.status IN ('queued', 'running'))
                      OR EXISTS (SELECT 1 FROM alerts a WHERE a.host_id = s.host_id AND a.kind = $1
                                                          AND a.resolved_at IS NULL))"#,
            AlertKind::LinodeNotRunning.as_str()
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "status": r.status })))
        .collect(),
        AlertKind::HostKeyChanged => sqlx::query!(
            r#"SELECT id AS "host_id!", presented_fingerprint AS "fingerprint!" FROM hosts
               WHERE presented_fingerprint IS NOT NULL"#
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.host_id, json!({ "fingerprint": r.fingerprint })))
        .collect(),
    };
    Ok(found)
}
