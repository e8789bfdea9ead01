//! Background work done when due (the backup schedules, the site probes,
//! the alerts): each console process runs a pass when the next piece of
//! work is due (at most `CONSOLE_SCHEDULER_SECONDS` apart); the database
//! makes sure each piece runs once across every process (see
//! `domain::backups::schedule`, `domain::probes::schedule` and
//! `domain::alerts`). A job ending wakes the site probes at once: a job
//! that acted on a host's site made its probe due (see the migration
//! `home_page_live`), so what it did to the site is known right away.

use std::future::Future;
use std::time::Duration;

/// Runs `pass` until `stopped` resolves (the console's database closed):
/// each pass does what is due and says when the next piece is.
pub fn every_due<P, F>(
    what: &'static str,
    stopped: sqlx::pool::CloseEvent,
    longest_sleep: Duration,
    pass: P,
) -> tokio::task::JoinHandle<()>
where
    P: Fn() -> F + Send + 'static,
    F: Future<Output = domain::error::Result<Option<time::OffsetDateTime>>> + Send,
{
    tokio::spawn(async move {
        tokio::pin!(stopped);
        loop {
            let sleep = match pass().await {
                Ok(Some(next)) => {
                    let wait = next - time::OffsetDateTime::now_utc();
                    Duration::try_from(wait).unwrap_or(Duration::ZERO).min(longest_sleep)
                }
                Ok(None) => longest_sleep,
                Err(error) => {
                    tracing::error!(%error, what, "background work could not look at what is due");
                    longest_sleep
                }
            };
            // Never spin: what is due now was done by the pass above.
            tokio::select! {
                () = tokio::time::sleep(sleep.max(Duration::from_millis(200))) => {}
                () = &mut stopped => return,
            }
        }
    })
}

/// Probes what is due whenever a job's status changes (a job that acted
/// on a site made its probe due as it ended), until the console stops.
/// Every process may wake: each due probe is still run once.
pub fn probe_after_jobs(
    probes: domain::probes::SiteProbes,
    jobs: &domain::jobs::JobRunner,
) -> tokio::task::JoinHandle<()> {
    let mut changes = jobs.changes();
    tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            if matches!(change, domain::jobs::JobChange::Lines { .. }) {
                continue;
            }
            if let Err(error) = probes.run_due().await {
                tracing::error!(%error, "the site probes due after a job could not run");
            }
        }
    })
}
