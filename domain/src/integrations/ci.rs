//! The CI state of the commit each host runs: the commit its newest deploy
//! left it on (the one deployed when it succeeded, the one before when it
//! failed), as the CI provider reports it.

use std::sync::Arc;

use time::OffsetDateTime;

use super::settings::Purpose;
use super::{CiState, IntegrationFailure, IntegrationProvider, Integrations};
use crate::deploys::RecordedCommit;
use crate::error::Result;

/// One build (Travis CI) or workflow run (GitHub Actions) of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiBuild {
    /// The workflow's name, or the build's number.
    pub name: String,
    pub state: CiState,
    /// Its page at the provider, when known.
    pub url: Option<String>,
    /// When it last changed (finished, or started).
    pub at: Option<OffsetDateTime>,
}

/// What the provider says of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiReport {
    /// Failed when one failed, else running when one runs, else passed;
    /// no build when there is none.
    pub state: CiState,
    pub builds: Vec<CiBuild>,
}

impl CiReport {
    pub(super) fn of(builds: Vec<CiBuild>) -> Self {
        let has = |state| builds.iter().any(|b| b.state == state);
        let state = if builds.is_empty() {
            CiState::NoBuild
        } else if has(CiState::Failed) {
            CiState::Failed
        } else if has(CiState::Running) {
            CiState::Running
        } else {
            CiState::Passed
        };
        Self { state, builds }
    }
}

/// A host's app and the CI state of the commit it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCi {
    pub host_id: i64,
    pub host_name: String,
    /// The branch of its newest deploy (none after a rollback).
    pub branch: Option<String>,
    /// What it runs (none: no deploy yet, or one under way).
    pub commit: Option<RecordedCommit>,
    /// The provider's report (none without a commit).
    pub report: Option<super::Answer<CiReport>>,
}

impl Integrations {
    /// Each host's app and the CI state of the commit it runs; `None` when
    /// no CI provider is saved.
    pub async fn deployed_ci(&self) -> Result<Option<(IntegrationProvider, Vec<HostCi>)>> {
        let Some(settings) = self.settings(Purpose::Ci).await? else {
            return Ok(None);
        };
        // The token is opened only when a report is to be read again.
        let mut access = None;
        let mut hosts = Vec::new();
        for (host_id, host_name, newest) in self.deploys.newest_of_every_host().await?.iter() {
            let branch = newest.as_ref().and_then(|d| d.branch.clone());
            let commit = newest.as_ref().and_then(|d| d.rollback_target()).cloned();
            let report = match &commit {
                Some(commit) => Some(match self.ci_reports.fresh(&commit.id) {
                    Some(report) => report,
                    None => {
                        if access.is_none() {
                            access = self.access(Purpose::Ci).await?;
                        }
                        // Removed meanwhile.
                        let Some(access) = &access else { return Ok(None) };
                        self.ci_report(access, &commit.id, branch.as_deref()).await
                    }
                }),
                None => None,
            };
            hosts.push(HostCi {
                host_id: *host_id,
                host_name: host_name.clone(),
                branch,
                commit,
                report,
            });
        }
        Ok(Some((settings.provider, hosts)))
    }

    /// What the provider says of `commit` (read at most once a minute).
    async fn ci_report(
        &self,
        access: &super::api::Access,
        commit: &str,
        branch: Option<&str>,
    ) -> super::Answer<CiReport> {
        let read = || async {
            let report = match access.provider {
                IntegrationProvider::GithubActions => self
                    .get_json::<super::github::WorkflowRuns>(
                        access,
                        &format!("/repos/{}/actions/runs", access.project),
                        &[("head_sha", commit), ("per_page", "100")],
                    )
                    .await
                    .map(|runs| runs.report(commit)),
                IntegrationProvider::TravisCi => {
                    let mut query = vec![("limit", super::travis::RECENT), ("sort_by", "id:desc")];
                    if let Some(branch) = branch {
                        query.push(("branch.name", branch));
                    }
                    self.get_json::<super::travis::Builds>(
                        access,
                        &format!("/repo/{}/builds", super::travis::slug(&access.project)),
                        &query,
                    )
                    .await
                    .map(|builds| builds.report(commit, &access.api_url, &access.project))
                }
                IntegrationProvider::Sentry => Err(IntegrationFailure::Refused),
            };
            Ok::<_, std::convert::Infallible>(Arc::new(report))
        };
        match self.ci_reports.get(commit.to_owned(), read).await {
            Ok(report) => report,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(state: CiState) -> CiBuild {
        CiBuild {
            name: "b".into(),
            state,
            url: None,
            at: None,
        }
    }

    #[test]
    fn a_failure_outweighs_a_running_build_which_outweighs_passes() {
        let of = |states: &[CiState]| CiReport::of(states.iter().map(|s| build(*s)).collect()).state;
        assert_eq!(of(&[]), CiState::NoBuild);
        assert_eq!(of(&[CiState::Passed, CiState::Passed]), CiState::Passed);
        assert_eq!(of(&[CiState::Passed, CiState::Running]), CiState::Running);
        assert_eq!(
            of(&[CiState::Running, CiState::Failed, CiState::Passed]),
            CiState::Failed
        );
    }
}
