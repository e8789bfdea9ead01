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
//! Where things are: `runbook` (the actions and the exact command each
//! runs), `runner` (starting, running, cancelling and recovering jobs),
//! `store` (reading job rows), `output` (storing and reading a job's output
//! lines), `feed` (what changed, announced by PostgreSQL), `failure` (why a
//! job failed, as staff read it), `steps` (the steps of a job made of
//! them, as a deploy is), `prerequisites` (the prerequisites check's
//! script and its reading). A new capability adds its one-command actions
//! to the runbook and, if it reads their output, a module like
//! `prerequisites`; a capability whose work is more than one command (a
//! backup streams bytes into storage) starts a [`JobPlan`] with its own
//! work, as `backups` does, and gets the same record, lock, live output,
//! cancel and audit.

pub(crate) mod failure;
mod feed;
mod output;
mod prerequisites;
mod runbook;
mod runner;
mod steps;
mod store;

use time::OffsetDateTime;

pub use feed::{JobChange, JobChanges, JobFeed};
pub use output::StoredLine;
pub use prerequisites::{assess_prerequisites, Prerequisite};
pub use runbook::Runbook;
pub use runner::JobRunner;
pub(crate) use runner::{JobContext, JobPlan, WorkOutcome};
pub(crate) use steps::Steps;
pub use vocabulary::jobs::{JobEvent, JobFailure, JobStatus, JobStep, OutputLine, StepName, StepStatus};

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
    /// Why it did not succeed, when it did not.
    pub failure: Option<JobFailure>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub output_lines: i64,
}
