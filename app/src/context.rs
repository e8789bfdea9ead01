//! What the server knows about the request a page or server function runs
//! for. The server's middleware puts one [`RequestContext`] in the request's
//! extensions; pages and server functions read it from there, and
//! [`Caller`] checks from it who is calling and whether they may.

use axum::extract::FromRef;
use domain::accounts::{Operator, Role};
use domain::audit::Provenance;
use domain::Console;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::Session;

use crate::i18n::Locale;

#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The signed-in staff member, if any.
    pub operator: Option<Operator>,
    pub provenance: Provenance,
    pub locale: Locale,
    /// The nonce the response's Content-Security-Policy allows.
    pub csp_nonce: String,
    /// The console's public origin (`https://console.ocpizza.fr`), as
    /// examples shown to staff write it.
    pub origin: String,
}

/// The current request's context. Absent only outside a request (which is
/// a bug), reported as an internal error.
pub fn request_context() -> Option<RequestContext> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<RequestContext>()
        .cloned()
}

/// The session key under which a signed-in session keeps its [`SignedIn`].
pub const SIGNED_IN: &str = "signed_in";

/// The session key holding when the session was last saved (Unix seconds):
/// each save pushes its idle deadline back, so an active session is saved
/// again once this is old enough.
pub const SAVED_AT: &str = "saved_at";

/// What a signed-in session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub account_id: i64,
    pub epoch: i32,
    pub signed_in_at: i64,
    /// Where the sign-in came from and with which browser, for "Mes
    /// sessions" (absent from sessions signed in before it listed them).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
}

/// The session key holding a sign-in whose password was right, waiting for
/// its second factor's code ([`AwaitingCode`]).
pub const AWAITING_CODE: &str = "awaiting_code";

/// How long a sign-in waits for its code before the password is asked again.
pub const CODE_WAIT_SECONDS: i64 = 300;

/// A sign-in waiting for its second factor's code: not signed in yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AwaitingCode {
    pub pending: domain::PendingSignIn,
    /// When the password was accepted (Unix seconds).
    pub since: i64,
}

/// Marks the session as waiting for `pending`'s code, under a new session id.
pub async fn await_code(
    session: &Session,
    pending: domain::PendingSignIn,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    let since = OffsetDateTime::now_utc().unix_timestamp();
    session.insert(AWAITING_CODE, AwaitingCode { pending, since }).await
}

/// The sign-in this session waits for a code for, unless it waited too long.
pub async fn awaited_code(session: &Session) -> Option<AwaitingCode> {
    let awaiting = session.get::<AwaitingCode>(AWAITING_CODE).await.ok().flatten()?;
    let waited = OffsetDateTime::now_utc().unix_timestamp() - awaiting.since;
    (0..=CODE_WAIT_SECONDS).contains(&waited).then_some(awaiting)
}

/// Marks the session as signed in for `operator`, under a new session id,
/// from `provenance` with the browser `agent`.
pub async fn start_session(
    session: &Session,
    operator: &Operator,
    provenance: &Provenance,
    agent: Option<&str>,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    session.remove_value(AWAITING_CODE).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session.insert(SAVED_AT, now).await?;
    session
        .insert(
            SIGNED_IN,
            SignedIn {
                account_id: operator.id,
                epoch: operator.session_epoch,
                signed_in_at: now,
                from: provenance.client_address.clone(),
                agent: agent.map(str::to_owned),
            },
        )
        .await
}

/// Keeps the session signed in under a new credentials epoch (after the
/// operator changed their own password).
pub async fn renew_epoch(session: &Session, epoch: i32) -> Result<(), tower_sessions::session::Error> {
    if let Some(mut signed_in) = session.get::<SignedIn>(SIGNED_IN).await? {
        signed_in.epoch = epoch;
        session.cycle_id().await?;
        session.insert(SIGNED_IN, signed_in).await?;
    }
    Ok(())
}

/// Who is calling, checked: a signed-in staff member, the console to act
/// with, and where the request came from (for the audit log). The one guard
/// in front of every server function and every non-Leptos route that needs
/// a signed-in caller.
///
/// In an axum handler it is an extractor (signed in, any role; answered 401
/// otherwise), narrowed with [`Caller::at_least`]:
///
/// ```ignore
/// async fn export(caller: Caller) -> Result<Response, Refusal> {
///     let caller = caller.at_least(Role::Operator).await?;
///     // ...
/// }
/// ```
///
/// A server function starts with [`crate::api::require`] instead.
#[derive(Clone, Debug)]
pub struct Caller {
    pub console: Console,
    pub operator: Operator,
    pub provenance: Provenance,
    /// The path asked for, named in the audit record of a refusal.
    path: String,
}

/// Why a caller was turned away: answered 401 or 403, in both languages
/// (the page that would say it in one was not reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotSignedIn,
    Forbidden,
}

impl Caller {
    /// The signed-in caller of the request whose `parts` these are.
    pub fn of(parts: &http::request::Parts, console: Console) -> Result<Self, Refusal> {
        let context = parts.extensions.get::<RequestContext>().ok_or(Refusal::NotSignedIn)?;
        let operator = context.operator.clone().ok_or(Refusal::NotSignedIn)?;
        Ok(Self {
            console,
            operator,
            provenance: context.provenance.clone(),
            path: parts.uri.path().to_owned(),
        })
    }

    /// The same caller, if their role is at least `needed`. A refusal is
    /// recorded in the audit log.
    pub async fn at_least(self, needed: Role) -> Result<Self, Refusal> {
        if self.operator.require(needed).is_ok() {
            return Ok(self);
        }
        if let Err(error) = self
            .console
            .record_refusal(
                self.operator.actor(),
                domain::audit::AuditAction::RequestForbidden,
                &self.path,
                &self.provenance,
                "role",
            )
            .await
        {
            tracing::error!(%error, "could not audit a refusal");
        }
        Err(Refusal::Forbidden)
    }
}

impl<S> axum::extract::FromRequestParts<S> for Caller
where
    Console: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        Caller::of(parts, Console::from_ref(state))
    }
}

impl Refusal {
    pub fn status(self) -> http::StatusCode {
        match self {
            Refusal::NotSignedIn => http::StatusCode::UNAUTHORIZED,
            Refusal::Forbidden => http::StatusCode::FORBIDDEN,
        }
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        let text = match self {
            Refusal::NotSignedIn => "Connexion requise / Sign-in required",
            Refusal::Forbidden => "Accès refusé / Forbidden",
        };
        (self.status(), text).into_response()
    }
}

impl From<Refusal> for crate::errors::AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotSignedIn => Self::NotSignedIn,
            Refusal::Forbidden => Self::Forbidden,
        }
    }
}

/// The answer a server function gave a form posted without JavaScript
/// (its serialised value), kept sealed in the session for the one page the
/// browser comes back to: `server::typed_values` puts it in that page's
/// request, and [`crate::components::form_action`] gives it to the form's
/// action, so that the page shows it as it would with JavaScript (an API
/// token's secret, the recovery codes, an import's summary, "saved").
#[derive(Clone)]
pub struct KeptAnswer {
    /// The server function's path (`/api/tokens/issue`).
    pub path: String,
    pub json: domain::secrets::Zeroizing<String>,
}

impl std::fmt::Debug for KeptAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeptAnswer({}, {} bytes)", self.path, self.json.len())
    }
}

/// The session key under which a form's answer waits, sealed, for the page
/// the browser comes back to.
pub const KEPT_ANSWER: &str = "kept_answer";

/// The answer kept for the form of the server function at `path`, on the
/// page rendered now.
pub fn kept_answer(path: &str) -> Option<domain::secrets::Zeroizing<String>> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<KeptAnswer>()
        .filter(|answer| answer.path == path)
        .map(|answer| answer.json.clone())
}
