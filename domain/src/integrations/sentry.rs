//! Sentry: the project's page, and its latest unresolved issues (`GET
//! /api/0/projects/{organization}/{project}/issues/?query=is:unresolved`)
//! when a token is saved (the API needs one, with `project:read`).

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;

use super::settings::Purpose;
use super::{IntegrationFailure, Integrations};
use crate::error::Result;

/// How many issues are shown.
pub const SHOWN: usize = 10;

/// `GET /api/0/projects/{organization}/{project}/`: what the check before
/// saving reads.
#[derive(Debug, Deserialize)]
pub(super) struct Project {
    slug: String,
}

impl Project {
    pub(super) fn check(&self, project: &str) -> Result<(), IntegrationFailure> {
        match self.slug == project {
            true => Ok(()),
            false => Err(IntegrationFailure::NotFound),
        }
    }
}

/// An unresolved issue, as Sentry lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentryIssue {
    /// As people quote it (`OCPIZZA-1A`).
    pub short_id: String,
    pub title: String,
    /// Where in the code (a function, a URL).
    #[serde(default)]
    pub culprit: Option<String>,
    /// Its page.
    pub permalink: String,
    /// error, warning, fatal…
    pub level: String,
    /// How many events (Sentry sends a string).
    pub count: String,
    #[serde(default)]
    pub user_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// The project's page and its latest unresolved issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryReport {
    /// organization/project.
    pub project: String,
    /// The project's page.
    pub link: String,
    /// `None` without a token (the link only).
    pub issues: Option<super::Answer<Vec<SentryIssue>>>,
}

impl Integrations {
    /// Sentry's link and latest unresolved issues; `None` when Sentry is
    /// not saved.
    pub async fn sentry_report(&self) -> Result<Option<SentryReport>> {
        let Some(access) = self.access(Purpose::Errors).await? else {
            return Ok(None);
        };
        let (organization, project) = access.project.split_once('/').unwrap_or_default();
        let link = format!("{}/organizations/{organization}/projects/{project}/", access.api_url);
        let issues = match access.token.is_some() {
            true => {
                let read = || async {
                    let issues = self
                        .get_json::<Vec<SentryIssue>>(
                            &access,
                            &format!("/api/0/projects/{organization}/{project}/issues/"),
                            &[("query", "is:unresolved"), ("statsPeriod", "14d")],
                        )
                        .await
                        .map(|mut issues| {
                            issues.truncate(SHOWN);
                            issues
                        });
                    Ok::<_, std::convert::Infallible>(Arc::new(issues))
                };
                match self.issues.get((), read).await {
                    Ok(issues) => Some(issues),
                    Err(never) => match never {},
                }
            }
            false => None,
        };
        Ok(Some(SentryReport {
            project: access.project.clone(),
            link,
            issues,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_reads_as_sentry_lists_it() {
        let issue: SentryIssue = serde_json::from_value(serde_json::json!({
            "id": "1", "shortId": "OCPIZZA-1", "title": "ZeroDivisionError: division by zero",
            "culprit": "orders.views in total", "permalink": "https://sentry.io/organizations/oc/issues/1/",
            "level": "error", "status": "unresolved", "count": "150", "userCount": 12,
            "firstSeen": "2026-11-01T10:00:00.000000Z", "lastSeen": "2026-12-01T10:00:00.123456Z",
            "project": { "id": "2", "name": "site", "slug": "site" }, "metadata": {}, "isPublic": false
        }))
        .unwrap();
        assert_eq!(issue.short_id, "OCPIZZA-1");
        assert_eq!(issue.user_count, 12);
    }
}
