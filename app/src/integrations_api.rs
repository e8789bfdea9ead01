//! Server functions for the CI state and Sentry's issues (manual §8.1):
//! what they report (viewers and up), where they are read from (admins).
//! Each checks the caller, calls the domain, converts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;
use vocabulary::supervision::{CiState, IntegrationFailure, IntegrationProvider};

/// A saved integration as the form shows it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub provider: IntegrationProvider,
    pub api_url: String,
    pub project: String,
    pub token_set: bool,
    /// (when, who).
    pub changed: (String, String),
}

#[cfg(feature = "ssr")]
impl From<domain::integrations::IntegrationSettings> for IntegrationView {
    fn from(s: domain::integrations::IntegrationSettings) -> Self {
        Self {
            provider: s.provider,
            api_url: s.api_url,
            project: s.project,
            token_set: s.token_set,
            changed: (utc(s.changed_at), s.changed_by),
        }
    }
}

/// One build or workflow run of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiBuildView {
    pub name: String,
    pub state: CiState,
    pub url: Option<String>,
    pub at: Option<String>,
}

/// A host's app and the CI state of the commit it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCiView {
    pub host_id: i64,
    pub host_name: String,
    pub branch: Option<String>,
    /// (short id, subject).
    pub commit: Option<(String, String)>,
    /// What the provider said (`None`: no commit to ask about).
    pub report: Option<Result<(CiState, Vec<CiBuildView>), IntegrationFailure>>,
}

#[cfg(feature = "ssr")]
impl From<domain::integrations::HostCi> for HostCiView {
    fn from(h: domain::integrations::HostCi) -> Self {
        Self {
            host_id: h.host_id,
            host_name: h.host_name,
            branch: h.branch,
            commit: h.commit.map(|c| (c.short().to_owned(), c.subject.clone())),
            report: h.report.map(|report| match report.as_ref() {
                Ok(report) => Ok((
                    report.state,
                    report
                        .builds
                        .iter()
                        .map(|b| CiBuildView {
                            name: b.name.clone(),
                            state: b.state,
                            url: b.url.clone(),
                            at: b.at.map(utc),
                        })
                        .collect(),
                )),
                Err(failure) => Err(*failure),
            }),
        }
    }
}

/// An unresolved Sentry issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentryIssueView {
    pub short_id: String,
    pub title: String,
    pub culprit: Option<String>,
    pub permalink: String,
    pub level: String,
    pub count: String,
    pub user_count: u64,
    pub last_seen: String,
}

/// Everything the section shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationsView {
    pub ci: Option<IntegrationView>,
    pub errors: Option<IntegrationView>,
    /// Each host's CI state (empty without a CI provider).
    pub hosts: Vec<HostCiView>,
    /// Sentry's project page.
    pub sentry_link: Option<String>,
    /// The latest unresolved issues (`None`: no token, the link only).
    pub issues: Option<Result<Vec<SentryIssueView>, IntegrationFailure>>,
}

/// The CI state of what each host runs and Sentry's latest unresolved
/// issues, with where they are read from.
#[server(endpoint = "integrations")]
pub async fn integrations() -> Result<IntegrationsView, AppError> {
    use domain::integrations::Purpose;
    let caller = require(Role::Viewer).await?;
    let integrations = &caller.console.integrations;
    let ci = integrations.settings(Purpose::Ci).await?.map(IntegrationView::from);
    let errors = integrations.settings(Purpose::Errors).await?.map(IntegrationView::from);
    let hosts = match integrations.deployed_ci().await? {
        Some((_, hosts)) => hosts.into_iter().map(HostCiView::from).collect(),
        None => Vec::new(),
    };
    let sentry = integrations.sentry_report().await?;
    let issues = sentry
        .as_ref()
        .and_then(|s| s.issues.as_ref())
        .map(|issues| match issues.as_ref() {
            Ok(issues) => Ok(issues
                .iter()
                .map(|i| SentryIssueView {
                    short_id: i.short_id.clone(),
                    title: i.title.clone(),
                    culprit: i.culprit.clone(),
                    permalink: i.permalink.clone(),
                    level: i.level.clone(),
                    count: i.count.clone(),
                    user_count: i.user_count,
                    last_seen: utc(i.last_seen),
                })
                .collect()),
            Err(failure) => Err(*failure),
        });
    Ok(IntegrationsView {
        ci,
        errors,
        hosts,
        sentry_link: sentry.map(|s| s.link),
        issues,
    })
}

/// Each host's CI state in a word, for the home page (`None`: no CI
/// provider saved).
#[cfg(feature = "ssr")]
pub(crate) async fn ci_states(console: &domain::Console) -> domain::error::Result<Option<Vec<(i64, Option<CiState>)>>> {
    Ok(console.integrations.deployed_ci().await?.map(|(_, hosts)| {
        hosts
            .into_iter()
            .map(|h| {
                (
                    h.host_id,
                    h.report.and_then(|r| r.as_ref().as_ref().ok().map(|r| r.state)),
                )
            })
            .collect()
    }))
}

/// The form as it arrives. The token's field is named as a secret, so a
/// refused form never brings it back; left empty, the stored one stays.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntegrationForm {
    pub provider: IntegrationProvider,
    pub api_url: String,
    pub project: String,
    pub secret_token: crate::secret_text::SecretText,
    /// Ticked: the stored token is removed.
    pub remove_token: Option<String>,
}

/// Where the CI state or the errors are read from, saved (admins) once
/// its API answered.
#[server(endpoint = "integrations/save")]
pub async fn save_integration(integration: IntegrationForm) -> Result<(), AppError> {
    use domain::integrations::{IntegrationInput, TokenChange};
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let token = match (
        integration.remove_token.is_some(),
        integration.secret_token.expose().trim(),
    ) {
        (true, _) => TokenChange::Remove,
        (false, "") => TokenChange::Keep,
        (false, token) => TokenChange::Replace(token.to_owned().into()),
    };
    let input = IntegrationInput {
        provider: integration.provider,
        api_url: integration.api_url,
        project: integration.project,
        token,
    };
    caller.console.integrations.save(by, from, input).await?;
    Ok(())
}

/// No longer read the CI state (`ci`) or the errors (admins).
#[server(endpoint = "integrations/remove")]
pub async fn remove_integration(ci: bool) -> Result<(), AppError> {
    use domain::integrations::Purpose;
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let purpose = match ci {
        true => Purpose::Ci,
        false => Purpose::Errors,
    };
    Ok(caller.console.integrations.remove(by, from, purpose).await?)
}
