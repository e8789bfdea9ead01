//! Deploys (manual §6.1, §7.2): what each host's app runs now and what it
//! could run, read over SSH with git in the app directory — the commit
//! checked out (and its branch), and the branches of its remote as last
//! fetched; deploying a branch and returning to an earlier deploy, each a
//! job made of steps and a record in the deploy history.
//!
//! - [`git`]: the words that reach git (a [`BranchName`], a [`CommitId`]
//!   are checked before they can be part of a command line) and what its
//!   answers are read into.
//! - `run`: the steps of a deploy or a rollback; `health`: the health gate.
//! - `history`: the deploy records; `settings`: how each host deploys.

pub mod git;
mod health;
mod history;
mod run;
mod settings;

pub use git::{AppVersion, Branch, BranchName, Commit, CommitId};
pub use history::{DeployRecord, RecordedCommit};
pub use settings::{DeploySettings, HealthUrl, DEFAULT_PYTHON};
pub use vocabulary::deploys::{BackupBefore, DeployKind};

use sqlx::PgPool;

use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, Provenance};
use crate::backups::Backups;
use crate::error::{DomainError, Result};
use crate::hosts::{Host, HostDirectory};
use crate::jobs::{failure, JobContext, JobFailure, JobPlan, JobRunner};
use crate::ssh::RemoteCommand;
use run::Target;

/// Deploys and rollbacks, their history, and each host's settings.
#[derive(Clone, Debug)]
pub struct Deploys {
    pool: PgPool,
    hosts: HostDirectory,
    jobs: JobRunner,
    /// Takes the backup before a deploy that brings migrations.
    backups: Backups,
    /// The health gate's HTTP client.
    health: reqwest::Client,
    /// Each host's newest deploy, for the home page (every signed-in
    /// visit shows it): read at most every few seconds.
    newest: std::sync::Arc<crate::remembered::ReadEvery<(), NewestDeploys>>,
}

/// Each host (id, name) with its newest deploy or rollback.
pub type NewestDeploys = std::sync::Arc<Vec<(i64, String, Option<DeployRecord>)>>;

/// How long the home page's newest deploys are kept (this process's own
/// deploys show at once).
const NEWEST_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

impl Deploys {
    pub fn new(pool: PgPool, hosts: HostDirectory, jobs: JobRunner, backups: Backups) -> Self {
        Self {
            pool,
            hosts,
            jobs,
            backups,
            health: health::client(),
            newest: std::sync::Arc::new(crate::remembered::ReadEvery::new(NEWEST_FRESH)),
        }
    }

    /// Each host with its newest deploy or rollback (the home page), read
    /// at most every few seconds, at once after this process started one.
    pub async fn newest_of_every_host(&self) -> Result<NewestDeploys> {
        self.newest
            .get((), || async {
                let mut newest = Vec::new();
                for host in self.hosts.list().await? {
                    let record = self.history(host.id, 1).await?.into_iter().next();
                    newest.push((host.id, host.name.as_str().to_owned(), record));
                }
                Ok(std::sync::Arc::new(newest))
            })
            .await
    }

    /// The hosts changed: each host's newest deploy is read again at the
    /// next request.
    pub fn forget_newest(&self) {
        self.newest.forget_all();
    }

    /// Deploys `branch` on a host (operators and admins): a job made of
    /// steps. Refused, nothing changed, for a name that is not a branch
    /// name, a branch the host's remote does not have (as last fetched),
    /// or a host where another action runs.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), host_id, branch))]
    pub async fn deploy(&self, by: &Operator, provenance: &Provenance, host_id: i64, branch: &str) -> Result<i64> {
        let branch = BranchName::parse(branch)?;
        let host = self.hosts.get(host_id).await?;
        // A viewer is refused (and audited) by the job runner, before any
        // reading of the host.
        if by.require(Role::Operator).is_ok() {
            let branches = self.hosts.app_branches(&host, by, provenance).await?;
            if !branches.iter().any(|b| b.name == branch) {
                return Err(DomainError::invalid("branch", "error-deploy-unknown-branch"));
            }
        }
        let details = vec![("branch", branch.as_str().to_owned())];
        self.start(
            by,
            provenance,
            host,
            Target::Branch(branch),
            AuditAction::DeployBranch,
            details,
        )
        .await
    }

    /// Returns a host's app to a deploy's commit (operators and admins):
    /// the commit it deployed when it succeeded, the one it started from
    /// when it did not. Recorded as a deploy of its own (a rollback).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), deploy_id))]
    pub async fn roll_back(&self, by: &Operator, provenance: &Provenance, deploy_id: i64) -> Result<i64> {
        let record = self.record(deploy_id).await?;
        let host = self.hosts.get(record.host_id).await?;
        let target = record
            .rollback_target()
            .ok_or_else(|| DomainError::invalid("deploy", "error-deploy-no-rollback"))?;
        let id = CommitId::parse(&target.id)?;
        let details = vec![
            ("commit", id.as_str().to_owned()),
            ("rollback_of", deploy_id.to_string()),
        ];
        let target = Target::Commit {
            id,
            rollback_of: deploy_id,
        };
        self.start(by, provenance, host, target, AuditAction::DeployRollback, details)
            .await
    }

    async fn start(
        &self,
        by: &Operator,
        provenance: &Provenance,
        host: Host,
        target: Target,
        action: AuditAction,
        details: Vec<(&'static str, String)>,
    ) -> Result<i64> {
        let settings = self.settings(host.id).await?;
        let deploys = self.clone();
        let plan = JobPlan {
            action,
            mutating: true,
            command_line: run::summary(&host, &target, &settings),
            details,
            work: Box::new(move |job| Box::pin(deploys.work(job, target, settings))),
        };
        self.jobs.start_plan(by, provenance, host, plan).await
    }

    /// Records a move starting: where the app is, where it goes.
    async fn record_start(
        &self,
        job: &JobContext,
        target: &Target,
        from: Option<&Commit>,
    ) -> std::result::Result<i64, JobFailure> {
        let (branch, rollback_of) = match target {
            Target::Branch(branch) => (Some(branch.as_str()), None),
            Target::Commit { rollback_of, .. } => (None, Some(*rollback_of)),
        };
        sqlx::query_scalar!(
            "INSERT INTO deploys (host_id, job_id, kind, branch, rollback_of, from_commit, from_subject, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            job.host.id,
            job.job_id,
            target.kind().as_str(),
            branch,
            rollback_of,
            from.map(|c| c.id.as_str()),
            from.map(|c| c.subject.as_str()),
            job.by.name(),
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| failure::of_console(&e.into()))
        .inspect(|_| self.newest.forget_all())
    }

    /// Records the commit a move checked out.
    async fn record_end(&self, deploy_id: i64, to: Option<&Commit>) -> std::result::Result<(), JobFailure> {
        sqlx::query!(
            "UPDATE deploys SET to_commit = $2, to_subject = $3 WHERE id = $1",
            deploy_id,
            to.map(|c| c.id.as_str()),
            to.map(|c| c.subject.as_str()),
        )
        .execute(&self.pool)
        .await
        .map_err(|e| failure::of_console(&e.into()))?;
        self.newest.forget_all();
        Ok(())
    }
}

impl HostDirectory {
    /// What the host's app runs and could run: its three reads at once,
    /// each on a channel of one session.
    #[tracing::instrument(skip_all, fields(host = host.name.as_str(), by = %by.username))]
    pub async fn app_version(&self, host: &Host, by: &Operator, provenance: &Provenance) -> Result<AppVersion> {
        let session = self.connect(host, &by.actor(), provenance).await?;
        let in_app = || RemoteCommand::program("git").fixed("-C").arg(&host.app_dir);
        let head = in_app().fixed("log").fixed("-1").fixed(git::COMMIT_FORMAT);
        let branch = in_app()
            .fixed("symbolic-ref")
            .fixed("--short")
            .fixed("-q")
            .fixed("HEAD");
        let branches = branch_list(host);
        let (head, branch, branches) = tokio::join!(
            session.answer(&head),
            session.answer(&branch),
            session.answer(&branches),
        );
        session.close().await;
        let deployed = match head? {
            (Some(0), lines) => lines.first().and_then(|line| git::commit(line)),
            _ => None,
        }
        .ok_or_else(|| DomainError::invalid("app_dir", "error-deploy-not-a-repository"))?;
        let branch = match branch? {
            (Some(0), lines) => lines.first().and_then(|name| BranchName::parse(name).ok()),
            _ => None,
        };
        let branches = match branches? {
            (Some(0), lines) => git::branches(&lines),
            _ => Vec::new(),
        };
        Ok(AppVersion {
            deployed,
            branch,
            branches,
        })
    }

    /// The remote's branches as last fetched (one read).
    #[tracing::instrument(skip_all, fields(host = host.name.as_str(), by = %by.username))]
    pub async fn app_branches(&self, host: &Host, by: &Operator, provenance: &Provenance) -> Result<Vec<Branch>> {
        let session = self.connect(host, &by.actor(), provenance).await?;
        let listed = session.answer(&branch_list(host)).await;
        session.close().await;
        match listed? {
            (Some(0), lines) => Ok(git::branches(&lines)),
            _ => Err(DomainError::invalid("app_dir", "error-deploy-not-a-repository")),
        }
    }
}

/// `git for-each-ref` of the remote's branches, in the app directory.
fn branch_list(host: &Host) -> RemoteCommand {
    RemoteCommand::program("git")
        .fixed("-C")
        .arg(&host.app_dir)
        .fixed("for-each-ref")
        .fixed(git::BRANCH_FORMAT)
        .fixed("refs/remotes/origin")
}
