//! The Linode API token: checked against the API when an admin enters it
//! (refused, or lacking a scope: said, nothing stored), sealed in the secret
//! store, and never shown again — pages show "set · changed on … by …".

use time::OffsetDateTime;

use super::{Linode, LinodeToken};
use crate::accounts::{Operator, Role};
use crate::audit::{AuditAction, AuditEntry, Outcome, Provenance};
use crate::error::{DomainError, Result};
use crate::secrets::SecretId;

/// The secret store's purpose for the token.
const PURPOSE: &str = "linode-token";

/// What the pages show of the stored token: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    pub changed_at: OffsetDateTime,
    pub changed_by: String,
    /// The scopes the API reported when it was checked.
    pub scopes: String,
}

impl Linode {
    /// The stored token's state, or `None` when none is stored.
    pub async fn token_state(&self) -> Result<Option<TokenState>> {
        Ok(
            sqlx::query_as!(TokenState, "SELECT changed_at, changed_by, scopes FROM linode_token")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn stored_token(&self) -> Result<Option<LinodeToken>> {
        let Some(id) = sqlx::query_scalar!(r#"SELECT secret_id AS "id: SecretId" FROM linode_token"#)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let bytes = self.secrets.get_for(id, PURPOSE).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| DomainError::Internal("the stored Linode token is not text".into()))?;
        Ok(Some(LinodeToken::parse(text)?))
    }

    /// Stores the API token an admin entered, once the API accepted it and
    /// its scopes cover what the console does; the previous one is erased.
    /// Audited (its scopes, never its value).
    #[tracing::instrument(skip_all, fields(operator = %by.username.as_str(), request_id = provenance.request_id.as_deref()))]
    pub async fn set_token(&self, by: &Operator, provenance: &Provenance, text: &str) -> Result<TokenState> {
        by.require(Role::Admin)?;
        let entry = |outcome| AuditEntry::new(by.actor(), AuditAction::LinodeToken, "linode", outcome).from(provenance);
        let text = text.trim();
        if text.is_empty() {
            return Err(DomainError::invalid("token", "error-linode-token-empty"));
        }
        let token =
            LinodeToken::parse(text).map_err(|_| DomainError::invalid("token", "error-linode-token-malformed"))?;
        let check = match self.api.check_token(&token).await {
            Ok(check) => check,
            Err(refused) => {
                entry(Outcome::Failure)
                    .detail("reason", refused.message_key())
                    .detail("detail", refused.detail())
                    .record_alone(&self.pool)
                    .await?;
                return Err(refused.into());
            }
        };
        let mut tx = self.pool.begin().await?;
        let previous = sqlx::query_scalar!("SELECT secret_id FROM linode_token FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
        let id = self.secrets.put(&mut tx, PURPOSE, token.expose().as_bytes()).await?;
        let state = sqlx::query_as!(
            TokenState,
            "INSERT INTO linode_token (secret_id, scopes, changed_by) VALUES ($1, $2, $3)
             ON CONFLICT (singleton) DO UPDATE
                SET secret_id = excluded.secret_id, scopes = excluded.scopes,
                    changed_by = excluded.changed_by, changed_at = now()
             RETURNING changed_at, changed_by, scopes",
            id.0,
            check.scopes,
            by.username.as_str(),
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(previous) = previous {
            sqlx::query!("DELETE FROM secrets WHERE id = $1", previous)
                .execute(&mut *tx)
                .await?;
        }
        entry(Outcome::Success)
            .detail("scopes", check.scopes.as_str())
            .detail("replaced", previous.is_some())
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        self.links.changed();
        // States read with another token (or the simulator) are not this one's.
        self.states.forget_all();
        self.backup_lists.forget_all();
        self.graphs.forget_all();
        Ok(state)
    }
}
