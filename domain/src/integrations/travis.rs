//! Travis CI (API v3): the repository's recent builds (`GET
//! /repo/{slug}/builds`, of the deployed branch when it is known), those
//! of the commit kept; each created, received, started, passed, failed,
//! errored or canceled.

use serde::Deserialize;
use time::OffsetDateTime;

use super::ci::{CiBuild, CiReport};
use super::{CiState, IntegrationFailure};

/// How many recent builds are read to find the commit's.
pub(super) const RECENT: &str = "50";

/// The repository's slug as a path segment (`owner%2Fname`).
pub(super) fn slug(project: &str) -> String {
    project.replace('/', "%2F")
}

/// `GET /repo/{slug}`: what the check before saving reads.
#[derive(Debug, Deserialize)]
pub(super) struct Repository {
    slug: String,
}

impl Repository {
    pub(super) fn check(&self, project: &str) -> Result<(), IntegrationFailure> {
        match self.slug.eq_ignore_ascii_case(project) {
            true => Ok(()),
            false => Err(IntegrationFailure::NotFound),
        }
    }
}

/// `GET /repo/{slug}/builds`.
#[derive(Debug, Deserialize)]
pub(super) struct Builds {
    builds: Vec<Build>,
}

#[derive(Debug, Deserialize)]
struct Build {
    id: u64,
    number: String,
    state: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    finished_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    started_at: Option<OffsetDateTime>,
    commit: Commit,
}

#[derive(Debug, Deserialize)]
struct Commit {
    sha: String,
}

impl Build {
    fn state(&self) -> CiState {
        match self.state.as_str() {
            "passed" => CiState::Passed,
            "failed" | "errored" | "canceled" => CiState::Failed,
            _ => CiState::Running,
        }
    }
}

impl Builds {
    /// The commit's report: its newest build (the API lists the newest
    /// first).
    pub(super) fn report(self, commit: &str, api_url: &str, project: &str) -> CiReport {
        // The public API's builds are shown on app.travis-ci.com.
        let web = (api_url == super::IntegrationProvider::TravisCi.public_api())
            .then(|| format!("https://app.travis-ci.com/github/{project}/builds"));
        let builds = self
            .builds
            .into_iter()
            .filter(|build| build.commit.sha.eq_ignore_ascii_case(commit))
            .max_by_key(|build| build.id)
            .map(|build| CiBuild {
                state: build.state(),
                name: format!("#{}", build.number),
                url: web.as_ref().map(|web| format!("{web}/{}", build.id)),
                at: build.finished_at.or(build.started_at),
            })
            .into_iter()
            .collect();
        CiReport::of(builds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

    fn builds(builds: &[(u64, &str, &str)]) -> Builds {
        let builds: Vec<_> = builds
            .iter()
            .map(|(id, state, sha)| {
                serde_json::json!({
                    "@type": "build", "@href": format!("/build/{id}"), "@representation": "standard",
                    "id": id, "number": id.to_string(), "state": state, "duration": 60,
                    "event_type": "push", "previous_state": "passed",
                    "started_at": "2026-12-01T10:00:00Z", "finished_at": null,
                    "branch": { "@type": "branch", "name": "main" },
                    "commit": { "@type": "commit", "id": 1, "sha": sha, "ref": "refs/heads/main", "message": "m" },
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "@type": "builds", "builds": builds })).unwrap()
    }

    #[test]
    fn the_commits_newest_build_says() {
        let api = "https://api.travis-ci.com";
        let report = builds(&[(12, "passed", COMMIT), (11, "failed", COMMIT), (13, "failed", "ffff")])
            .report(COMMIT, api, "oc/site");
        assert_eq!(report.state, CiState::Passed);
        assert_eq!(
            report.builds[0].url.as_deref(),
            Some("https://app.travis-ci.com/github/oc/site/builds/12")
        );
        let errored = builds(&[(12, "errored", COMMIT)]).report(COMMIT, "http://127.0.0.1:1", "oc/site");
        assert_eq!(errored.state, CiState::Failed);
        assert_eq!(errored.builds[0].url, None);
        assert_eq!(
            builds(&[(12, "started", COMMIT)]).report(COMMIT, api, "oc/site").state,
            CiState::Running
        );
        assert_eq!(builds(&[]).report(COMMIT, api, "oc/site").state, CiState::NoBuild);
    }
}
