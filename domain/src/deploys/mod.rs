//! Deploys (manual §6.1, §7.2): what each host's app runs now and what it
//! could run, read over SSH with git in the app directory — the commit
//! checked out (and its branch), and the branches of its remote as last
//! fetched. Deploying a branch and rolling back build on these, as jobs.
//!
//! - [`git`]: the words that reach git (a [`BranchName`] is checked before
//!   it can be part of a command line) and what its answers are read into.

pub mod git;

pub use git::{AppVersion, Branch, BranchName, Commit};

use crate::accounts::Operator;
use crate::audit::Provenance;
use crate::error::{DomainError, Result};
use crate::hosts::{Host, HostDirectory};
use crate::ssh::RemoteCommand;

impl HostDirectory {
    /// The app's version on the host: the commit checked out in its app
    /// directory (and its branch, unless detached) and the remote's
    /// branches as last fetched. A read: no job, no lock, nothing fetched.
    #[tracing::instrument(skip_all, fields(host = host.name.as_str(), by = %by.username))]
    pub async fn app_version(&self, host: &Host, by: &Operator, provenance: &Provenance) -> Result<AppVersion> {
        let session = self.connect(host, &by.actor(), provenance).await?;
        let in_app = || RemoteCommand::program("git").fixed("-C").arg(&host.app_dir);
        let head = session
            .answer(&in_app().fixed("log").fixed("-1").fixed(git::COMMIT_FORMAT))
            .await;
        let branch = session
            .answer(
                &in_app()
                    .fixed("symbolic-ref")
                    .fixed("--short")
                    .fixed("-q")
                    .fixed("HEAD"),
            )
            .await;
        let branches = session
            .answer(
                &in_app()
                    .fixed("for-each-ref")
                    .fixed(git::BRANCH_FORMAT)
                    .fixed("refs/remotes/origin"),
            )
            .await;
        session.close().await;
        let deployed = match head? {
            (Some(0), lines) => lines.first().and_then(|line| git::commit(line)),
            _ => None,
        }
        .ok_or_else(|| DomainError::invalid("app_dir", "error-deploy-not-a-repository"))?;
        // `symbolic-ref -q` answers 1 and nothing when HEAD is detached.
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
}
