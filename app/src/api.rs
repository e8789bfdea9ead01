//! The server functions: each one checks who is asking and their role, calls
//! the domain, and converts the result. Nothing else happens here.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit_query::AuditQuery;
use crate::errors::AppError;
use crate::secret_text::SecretText;
pub use vocabulary::accounts::Role;

/// Who is signed in, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub username: String,
    pub role: Role,
}

impl Me {
    /// Whether this staff member's role is at least `needed`.
    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

/// Who is signed in, as the layout fetched it once for the page and its
/// parts (`None` when no one is).
pub type MeResource = Resource<Result<Option<Me>, AppError>>;

/// Who is signed in: the layout's answer, shared through context, or a
/// fetch of its own for a page outside the layout.
pub fn use_me() -> MeResource {
    use_context::<MeResource>().unwrap_or_else(|| Resource::new(|| (), |_| who_am_i()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub at: String,
    pub actor: String,
    pub action: vocabulary::audit::AuditAction,
    pub target: String,
    pub outcome: vocabulary::audit::Outcome,
    pub details: String,
    pub client_address: String,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRows {
    pub rows: Vec<AuditRow>,
    /// The cursor of the next (older) page, if any.
    pub next: Option<String>,
}

/// The audit chain's state, for the indicator on the audit page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainState {
    Intact { rows: u64 },
    Broken { id: i64, reason: ChainBreak },
}

/// How the chain is broken (each has its own sentence on the page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainBreak {
    /// The row was altered.
    Altered,
    /// A row before it was removed or inserted.
    Mismatch,
    /// A signed checkpoint names the row and it is gone.
    Missing,
    /// The row's hash differs from a signed checkpoint, or rows were hashed
    /// without the chain's key.
    Rewritten,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub enabled: bool,
    /// UTC, `YYYY-MM-DD`.
    pub created: String,
}

/// The first line of every server function: the caller must be signed in
/// with at least `role`. A refusal is audited and answered 401 or 403, or,
/// to a plain form post (no JavaScript), by the way back to the form's page
/// with the refusal, as every other error.
#[cfg(feature = "ssr")]
pub(crate) async fn require(role: Role) -> Result<crate::context::Caller, AppError> {
    let console = use_context::<domain::Console>().ok_or_else(|| AppError::Internal { request_id: "-".into() })?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::NotSignedIn)?;
    let checked = match crate::context::Caller::of(&parts, console) {
        Ok(caller) => caller.at_least(role).await,
        Err(refusal) => Err(refusal),
    };
    checked.map_err(|refusal| {
        // A page being rendered answers 401/403 too; only a plain form post
        // keeps its way back to the form's page.
        let form_post = parts.method == http::Method::POST;
        if let (false, Some(response)) = (form_post, use_context::<leptos_axum::ResponseOptions>()) {
            response.set_status(refusal.status());
        }
        let refusal = AppError::from(refusal);
        if form_post {
            refusal.answer_with_status();
        }
        refusal
    })
}

/// What a server function that started a job answers: the job's number,
/// and the job's page as where the browser goes next (a form posted with
/// or without JavaScript opens it; a script just reads the number).
#[cfg(feature = "ssr")]
pub(crate) fn opening_job_page(job: i64) -> Result<i64, AppError> {
    leptos_axum::redirect(&format!("/jobs/{job}"));
    Ok(job)
}

/// A time as the pages show it: UTC, `YYYY-MM-DD HH:MM:SS`.
#[cfg(feature = "ssr")]
pub(crate) fn utc(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

#[cfg(feature = "ssr")]
impl From<domain::audit::AuditRecord> for AuditRow {
    fn from(r: domain::audit::AuditRecord) -> Self {
        AuditRow {
            id: r.id,
            at: utc(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            details: if r.details.as_object().is_some_and(|d| d.is_empty()) {
                String::new()
            } else {
                r.details.to_string()
            },
            client_address: r.client_address.unwrap_or_default(),
            request_id: r.request_id.unwrap_or_default(),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::audit::ChainStatus> for ChainState {
    fn from(status: domain::audit::ChainStatus) -> Self {
        use domain::audit::{BrokenLink, ChainStatus};
        match status {
            ChainStatus::Intact { rows } => ChainState::Intact { rows },
            ChainStatus::Broken { id, reason } => ChainState::Broken {
                id,
                reason: match reason {
                    BrokenLink::ContentAltered => ChainBreak::Altered,
                    BrokenLink::ChainMismatch => ChainBreak::Mismatch,
                    BrokenLink::RowsMissing => ChainBreak::Missing,
                    BrokenLink::CheckpointMismatch | BrokenLink::NotKeyed | BrokenLink::KeyUnavailable => {
                        ChainBreak::Rewritten
                    }
                },
            },
        }
    }
}

#[cfg(feature = "ssr")]
impl From<domain::accounts::AccountSummary> for AccountRow {
    fn from(a: domain::accounts::AccountSummary) -> Self {
        AccountRow {
            id: a.id,
            username: a.username,
            role: a.role,
            enabled: a.enabled,
            created: utc(a.created_at)[..10].to_owned(),
        }
    }
}

#[server(endpoint = "me")]
pub async fn who_am_i() -> Result<Option<Me>, AppError> {
    Ok(crate::context::request_context().and_then(|c| c.operator).map(|op| Me {
        username: op.username.to_string(),
        role: op.role,
    }))
}

#[server(endpoint = "audit/page")]
pub async fn audit_page(query: AuditQuery, after: Option<String>) -> Result<AuditRows, AppError> {
    let caller = require(Role::Operator).await?;
    let filter = query.to_filter()?;
    let after = after
        .filter(|a| !a.is_empty())
        .map(|a| domain::audit::AuditCursor::decode(&a))
        .transpose()?;
    let page = caller.console.audit.page(&filter, after, 50).await?;
    Ok(AuditRows {
        rows: page.records.into_iter().map(AuditRow::from).collect(),
        next: page.next.map(|c| c.encode()),
    })
}

/// The newest records of the log, as the dashboard lists them.
/// The newest audit records, for the home page (operators and admins: the
/// caller's role is checked there).
#[cfg(feature = "ssr")]
pub(crate) async fn newest_audit_rows(console: &domain::Console) -> domain::error::Result<Vec<AuditRow>> {
    let records = console.audit.newest().await?;
    Ok(records.iter().cloned().map(AuditRow::from).collect())
}

#[server(endpoint = "audit/chain")]
pub async fn audit_chain_state() -> Result<ChainState, AppError> {
    let caller = require(Role::Operator).await?;
    // From the newest verified point: the page does not walk the whole log.
    Ok(caller.console.audit.verify_recent().await?.into())
}

#[server(endpoint = "accounts/list")]
pub async fn list_accounts() -> Result<Vec<AccountRow>, AppError> {
    let caller = require(Role::Admin).await?;
    let accounts = caller.console.accounts.list(&caller.operator).await?;
    Ok(accounts.into_iter().map(AccountRow::from).collect())
}

#[server(endpoint = "accounts/create")]
pub async fn create_account(username: String, role: String, password: SecretText) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let role: Role = role.parse().map_err(|_| AppError::Invalid {
        field: "role".into(),
        message: "error-role-unknown".into(),
    })?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller
        .console
        .accounts
        .create(by, from, &username, role, password.expose())
        .await?;
    Ok(())
}

#[server(endpoint = "accounts/enabled")]
pub async fn set_account_enabled(account_id: i64, enabled: bool) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    caller
        .console
        .accounts
        .set_enabled(by, from, account_id, enabled)
        .await?;
    Ok(())
}

#[server(endpoint = "accounts/reset-password")]
pub async fn reset_password(account_id: i64, password: SecretText) -> Result<(), AppError> {
    let caller = require(Role::Admin).await?;
    let (by, from) = (&caller.operator, &caller.provenance);
    Ok(caller
        .console
        .accounts
        .reset_password(by, from, account_id, password.expose())
        .await?)
}

#[server(endpoint = "me/password")]
pub async fn change_password(
    current_password: SecretText,
    new_password: SecretText,
    confirmation: SecretText,
) -> Result<(), AppError> {
    let caller = require(Role::Viewer).await?;
    if new_password != confirmation {
        return Err(AppError::Invalid {
            field: "confirmation".into(),
            message: "error-password-mismatch".into(),
        });
    }
    let (me, from) = (&caller.operator, &caller.provenance);
    let epoch = caller
        .console
        .accounts
        .change_own_password(me, from, current_password.expose(), new_password.expose())
        .await
        .map_err(|e| match e {
            // Said next to the field whose guesses are being throttled.
            domain::DomainError::Throttled(_) => AppError::Invalid {
                field: "current_password".into(),
                message: "error-throttled".into(),
            },
            other => other.into(),
        })?;
    // Keep this session (it proved the current password); the others end.
    let session: tower_sessions::Session = leptos_axum::extract().await.map_err(|_| AppError::NotSignedIn)?;
    crate::context::renew_epoch(&session, epoch).await.map_err(|error| {
        tracing::error!(%error, "could not renew the session");
        AppError::Internal {
            request_id: caller.provenance.request_id.clone().unwrap_or_default(),
        }
    })?;
    Ok(())
}

#[server(endpoint = "setup/check")]
pub async fn setup_token_valid(token: String) -> Result<bool, AppError> {
    let console = use_context::<domain::Console>().ok_or_else(|| AppError::Internal { request_id: "-".into() })?;
    Ok(console.setup.token_is_valid(&token).await?)
}
