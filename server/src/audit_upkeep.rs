//! The audit log's upkeep while the console serves: at every interval, the
//! summaries of repeated refusals whose minute is over, then a signed
//! checkpoint of the chain's head (in the data directory and the log); at
//! shutdown, every pending summary and a last checkpoint.

use std::time::Duration;

use domain::audit::{AuditLog, ChainStatus};

/// Runs the upkeep every `every`, for as long as the process lives.
pub fn spawn(audit: AuditLog, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            upkeep(&audit, domain::audit::repeats::WINDOW).await;
        }
    })
}

/// The last upkeep, before the database closes.
pub async fn at_shutdown(audit: &AuditLog) {
    upkeep(audit, Duration::ZERO).await;
}

async fn upkeep(audit: &AuditLog, repeats_older_than: Duration) {
    if let Err(error) = audit.flush_repeats(repeats_older_than).await {
        tracing::error!(%error, "could not write the summaries of repeated refusals");
    }
    match audit.checkpoint().await {
        Ok(ChainStatus::Intact { .. }) => {}
        Ok(ChainStatus::Broken { id, reason }) => {
            tracing::error!(
                id,
                ?reason,
                "the audit chain is BROKEN: no checkpoint signed; run verify-audit"
            );
        }
        Err(error) => tracing::error!(%error, "could not checkpoint the audit chain"),
    }
}
