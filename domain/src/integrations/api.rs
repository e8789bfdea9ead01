//! The one HTTP client the integrations call their APIs with, each
//! provider's headers, and what an API's failures mean to an operator.

use std::time::Duration;

use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::{IntegrationFailure, IntegrationProvider, Integrations};

/// How long an API has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A saved integration with its token opened: what a call needs.
pub(crate) struct Access {
    pub provider: IntegrationProvider,
    /// Without a trailing slash.
    pub api_url: String,
    pub project: String,
    pub token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("provider", &self.provider)
            .field("api_url", &self.api_url)
            .field("project", &self.project)
            .field("token", &self.token.as_ref().map(|_| "[hidden]"))
            .finish()
    }
}

/// The client: the system's authorities and `extra_roots`, no proxy, no
/// redirects followed (a token is never sent elsewhere).
pub(super) fn client(extra_roots: &[reqwest::Certificate]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(TIMEOUT)
        .user_agent(concat!("ocpizza-console/", env!("CARGO_PKG_VERSION")));
    for root in extra_roots {
        builder = builder.add_root_certificate(root.clone());
    }
    builder.build().expect("a client with fixed settings builds")
}

/// What a failed call means.
fn failure_of(error: &reqwest::Error) -> IntegrationFailure {
    if error.is_timeout() {
        IntegrationFailure::Timeout
    } else if crate::probes::check::refused_certificate(error) {
        IntegrationFailure::Tls
    } else if error.is_decode() {
        IntegrationFailure::Unreadable
    } else {
        IntegrationFailure::NoConnection
    }
}

impl Integrations {
    /// `GET {api_url}{path}` with the provider's headers and token, its
    /// JSON answer read as `T`.
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        access: &Access,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, IntegrationFailure> {
        let url = format!("{}{path}", access.api_url);
        let mut request = self.client.get(&url).query(query);
        let token = access.token.as_ref().map(|t| t.as_str());
        request = match access.provider {
            IntegrationProvider::GithubActions => {
                let request = request
                    .header("Accept", "application/vnd.github+json")
                    .header("X-GitHub-Api-Version", "2022-11-28");
                match token {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
            }
            IntegrationProvider::TravisCi => {
                let request = request.header("Travis-API-Version", "3");
                match token {
                    Some(token) => request.header("Authorization", format!("token {token}")),
                    None => request,
                }
            }
            IntegrationProvider::Sentry => match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            },
        };
        let answer = request.send().await.map_err(|error| {
            tracing::warn!(provider = %access.provider, %url, %error, "integration API not reached");
            failure_of(&error)
        })?;
        let status = answer.status();
        if !status.is_success() {
            tracing::warn!(provider = %access.provider, %url, %status, "integration API refused");
            return Err(match status.as_u16() {
                401 | 403 => IntegrationFailure::TokenRefused,
                404 => IntegrationFailure::NotFound,
                _ => IntegrationFailure::Refused,
            });
        }
        let body = answer.bytes().await.map_err(|error| failure_of(&error))?;
        serde_json::from_slice(&body).map_err(|error| {
            tracing::warn!(provider = %access.provider, %url, %error, "integration API answer unreadable");
            IntegrationFailure::Unreadable
        })
    }

    /// Whether the API knows the repository or project with this token
    /// (the check before saving; Sentry without a token is not asked).
    pub(super) async fn check(&self, access: &Access) -> Result<(), IntegrationFailure> {
        match access.provider {
            IntegrationProvider::GithubActions => {
                let repository: super::github::Repository = self
                    .get_json(access, &format!("/repos/{}", access.project), &[])
                    .await?;
                repository.check(&access.project)
            }
            IntegrationProvider::TravisCi => {
                let repository: super::travis::Repository = self
                    .get_json(access, &format!("/repo/{}", super::travis::slug(&access.project)), &[])
                    .await?;
                repository.check(&access.project)
            }
            // Sentry's API answers nothing without a token: the link alone
            // is kept unchecked.
            IntegrationProvider::Sentry if access.token.is_none() => Ok(()),
            IntegrationProvider::Sentry => {
                let (organization, project) = access.project.split_once('/').unwrap_or_default();
                let found: super::sentry::Project = self
                    .get_json(access, &format!("/api/0/projects/{organization}/{project}/"), &[])
                    .await?;
                found.check(project)
            }
        }
    }
}
