//! What an admin saves: the provider, its API's address (empty: the public
//! one), the repository or project, and a token (kept, replaced or
//! removed; sealed, never shown again). The API is asked first with what
//! was typed: when it refuses, the form says why and nothing is stored.

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::api::Access;
use super::{IntegrationFailure, IntegrationProvider, Integrations};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::SecretId;

/// The secret store's purpose for the tokens.
const TOKEN_PURPOSE: &str = "integration-token";

/// What an integration is for: the CI state, or the errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Ci,
    Errors,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Ci => "ci",
            Purpose::Errors => "errors",
        }
    }

    /// What a provider is for.
    pub fn of(provider: IntegrationProvider) -> Self {
        match provider.is_ci() {
            true => Purpose::Ci,
            false => Purpose::Errors,
        }
    }
}

/// What the pages show of a saved integration: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationSettings {
    pub provider: IntegrationProvider,
    pub api_url: String,
    /// CI: the repository (owner/name); Sentry: organization/project.
    pub project: String,
    pub token_set: bool,
    pub changed_by: String,
    pub changed_at: OffsetDateTime,
}

/// The token, as the form asks for it.
#[derive(Debug)]
pub enum TokenChange {
    /// The one stored stays (none: still none).
    Keep,
    /// This one instead (it is checked with the API first).
    Replace(Zeroizing<String>),
    /// None from now on (a public repository or project).
    Remove,
}

/// What an admin typed.
#[derive(Debug)]
pub struct IntegrationInput {
    pub provider: IntegrationProvider,
    /// Empty: the provider's public API.
    pub api_url: String,
    pub project: String,
    pub token: TokenChange,
}

#[derive(Clone, Debug)]
pub(super) struct Row {
    purpose: String,
    provider: String,
    api_url: String,
    project: String,
    token_secret_id: Option<i64>,
    changed_by: String,
    changed_at: OffsetDateTime,
}

impl Row {
    fn settings(self) -> Result<IntegrationSettings> {
        Ok(IntegrationSettings {
            provider: self
                .provider
                .parse()
                .map_err(|e: vocabulary::UnknownWord| DomainError::Internal(e.to_string()))?,
            api_url: self.api_url,
            project: self.project,
            token_set: self.token_secret_id.is_some(),
            changed_by: self.changed_by,
            changed_at: self.changed_at,
        })
    }
}

/// An API's address: https, or http to this machine only; no user, no
/// query; without its trailing slash.
fn checked_api_url(raw: &str, provider: IntegrationProvider) -> Result<String> {
    let invalid = || DomainError::invalid("api_url", "error-integration-api-url");
    let raw = match raw.trim() {
        "" => provider.public_api(),
        raw => raw,
    };
    let url = url::Url::parse(raw).map_err(|_| invalid())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid()),
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(invalid());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `owner/name` (CI) or `organization/project` (Sentry): two names of
/// letters, digits, `.`, `_` or `-`.
fn checked_project(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let name = |part: &str| {
        (1..=100).contains(&part.len())
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    match raw.split_once('/') {
        Some((owner, project)) if name(owner) && name(project) => Ok(raw.to_owned()),
        _ => Err(DomainError::invalid("project", "error-integration-project")),
    }
}

/// A token as typed: 8 to 512 visible characters, no spaces.
fn checked_token(raw: &str) -> Result<Zeroizing<String>> {
    let raw = raw.trim();
    let ok = (8..=512).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| Zeroizing::new(raw.to_owned()))
        .ok_or_else(|| DomainError::invalid("token", "error-integration-token"))
}

/// The form's field a failure of the API check is said next to.
fn field_of(failure: IntegrationFailure) -> &'static str {
    match failure {
        IntegrationFailure::TokenRefused | IntegrationFailure::Secret => "token",
        IntegrationFailure::NotFound => "project",
        _ => "api_url",
    }
}

impl Integrations {
    /// The row saved for `purpose`: every row remembered from one change
    /// of the table to the next (see [`super::Integrations::hearing`]).
    async fn row(&self, purpose: Purpose) -> Result<Option<Row>> {
        let rows = self
            .saved
            .get(|| async {
                Ok(sqlx::query_as!(
                    Row,
                    "SELECT purpose, provider, api_url, project, token_secret_id, changed_by, changed_at
                       FROM integrations"
                )
                .fetch_all(&self.pool)
                .await?)
            })
            .await?;
        Ok(rows.iter().find(|row| row.purpose == purpose.as_str()).cloned())
    }

    /// The integration saved for `purpose`, if any.
    pub async fn settings(&self, purpose: Purpose) -> Result<Option<IntegrationSettings>> {
        self.row(purpose).await?.map(Row::settings).transpose()
    }

    /// The saved integration with its token opened, to call its API.
    pub(super) async fn access(&self, purpose: Purpose) -> Result<Option<Access>> {
        let Some(row) = self.row(purpose).await? else {
            return Ok(None);
        };
        let token = match row.token_secret_id {
            Some(id) => Some(self.token(id).await?),
            None => None,
        };
        let settings = row.settings()?;
        Ok(Some(Access {
            provider: settings.provider,
            api_url: settings.api_url,
            project: settings.project,
            token,
        }))
    }

    async fn token(&self, id: i64) -> Result<Zeroizing<String>> {
        let bytes = self.secrets.get_for(SecretId(id), TOKEN_PURPOSE).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| DomainError::Internal("a stored integration token is not text".into()))?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// Saves where the CI state or the errors are read (admins), once its
    /// API answered with what was typed. Audited: the provider, address
    /// and project, whether a token is set — never the token.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), provider = %input.provider))]
    pub async fn save(
        &self,
        by: &Operator,
        provenance: &Provenance,
        input: IntegrationInput,
    ) -> Result<IntegrationSettings> {
        by.require(Role::Admin)?;
        let purpose = Purpose::of(input.provider);
        let api_url = checked_api_url(&input.api_url, input.provider)?;
        let project = checked_project(&input.project)?;
        let stored = sqlx::query_scalar!(
            "SELECT token_secret_id FROM integrations WHERE purpose = $1",
            purpose.as_str()
        )
        .fetch_optional(&self.pool)
        .await?
        .flatten();
        let token = match &input.token {
            TokenChange::Replace(raw) => Some(checked_token(raw)?),
            TokenChange::Keep => match stored {
                Some(id) => Some(self.token(id).await?),
                None => None,
            },
            TokenChange::Remove => None,
        };
        let access = Access {
            provider: input.provider,
            api_url: api_url.clone(),
            project: project.clone(),
            token,
        };
        let entry = |outcome| {
            AuditEntry::new(
                by.actor(),
                AuditAction::IntegrationSave,
                input.provider.as_str(),
                outcome,
            )
            .from(provenance)
            .detail("api_url", api_url.as_str())
            .detail("project", project.as_str())
        };
        if let Err(failure) = self.check(&access).await {
            entry(Outcome::Failure)
                .detail("reason", failure.as_str())
                .record_alone(&self.pool)
                .await?;
            return Err(DomainError::invalid(field_of(failure), failure.message_key()));
        }

        let mut tx = self.pool.begin().await?;
        let previous = sqlx::query_scalar!(
            "SELECT token_secret_id FROM integrations WHERE purpose = $1 FOR UPDATE",
            purpose.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        let (secret_id, erased) = match (&input.token, access.token.as_ref()) {
            (TokenChange::Replace(_), Some(token)) => (
                Some(self.secrets.put(&mut tx, TOKEN_PURPOSE, token.as_bytes()).await?.0),
                previous,
            ),
            (TokenChange::Keep, _) => (previous, None),
            _ => (None, previous),
        };
        let row = sqlx::query_as!(
            Row,
            "INSERT INTO integrations (purpose, provider, api_url, project, token_secret_id, changed_by)
                  VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (purpose) DO UPDATE
                SET provider = excluded.provider, api_url = excluded.api_url, project = excluded.project,
                    token_secret_id = excluded.token_secret_id, changed_by = excluded.changed_by,
                    changed_at = now()
             RETURNING purpose, provider, api_url, project, token_secret_id, changed_by, changed_at",
            purpose.as_str(),
            input.provider.as_str(),
            api_url,
            project,
            secret_id,
            by.username.as_str(),
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(erased) = erased {
            sqlx::query!("DELETE FROM secrets WHERE id = $1", erased)
                .execute(&mut *tx)
                .await?;
        }
        let token_said = match input.token {
            TokenChange::Replace(_) => "replaced",
            TokenChange::Keep if secret_id.is_some() => "kept",
            TokenChange::Remove if previous.is_some() => "removed",
            _ => "none",
        };
        entry(Outcome::Success)
            .detail("token", token_said)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.settings_changed();
        row.settings()
    }

    /// Stops reading the CI state or the errors (admins); the token is
    /// erased. Audited.
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), ?purpose))]
    pub async fn remove(&self, by: &Operator, provenance: &Provenance, purpose: Purpose) -> Result<()> {
        by.require(Role::Admin)?;
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query!(
            "DELETE FROM integrations WHERE purpose = $1 RETURNING provider, token_secret_id",
            purpose.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::NotFound("integration"))?;
        if let Some(secret) = removed.token_secret_id {
            sqlx::query!("DELETE FROM secrets WHERE id = $1", secret)
                .execute(&mut *tx)
                .await?;
        }
        AuditEntry::new(
            by.actor(),
            AuditAction::IntegrationRemove,
            &removed.provider,
            Outcome::Success,
        )
        .from(provenance)
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        self.settings_changed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_address_is_https_or_local_http() {
        let github = IntegrationProvider::GithubActions;
        assert_eq!(checked_api_url("", github).unwrap(), "https://api.github.com");
        assert_eq!(
            checked_api_url(" https://ci.example.org/api/ ", github).unwrap(),
            "https://ci.example.org/api"
        );
        assert_eq!(
            checked_api_url("http://127.0.0.1:8080/", github).unwrap(),
            "http://127.0.0.1:8080"
        );
        for refused in [
            "http://ci.example.org",
            "ftp://127.0.0.1",
            "https://user:pw@ci.example.org",
            "https://ci.example.org/?token=1",
            "not a url",
        ] {
            assert!(checked_api_url(refused, github).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_project_is_two_names() {
        assert_eq!(checked_project(" oc-pizza/site ").unwrap(), "oc-pizza/site");
        for refused in ["site", "a/b/c", "/site", "oc pizza/site", "../x", "oc/"] {
            assert!(checked_project(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_token_is_visible_characters() {
        assert!(checked_token("ghp_0123456789abcdef").is_ok());
        assert!(checked_token("short").is_err());
        assert!(checked_token("has a space inside").is_err());
    }
}
