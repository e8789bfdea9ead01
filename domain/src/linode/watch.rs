//! The Linodes watched: every linked host's instance state read from the
//! API once a minute — by one console process at a time, whatever their
//! number — and recorded with when it was read, as it is at the end of
//! every power action. The alert rule "Linode not running" reads the
//! record. A state that could not be read records nothing: an API out of
//! reach says nothing of the instance.

use std::time::Duration;

use time::OffsetDateTime;

use super::Linode;
use crate::advisory_locks::LINODE_WATCH;
use crate::error::Result;

/// How often each linked instance's state is read.
pub const WATCHED_EVERY: Duration = Duration::from_secs(60);

impl Linode {
    /// Resolves once the console's database closes (the console stops).
    pub fn stopped(&self) -> sqlx::pool::CloseEvent {
        self.pool.close_event()
    }

    /// Reads the states due (unless another process is reading them);
    /// returns when the next one is due (`None`: no instance linked).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn watch_due(&self) -> Result<Option<OffsetDateTime>> {
        let every = WATCHED_EVERY.as_secs_f64();
        let mut tx = self.pool.begin().await?;
        let reading = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#, LINODE_WATCH)
            .fetch_one(&mut *tx)
            .await?;
        if reading {
            let due = sqlx::query!(
                r#"SELECT l.host_id AS "host_id!", l.linode_id AS "linode_id!" FROM host_linodes l LEFT JOIN linode_states s ON s.host_id = l.host_id
                 WHERE s.read_at IS NULL OR s.read_at <= now() - $1 * interval '1 second'"#,
                every
            )
            .fetch_all(&mut *tx)
            .await?;
            for linked in due {
                match self.state(linked.linode_id).await? {
                    Ok(instance) => self.record_state(linked.host_id, instance.status.word()).await,
                    Err(error) => {
                        tracing::warn!(%error, host_id = linked.host_id, "a Linode's state could not be read")
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(sqlx::query_scalar!(
            r#"SELECT min(coalesce(s.read_at, '-infinity') + $1 * interval '1 second') AS "next"
               FROM host_linodes l LEFT JOIN linode_states s ON s.host_id = l.host_id"#,
            every
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Records the host's instance state as just read.
    pub(super) async fn record_state(&self, host_id: i64, status: &str) {
        let recorded = sqlx::query!(
            "INSERT INTO linode_states (host_id, status) VALUES ($1, $2)
             ON CONFLICT (host_id) DO UPDATE SET status = excluded.status, read_at = now()",
            host_id,
            status
        )
        .execute(&self.pool)
        .await;
        if let Err(error) = recorded {
            tracing::warn!(%error, host_id, "a Linode's state could not be recorded");
        }
    }
}
