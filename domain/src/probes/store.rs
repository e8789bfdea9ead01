//! Probe results in (raw, and added to their hour), the site's health and
//! history out, and what is older than kept goes (raw after 48 hours, the
//! hours after 30 days).

use time::{Duration, OffsetDateTime};

use super::{ProbeFailure, ProbeOutcome, SiteProbes};
use crate::error::Result;

/// Raw results are kept this long (the 24-hour chart and uptime).
pub const RAW_KEPT: Duration = Duration::hours(48);
/// Hourly results are kept this long (uptime over 7 and 30 days).
pub const HOURS_KEPT: Duration = Duration::days(30);

/// The share of probes that found the site up over a period, in percent
/// (`None`: no probe in that period).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Uptime {
    pub day: Option<f64>,
    pub week: Option<f64>,
    pub month: Option<f64>,
}

/// One point of the latency history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyPoint {
    pub at: OffsetDateTime,
    pub latency_ms: i32,
    pub up: bool,
}

/// A host's site as the probes saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteHealth {
    pub host_id: i64,
    /// The newest result (`None`: never probed yet).
    pub last: Option<ProbeOutcome>,
    /// How many probes in a row found it down, up to the newest.
    pub down_in_a_row: i64,
    pub uptime: Uptime,
    /// The certificate's end of validity, as last seen.
    pub cert_expires_at: Option<OffsetDateTime>,
    /// The last 24 hours, oldest first.
    pub history: Vec<LatencyPoint>,
}

impl SiteHealth {
    /// Whole days left on the site's certificate (negative: expired).
    pub fn cert_days_left(&self, now: OffsetDateTime) -> Option<i64> {
        self.cert_expires_at.map(|end| (end - now).whole_days())
    }
}

impl SiteProbes {
    /// Stores a result, raw and in its hour.
    pub(super) async fn record(&self, host_id: i64, outcome: &ProbeOutcome) -> Result<()> {
        let latency_ms = i32::try_from(outcome.latency.as_millis()).unwrap_or(i32::MAX);
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO probe_results (host_id, at, up, status, latency_ms, failure, cert_expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            host_id,
            outcome.at,
            outcome.up,
            outcome.status.map(i32::from),
            latency_ms,
            outcome.failure.map(|f| f.as_str()),
            outcome.cert_expires_at,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO probe_hours (host_id, hour, probes, up, latency_sum_ms, latency_max_ms)
             VALUES ($1, date_trunc('hour', $2::timestamptz), 1, $3::integer, $4::integer, $4::integer)
             ON CONFLICT (host_id, hour) DO UPDATE SET probes = probe_hours.probes + 1,
                 up = probe_hours.up + $3::integer, latency_sum_ms = probe_hours.latency_sum_ms + $4::integer,
                 latency_max_ms = greatest(probe_hours.latency_max_ms, $4::integer)",
            host_id,
            outcome.at,
            i32::from(outcome.up),
            latency_ms,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // This process's home page shows it at once (others within
        // SITES_FRESH).
        self.every_site.forget_all();
        Ok(())
    }

    /// Removes what is older than kept.
    pub(super) async fn forget_old(&self) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        sqlx::query!("DELETE FROM probe_results WHERE at < $1", now - RAW_KEPT)
            .execute(&self.pool)
            .await?;
        sqlx::query!("DELETE FROM probe_hours WHERE hour < $1", now - HOURS_KEPT)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest result of every host's site in Prometheus's text format
    /// (`ocpizza_site_up`, `ocpizza_site_latency_seconds`,
    /// `ocpizza_site_certificate_days_left`), read from the database so
    /// that every console process answers the same.
    pub async fn metrics(&self) -> Result<String> {
        use std::fmt::Write;
        let rows = sqlx::query!(
            r#"SELECT DISTINCT ON (r.host_id) h.name, r.up, r.latency_ms, r.cert_expires_at
               FROM probe_results r JOIN hosts h ON h.id = r.host_id
               ORDER BY r.host_id, r.at DESC"#
        )
        .fetch_all(&self.pool)
        .await?;
        let now = OffsetDateTime::now_utc();
        let mut text = String::new();
        let mut family = |name: &str, help: &str, values: &mut dyn Iterator<Item = (&str, f64)>| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (host, value) in values {
                let host = host.replace('\\', "\\\\").replace('"', "\\\"");
                let _ = writeln!(text, "{name}{{host=\"{host}\"}} {value}");
            }
        };
        family(
            "ocpizza_site_up",
            "Whether the newest probe found the host's site up (1) or down (0).",
            &mut rows.iter().map(|r| (r.name.as_str(), f64::from(u8::from(r.up)))),
        );
        family(
            "ocpizza_site_latency_seconds",
            "How long the newest probe of the host's site took.",
            &mut rows.iter().map(|r| (r.name.as_str(), f64::from(r.latency_ms) / 1000.0)),
        );
        family(
            "ocpizza_site_certificate_days_left",
            "Days left before the host's site's certificate expires (https sites).",
            &mut rows.iter().filter_map(|r| {
                r.cert_expires_at
                    .map(|end| (r.name.as_str(), (end - now).whole_days() as f64))
            }),
        );
        Ok(text)
    }

    /// A host's site as the probes saw it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn health(&self, host_id: i64) -> Result<SiteHealth> {
        let now = OffsetDateTime::now_utc();
        let rows = sqlx::query!(
            "SELECT at, up, status, latency_ms, failure, cert_expires_at FROM probe_results
             WHERE host_id = $1 AND at > $2 ORDER BY at",
            host_id,
            now - Duration::hours(24),
        )
        .fetch_all(&self.pool)
        .await?;
        let newest = sqlx::query!(
            "SELECT at, up, status, latency_ms, failure, cert_expires_at FROM probe_results
             WHERE host_id = $1 ORDER BY at DESC LIMIT 1",
            host_id
        )
        .fetch_optional(&self.pool)
        .await?;
        let down_in_a_row = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM probe_results
               WHERE host_id = $1 AND NOT up
                 AND at > coalesce((SELECT max(at) FROM probe_results WHERE host_id = $1 AND up), '-infinity')"#,
            host_id
        )
        .fetch_one(&self.pool)
        .await?;
        let hours = sqlx::query!(
            r#"SELECT coalesce(sum(up) FILTER (WHERE hour >= $2), 0)::float8 AS "week_up!",
                      coalesce(sum(probes) FILTER (WHERE hour >= $2), 0)::float8 AS "week!",
                      coalesce(sum(up), 0)::float8 AS "month_up!",
                      coalesce(sum(probes), 0)::float8 AS "month!"
               FROM probe_hours WHERE host_id = $1 AND hour >= $3"#,
            host_id,
            now - Duration::days(7),
            now - Duration::days(30),
        )
        .fetch_one(&self.pool)
        .await?;
        let share = |up: f64, all: f64| (all > 0.0).then(|| 100.0 * up / all);
        let day_up = rows.iter().filter(|r| r.up).count() as f64;
        let last = newest.map(|r| ProbeOutcome {
            at: r.at,
            up: r.up,
            status: r.status.and_then(|s| u16::try_from(s).ok()),
            latency: std::time::Duration::from_millis(u64::try_from(r.latency_ms).unwrap_or(0)),
            failure: r.failure.as_deref().and_then(|f| match f.parse::<ProbeFailure>() {
                Ok(failure) => Some(failure),
                Err(error) => {
                    tracing::error!(%error, "a stored probe failure is not a known word");
                    None
                }
            }),
            cert_expires_at: r.cert_expires_at,
        });
        Ok(SiteHealth {
            host_id,
            cert_expires_at: last.as_ref().and_then(|l| l.cert_expires_at),
            last,
            down_in_a_row,
            uptime: Uptime {
                day: share(day_up, rows.len() as f64),
                week: share(hours.week_up, hours.week),
                month: share(hours.month_up, hours.month),
            },
            history: rows
                .into_iter()
                .map(|r| LatencyPoint {
                    at: r.at,
                    latency_ms: r.latency_ms,
                    up: r.up,
                })
                .collect(),
        })
    }
}
