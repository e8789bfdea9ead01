//! The server functions: each one checks who is asking and their role, calls
//! the domain, and converts the result. Nothing else happens here.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit_query::AuditQuery;
use crate::errors::AppError;
use crate::secret_text::SecretText;

/// Who is signed in, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub username: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }

    pub fn can_operate(&self) -> bool {
        self.role == "admin" || self.role == "operator"
    }
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
    pub role: String,
    pub enabled: bool,
    /// UTC, `YYYY-MM-DD`.
    pub created: String,
}

#[cfg(feature = "ssr")]
pub(crate) mod guard {
    use domain::accounts::{Operator, Role};
    use domain::audit::Provenance;
    use domain::Console;
    use leptos::prelude::*;

    use crate::errors::AppError;

    /// What a server function runs with once the caller is checked.
    pub struct Caller {
        pub console: Console,
        pub operator: Operator,
        pub provenance: Provenance,
    }

    impl Caller {
        pub fn fail(&self, error: domain::DomainError) -> AppError {
            AppError::from_domain(error, self.provenance.request_id.as_deref())
        }
    }

    /// The first line of every server function: the caller must be signed
    /// in with at least `role`. A refusal is audited and answered 403.
    pub async fn require(role: Role) -> Result<Caller, AppError> {
        let context = crate::context::request_context().ok_or(AppError::NotSignedIn)?;
        let console = use_context::<Console>().ok_or_else(|| AppError::Internal { request_id: "-".into() })?;
        let response = use_context::<leptos_axum::ResponseOptions>();
        let Some(operator) = context.operator else {
            if let Some(response) = response {
                response.set_status(http::StatusCode::UNAUTHORIZED);
            }
            return Err(AppError::NotSignedIn);
        };
        if operator.require(role).is_err() {
            let path = use_context::<http::request::Parts>()
                .map(|p| p.uri.path().to_owned())
                .unwrap_or_default();
            if let Err(error) = console
                .record_refusal(
                    operator.actor(),
                    "request.forbidden",
                    &path,
                    &context.provenance,
                    "role",
                )
                .await
            {
                tracing::error!(%error, "could not audit a refusal");
            }
            if let Some(response) = response {
                response.set_status(http::StatusCode::FORBIDDEN);
            }
            return Err(AppError::Forbidden);
        }
        Ok(Caller {
            console,
            operator,
            provenance: context.provenance,
        })
    }

    pub fn utc(at: time::OffsetDateTime) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        at.format(&format).unwrap_or_default()
    }
}

#[server(endpoint = "me")]
pub async fn who_am_i() -> Result<Option<Me>, AppError> {
    Ok(crate::context::request_context().and_then(|c| c.operator).map(|op| Me {
        username: op.username.to_string(),
        role: op.role.as_str().to_owned(),
    }))
}

#[server(endpoint = "audit/page")]
pub async fn audit_page(query: AuditQuery, after: Option<String>) -> Result<AuditRows, AppError> {
    let caller = guard::require(domain::accounts::Role::Operator).await?;
    let filter = query.to_filter().map_err(|e| caller.fail(e))?;
    let after = after
        .filter(|a| !a.is_empty())
        .map(|a| domain::audit::AuditCursor::decode(&a))
        .transpose()
        .map_err(|e| caller.fail(e))?;
    let page = caller
        .console
        .audit
        .page(&filter, after, 50)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(AuditRows {
        rows: page
            .records
            .into_iter()
            .map(|r| AuditRow {
                id: r.id,
                at: guard::utc(r.at),
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
            })
            .collect(),
        next: page.next.map(|c| c.encode()),
    })
}

#[server(endpoint = "audit/chain")]
pub async fn audit_chain_state() -> Result<ChainState, AppError> {
    let caller = guard::require(domain::accounts::Role::Operator).await?;
    use domain::audit::{BrokenLink, ChainStatus};
    // From the newest verified point: the page does not walk the whole log.
    Ok(
        match caller.console.audit.verify_recent().await.map_err(|e| caller.fail(e))? {
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
        },
    )
}

#[server(endpoint = "accounts/list")]
pub async fn list_accounts() -> Result<Vec<AccountRow>, AppError> {
    let caller = guard::require(domain::accounts::Role::Admin).await?;
    let accounts = caller
        .console
        .accounts
        .list(&caller.operator)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(accounts
        .into_iter()
        .map(|a| AccountRow {
            id: a.id,
            username: a.username,
            role: a.role.as_str().to_owned(),
            enabled: a.enabled,
            created: guard::utc(a.created_at)[..10].to_owned(),
        })
        .collect())
}

#[server(endpoint = "accounts/create")]
pub async fn create_account(username: String, role: String, password: SecretText) -> Result<(), AppError> {
    let caller = guard::require(domain::accounts::Role::Admin).await?;
    let role = domain::accounts::Role::parse(&role).map_err(|e| caller.fail(e))?;
    caller
        .console
        .accounts
        .create(&caller.operator, &caller.provenance, &username, role, password.expose())
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(())
}

#[server(endpoint = "accounts/enabled")]
pub async fn set_account_enabled(account_id: i64, enabled: bool) -> Result<(), AppError> {
    let caller = guard::require(domain::accounts::Role::Admin).await?;
    caller
        .console
        .accounts
        .set_enabled(&caller.operator, &caller.provenance, account_id, enabled)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(())
}

#[server(endpoint = "accounts/reset-password")]
pub async fn reset_password(account_id: i64, password: SecretText) -> Result<(), AppError> {
    let caller = guard::require(domain::accounts::Role::Admin).await?;
    caller
        .console
        .accounts
        .reset_password(&caller.operator, &caller.provenance, account_id, password.expose())
        .await
        .map_err(|e| caller.fail(e))
}

#[server(endpoint = "me/password")]
pub async fn change_password(
    current_password: SecretText,
    new_password: SecretText,
    confirmation: SecretText,
) -> Result<(), AppError> {
    let caller = guard::require(domain::accounts::Role::Viewer).await?;
    if new_password != confirmation {
        return Err(AppError::Invalid {
            field: "confirmation".into(),
            message: "error-password-mismatch".into(),
        });
    }
    let epoch = caller
        .console
        .accounts
        .change_own_password(
            &caller.operator,
            &caller.provenance,
            current_password.expose(),
            new_password.expose(),
        )
        .await
        .map_err(|e| match e {
            // Said next to the field whose guesses are being throttled.
            domain::DomainError::Throttled(_) => AppError::Invalid {
                field: "current_password".into(),
                message: "error-throttled".into(),
            },
            other => caller.fail(other),
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
    console
        .setup
        .token_is_valid(&token)
        .await
        .map_err(|e| AppError::from_domain(e, None))
}
