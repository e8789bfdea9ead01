//! GitHub Actions (REST API, version 2022-11-28): the workflow runs of a
//! commit (`GET /repos/{owner}/{repo}/actions/runs?head_sha=…`), each
//! queued, running or completed with its conclusion.

use serde::Deserialize;
use time::OffsetDateTime;

use super::ci::{CiBuild, CiReport};
use super::{CiState, IntegrationFailure};

/// `GET /repos/{owner}/{repo}`: what the check before saving reads.
#[derive(Debug, Deserialize)]
pub(super) struct Repository {
    full_name: String,
}

impl Repository {
    pub(super) fn check(&self, project: &str) -> Result<(), IntegrationFailure> {
        match self.full_name.eq_ignore_ascii_case(project) {
            true => Ok(()),
            // Renamed or moved: GitHub answers for the new name.
            false => Err(IntegrationFailure::NotFound),
        }
    }
}

/// `GET /repos/{owner}/{repo}/actions/runs`.
#[derive(Debug, Deserialize)]
pub(super) struct WorkflowRuns {
    workflow_runs: Vec<WorkflowRun>,
}

#[derive(Debug, Deserialize)]
struct WorkflowRun {
    /// The workflow's name (absent on very old runs).
    name: Option<String>,
    head_sha: String,
    /// queued, in_progress, completed, waiting, requested, pending.
    status: Option<String>,
    /// success, failure, neutral, cancelled, skipped, timed_out,
    /// action_required, stale, startup_failure; null until completed.
    conclusion: Option<String>,
    html_url: String,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl WorkflowRun {
    fn state(&self) -> CiState {
        if self.status.as_deref() != Some("completed") {
            return CiState::Running;
        }
        match self.conclusion.as_deref() {
            Some("success" | "neutral" | "skipped") => CiState::Passed,
            _ => CiState::Failed,
        }
    }
}

impl WorkflowRuns {
    /// The commit's report: each workflow's run (the newest when one ran
    /// again).
    pub(super) fn report(self, commit: &str) -> CiReport {
        let mut builds: Vec<CiBuild> = Vec::new();
        let mut runs: Vec<WorkflowRun> = self
            .workflow_runs
            .into_iter()
            .filter(|run| run.head_sha.eq_ignore_ascii_case(commit))
            .collect();
        runs.sort_by_key(|run| std::cmp::Reverse(run.updated_at));
        for run in runs {
            let name = run.name.clone().unwrap_or_else(|| "workflow".into());
            if builds.iter().any(|b| b.name == name) {
                continue;
            }
            builds.push(CiBuild {
                state: run.state(),
                name,
                url: Some(run.html_url),
                at: Some(run.updated_at),
            });
        }
        CiReport::of(builds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "acb5820ced9479c074f688cc328bf03f341a511d";

    fn runs(runs: &[(&str, &str, Option<&str>, &str)]) -> WorkflowRuns {
        let runs: Vec<_> = runs
            .iter()
            .map(|(name, status, conclusion, at)| {
                serde_json::json!({
                    "id": 30433642, "name": name, "head_branch": "main", "head_sha": COMMIT,
                    "status": status, "conclusion": conclusion,
                    "html_url": "https://github.com/octo-org/octo-repo/actions/runs/30433642",
                    "created_at": at, "updated_at": at,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "total_count": runs.len(), "workflow_runs": runs })).unwrap()
    }

    #[test]
    fn a_commit_passes_when_every_workflow_passed() {
        let report = runs(&[
            ("Build", "completed", Some("success"), "2026-12-01T10:00:00Z"),
            ("Lint", "completed", Some("skipped"), "2026-12-01T10:01:00Z"),
        ])
        .report(COMMIT);
        assert_eq!(report.state, CiState::Passed);
        assert_eq!(report.builds.len(), 2);
    }

    #[test]
    fn one_failure_fails_it_and_a_rerun_replaces_the_run_before() {
        let failed = runs(&[
            ("Build", "completed", Some("success"), "2026-12-01T10:00:00Z"),
            ("Tests", "completed", Some("timed_out"), "2026-12-01T10:01:00Z"),
            ("Deploy", "in_progress", None, "2026-12-01T10:02:00Z"),
        ])
        .report(COMMIT);
        assert_eq!(failed.state, CiState::Failed);
        let rerun = runs(&[
            ("Tests", "completed", Some("failure"), "2026-12-01T10:00:00Z"),
            ("Tests", "completed", Some("success"), "2026-12-01T11:00:00Z"),
        ])
        .report(COMMIT);
        assert_eq!(rerun.state, CiState::Passed);
    }

    #[test]
    fn running_until_done_and_no_build_without_runs() {
        let running = runs(&[("Build", "queued", None, "2026-12-01T10:00:00Z")]).report(COMMIT);
        assert_eq!(running.state, CiState::Running);
        assert_eq!(runs(&[]).report(COMMIT).state, CiState::NoBuild);
    }
}
