//! Jobs: each runbook action run on a host is a job row (queued → running →
//! succeeded / failed / cancelled / interrupted) with its actor, its exact
//! command line, its exit status, and every output line stored as it comes.
//!
//! At most one mutating job runs on a host at a time, across every console
//! process: a unique index on the jobs table refuses a second one. Each
//! console process holds an advisory lock on its runner id while alive; at
//! start-up, jobs whose runner's lock is free (their console died) are marked
//! interrupted, never left "running".
//!
//! Where things are: [`runbook`] (the actions and the exact command each
//! runs), [`runner`] (starting, running, cancelling and recovering jobs),
//! [`store`] (reading job rows), [`output`] (storing and reading a job's
//! output lines), [`prerequisites`] (the prerequisites check's script and
//! its reading). A new capability (backups, deploys) adds its actions to the
//! runbook and, if it reads its output, a module like `prerequisites`.

mod output;
mod prerequisites;
mod runbook;
mod runner;
mod store;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use output::StoredLine;
pub use prerequisites::{assess_prerequisites, Prerequisite};
pub use runbook::Runbook;
pub use runner::JobRunner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Interrupted => "interrupted",
        }
    }

    pub(super) fn parse(raw: &str) -> Self {
        match raw {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => JobStatus::Interrupted,
        }
    }

    pub fn finished(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

/// A job as its page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub host_id: i64,
    pub host_name: String,
    pub action: String,
    pub command_line: String,
    pub actor: String,
    pub status: JobStatus,
    pub exit_status: Option<i32>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub output_lines: i64,
}
