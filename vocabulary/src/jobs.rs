//! Jobs: where a job stands (its status), why it failed (a code with safe
//! parameters, translated by the interface), and what the live output
//! stream (`GET /jobs/{id}/events`) sends.

use serde::{Deserialize, Serialize};

crate::words! {
    /// Where a job stands: queued → running → succeeded / failed /
    /// cancelled / interrupted.
    pub enum JobStatus as "job status" {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        /// The console running it stopped before it finished.
        Interrupted = "interrupted",
    }
}

crate::words! {
    /// A step of a job made of steps (a deploy, a rollback), in the order
    /// it may run. A step's name is its translation key's end (`step-…`).
    pub enum StepName as "job step" {
        /// `git fetch`: the remote's branches as they are now.
        Fetch = "fetch",
        /// `git checkout` the branch or the commit.
        Checkout = "checkout",
        /// `git pull --ff-only`: the branch's newest commit.
        Pull = "pull",
        /// `manage.py migrate --check`: whether migrations are pending.
        PendingMigrations = "pending-migrations",
        /// A backup of the app's database before it changes.
        Backup = "backup",
        /// `pip install -r requirements.txt`, when the file changed.
        Requirements = "requirements",
        /// `manage.py migrate`.
        Migrate = "migrate",
        /// `manage.py collectstatic`.
        CollectStatic = "collectstatic",
        /// Gunicorn restarted.
        RestartWsgi = "restart-wsgi",
        /// The site answers with the expected status within the time limit.
        HealthGate = "health-gate",
        /// The app's `.env` file written on the host.
        WriteEnv = "write-env",
    }
}

crate::words! {
    /// Where a step stands: pending → running → succeeded / failed, or
    /// skipped (not needed, or an earlier step failed).
    pub enum StepStatus as "step status" {
        Pending = "pending",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Skipped = "skipped",
    }
}

/// One step of a job made of steps, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobStep {
    pub name: StepName,
    pub status: StepStatus,
    /// How long it ran, once it ended.
    pub millis: Option<i64>,
}

impl JobStatus {
    /// Whether the job is over (it will not change again).
    pub fn finished(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// Why a job did not succeed, in words a staff member can act on. It is
/// stored with the job and sent to the browser as a code with safe
/// parameters; the interface translates it ([`JobFailure::message_key`]).
/// What the libraries said (SSH, the secret store, the database) goes to the
/// console's log with the job's number, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "kebab-case", deny_unknown_fields)]
pub enum JobFailure {
    /// An operator cancelled it.
    Cancelled,
    /// The console running it stopped before it finished.
    ConsoleStopped,
    /// The command ended with a non-zero exit status (the job's exit status).
    CommandFailed,
    /// The command ended without an exit status (killed on the host?).
    NoExitStatus,
    /// `sudo` asked for a password: `line` is what to add to the host's
    /// sudoers (the SSH user and the console's `systemctl` commands).
    SudoWantsPassword { line: String },
    /// The host does not answer on its SSH port.
    HostUnreachable,
    /// The host did not answer in time.
    HostTimedOut,
    /// The host presented another key than the pinned one.
    HostKeyChanged,
    /// The host refused the console's key for this user.
    KeyRefused,
    /// The SSH connection was lost.
    ConnectionLost,
    /// The host's stored private key cannot be read or used.
    PrivateKeyUnusable,
    /// The console itself failed (its log says why, with the job's number).
    Internal,
    /// The backup storage refused to keep the backup (full, unwritable).
    StorageFailed,
    /// The stored backup is not the one catalogued (its checksum differs):
    /// nothing was restored.
    BackupTampered,
    /// The backup cannot be opened with the console's keys.
    BackupUnreadable,
    /// No scratch database server to verify backups in (not configured, or
    /// it refused the console).
    ScratchUnavailable,
    /// The backup did not restore into the scratch database.
    VerifyFailed,
    /// The Linode API could not be used: no token, a token refused, out of
    /// reach, or still refusing after its retries. `reason` is the
    /// client's account of it (the API's own words when it gave some).
    LinodeUnavailable { reason: String },
    /// The Linode API refused the action: `reason` is the API's own words
    /// (`Linode busy.`, a field's complaint).
    LinodeRefused { reason: String },
    /// The Linode event the action started ended `failed`.
    LinodeActionFailed { reason: String },
    /// A step of a job made of steps failed (its output says how); the
    /// steps after it did not run.
    StepFailed { step: StepName },
    /// The site did not answer `url` with the expected status within the
    /// time limit after a deploy.
    HealthGateFailed { url: String },
}

impl JobFailure {
    /// The translation key of the sentence shown to staff.
    pub fn message_key(&self) -> &'static str {
        match self {
            JobFailure::Cancelled => "job-failure-cancelled",
            JobFailure::ConsoleStopped => "job-failure-console-stopped",
            JobFailure::CommandFailed => "job-failure-command-failed",
            JobFailure::NoExitStatus => "job-failure-no-exit-status",
            JobFailure::SudoWantsPassword { .. } => "job-failure-sudo-password",
            JobFailure::HostUnreachable => "error-ssh-unreachable",
            JobFailure::HostTimedOut => "error-ssh-timeout",
            JobFailure::HostKeyChanged => "error-ssh-host-key-changed",
            JobFailure::KeyRefused => "error-ssh-auth",
            JobFailure::ConnectionLost => "error-ssh-lost",
            JobFailure::PrivateKeyUnusable => "job-failure-private-key",
            JobFailure::Internal => "job-failure-internal",
            JobFailure::StorageFailed => "job-failure-storage",
            JobFailure::BackupTampered => "job-failure-backup-tampered",
            JobFailure::BackupUnreadable => "job-failure-backup-unreadable",
            JobFailure::ScratchUnavailable => "job-failure-scratch-unavailable",
            JobFailure::VerifyFailed => "job-failure-verify-failed",
            JobFailure::LinodeUnavailable { .. } => "job-failure-linode-unavailable",
            JobFailure::LinodeRefused { .. } => "job-failure-linode-refused",
            JobFailure::LinodeActionFailed { .. } => "job-failure-linode-action-failed",
            JobFailure::StepFailed { .. } => "job-failure-step-failed",
            JobFailure::HealthGateFailed { .. } => "job-failure-health-gate",
        }
    }

    /// The sentence's named arguments.
    pub fn arguments(&self) -> Vec<(&'static str, String)> {
        match self {
            JobFailure::SudoWantsPassword { line } => vec![("line", line.clone())],
            JobFailure::LinodeUnavailable { reason }
            | JobFailure::LinodeRefused { reason }
            | JobFailure::LinodeActionFailed { reason } => vec![("reason", reason.clone())],
            JobFailure::StepFailed { step } => vec![("step", step.as_str().to_owned())],
            JobFailure::HealthGateFailed { url } => vec![("url", url.clone())],
            _ => Vec::new(),
        }
    }

    /// The code alone, as it is stored and as the audit log records it.
    pub fn code(&self) -> &'static str {
        match self {
            JobFailure::Cancelled => "cancelled",
            JobFailure::ConsoleStopped => "console-stopped",
            JobFailure::CommandFailed => "command-failed",
            JobFailure::NoExitStatus => "no-exit-status",
            JobFailure::SudoWantsPassword { .. } => "sudo-wants-password",
            JobFailure::HostUnreachable => "host-unreachable",
            JobFailure::HostTimedOut => "host-timed-out",
            JobFailure::HostKeyChanged => "host-key-changed",
            JobFailure::KeyRefused => "key-refused",
            JobFailure::ConnectionLost => "connection-lost",
            JobFailure::PrivateKeyUnusable => "private-key-unusable",
            JobFailure::Internal => "internal",
            JobFailure::StorageFailed => "storage-failed",
            JobFailure::BackupTampered => "backup-tampered",
            JobFailure::BackupUnreadable => "backup-unreadable",
            JobFailure::ScratchUnavailable => "scratch-unavailable",
            JobFailure::VerifyFailed => "verify-failed",
            JobFailure::LinodeUnavailable { .. } => "linode-unavailable",
            JobFailure::LinodeRefused { .. } => "linode-refused",
            JobFailure::LinodeActionFailed { .. } => "linode-action-failed",
            JobFailure::StepFailed { .. } => "step-failed",
            JobFailure::HealthGateFailed { .. } => "health-gate-failed",
        }
    }

    /// The failure a stored code names (the backup catalog keeps the code
    /// alone); `None` for a code no version wrote. A failure's parameters
    /// are not in its code: they come back empty.
    pub fn from_code(code: &str) -> Option<JobFailure> {
        Self::every_kind().into_iter().find(|kind| kind.code() == code)
    }

    /// One of each kind: for tests that must cover them all, and for
    /// reading a stored code back ([`JobFailure::from_code`]).
    pub fn every_kind() -> Vec<JobFailure> {
        let all = vec![
            JobFailure::Cancelled,
            JobFailure::ConsoleStopped,
            JobFailure::CommandFailed,
            JobFailure::NoExitStatus,
            JobFailure::SudoWantsPassword { line: String::new() },
            JobFailure::HostUnreachable,
            JobFailure::HostTimedOut,
            JobFailure::HostKeyChanged,
            JobFailure::KeyRefused,
            JobFailure::ConnectionLost,
            JobFailure::PrivateKeyUnusable,
            JobFailure::Internal,
            JobFailure::StorageFailed,
            JobFailure::BackupTampered,
            JobFailure::BackupUnreadable,
            JobFailure::ScratchUnavailable,
            JobFailure::VerifyFailed,
            JobFailure::LinodeUnavailable { reason: String::new() },
            JobFailure::LinodeRefused { reason: String::new() },
            JobFailure::LinodeActionFailed { reason: String::new() },
            JobFailure::StepFailed { step: StepName::Fetch },
            JobFailure::HealthGateFailed { url: String::new() },
        ];
        // A new kind fails to compile here until it is listed above.
        for kind in &all {
            match kind {
                JobFailure::Cancelled
                | JobFailure::ConsoleStopped
                | JobFailure::CommandFailed
                | JobFailure::NoExitStatus
                | JobFailure::SudoWantsPassword { .. }
                | JobFailure::HostUnreachable
                | JobFailure::HostTimedOut
                | JobFailure::HostKeyChanged
                | JobFailure::KeyRefused
                | JobFailure::ConnectionLost
                | JobFailure::PrivateKeyUnusable
                | JobFailure::Internal
                | JobFailure::StorageFailed
                | JobFailure::BackupTampered
                | JobFailure::BackupUnreadable
                | JobFailure::ScratchUnavailable
                | JobFailure::VerifyFailed
                | JobFailure::LinodeUnavailable { .. }
                | JobFailure::LinodeRefused { .. }
                | JobFailure::LinodeActionFailed { .. }
                | JobFailure::StepFailed { .. }
                | JobFailure::HealthGateFailed { .. } => {}
            }
        }
        all
    }
}

/// One line of a job's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputLine {
    /// Its number in the job's output, from 1.
    pub seq: i64,
    /// Written on the standard error.
    pub stderr: bool,
    pub text: String,
}

/// One event of a job's live output stream, sent as JSON in a Server-Sent
/// Event whose name is [`JobEvent::name`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    /// New lines, in order (one event per batch, however fast they come).
    Lines { lines: Vec<OutputLine> },
    /// Where the job stands; the last event of a stream is a finished one.
    Status {
        status: JobStatus,
        exit_status: Option<i32>,
        failure: Option<JobFailure>,
    },
    /// The job's steps, each time one starts or ends (jobs made of steps).
    Steps { steps: Vec<JobStep> },
}

impl JobEvent {
    /// The Server-Sent Event's name (`lines` or `status`).
    pub fn name(&self) -> &'static str {
        match self {
            JobEvent::Lines { .. } => "lines",
            JobEvent::Status { .. } => "status",
            JobEvent::Steps { .. } => "steps",
        }
    }

    /// The event's data as sent.
    pub fn to_json(&self) -> String {
        // A flood's events run to a MiB or more: sized at once, not grown.
        let size = match self {
            JobEvent::Lines { lines } => lines.iter().map(|line| line.text.len() + 48).sum::<usize>() + 32,
            JobEvent::Status { .. } | JobEvent::Steps { .. } => 512,
        };
        let mut json = Vec::with_capacity(size);
        serde_json::to_writer(&mut json, self).expect("a job event always serialises");
        String::from_utf8(json).expect("JSON is UTF-8")
    }

    /// An event's data as received; anything else is an error.
    pub fn from_json(data: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_read_back_and_an_unknown_one_is_refused() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(*status));
        }
        let unknown = "paused".parse::<JobStatus>().unwrap_err();
        assert_eq!((unknown.kind, unknown.word.as_str()), ("job status", "paused"));
        assert!(JobStatus::Interrupted.finished() && !JobStatus::Running.finished());
    }

    #[test]
    fn an_event_crosses_the_wire_unchanged_and_an_unknown_one_is_an_error() {
        let events = [
            JobEvent::Lines {
                lines: vec![OutputLine {
                    seq: 1,
                    stderr: true,
                    text: "tab\there \"quoted\"\nnewline".into(),
                }],
            },
            JobEvent::Status {
                status: JobStatus::Failed,
                exit_status: None,
                failure: Some(JobFailure::SudoWantsPassword {
                    line: "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart nginx".into(),
                }),
            },
        ];
        for event in events {
            let json = event.to_json();
            assert!(!json.contains('\n'), "one SSE data line: {json}");
            assert_eq!(JobEvent::from_json(&json).unwrap(), event);
        }
        assert!(
            JobEvent::from_json(r#"{"event":"status","status":"paused","exit_status":null,"failure":null}"#).is_err()
        );
        assert!(JobEvent::from_json(r#"{"event":"progress"}"#).is_err());
        assert!(serde_json::from_str::<JobFailure>(r#"{"code":"disk-full"}"#).is_err());
    }

    #[test]
    fn a_failure_is_stored_as_its_code() {
        for failure in JobFailure::every_kind() {
            let json = serde_json::to_value(&failure).unwrap();
            assert_eq!(json["code"], failure.code(), "{failure:?}");
        }
        let json = serde_json::to_string(&JobFailure::KeyRefused).unwrap();
        assert_eq!(json, r#"{"code":"key-refused"}"#);
    }

    #[test]
    fn a_stored_code_names_its_failure_and_an_unknown_one_none() {
        for failure in JobFailure::every_kind() {
            assert_eq!(
                JobFailure::from_code(failure.code()).map(|f| f.code()),
                Some(failure.code())
            );
        }
        assert_eq!(JobFailure::from_code("storage-failed"), Some(JobFailure::StorageFailed));
        assert_eq!(JobFailure::from_code("disk on fire"), None);
    }
}
