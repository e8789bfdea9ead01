//! API tokens, from the account's page: issue one (its secret shown once),
//! list one's own, revoke; admins list and revoke everyone's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::api::{require, utc, Role};
use crate::errors::AppError;
pub use vocabulary::accounts::TokenScope;

/// A token as its page lists it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub scope: TokenScope,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub created: String,
    pub expires: String,
    pub last_used: Option<String>,
    pub last_used_from: Option<String>,
    /// Neither revoked nor expired.
    pub live: bool,
    /// Revoked: when, and by whom.
    pub revoked: Option<(String, String)>,
}

#[cfg(feature = "ssr")]
impl From<domain::tokens::ApiToken> for TokenRow {
    fn from(t: domain::tokens::ApiToken) -> Self {
        Self {
            live: t.live(time::OffsetDateTime::now_utc()),
            id: t.id,
            username: t.username,
            name: t.name,
            scope: t.scope,
            created: utc(t.created_at),
            expires: utc(t.expires_at),
            last_used: t.last_used_at.map(utc),
            last_used_from: t.last_used_from,
            revoked: t.revoked_at.map(|at| (utc(at), t.revoked_by.unwrap_or_default())),
        }
    }
}

/// A token just issued, with its secret: shown once, never again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedTokenView {
    pub token: TokenRow,
    pub secret: String,
}

impl std::fmt::Debug for IssuedTokenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokenView")
            .field("token", &self.token)
            .field("secret", &"****")
            .finish()
    }
}

/// The signed-in account's own tokens, live ones first.
#[server(endpoint = "tokens/mine")]
pub async fn my_tokens() -> Result<Vec<TokenRow>, AppError> {
    let caller = require(Role::Viewer).await?;
    let tokens = caller.console.tokens.mine(&caller.operator).await?;
    Ok(tokens.into_iter().map(TokenRow::from).collect())
}

/// Every account's tokens (admins).
#[server(endpoint = "tokens/every")]
pub async fn every_token() -> Result<Vec<TokenRow>, AppError> {
    let caller = require(Role::Admin).await?;
    let tokens = caller.console.tokens.every(&caller.operator).await?;
    Ok(tokens.into_iter().map(TokenRow::from).collect())
}

/// Issues a token for the signed-in account.
#[server(endpoint = "tokens/issue")]
pub async fn issue_token(name: String, scope: TokenScope, days: String) -> Result<IssuedTokenView, AppError> {
    let caller = require(Role::Viewer).await?;
    let days: u16 = days
        .trim()
        .parse()
        .map_err(|_| domain::DomainError::invalid("days", "error-token-days"))?;
    let (by, from) = (&caller.operator, &caller.provenance);
    let issued = caller.console.tokens.issue(by, from, &name, scope, days).await?;
    Ok(IssuedTokenView {
        token: issued.token.into(),
        secret: issued.secret.expose().to_owned(),
    })
}

/// Revokes a token: one's own, or anyone's for an admin.
#[server(endpoint = "tokens/revoke")]
pub async fn revoke_token(token_id: i64) -> Result<(), AppError> {
    let caller = require(Role::Viewer).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller.console.tokens.revoke(by, from, token_id).await?;
    Ok(())
}
