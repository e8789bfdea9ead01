//! The probes due: every host has its probe settings (the defaults made
//! the first time), each with its next slot; a pass claims the slots due
//! (`FOR UPDATE SKIP LOCKED`), moves each to its next before probing, and
//! probes them at once. However many console processes pass at the same
//! time, each slot is probed once.

use time::OffsetDateTime;

use super::settings::ProbeSettings;
use super::SiteProbes;
use crate::error::Result;

/// How many slots one pass claims at most.
const CLAIMED_AT_MOST: i64 = 50;

impl SiteProbes {
    /// Resolves once the console's database closes (the console stops).
    pub fn stopped(&self) -> sqlx::pool::CloseEvent {
        self.pool.close_event()
    }

    /// Probes what is due now; returns when the next slot is due (`None`:
    /// nothing to probe).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn run_due(&self) -> Result<Option<OffsetDateTime>> {
        sqlx::query!("INSERT INTO site_probes (host_id) SELECT id FROM hosts ON CONFLICT (host_id) DO NOTHING")
            .execute(&self.pool)
            .await?;
        let due = sqlx::query_scalar!(
            "UPDATE site_probes SET next_at = now() + interval_s * interval '1 second'
             WHERE host_id IN (SELECT host_id FROM site_probes WHERE enabled AND next_at <= now()
                               ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING host_id",
            CLAIMED_AT_MOST
        )
        .fetch_all(&self.pool)
        .await?;
        let probes = due.into_iter().map(|host_id| async move {
            if let Err(error) = self.probe_now(host_id).await {
                tracing::error!(%error, host_id, "a site probe could not be recorded");
            }
        });
        futures::future::join_all(probes).await;
        self.forget_old().await?;
        Ok(
            sqlx::query_scalar!("SELECT min(next_at) FROM site_probes WHERE enabled")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Probes a host's site now and records the result.
    pub async fn probe_now(&self, host_id: i64) -> Result<super::ProbeOutcome> {
        let host = self.hosts.get(host_id).await?;
        let settings: ProbeSettings = self.settings(host_id).await?;
        let outcome = super::check::probe(&self.client, settings.url_on(&host), &settings).await;
        self.record(host_id, &outcome).await?;
        Ok(outcome)
    }
}
