//! The job feed: what changed in the jobs, announced by PostgreSQL
//! (`LISTEN job_changes`, see the migration that declares its triggers) and
//! fanned out to every viewer and runner in this process. One listening
//! connection per console process, whatever the number of viewers, and no
//! query while nothing happens; a change made by any console process
//! reaches every process at once.
//!
//! Notifications sent while the listening connection is down are lost: when
//! it is back, the feed says [`JobChange::Resync`] and everyone re-reads what
//! they follow from where they were (the output's last sequence number).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;

/// The channel the jobs tables' triggers notify on.
const CHANNEL: &str = "job_changes";
/// Changes kept for a slow subscriber; one that falls further behind is told
/// to re-read (a lag is a resync).
const BACKLOG: usize = 4096;
/// How long to wait before connecting again after the listener dropped.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// One change to the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobChange {
    /// Output lines up to `seq` were stored for `job`.
    Lines { job: i64, seq: i64 },
    /// The job's status changed or a cancel was asked.
    Job { job: i64 },
    /// Changes may have been missed: re-read everything followed.
    Resync,
}

impl JobChange {
    /// Reads a notification's payload (`line <job> <seq>` or `job <job>`).
    fn parse(payload: &str) -> Option<Self> {
        let mut words = payload.split(' ');
        let change = match (words.next()?, words.next()?.parse().ok()?) {
            ("line", job) => JobChange::Lines {
                job,
                seq: words.next()?.parse().ok()?,
            },
            ("job", job) => JobChange::Job { job },
            _ => return None,
        };
        words.next().is_none().then_some(change)
    }

    /// Whether someone following `job` should look again.
    pub fn concerns(self, job: i64) -> bool {
        match self {
            JobChange::Lines { job: changed, .. } | JobChange::Job { job: changed } => changed == job,
            JobChange::Resync => true,
        }
    }
}

/// The process's subscription point to the job changes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobFeed {
    pool: PgPool,
    sender: broadcast::Sender<JobChange>,
    listening: Arc<OnceLock<()>>,
}

/// A subscriber's end of the feed.
pub struct JobChanges {
    receiver: broadcast::Receiver<JobChange>,
}

impl JobChanges {
    /// The next change (a lag reads as [`JobChange::Resync`]); `None` once
    /// the console is stopping.
    pub async fn next(&mut self) -> Option<JobChange> {
        match self.receiver.recv().await {
            Ok(change) => Some(change),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(JobChange::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// Drops the changes already waiting (a follower about to read
    /// everything again needs none of them).
    pub fn skip_waiting(&mut self) {
        use broadcast::error::TryRecvError;
        while !matches!(
            self.receiver.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
    }

    /// Waits for a change that concerns `job`; `None` once the console is stopping.
    pub async fn next_for(&mut self, job: i64) -> Option<JobChange> {
        loop {
            let change = self.next().await?;
            if change.concerns(job) {
                return Some(change);
            }
        }
    }
}

impl JobFeed {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sender: broadcast::channel(BACKLOG).0,
            listening: Arc::new(OnceLock::new()),
        }
    }

    /// Subscribes to the changes from now on. The first subscription starts
    /// the process's listener, which lives until the pool closes.
    pub fn subscribe(&self) -> JobChanges {
        let receiver = self.sender.subscribe();
        self.listening.get_or_init(|| {
            tokio::spawn(listen(self.pool.clone(), self.sender.clone()));
        });
        JobChanges { receiver }
    }
}

/// Listens until the pool closes, connecting again whenever the connection
/// drops, and saying [`JobChange::Resync`] each time it is listening again.
async fn listen(pool: PgPool, sender: broadcast::Sender<JobChange>) {
    let closed = pool.close_event();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            () = &mut closed => return,
            ended = listen_until_dropped(&pool, &sender) => match ended {
                Ok(()) => tracing::warn!("the job feed's connection dropped; listening again"),
                Err(error) => tracing::warn!(%error, "the job feed cannot listen; trying again"),
            }
        }
        tokio::select! {
            () = &mut closed => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

/// One listening connection's life, until it drops (`Ok`) or fails.
async fn listen_until_dropped(pool: &PgPool, sender: &broadcast::Sender<JobChange>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // Whatever changed before this connection listened is re-read now.
    let _ = sender.send(JobChange::Resync);
    loop {
        match listener.try_recv().await? {
            Some(notification) => match JobChange::parse(notification.payload()) {
                Some(change) => {
                    let _ = sender.send(change);
                }
                None => tracing::warn!(payload = notification.payload(), "unknown job change"),
            },
            // The connection dropped: a new one listens, then resyncs.
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JobChange;

    #[test]
    fn a_notification_is_read_exactly_or_not_at_all() {
        assert_eq!(
            JobChange::parse("line 12 500"),
            Some(JobChange::Lines { job: 12, seq: 500 })
        );
        assert_eq!(JobChange::parse("job 12"), Some(JobChange::Job { job: 12 }));
        for wrong in ["", "line 12", "job x", "job 12 3", "status 12"] {
            assert_eq!(JobChange::parse(wrong), None, "{wrong}");
        }
        assert!(JobChange::Job { job: 12 }.concerns(12) && !JobChange::Job { job: 12 }.concerns(13));
        assert!(JobChange::Resync.concerns(1));
    }
}
