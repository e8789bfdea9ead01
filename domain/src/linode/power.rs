//! Power (manual §5.1): boot, shut down, reboot — each a job on the host
//! (the host's lock: a second power action, a backup or a deploy while one
//! runs is refused) that asks the API, then follows the event the API
//! started to its end, its percent in the job's output, and reads the
//! instance's final state.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Connection, Event, EventAction, Linode, LinodeError};
use crate::accounts::Operator;
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::jobs::{JobContext, JobFailure, JobPlan, WorkOutcome};
use crate::ssh::Ended;

/// What an operator may ask of the instance's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Boot,
    Shutdown,
    Reboot,
}

impl PowerAction {
    /// The action as the page posts it (its audit word).
    pub fn parse(word: &str) -> Result<Self> {
        match word {
            "linode.boot" => Ok(Self::Boot),
            "linode.shutdown" => Ok(Self::Shutdown),
            "linode.reboot" => Ok(Self::Reboot),
            _ => Err(DomainError::invalid("action", "error-action-unknown")),
        }
    }

    pub fn audit(self) -> AuditAction {
        match self {
            Self::Boot => AuditAction::LinodeBoot,
            Self::Shutdown => AuditAction::LinodeShutdown,
            Self::Reboot => AuditAction::LinodeReboot,
        }
    }

    fn event(self) -> EventAction {
        match self {
            Self::Boot => EventAction::LinodeBoot,
            Self::Shutdown => EventAction::LinodeShutdown,
            Self::Reboot => EventAction::LinodeReboot,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Boot => "boot",
            Self::Shutdown => "shutdown",
            Self::Reboot => "reboot",
        }
    }
}

/// How long an event may take to appear once the API accepted the action.
const EVENT_APPEARS_WITHIN: Duration = Duration::from_secs(60);

impl Linode {
    /// Starts a power action on the host's Linode (operators and admins):
    /// a job, whose number this returns. A shutdown is refused while a
    /// backup or a restore runs on the host (it would cut it short).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref(), host_id, action = ?action))]
    pub async fn power(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host_id: i64,
        action: PowerAction,
    ) -> Result<i64> {
        let host = self.hosts.get(host_id).await?;
        let linode = self
            .of_host_row(host_id)
            .await?
            .ok_or(DomainError::invalid("linode", "error-linode-not-linked"))?;
        if action == PowerAction::Shutdown {
            if let Some((job, running)) = self.jobs.running_on(host_id).await? {
                if [AuditAction::BackupRun.as_str(), AuditAction::BackupRestore.as_str()].contains(&running.as_str()) {
                    AuditEntry::new(by.actor(), action.audit(), host.name.as_str(), Outcome::Denied)
                        .detail("reason", "a backup or a restore is running on this host")
                        .detail("running_job", job)
                        .detail("running_action", running)
                        .from(provenance)
                        .record_alone(&self.pool)
                        .await?;
                    return Err(DomainError::invalid("linode", "error-linode-shutdown-during-backup"));
                }
            }
        }
        let linode_api = self.clone();
        let plan = JobPlan {
            action: action.audit(),
            mutating: true,
            command_line: format!("POST /v4/linode/instances/{linode}/{}", action.verb()),
            details: vec![("linode", linode.to_string())],
            work: Box::new(move |job| Box::pin(async move { linode_api.power_work(job, linode, action).await })),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    async fn power_work(self, job: JobContext, linode: i64, action: PowerAction) -> WorkOutcome {
        let connection = self.job_connection(&job).await?;
        let (api, token) = (&connection.api, &connection.token);
        let ask = async {
            match action {
                PowerAction::Boot => api.boot(token, linode).await,
                PowerAction::Shutdown => api.shutdown(token, linode).await,
                PowerAction::Reboot => api.reboot(token, linode).await,
            }
        };
        if self
            .ask_and_follow(&job, &connection, linode, action.event(), ask)
            .await?
            .is_none()
        {
            return Ok(Ended::Cancelled);
        }
        self.read_final_state(&job, &connection, linode).await;
        Ok(Ended::Exited(Some(0)))
    }

    /// The connection a job's API calls use; says so in the job's output
    /// when it is the simulator.
    pub(super) async fn job_connection(&self, job: &JobContext) -> std::result::Result<Connection, JobFailure> {
        let (connection, simulated) = self.connection().await.map_err(|e| unavailable(&e))?;
        if simulated {
            job.say("Linode simulé (no token stored: the console's local double of the API)".into())
                .await;
        }
        Ok(connection)
    }

    /// Asks the API for an action (`ask`), then follows the event `action`
    /// it starts on instance `linode` to its end. `None` when the job was
    /// cancelled meanwhile (the API's action goes on: it cannot be called
    /// back); an event that ends `failed` fails the job with its message.
    pub(super) async fn ask_and_follow(
        &self,
        job: &JobContext,
        connection: &Connection,
        linode: i64,
        action: EventAction,
        ask: impl std::future::Future<Output = std::result::Result<(), LinodeError>>,
    ) -> std::result::Result<Option<Event>, JobFailure> {
        // The API's clock and ours may differ by a little: the event is
        // looked for from a minute before.
        let since = OffsetDateTime::now_utc() - Duration::from_secs(60);
        ask.await.map_err(|e| of_linode(&e))?;
        job.say(format!("{} accepted by the Linode API", action.word())).await;
        // The pages show the state the action put the instance in at once
        // (rebooting, shutting down…), not the one remembered before it.
        self.read_final_state(job, connection, linode).await;
        let Some(event) = self.follow_event(job, connection, linode, &action, since).await? else {
            job.say("no longer followed: the action goes on at Linode".into()).await;
            return Ok(None);
        };
        if event.status == super::EventStatus::Failed {
            return Err(JobFailure::LinodeActionFailed {
                reason: event.message.unwrap_or_else(|| event.action.word().to_owned()),
            });
        }
        Ok(Some(event))
    }

    /// Reads the instance's state, says it in the job's output and has the
    /// pages show it.
    pub(super) async fn read_final_state(&self, job: &JobContext, connection: &Connection, linode: i64) {
        let state = connection.api.instance(&connection.token, linode).await;
        if let Ok(instance) = &state {
            job.say(format!("state: {}", instance.status.word())).await;
            self.record_state(job.host.id, instance.status.word()).await;
        }
        self.states.remember(linode, state);
    }

    /// Finds the event `action` the job just started on instance `linode`
    /// and follows it to its end, each new percent in the job's output.
    /// `None` when the job was cancelled meanwhile (the API's action goes
    /// on: it cannot be called back).
    pub(super) async fn follow_event(
        &self,
        job: &JobContext,
        connection: &Connection,
        linode: i64,
        action: &EventAction,
        since: OffsetDateTime,
    ) -> std::result::Result<Option<Event>, JobFailure> {
        let looking_since = std::time::Instant::now();
        let mut event = loop {
            let found = connection
                .api
                .latest_event(&connection.token, linode, action, since)
                .await
                .map_err(|e| of_linode(&e))?;
            if let Some(event) = found {
                break event;
            }
            if looking_since.elapsed() > EVENT_APPEARS_WITHIN {
                return Err(JobFailure::LinodeUnavailable {
                    reason: format!(
                        "no {} event appeared within {} s",
                        action.word(),
                        EVENT_APPEARS_WITHIN.as_secs()
                    ),
                });
            }
            if !self.pause(job).await {
                return Ok(None);
            }
        };
        let mut said = None;
        loop {
            let progress = (event.status, event.percent_complete);
            if said != Some(progress) {
                let percent = event.percent_complete.map(|p| format!(" · {p} %")).unwrap_or_default();
                job.say(format!(
                    "event {} {}: {}{percent}",
                    event.id,
                    event.action.word(),
                    event.status.word()
                ))
                .await;
                said = Some(progress);
            }
            if event.status.ended() {
                return Ok(Some(event));
            }
            if !self.pause(job).await {
                return Ok(None);
            }
            event = connection
                .api
                .event(&connection.token, event.id)
                .await
                .map_err(|e| of_linode(&e))?;
        }
    }

    /// Waits one polling interval; `false` when the job was cancelled.
    async fn pause(&self, job: &JobContext) -> bool {
        tokio::select! {
            () = tokio::time::sleep(self.poll) => true,
            () = job.cancelled() => false,
        }
    }

    pub(super) async fn of_host_row(&self, host_id: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar!("SELECT linode_id FROM host_linodes WHERE host_id = $1", host_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

/// Why a job's API call failed, as the job page says it: the API's own
/// words when it refused, else why it could not be used.
pub(super) fn of_linode(error: &LinodeError) -> JobFailure {
    tracing::warn!(%error, "a Linode API call failed");
    match error {
        LinodeError::Refused { .. } | LinodeError::NotFound { .. } => JobFailure::LinodeRefused {
            reason: error.to_string(),
        },
        other => JobFailure::LinodeUnavailable {
            reason: other.to_string(),
        },
    }
}

fn unavailable(error: &DomainError) -> JobFailure {
    match error {
        DomainError::Linode(linode) => of_linode(linode),
        other => {
            tracing::error!(%other, "the Linode token could not be read");
            JobFailure::Internal
        }
    }
}
