//! Who calls the API: the account behind the bearer token, acting within
//! the token's scope. The one guard of every `/api/v1` route (the pages
//! have [`app::context::Caller`]); no cookie is read here.

use axum::extract::FromRequestParts;
use domain::accounts::{Operator, Role};
use domain::audit::{AuditAction, Provenance};
use domain::Console;

use super::error::ApiError;
use crate::startup::AppState;

/// A caller whose token was checked.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub console: Console,
    /// The token's account, its role narrowed to the token's scope.
    pub operator: Operator,
    /// Where the request came from, naming the token (every audit record
    /// of the request says which token made it).
    pub provenance: Provenance,
    /// The path asked for, named in the audit record of a refusal.
    path: String,
}

impl ApiCaller {
    /// The same caller, if the token (and its account) may act as `needed`.
    /// A refusal is audited, with the token's name.
    pub async fn at_least(self, needed: Role) -> Result<Self, ApiError> {
        if self.operator.require(needed).is_ok() {
            return Ok(self);
        }
        if let Err(error) = self
            .console
            .record_refusal(
                self.operator.actor(),
                AuditAction::RequestForbidden,
                &self.path,
                &self.provenance,
                "token scope or role",
            )
            .await
        {
            tracing::error!(%error, "could not audit a refusal");
        }
        Err(ApiError::forbidden())
    }

    /// `error`, as the API answers it (logged with the request id when
    /// internal).
    pub fn fail(&self, error: domain::DomainError) -> ApiError {
        ApiError::from_domain(error, self.provenance.request_id.as_deref())
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(parts: &http::request::Parts) -> Option<&str> {
    let value = parts.headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &AppState) -> Result<Self, ApiError> {
        let provenance = parts.extensions.get::<Provenance>().cloned().unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let tokens = &state.console.tokens;
        // No header is refused as a malformed token is (and audited alike).
        let presented = bearer(parts).unwrap_or_default();
        let checked = tokens
            .authenticate(presented, &path, &provenance)
            .await
            .map_err(|error| ApiError::from_domain(error, provenance.request_id.as_deref()))?;
        let token = checked.map_err(|_| ApiError::unauthorized())?;
        if let Err(error) = tokens.used(&token, &provenance).await {
            tracing::warn!(%error, "could not record a token's use");
        }
        Ok(Self {
            console: state.console.clone(),
            provenance: token.provenance(&provenance),
            operator: token.operator,
            path,
        })
    }
}
